-- name: usage_by_request
SELECT * FROM usage_logs WHERE request_id = $1;

-- name: count_usage
SELECT count(*) FROM usage_logs;

-- name: insert_usage_rows
-- One array per column, in shared.usage.COLUMNS order; a replayed row (the same request_id and
-- created_at, the primary key) is a no-op. Rows go in in request_id order (column 4): two writers
-- offered the same rows (a replay beside the original, two origins) then wait on each other's ids in
-- one order and cannot deadlock, nor can the rollup trigger's upserts behind them, which run in key
-- order.
INSERT INTO usage_logs (
    org_id, project_id, key_id, request_id, created_at, mode, task_type, model_used, provider,
    tokens_in, tokens_out, tokens_cached_in, tokens_cache_write_5m, tokens_cache_write_1h,
    cost_provider_cents, cost_total_cents, latency_ms, was_streaming, success, status_code, error_code,
    session_id, request_tags, cache_status, cache_saved_cents, edge_region, prefix_fp, prefix_tokens,
    model_version
)
SELECT * FROM unnest(
    $1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::integer[], $11::integer[], $12::integer[], $13::integer[],
    $14::integer[], $15::numeric[], $16::numeric[], $17::integer[], $18::boolean[], $19::boolean[],
    $20::integer[], $21::text[], $22::text[], $23::jsonb[], $24::text[], $25::numeric[], $26::text[],
    $27::text[], $28::integer[], $29::text[]
)
ORDER BY 4
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
