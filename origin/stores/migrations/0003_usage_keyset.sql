-- The usage API pages newest first on (created_at, request_id) within a project: one index serves
-- that order, the time-window reports, and everything the old (project_id, created_at) index did.
CREATE INDEX usage_logs_project_keyset ON usage_logs (project_id, created_at DESC, request_id DESC);
DROP INDEX usage_logs_project_time;
