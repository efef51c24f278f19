-- Per-org and per-project controls: policy rules, project settings and monthly budgets.

-- Lets a policy name its project and org together, so a project rule cannot point at another org.
ALTER TABLE projects ADD CONSTRAINT projects_id_org UNIQUE (id, org_id);

-- One rule per row; its id is how people and error messages name it ("policy #3").
--   deny|allow  model|provider  pattern (a glob)
--   deny        streaming
--   limit       max_tokens      max_tokens (> 0)
CREATE TABLE policies (
    id          bigserial PRIMARY KEY,
    scope       text NOT NULL CHECK (scope IN ('org', 'project')),
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    project_id  uuid,
    effect      text NOT NULL,
    target      text NOT NULL,
    pattern     text,
    max_tokens  integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE,
    CONSTRAINT policies_scope CHECK ((scope = 'project') = (project_id IS NOT NULL)),
    -- Every branch is NOT NULL-safe: a CHECK that evaluates to NULL would let the row in.
    CONSTRAINT policies_rule_shape CHECK (
        (effect IN ('deny', 'allow') AND target IN ('model', 'provider')
            AND pattern IS NOT NULL AND pattern <> '' AND max_tokens IS NULL)
        OR (effect = 'deny' AND target = 'streaming' AND pattern IS NULL AND max_tokens IS NULL)
        OR (effect = 'limit' AND target = 'max_tokens'
            AND pattern IS NULL AND max_tokens IS NOT NULL AND max_tokens > 0)
    )
);
CREATE INDEX policies_org_rules ON policies (org_id) WHERE project_id IS NULL;
CREATE INDEX policies_project_rules ON policies (project_id) WHERE project_id IS NOT NULL;

-- A project without a row has the defaults of origin.policy.ProjectSettings (the same as these).
CREATE TABLE project_settings (
    project_id          uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    cache_ttl_seconds   integer NOT NULL DEFAULT 3600 CHECK (cache_ttl_seconds >= 0),
    semantic_cache      boolean NOT NULL DEFAULT false,
    semantic_threshold  double precision NOT NULL DEFAULT 0.92
                        CHECK (semantic_threshold > 0 AND semantic_threshold <= 1),
    rpm_limit           integer CHECK (rpm_limit > 0),  -- NULL: unlimited
    memory_token_budget integer NOT NULL DEFAULT 2000 CHECK (memory_token_budget >= 0),
    edge_cache          text NOT NULL DEFAULT 'global' CHECK (edge_cache IN ('global', 'off')),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Monthly budgets in cents: the project's (no tag) and, optionally, one per tag value.
CREATE TABLE budgets (
    id             bigserial PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    tag_key        text,
    tag_value      text,
    monthly_cents  numeric(20, 10) NOT NULL CHECK (monthly_cents >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budgets_tag_pair CHECK ((tag_key IS NULL) = (tag_value IS NULL)),
    CONSTRAINT budgets_project_tag UNIQUE (project_id, tag_key, tag_value)
);
-- The unique constraint above treats NULL tags as distinct; this one allows one untagged budget.
CREATE UNIQUE INDEX budgets_project_total ON budgets (project_id) WHERE tag_key IS NULL;
