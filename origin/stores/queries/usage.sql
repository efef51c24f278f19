-- name: usage_by_request
SELECT * FROM usage_logs WHERE request_id = $1;

-- name: count_usage
SELECT count(*) FROM usage_logs;

-- name: insert_usage_rows
-- $1: the rows as one JSON array of objects keyed by column (origin.usage.row_json.array), read into
-- usage_logs's own row type. A replayed row (the same request_id and created_at, the primary key) is
-- a no-op. Rows go in in request_id order: two writers offered the same rows (a replay beside the
-- original, two origins) then wait on each other's ids in one order and cannot deadlock, nor can the
-- rollup trigger's upserts behind them, which run in key order.
INSERT INTO usage_logs (
    org_id, project_id, key_id, request_id, created_at, mode, task_type, model_used, provider,
    tokens_in, tokens_out, tokens_cached_in, tokens_cache_write_5m, tokens_cache_write_1h,
    cost_provider_cents, cost_total_cents, latency_ms, was_streaming, success, status_code, error_code,
    session_id, request_tags, cache_status, cache_saved_cents, edge_region, prefix_fp, prefix_tokens,
    model_version
)
SELECT
    org_id, project_id, key_id, request_id, created_at, mode, task_type, model_used, provider,
    tokens_in, tokens_out, tokens_cached_in, tokens_cache_write_5m, tokens_cache_write_1h,
    cost_provider_cents, cost_total_cents, latency_ms, was_streaming, success, status_code, error_code,
    session_id, request_tags, cache_status, cache_saved_cents, edge_region, prefix_fp, prefix_tokens,
    model_version
FROM json_populate_recordset(NULL::usage_logs, $1::json)
ORDER BY request_id
ON CONFLICT DO NOTHING;

-- name: make_usage_partitions
-- The month partitions of $1's UTC month and the $2 months after it that do not exist yet.
SELECT made
FROM (
    SELECT usage_logs_make_partition($1::timestamptz + ahead * interval '1 month') AS made
    FROM generate_series(0, $2::integer) AS ahead
) AS months
WHERE made IS NOT NULL;

-- name: drop_usage_partitions
-- Every month partition whose rows are all more than $2 months older than $1.
SELECT usage_logs_drop_before($1::timestamptz - make_interval(months => $2::integer)) AS dropped;

-- name: stored_request_ids
-- Which of the ids $1 some stored row has (whatever its time).
SELECT DISTINCT request_id FROM usage_logs WHERE request_id = ANY($1::uuid[]);
