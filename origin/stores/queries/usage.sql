-- name: usage_by_request
SELECT * FROM usage_logs WHERE request_id = $1;

-- name: count_usage
SELECT count(*) FROM usage_logs;
