-- name: upsert_warmup
-- $1 project_id, $2 name, $3 key_id, $4 body (jsonb text), $5 every_seconds
INSERT INTO prompt_warmups (project_id, name, key_id, body, every_seconds)
VALUES ($1, $2, $3, $4::jsonb, $5)
ON CONFLICT (project_id, name)
DO UPDATE SET key_id = EXCLUDED.key_id, body = EXCLUDED.body, every_seconds = EXCLUDED.every_seconds
RETURNING project_id, name;

-- name: list_warmups
-- $1 project ids, $2 grace seconds past every_seconds after which a warm-up is overdue
SELECT project_id, name, key_id, body::text AS body, every_seconds, created_at, last_run_at,
       last_status, runs, missed_runs,
       now() - coalesce(last_run_at, created_at) > make_interval(secs => every_seconds + $2) AS overdue
FROM prompt_warmups
WHERE project_id = ANY ($1::uuid[])
ORDER BY project_id, name;

-- name: delete_warmup
DELETE FROM prompt_warmups WHERE project_id = $1 AND name = $2 RETURNING name;

-- name: due_warmups
-- $1 how many; missed: whole intervals gone by without a run since the last one
SELECT project_id, name, key_id, body::text AS body,
       greatest(0, floor(extract(epoch FROM now() - last_run_at) / every_seconds) - 1)::bigint AS missed
FROM prompt_warmups
WHERE last_run_at IS NULL OR last_run_at <= now() - make_interval(secs => every_seconds)
ORDER BY coalesce(last_run_at, created_at)
LIMIT $1;

-- name: record_warmup_run
-- $1 project_id, $2 name, $3 HTTP status of the run, $4 runs missed before it
UPDATE prompt_warmups
SET last_run_at = now(), last_status = $3, runs = runs + 1, missed_runs = missed_runs + $4
WHERE project_id = $1 AND name = $2;

-- name: overdue_warmups
-- $1 grace seconds
SELECT count(*) FROM prompt_warmups
WHERE now() - coalesce(last_run_at, created_at) > make_interval(secs => every_seconds + $1);
