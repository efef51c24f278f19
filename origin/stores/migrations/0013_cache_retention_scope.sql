-- Retention and isolation of Prism's own caches, per project: a maximum TTL no X-Prism-Cache-TTL can
-- exceed (NULL: none), and who shares cached answers: the project (the default), each key, or each
-- end user (the request's safety_identifier or user).

ALTER TABLE project_settings
    ADD COLUMN cache_max_ttl_seconds integer CHECK (cache_max_ttl_seconds >= 0),
    ADD COLUMN cache_scope text NOT NULL DEFAULT 'project' CHECK (cache_scope IN ('project', 'key', 'user'));
