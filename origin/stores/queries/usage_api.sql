-- The usage API's reports. Every one is scoped by $1 (the project ids the caller may see) and the
-- half-open window [$2, $3); a NULL $3 means "up to now and later".

-- name: usage_summary
-- The window's rollup cells (usage_cells: whole days and hours from usage_rollups, the ragged ends
-- from the rows).
SELECT
    coalesce(sum(requests), 0)::bigint AS requests,
    coalesce(sum(requests) FILTER (WHERE NOT success), 0)::bigint AS errors,
    coalesce(sum(cost_cents), 0) AS cost_cents,
    coalesce(sum(saved_cents), 0) AS saved_cents,
    coalesce(sum(tokens_in), 0)::bigint AS tokens_in,
    coalesce(sum(tokens_out), 0)::bigint AS tokens_out,
    coalesce(sum(tokens_cached_in), 0)::bigint AS tokens_cached_in,
    coalesce(sum(requests) FILTER (WHERE cache_status = 'miss'), 0)::bigint AS miss,
    coalesce(sum(requests) FILTER (WHERE cache_status = 'hit-exact'), 0)::bigint AS hit_exact,
    coalesce(sum(requests) FILTER (WHERE cache_status = 'hit-semantic'), 0)::bigint AS hit_semantic,
    coalesce(sum(requests) FILTER (WHERE cache_status = 'hit-exact-edge'), 0)::bigint AS hit_exact_edge,
    coalesce(sum(requests) FILTER (WHERE cache_status = 'bypass'), 0)::bigint AS bypass,
    coalesce(sum(saved_cents) FILTER (WHERE cache_status = 'miss'), 0) AS saved_miss,
    coalesce(sum(saved_cents) FILTER (WHERE cache_status = 'hit-exact'), 0) AS saved_hit_exact,
    coalesce(sum(saved_cents) FILTER (WHERE cache_status = 'hit-semantic'), 0) AS saved_hit_semantic,
    coalesce(sum(saved_cents) FILTER (WHERE cache_status = 'hit-exact-edge'), 0) AS saved_hit_exact_edge,
    coalesce(sum(saved_cents) FILTER (WHERE cache_status = 'bypass'), 0) AS saved_bypass
FROM usage_cells($1::uuid[], $2, coalesce($3::timestamptz, 'infinity'), 'day');

-- name: usage_by_tag
-- Each row has exactly one value for the key (NULL when absent): groups sum to the summary. The
-- NULL group of whole days and hours is usage_rollups minus the key's groups; HAVING drops it when empty.
SELECT
    value,
    sum(requests)::bigint AS requests,
    sum(cost_cents) AS cost_cents,
    sum(saved_cents) AS saved_cents,
    coalesce(sum(requests) FILTER (WHERE cache_status IN ('hit-exact', 'hit-semantic', 'hit-exact-edge')), 0)
        ::bigint AS hits,
    coalesce(sum(requests) FILTER (WHERE cache_status = 'miss'), 0)::bigint AS misses
FROM usage_tag_cells($1::uuid[], $2, coalesce($3::timestamptz, 'infinity'), $4::text)
GROUP BY 1
HAVING sum(requests) > 0
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
        tokens_cached_in, tokens_cache_write_5m, tokens_cache_write_1h, cost_total_cents,
        cache_saved_cents, latency_ms, session_id, request_tags, edge_region, success, error_code,
        task_type, mode
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
    tokens_cached_in, tokens_cache_write_5m, tokens_cache_write_1h, cost_total_cents,
    cache_saved_cents, latency_ms, session_id, request_tags, edge_region, success, error_code,
    task_type, mode
FROM usage_logs
WHERE project_id = ANY($1::uuid[])
    AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
    AND session_id = $4
ORDER BY created_at, request_id;

-- name: usage_timeseries
-- $4 is 'hour' or 'day' (whole hours from the rollups); buckets are cut in UTC.
SELECT
    date_trunc($4::text, start, 'UTC') AS t,
    sum(requests)::bigint AS requests,
    sum(cost_cents) AS cost_cents,
    sum(saved_cents) AS saved_cents,
    coalesce(sum(requests) FILTER (WHERE cache_status = 'hit-exact-edge'), 0)::bigint AS hits_edge,
    coalesce(sum(requests) FILTER (WHERE cache_status IN ('hit-exact', 'hit-semantic')), 0)::bigint
        AS hits_origin,
    coalesce(sum(requests) FILTER (WHERE cache_status = 'miss'), 0)::bigint AS misses,
    coalesce(sum(requests) FILTER (WHERE NOT success), 0)::bigint AS errors
FROM usage_cells($1::uuid[], $2, coalesce($3::timestamptz, 'infinity'), $4::text)
GROUP BY 1
ORDER BY 1;

-- name: usage_timeseries_minutes
-- Minute buckets straight from the rows (the window is bounded by the bucket's point limit).
SELECT
    date_trunc('minute', created_at, 'UTC') AS t,
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
    sum(requests)::bigint AS requests,
    sum(cost_cents) AS cost_cents,
    sum(saved_cents) AS saved_cents,
    coalesce(sum(requests) FILTER (WHERE cache_status IN ('hit-exact', 'hit-semantic', 'hit-exact-edge')), 0)
        ::bigint AS hits,
    coalesce(sum(requests) FILTER (WHERE cache_status = 'miss'), 0)::bigint AS misses
FROM usage_cells($1::uuid[], $2, coalesce($3::timestamptz, 'infinity'), 'day')
GROUP BY 1
ORDER BY cost_cents DESC, requests DESC, value NULLS LAST;

-- name: usage_sessions
-- Sessions (per project) with a turn in the window, costliest first, counting their turns in the
-- window. A session with every turn inside the window is its usage_sessions row as it stands; the
-- sessions that straddle an end of the window (a turn before $2 or from $3 on) are summed from their
-- rows in the window. Sessions are short next to windows, so the straddlers are few.
WITH straddling AS (
    SELECT project_id, session_id
    FROM usage_sessions
    WHERE project_id = ANY($1::uuid[]) AND last_at >= $2 AND first_at < $2
        AND first_at < coalesce($3::timestamptz, 'infinity')
    UNION ALL
    SELECT project_id, session_id
    FROM usage_sessions
    WHERE $3::timestamptz IS NOT NULL AND project_id = ANY($1::uuid[])
        AND first_at >= $2 AND first_at < $3 AND last_at >= $3
), candidates AS (
    (
        SELECT project_id, session_id, requests, cost_cents, saved_cents, first_at, last_at
        FROM usage_sessions
        WHERE project_id = ANY($1::uuid[])
            AND first_at >= $2 AND last_at < coalesce($3::timestamptz, 'infinity')
        ORDER BY cost_cents DESC, last_at DESC, session_id, project_id
        LIMIT $4
    )
    UNION ALL
    -- LATERAL: each straddler's rows through the session index, never a scan of the window's rows.
    SELECT s.project_id, s.session_id, turns.*
    FROM straddling AS s
    CROSS JOIN LATERAL (
        SELECT
            count(*) AS requests, sum(u.cost_total_cents) AS cost_cents,
            sum(u.cache_saved_cents) AS saved_cents, min(u.created_at) AS first_at,
            max(u.created_at) AS last_at
        FROM usage_logs AS u
        WHERE u.session_id = s.session_id AND u.project_id = s.project_id
            AND u.created_at >= $2 AND u.created_at < coalesce($3::timestamptz, 'infinity')
    ) AS turns
    WHERE turns.requests > 0
)
SELECT project_id, session_id, requests, cost_cents, saved_cents, first_at, last_at
FROM candidates
ORDER BY cost_cents DESC, last_at DESC, session_id, project_id
LIMIT $4;

-- name: usage_request
SELECT
    request_id, created_at, model_used, provider, cache_status, tokens_in, tokens_out,
    tokens_cached_in, tokens_cache_write_5m, tokens_cache_write_1h, cost_total_cents,
    cache_saved_cents, latency_ms, session_id, request_tags, edge_region, success, error_code,
    task_type, mode
FROM usage_logs
WHERE request_id = $2 AND project_id = ANY($1::uuid[]);
