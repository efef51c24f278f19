-- The usage API's reports. Every one is scoped by $1 (the project ids the caller may see) and the
-- half-open window [$2, $3); a NULL $3 means "up to now and later".

-- name: usage_summary
SELECT
    count(*) AS requests,
    count(*) FILTER (WHERE NOT success) AS errors,
    coalesce(sum(cost_total_cents), 0) AS cost_cents,
    coalesce(sum(cache_saved_cents), 0) AS saved_cents,
    coalesce(sum(tokens_in), 0) AS tokens_in,
    coalesce(sum(tokens_out), 0) AS tokens_out,
    coalesce(sum(tokens_cached_in), 0) AS tokens_cached_in,
    count(*) FILTER (WHERE cache_status = 'miss') AS miss,
    count(*) FILTER (WHERE cache_status = 'hit-exact') AS hit_exact,
    count(*) FILTER (WHERE cache_status = 'hit-semantic') AS hit_semantic,
    count(*) FILTER (WHERE cache_status = 'hit-exact-edge') AS hit_exact_edge,
    count(*) FILTER (WHERE cache_status = 'bypass') AS bypass,
    coalesce(sum(cache_saved_cents) FILTER (WHERE cache_status = 'miss'), 0) AS saved_miss,
    coalesce(sum(cache_saved_cents) FILTER (WHERE cache_status = 'hit-exact'), 0) AS saved_hit_exact,
    coalesce(sum(cache_saved_cents) FILTER (WHERE cache_status = 'hit-semantic'), 0) AS saved_hit_semantic,
    coalesce(sum(cache_saved_cents) FILTER (WHERE cache_status = 'hit-exact-edge'), 0)
        AS saved_hit_exact_edge,
    coalesce(sum(cache_saved_cents) FILTER (WHERE cache_status = 'bypass'), 0) AS saved_bypass
FROM usage_logs
WHERE project_id = ANY($1::uuid[])
    AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity');

-- name: usage_by_tag
-- ->> gives each row exactly one value for the key (NULL when absent): groups sum to the summary.
SELECT
    request_tags ->> $4::text AS value,
    count(*) AS requests,
    coalesce(sum(cost_total_cents), 0) AS cost_cents,
    coalesce(sum(cache_saved_cents), 0) AS saved_cents,
    count(*) FILTER (WHERE cache_status IN ('hit-exact', 'hit-semantic', 'hit-exact-edge')) AS hits,
    count(*) FILTER (WHERE cache_status = 'miss') AS misses
FROM usage_logs
WHERE project_id = ANY($1::uuid[])
    AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
GROUP BY 1
ORDER BY cost_cents DESC, requests DESC, value NULLS LAST;

-- name: usage_requests_page
-- Keyset pagination, newest first: ($9, $10) is the last row of the previous page (NULL: the top).
-- Each project is walked down its own (project_id, created_at DESC, request_id DESC) index and the
-- walks are merged: "project_id = ANY(...)" alone cannot use the index order and sorts every row.
SELECT page.*
FROM unnest($1::uuid[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT
        request_id, created_at, model_used, provider, cache_status, tokens_in, tokens_out,
        tokens_cached_in, cost_total_cents, cache_saved_cents, latency_ms, session_id, request_tags,
        edge_region, success, error_code, task_type, mode
    FROM usage_logs
    WHERE usage_logs.project_id = scope.project_id
        AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
        AND (created_at, request_id) < (
            coalesce($9::timestamptz, 'infinity'),
            coalesce($10::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')
        )
        AND ($4::text IS NULL OR session_id = $4)
        AND ($5::jsonb IS NULL OR request_tags @> $5)
        AND ($6::text IS NULL OR cache_status = $6)
        AND ($7::text IS NULL OR model_used = $7)
        AND ($8::boolean IS NULL OR success = $8)
    ORDER BY created_at DESC, request_id DESC
    LIMIT $11
) AS page
ORDER BY created_at DESC, request_id DESC
LIMIT $11;

-- name: usage_session_turns
SELECT
    request_id, created_at, model_used, provider, cache_status, tokens_in, tokens_out,
    tokens_cached_in, cost_total_cents, cache_saved_cents, latency_ms, session_id, request_tags,
    edge_region, success, error_code, task_type, mode
FROM usage_logs
WHERE project_id = ANY($1::uuid[])
    AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
    AND session_id = $4
ORDER BY created_at, request_id;

-- name: usage_timeseries
-- $4 is 'minute', 'hour' or 'day'; buckets are cut in UTC.
SELECT
    date_trunc($4::text, created_at, 'UTC') AS t,
    count(*) AS requests,
    coalesce(sum(cost_total_cents), 0) AS cost_cents,
    coalesce(sum(cache_saved_cents), 0) AS saved_cents,
    count(*) FILTER (WHERE cache_status = 'hit-exact-edge') AS hits_edge,
    count(*) FILTER (WHERE cache_status IN ('hit-exact', 'hit-semantic')) AS hits_origin,
    count(*) FILTER (WHERE cache_status = 'miss') AS misses,
    count(*) FILTER (WHERE NOT success) AS errors
FROM usage_logs
WHERE project_id = ANY($1::uuid[])
    AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
GROUP BY 1
ORDER BY 1;

-- name: usage_by_model
SELECT
    model_used AS value,
    count(*) AS requests,
    coalesce(sum(cost_total_cents), 0) AS cost_cents,
    coalesce(sum(cache_saved_cents), 0) AS saved_cents,
    count(*) FILTER (WHERE cache_status IN ('hit-exact', 'hit-semantic', 'hit-exact-edge')) AS hits,
    count(*) FILTER (WHERE cache_status = 'miss') AS misses
FROM usage_logs
WHERE project_id = ANY($1::uuid[])
    AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
GROUP BY 1
ORDER BY cost_cents DESC, requests DESC, value NULLS LAST;

-- name: usage_sessions
-- Sessions with a turn in the window, costliest first; the numbers cover their turns in the window.
SELECT
    session_id,
    count(*) AS requests,
    coalesce(sum(cost_total_cents), 0) AS cost_cents,
    coalesce(sum(cache_saved_cents), 0) AS saved_cents,
    min(created_at) AS first_at,
    max(created_at) AS last_at
FROM usage_logs
WHERE project_id = ANY($1::uuid[])
    AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
    AND session_id IS NOT NULL
GROUP BY session_id
ORDER BY cost_cents DESC, last_at DESC, session_id
LIMIT $4;

-- name: usage_request
SELECT
    request_id, created_at, model_used, provider, cache_status, tokens_in, tokens_out,
    tokens_cached_in, cost_total_cents, cache_saved_cents, latency_ms, session_id, request_tags,
    edge_region, success, error_code, task_type, mode
FROM usage_logs
WHERE request_id = $2 AND project_id = ANY($1::uuid[]);
