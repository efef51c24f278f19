-- name: insert_response
-- $1 id, $2 project_id, $3 key_id, $4 previous_response_id, $5 input items, $6 output items,
-- $7 response (jsonb texts), $8 seconds it is kept; a few expired rows go with each insert
WITH purged AS (
    DELETE FROM responses
    WHERE id IN (SELECT id FROM responses WHERE expires_at < now() ORDER BY expires_at LIMIT 20)
)
INSERT INTO responses (id, project_id, key_id, previous_response_id, input_items, output_items, response, expires_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, now() + make_interval(secs => $8));

-- name: response_by_id
SELECT response::text AS response
FROM responses
WHERE id = $1 AND project_id = $2 AND expires_at > now();

-- name: response_input_items
SELECT input_items::text AS input_items
FROM responses
WHERE id = $1 AND project_id = $2 AND expires_at > now();

-- name: delete_response
DELETE FROM responses WHERE id = $1 AND project_id = $2 AND expires_at > now() RETURNING id;

-- name: response_chain
-- $1 the newest response's id, $2 project_id, $3 how many responses back at most; oldest first
WITH RECURSIVE chain AS (
    SELECT id, previous_response_id, input_items, output_items, 0 AS depth
    FROM responses
    WHERE id = $1 AND project_id = $2 AND expires_at > now()
    UNION ALL
    SELECT r.id, r.previous_response_id, r.input_items, r.output_items, chain.depth + 1
    FROM responses r
    JOIN chain ON r.id = chain.previous_response_id
    WHERE r.project_id = $2 AND r.expires_at > now() AND chain.depth < $3
)
SELECT input_items::text AS input_items, output_items::text AS output_items
FROM chain
ORDER BY depth DESC;
