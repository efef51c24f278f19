-- name: upsert_org
INSERT INTO orgs (name) VALUES ($1)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING id;

-- name: upsert_project
INSERT INTO projects (org_id, name) VALUES ($1, $2)
ON CONFLICT (org_id, name) DO UPDATE SET name = EXCLUDED.name
RETURNING id;

-- name: insert_key
-- $4 budget_cents, $5 rpm, $6 tpm, $7 models, $8 expires_at: the key's own limits (NULL: none)
INSERT INTO api_keys (key_hash, prefix, project_id, budget_cents, rpm, tpm, models, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, '{}'::text[]), $8)
RETURNING id;

-- name: key_by_hash
SELECT k.id AS key_id, k.status, k.prefix, k.revoked_at, p.id AS project_id, p.name AS project_name,
       o.id AS org_id, o.name AS org_name, k.budget_cents, k.rpm, k.tpm, k.models, k.expires_at
FROM api_keys k
JOIN projects p ON p.id = k.project_id
JOIN orgs o ON o.id = p.org_id
WHERE k.key_hash = $1;

-- name: list_keys
SELECT k.prefix, k.status, k.created_at, k.revoked_at, p.name AS project_name, o.name AS org_name,
       k.budget_cents, k.rpm, k.tpm, k.models, k.expires_at
FROM api_keys k
JOIN projects p ON p.id = k.project_id
JOIN orgs o ON o.id = p.org_id
ORDER BY k.created_at;

-- name: revoke_keys_by_prefix
UPDATE api_keys SET status = 'revoked', revoked_at = now()
WHERE prefix = $1 AND status = 'active'
RETURNING id, key_hash, project_id;

-- name: keys_of_project
SELECT k.id AS key_id, k.key_hash, k.status, p.id AS project_id, p.org_id, k.models, k.expires_at
FROM api_keys k
JOIN projects p ON p.id = k.project_id
WHERE p.id = $1
ORDER BY k.created_at;

-- name: key_by_id
SELECT k.id AS key_id, k.status, k.prefix, k.revoked_at, p.id AS project_id, p.name AS project_name,
       o.id AS org_id, o.name AS org_name, k.budget_cents, k.rpm, k.tpm, k.models, k.expires_at
FROM api_keys k
JOIN projects p ON p.id = k.project_id
JOIN orgs o ON o.id = p.org_id
WHERE k.id = $1;

-- name: key_month_usage
-- $1 key_id: its requests and cost since the month began (UTC)
SELECT count(*) AS requests, coalesce(sum(cost_total_cents), 0) AS cost_cents
FROM usage_logs
WHERE key_id = $1 AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
