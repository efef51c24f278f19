-- The stable prompt prefix of each request that had one long enough for the provider to cache: its
-- fingerprint (per project and model) and estimated tokens, so the provider-cache report can tell
-- cold turns, per-user prefixes and stampedes apart. No prompt text is stored. Constant defaults:
-- no existing row is rewritten.

ALTER TABLE usage_logs
    ADD COLUMN prefix_fp text,
    ADD COLUMN prefix_tokens integer NOT NULL DEFAULT 0;

CREATE INDEX usage_logs_prefix ON usage_logs (project_id, prefix_fp, created_at)
    WHERE prefix_fp IS NOT NULL;
