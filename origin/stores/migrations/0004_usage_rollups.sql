-- Hourly rollups of usage_logs, kept equal to the rows by a trigger in the inserting transaction.
--
-- Each rollup row sums the usage rows of one UTC hour that share its key. The trigger is
-- statement-level over the transition table: only rows actually inserted are in new_rows, so a
-- replayed batch (ON CONFLICT (request_id) DO NOTHING) adds nothing. Upserts run in key order so
-- that concurrent writers take row locks in the same order and cannot deadlock.

CREATE TABLE usage_hourly (
    project_id        uuid NOT NULL,
    hour              timestamptz NOT NULL,
    model_used        text,
    cache_status      text NOT NULL,
    success           boolean NOT NULL,
    requests          bigint NOT NULL,
    cost_cents        numeric NOT NULL,
    saved_cents       numeric NOT NULL,
    tokens_in         bigint NOT NULL,
    tokens_out        bigint NOT NULL,
    tokens_cached_in  bigint NOT NULL,
    CONSTRAINT usage_hourly_key UNIQUE NULLS NOT DISTINCT (project_id, hour, model_used, cache_status, success)
);

-- One row per (usage row, tag key): the groups of one key never count a row twice. Rows without
-- the key are not here; their group is usage_hourly minus the key's groups.
CREATE TABLE usage_hourly_tags (
    project_id    uuid NOT NULL,
    tag_key       text NOT NULL,
    hour          timestamptz NOT NULL,
    tag_value     text NOT NULL,
    cache_status  text NOT NULL,
    requests      bigint NOT NULL,
    cost_cents    numeric NOT NULL,
    saved_cents   numeric NOT NULL,
    PRIMARY KEY (project_id, tag_key, hour, tag_value, cache_status)
);

CREATE TABLE usage_session_hourly (
    project_id   uuid NOT NULL,
    hour         timestamptz NOT NULL,
    session_id   text NOT NULL,
    requests     bigint NOT NULL,
    cost_cents   numeric NOT NULL,
    saved_cents  numeric NOT NULL,
    first_at     timestamptz NOT NULL,
    last_at      timestamptz NOT NULL,
    PRIMARY KEY (project_id, hour, session_id)
);

CREATE FUNCTION usage_rollup_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_hourly AS r
    SELECT
        project_id, date_trunc('hour', created_at, 'UTC'), model_used, cache_status, success, count(*),
        sum(cost_total_cents), sum(cache_saved_cents), sum(tokens_in), sum(tokens_out),
        sum(tokens_cached_in)
    FROM new_rows
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT ON CONSTRAINT usage_hourly_key DO UPDATE SET
        requests = r.requests + excluded.requests,
        cost_cents = r.cost_cents + excluded.cost_cents,
        saved_cents = r.saved_cents + excluded.saved_cents,
        tokens_in = r.tokens_in + excluded.tokens_in,
        tokens_out = r.tokens_out + excluded.tokens_out,
        tokens_cached_in = r.tokens_cached_in + excluded.tokens_cached_in;

    INSERT INTO usage_hourly_tags AS r
    SELECT
        project_id, tag.key, date_trunc('hour', created_at, 'UTC'), tag.value, cache_status, count(*),
        sum(cost_total_cents), sum(cache_saved_cents)
    FROM new_rows CROSS JOIN LATERAL jsonb_each_text(request_tags) AS tag
    WHERE jsonb_typeof(request_tags) = 'object'
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (project_id, tag_key, hour, tag_value, cache_status) DO UPDATE SET
        requests = r.requests + excluded.requests,
        cost_cents = r.cost_cents + excluded.cost_cents,
        saved_cents = r.saved_cents + excluded.saved_cents;

    INSERT INTO usage_session_hourly AS r
    SELECT
        project_id, date_trunc('hour', created_at, 'UTC'), session_id, count(*), sum(cost_total_cents),
        sum(cache_saved_cents), min(created_at), max(created_at)
    FROM new_rows
    WHERE session_id IS NOT NULL
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (project_id, hour, session_id) DO UPDATE SET
        requests = r.requests + excluded.requests,
        cost_cents = r.cost_cents + excluded.cost_cents,
        saved_cents = r.saved_cents + excluded.saved_cents,
        first_at = least(r.first_at, excluded.first_at),
        last_at = greatest(r.last_at, excluded.last_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_logs_rollups AFTER INSERT ON usage_logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_rows();

-- The backfill runs the trigger's own code: the existing rows are inserted, once, into a scratch
-- table that carries the same trigger.
CREATE TEMPORARY TABLE usage_backfill (LIKE usage_logs) ON COMMIT DROP;
CREATE TRIGGER usage_backfill_rollups AFTER INSERT ON usage_backfill
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_rows();
INSERT INTO usage_backfill SELECT * FROM usage_logs;

-- The reports read a window [since, until) as its whole UTC hours [lo, hi) from the rollups and the
-- ragged rest, [since, lo) and [hi, until), from the rows (when hi <= lo: every row from the rows).
CREATE FUNCTION usage_window_hours(since timestamptz, until timestamptz)
RETURNS TABLE (lo timestamptz, hi timestamptz) LANGUAGE sql IMMUTABLE AS $$
    SELECT
        date_trunc('hour', since, 'UTC')
            + CASE WHEN date_trunc('hour', since, 'UTC') = since THEN interval '0' ELSE interval '1 hour' END,
        date_trunc('hour', until, 'UTC')
$$;

-- usage_hourly's cells for a window: the rollup rows of its whole hours and the ragged rows summed
-- per hour the same way. Sums over these equal sums over the window's rows.
CREATE FUNCTION usage_cells(projects uuid[], since timestamptz, until timestamptz)
RETURNS TABLE (
    hour timestamptz, model_used text, cache_status text, success boolean, requests bigint,
    cost_cents numeric, saved_cents numeric, tokens_in bigint, tokens_out bigint, tokens_cached_in bigint
) LANGUAGE sql STABLE AS $$
    SELECT r.hour, r.model_used, r.cache_status, r.success, r.requests, r.cost_cents, r.saved_cents,
        r.tokens_in, r.tokens_out, r.tokens_cached_in
    FROM usage_window_hours(since, until) AS w, usage_hourly AS r
    WHERE r.project_id = ANY(projects) AND r.hour >= w.lo AND r.hour < w.hi
    UNION ALL
    SELECT date_trunc('hour', u.created_at, 'UTC'), u.model_used, u.cache_status, u.success, count(*),
        sum(u.cost_total_cents), sum(u.cache_saved_cents), sum(u.tokens_in), sum(u.tokens_out),
        sum(u.tokens_cached_in)
    FROM usage_window_hours(since, until) AS w, usage_logs AS u
    WHERE u.project_id = ANY(projects) AND (
        (u.created_at >= since AND u.created_at < least(w.lo, until))
        OR (u.created_at >= greatest(w.hi, w.lo) AND u.created_at < until)
    )
    GROUP BY 1, 2, 3, 4
$$;

-- Per tag value of one key: rollup groups of whole hours, minus them from usage_hourly for the
-- rows without the key (value NULL), and the ragged rows grouped by their value.
CREATE FUNCTION usage_tag_cells(projects uuid[], since timestamptz, until timestamptz, key text)
RETURNS TABLE (value text, cache_status text, requests bigint, cost_cents numeric, saved_cents numeric)
LANGUAGE sql STABLE AS $$
    SELECT t.tag_value, t.cache_status, t.requests, t.cost_cents, t.saved_cents
    FROM usage_window_hours(since, until) AS w, usage_hourly_tags AS t
    WHERE t.project_id = ANY(projects) AND t.tag_key = key AND t.hour >= w.lo AND t.hour < w.hi
    UNION ALL
    SELECT NULL, t.cache_status, -t.requests, -t.cost_cents, -t.saved_cents
    FROM usage_window_hours(since, until) AS w, usage_hourly_tags AS t
    WHERE t.project_id = ANY(projects) AND t.tag_key = key AND t.hour >= w.lo AND t.hour < w.hi
    UNION ALL
    SELECT NULL, r.cache_status, r.requests, r.cost_cents, r.saved_cents
    FROM usage_window_hours(since, until) AS w, usage_hourly AS r
    WHERE r.project_id = ANY(projects) AND r.hour >= w.lo AND r.hour < w.hi
    UNION ALL
    SELECT u.request_tags ->> key, u.cache_status, count(*), sum(u.cost_total_cents),
        sum(u.cache_saved_cents)
    FROM usage_window_hours(since, until) AS w, usage_logs AS u
    WHERE u.project_id = ANY(projects) AND (
        (u.created_at >= since AND u.created_at < least(w.lo, until))
        OR (u.created_at >= greatest(w.hi, w.lo) AND u.created_at < until)
    )
    GROUP BY 1, 2
$$;

CREATE FUNCTION usage_session_cells(projects uuid[], since timestamptz, until timestamptz)
RETURNS TABLE (
    session_id text, requests bigint, cost_cents numeric, saved_cents numeric, first_at timestamptz,
    last_at timestamptz
) LANGUAGE sql STABLE AS $$
    SELECT s.session_id, s.requests, s.cost_cents, s.saved_cents, s.first_at, s.last_at
    FROM usage_window_hours(since, until) AS w, usage_session_hourly AS s
    WHERE s.project_id = ANY(projects) AND s.hour >= w.lo AND s.hour < w.hi
    UNION ALL
    SELECT u.session_id, count(*), sum(u.cost_total_cents), sum(u.cache_saved_cents), min(u.created_at),
        max(u.created_at)
    FROM usage_window_hours(since, until) AS w, usage_logs AS u
    WHERE u.project_id = ANY(projects) AND u.session_id IS NOT NULL AND (
        (u.created_at >= since AND u.created_at < least(w.lo, until))
        OR (u.created_at >= greatest(w.hi, w.lo) AND u.created_at < until)
    )
    GROUP BY 1
$$;
