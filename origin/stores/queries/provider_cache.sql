-- The provider-cache report (origin.usage.provider_cache). $1 the projects, $2 since, $3 until (NULL:
-- no end), $4 how many of the worst to list. Only rows a provider answered count: a hit of Prism's
-- own cache never reached the provider's.

-- name: provider_cache_totals
SELECT
    count(*) AS requests,
    coalesce(sum(tokens_in), 0)::bigint AS tokens_in,
    coalesce(sum(tokens_cached_in), 0)::bigint AS tokens_cached_in,
    coalesce(sum(tokens_cache_write_5m), 0)::bigint AS tokens_cache_write_5m,
    coalesce(sum(tokens_cache_write_1h), 0)::bigint AS tokens_cache_write_1h
FROM usage_logs
WHERE project_id = ANY($1::uuid[])
    AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
    AND cache_status IN ('miss', 'bypass') AND tokens_in > 0;

-- name: provider_cache_sessions
-- Each session's turns in order; a cold turn is one after the first whose stable prefix is the
-- previous turn's but that read nothing from the cache. The window columns total every session
-- (they are computed before the LIMIT); the rows are the sessions with the most cold turns.
WITH turns AS (
    SELECT
        project_id, session_id, tokens_in, tokens_cached_in, created_at, request_id,
        row_number() OVER turn_order AS turn,
        prefix_fp IS NOT NULL AND prefix_fp = lag(prefix_fp) OVER turn_order AND tokens_cached_in = 0
            AS cold
    FROM usage_logs
    WHERE project_id = ANY($1::uuid[])
        AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
        AND cache_status IN ('miss', 'bypass') AND tokens_in > 0 AND session_id IS NOT NULL
    WINDOW turn_order AS (PARTITION BY project_id, session_id ORDER BY created_at, request_id)
), sessions AS (
    SELECT
        project_id, session_id, count(*) AS turns, sum(tokens_in)::bigint AS tokens_in,
        sum(tokens_cached_in)::bigint AS tokens_cached_in, count(*) FILTER (WHERE cold) AS cold_turns,
        array_agg(tokens_cached_in ORDER BY turn) AS cached_per_turn,
        array_agg(tokens_in ORDER BY turn) AS in_per_turn,
        max(created_at) AS last_at
    FROM turns
    GROUP BY project_id, session_id
)
SELECT
    session_id, turns, tokens_in, tokens_cached_in, cold_turns, cached_per_turn, in_per_turn,
    count(*) OVER () AS all_sessions,
    count(*) FILTER (WHERE turns >= 5) OVER () AS long_sessions,
    coalesce(sum(tokens_in) FILTER (WHERE turns >= 5) OVER (), 0)::bigint AS long_tokens_in,
    coalesce(sum(tokens_cached_in) FILTER (WHERE turns >= 5) OVER (), 0)::bigint AS long_tokens_cached_in,
    sum(cold_turns) OVER ()::bigint AS all_cold_turns,
    coalesce(sum(cold_turns) FILTER (WHERE turns >= 5) OVER (), 0)::bigint AS long_cold_turns
FROM sessions
ORDER BY cold_turns DESC, turns DESC, last_at DESC, session_id
LIMIT $4;

-- name: provider_cache_prefixes
-- Each distinct stable prefix: how much traffic it serves and in how many sessions. The window
-- columns total every prefix; the rows are the busiest.
WITH prefixes AS (
    SELECT
        prefix_fp, min(model_used) AS model, count(*) AS requests,
        count(DISTINCT session_id) AS sessions, max(prefix_tokens) AS prefix_tokens,
        sum(tokens_in)::bigint AS tokens_in, sum(tokens_cached_in)::bigint AS tokens_cached_in
    FROM usage_logs
    WHERE project_id = ANY($1::uuid[])
        AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
        AND cache_status IN ('miss', 'bypass') AND tokens_in > 0 AND prefix_fp IS NOT NULL
    GROUP BY project_id, prefix_fp
)
SELECT
    prefix_fp, model, requests, sessions, prefix_tokens, tokens_in, tokens_cached_in,
    count(*) OVER () AS distinct_prefixes,
    sum(requests) OVER ()::bigint AS prefixed_requests,
    sum(sessions) OVER ()::bigint AS prefixed_sessions
FROM prefixes
ORDER BY requests DESC, prefix_fp
LIMIT $4;

-- name: provider_cache_prefix_models
-- Every distinct prefix's model and length, for the money a prefix written cold costs (each
-- distinct prefix is written at least once).
SELECT model_used AS model, count(DISTINCT prefix_fp) AS prefixes, sum(prefix_tokens)::bigint AS tokens
FROM (
    SELECT DISTINCT ON (prefix_fp) prefix_fp, model_used, prefix_tokens
    FROM usage_logs
    WHERE project_id = ANY($1::uuid[])
        AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
        AND cache_status IN ('miss', 'bypass') AND tokens_in > 0 AND prefix_fp IS NOT NULL
    ORDER BY prefix_fp, created_at
) AS firsts
GROUP BY model_used;

-- name: provider_cache_stampedes
-- Requests that found one prefix cold, each within two seconds of the previous: every one after the
-- first paid the write that the first was already paying.
WITH cold AS (
    SELECT
        project_id, prefix_fp, model_used, created_at, prefix_tokens, tokens_cache_write_5m,
        tokens_cache_write_1h,
        CASE
            WHEN created_at - lag(created_at) OVER (PARTITION BY project_id, prefix_fp ORDER BY created_at)
                <= interval '2 seconds' THEN 0
            ELSE 1
        END AS starts
    FROM usage_logs
    WHERE project_id = ANY($1::uuid[])
        AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
        AND cache_status IN ('miss', 'bypass') AND tokens_in > 0 AND prefix_fp IS NOT NULL
        AND tokens_cached_in = 0
), islands AS (
    SELECT
        *,
        sum(starts) OVER (PARTITION BY project_id, prefix_fp ORDER BY created_at ROWS UNBOUNDED PRECEDING)
            AS island
    FROM cold
)
SELECT
    prefix_fp, min(model_used) AS model, min(created_at) AS started, max(created_at) AS ended,
    count(*) AS requests, sum(tokens_cache_write_5m)::bigint AS tokens_cache_write_5m,
    sum(tokens_cache_write_1h)::bigint AS tokens_cache_write_1h,
    sum(prefix_tokens) FILTER (WHERE tokens_cache_write_5m + tokens_cache_write_1h = 0)::bigint
        AS unwritten_tokens
FROM islands
GROUP BY project_id, prefix_fp, island
HAVING count(*) >= 2
ORDER BY count(*) DESC, min(created_at);

-- name: provider_cache_changes
-- Each time a model's answering version (system_fingerprint, dated model id) changed, newest first,
-- with the cached share of prefixed requests in the hour before and the ten minutes after: a new
-- version starts with an empty cache.
WITH versioned AS (
    SELECT
        project_id, model_used, model_version, created_at,
        lag(model_version) OVER (PARTITION BY project_id, model_used ORDER BY created_at, request_id)
            AS previous
    FROM usage_logs
    WHERE project_id = ANY($1::uuid[])
        AND created_at >= $2 AND created_at < coalesce($3::timestamptz, 'infinity')
        AND cache_status IN ('miss', 'bypass') AND tokens_in > 0 AND model_version IS NOT NULL
)
SELECT
    c.model_used AS model, c.previous, c.model_version, c.created_at AS changed_at, around.*
FROM versioned AS c
CROSS JOIN LATERAL (
    SELECT
        coalesce(sum(u.tokens_in) FILTER (WHERE u.created_at < c.created_at), 0)::bigint AS before_in,
        coalesce(sum(u.tokens_cached_in) FILTER (WHERE u.created_at < c.created_at), 0)::bigint
            AS before_cached,
        coalesce(sum(u.tokens_in) FILTER (WHERE u.created_at >= c.created_at), 0)::bigint AS after_in,
        coalesce(sum(u.tokens_cached_in) FILTER (WHERE u.created_at >= c.created_at), 0)::bigint
            AS after_cached
    FROM usage_logs AS u
    WHERE u.project_id = c.project_id AND u.model_used = c.model_used AND u.prefix_fp IS NOT NULL
        AND u.cache_status IN ('miss', 'bypass') AND u.tokens_in > 0
        AND u.created_at >= c.created_at - interval '1 hour'
        AND u.created_at < c.created_at + interval '10 minutes'
) AS around
WHERE c.previous IS NOT NULL AND c.previous <> c.model_version
ORDER BY c.created_at DESC
LIMIT $4;
