-- name: insert_user
INSERT INTO users (org_id, email, password_hash) VALUES ($1, $2, $3)
ON CONFLICT (lower(email)) DO NOTHING
RETURNING id;

-- name: user_by_email
SELECT u.id, u.org_id, u.email, u.password_hash
FROM users u
WHERE lower(u.email) = lower($1);

-- name: list_users
SELECT u.email, u.created_at, o.name AS org_name
FROM users u
JOIN orgs o ON o.id = u.org_id
WHERE $1::text IS NULL OR o.name = $1
ORDER BY o.name, lower(u.email);

-- name: delete_user
DELETE FROM users WHERE lower(email) = lower($1)
RETURNING id;

-- name: signed_in_user
-- The user behind a session cookie, with the org's projects (named, for the project picker).
SELECT u.email, o.name AS org_name,
       COALESCE(array_agg(p.id::text ORDER BY p.name) FILTER (WHERE p.id IS NOT NULL), '{}') AS project_ids,
       COALESCE(array_agg(p.name ORDER BY p.name) FILTER (WHERE p.id IS NOT NULL), '{}') AS project_names
FROM users u
JOIN orgs o ON o.id = u.org_id
LEFT JOIN projects p ON p.org_id = u.org_id
WHERE u.id = $1 AND u.org_id = $2
GROUP BY u.id, o.name;
