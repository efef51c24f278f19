-- Whether the project keeps server-side session history for X-Prism-Session (on by default; off with
-- `prism project set --session-memory off`). With it off, the edge may answer session requests from
-- its cache too: no history can change the answer.

ALTER TABLE project_settings ADD COLUMN session_memory boolean NOT NULL DEFAULT true;
