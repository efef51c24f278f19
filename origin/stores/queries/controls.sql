-- name: org_by_name
SELECT id FROM orgs WHERE name = $1;

-- name: project_by_name
SELECT p.id AS project_id, p.name AS project_name, o.id AS org_id, o.name AS org_name
FROM projects p
JOIN orgs o ON o.id = p.org_id
WHERE o.name = $1 AND p.name = $2;

-- name: list_projects
-- $1 org name filter; NULL: every org. An org without projects is listed with a NULL project.
SELECT o.name AS org_name, p.name AS project_name,
       (SELECT count(*) FROM api_keys k WHERE k.project_id = p.id AND k.status = 'active') AS active_keys
FROM orgs o
LEFT JOIN projects p ON p.org_id = o.id
WHERE $1::text IS NULL OR o.name = $1
ORDER BY o.name, p.name;

-- name: insert_policy
-- $1 org_id, $2 project_id (NULL for an org rule), $3 effect, $4 target, $5 pattern, $6 max_tokens
INSERT INTO policies (scope, org_id, project_id, effect, target, pattern, max_tokens)
VALUES (CASE WHEN $2::uuid IS NULL THEN 'org' ELSE 'project' END, $1, $2, $3, $4, $5, $6)
RETURNING id;

-- name: list_policies
-- $1 org_id filter, $2 project_id filter (the project's rules and its org's); NULL: no filter.
SELECT pol.id, pol.scope, o.name AS org_name, p.name AS project_name,
       pol.effect, pol.target, pol.pattern, pol.max_tokens
FROM policies pol
JOIN orgs o ON o.id = pol.org_id
LEFT JOIN projects p ON p.id = pol.project_id
WHERE ($1::uuid IS NULL OR pol.org_id = $1)
  AND ($2::uuid IS NULL OR pol.project_id IS NULL OR pol.project_id = $2)
ORDER BY pol.id;

-- name: delete_policy
DELETE FROM policies WHERE id = $1 RETURNING org_id, project_id;

-- name: projects_of_org
SELECT id FROM projects WHERE org_id = $1 ORDER BY id;

-- name: edge_cached_projects
-- Projects whose active keys may be served from the edge cache (no settings row: the default, global).
SELECT p.org_id, p.id AS project_id
FROM projects p
LEFT JOIN project_settings s ON s.project_id = p.id
WHERE coalesce(s.edge_cache, 'global') = 'global'
  AND EXISTS (SELECT 1 FROM api_keys k WHERE k.project_id = p.id AND k.status = 'active')
ORDER BY p.id;

-- name: project_settings
SELECT
    cache_ttl_seconds, semantic_cache, semantic_threshold, rpm_limit, memory_token_budget, edge_cache,
    prompt_cache_key, cache_breakpoints, prefix_flight, pii_guard, cache_max_ttl_seconds, cache_scope,
    session_memory
FROM project_settings
WHERE project_id = $1;

-- name: ensure_project_settings
-- A missing row starts from the table defaults (the same as ProjectSettings').
INSERT INTO project_settings (project_id) VALUES ($1)
ON CONFLICT (project_id) DO NOTHING;

-- name: project_settings_for_update
SELECT
    cache_ttl_seconds, semantic_cache, semantic_threshold, rpm_limit, memory_token_budget, edge_cache,
    prompt_cache_key, cache_breakpoints, prefix_flight, pii_guard, cache_max_ttl_seconds, cache_scope,
    session_memory
FROM project_settings
WHERE project_id = $1
FOR UPDATE;

-- name: upsert_project_settings
INSERT INTO project_settings (
    project_id, cache_ttl_seconds, semantic_cache, semantic_threshold, rpm_limit,
    memory_token_budget, edge_cache, prompt_cache_key, cache_breakpoints, prefix_flight, pii_guard,
    cache_max_ttl_seconds, cache_scope, session_memory
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (project_id) DO UPDATE SET
    cache_ttl_seconds = EXCLUDED.cache_ttl_seconds,
    semantic_cache = EXCLUDED.semantic_cache,
    semantic_threshold = EXCLUDED.semantic_threshold,
    rpm_limit = EXCLUDED.rpm_limit,
    memory_token_budget = EXCLUDED.memory_token_budget,
    edge_cache = EXCLUDED.edge_cache,
    prompt_cache_key = EXCLUDED.prompt_cache_key,
    cache_breakpoints = EXCLUDED.cache_breakpoints,
    prefix_flight = EXCLUDED.prefix_flight,
    pii_guard = EXCLUDED.pii_guard,
    cache_max_ttl_seconds = EXCLUDED.cache_max_ttl_seconds,
    cache_scope = EXCLUDED.cache_scope,
    session_memory = EXCLUDED.session_memory,
    updated_at = now();

-- name: upsert_project_budget
INSERT INTO budgets (project_id, monthly_cents) VALUES ($1, $2)
ON CONFLICT (project_id) WHERE tag_key IS NULL DO UPDATE SET
    monthly_cents = EXCLUDED.monthly_cents,
    updated_at = now();

-- name: upsert_tag_budget
INSERT INTO budgets (project_id, tag_key, tag_value, monthly_cents) VALUES ($1, $2, $3, $4)
ON CONFLICT (project_id, tag_key, tag_value) DO UPDATE SET
    monthly_cents = EXCLUDED.monthly_cents,
    updated_at = now();

-- name: delete_budget
DELETE FROM budgets
WHERE project_id = $1 AND tag_key IS NOT DISTINCT FROM $2 AND tag_value IS NOT DISTINCT FROM $3
RETURNING id;

-- name: list_budgets
-- $1 project_id filter; NULL: every project.
SELECT o.name AS org_name, p.name AS project_name, b.tag_key, b.tag_value, b.monthly_cents
FROM budgets b
JOIN projects p ON p.id = b.project_id
JOIN orgs o ON o.id = p.org_id
WHERE $1::uuid IS NULL OR b.project_id = $1
ORDER BY o.name, p.name, b.tag_key NULLS FIRST, b.tag_value;

-- name: load_controls
-- Everything one project is governed by, in one round trip: $1 org_id, $2 project_id.
-- The settings columns are NULL when the project has no settings row (has_settings is false).
SELECT
    s.project_id IS NOT NULL AS has_settings,
    s.cache_ttl_seconds, s.semantic_cache, s.semantic_threshold, s.rpm_limit,
    s.memory_token_budget, s.edge_cache, s.prompt_cache_key, s.cache_breakpoints,
    s.prefix_flight, s.pii_guard, s.cache_max_ttl_seconds, s.cache_scope, s.session_memory,
    (
        SELECT coalesce(json_agg(json_build_object(
            'id', pol.id, 'scope', pol.scope, 'org_name', o.name, 'project_name', p.name,
            'effect', pol.effect, 'target', pol.target, 'pattern', pol.pattern,
            'max_tokens', pol.max_tokens
        ) ORDER BY pol.id), '[]')
        FROM policies pol
        JOIN orgs o ON o.id = pol.org_id
        LEFT JOIN projects p ON p.id = pol.project_id
        WHERE pol.org_id = $1 AND (pol.project_id IS NULL OR pol.project_id = $2)
    ) AS policies,
    (
        SELECT coalesce(json_agg(json_build_object(
            'tag_key', b.tag_key, 'tag_value', b.tag_value, 'monthly_cents', b.monthly_cents::text
        ) ORDER BY b.tag_key NULLS FIRST, b.tag_value), '[]')
        FROM budgets b
        WHERE b.project_id = $2
    ) AS budgets
FROM (SELECT 1) AS one
LEFT JOIN project_settings s ON s.project_id = $2;

-- name: month_spend
-- What a budget's rows cost in a month: $1, $2 the month's bounds, $3 project_id, $4 key_id (NULL:
-- every key), $5, $6 a tag key and value (NULL: every row). Through usage_logs_project_time.
SELECT coalesce(sum(cost_provider_cents), 0)::float8
FROM usage_logs
WHERE project_id = $3 AND created_at >= $1 AND created_at < $2
  AND ($4::uuid IS NULL OR key_id = $4)
  AND ($5::text IS NULL OR request_tags ->> $5 = $6);
