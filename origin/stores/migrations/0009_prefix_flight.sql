-- Whether requests sharing a cold long prompt prefix wait for the first one's answer, so that the
-- provider's cache write is paid once (origin.chat.prefix_flight; on by default, off with
-- `prism project set --prefix-flight off`).

ALTER TABLE project_settings ADD COLUMN prefix_flight boolean NOT NULL DEFAULT true;
