-- Tenancy, API keys and the usage log.

CREATE TABLE orgs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES orgs (id),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key_hash    text NOT NULL UNIQUE,
    prefix      text NOT NULL,
    project_id  uuid NOT NULL REFERENCES projects (id),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);

CREATE TABLE usage_logs (
    request_id          uuid PRIMARY KEY,
    created_at          timestamptz NOT NULL,
    org_id              uuid NOT NULL,
    project_id          uuid NOT NULL,
    key_id              uuid NOT NULL,
    mode                text NOT NULL,
    task_type           text,
    model_used          text,
    provider            text,
    tokens_in           integer NOT NULL DEFAULT 0,
    tokens_out          integer NOT NULL DEFAULT 0,
    tokens_cached_in    integer NOT NULL DEFAULT 0,
    cost_provider_cents numeric(20, 10) NOT NULL DEFAULT 0,
    cost_total_cents    numeric(20, 10) NOT NULL DEFAULT 0,
    latency_ms          integer NOT NULL DEFAULT 0,
    was_streaming       boolean NOT NULL DEFAULT false,
    success             boolean NOT NULL,
    status_code         integer NOT NULL,
    error_code          text,
    session_id          text,
    request_tags        jsonb,
    cache_status        text NOT NULL CHECK (
        cache_status IN ('miss', 'hit-exact', 'hit-semantic', 'hit-exact-edge', 'bypass')
    ),
    cache_saved_cents   numeric(20, 10) NOT NULL DEFAULT 0,
    edge_region         text
);
CREATE INDEX usage_logs_project_time ON usage_logs (project_id, created_at DESC);
CREATE INDEX usage_logs_session ON usage_logs (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX usage_logs_tags ON usage_logs USING gin (request_tags);
