-- Warm-ups that keep chosen prompt prefixes in the providers' caches: per project, by name, the
-- request to send (model, system messages, tools), how often, the key whose budget and usage it is
-- counted under, and how the last run went. Whichever origin holds the Redis lease runs them.

CREATE TABLE prompt_warmups (
    project_id     uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    key_id         uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    body           jsonb NOT NULL,
    every_seconds  integer NOT NULL CHECK (every_seconds BETWEEN 1 AND 86400),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_run_at    timestamptz,
    last_status    integer,
    runs           bigint NOT NULL DEFAULT 0,
    missed_runs    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, name)
);
