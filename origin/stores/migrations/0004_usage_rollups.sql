-- Rollups of usage_logs, kept equal to the rows by a trigger in the inserting transaction.
--
-- usage_rollups and usage_tag_rollups sum the usage rows that share their key within one UTC hour
-- (span 'hour') and, again, within one UTC day (span 'day'): a 90-day report reads 90 day rows per
-- key instead of 2,160 hour rows, and the hours at its ends. usage_sessions sums each session's rows.
-- The trigger is statement-level over the transition table: only rows actually inserted are in
-- new_rows, so a replayed batch (ON CONFLICT (request_id) DO NOTHING) adds nothing. Upserts run in key
-- order so that concurrent writers take row locks in the same order and cannot deadlock.

CREATE TABLE usage_rollups (
    project_id        uuid NOT NULL,
    span              text NOT NULL CHECK (span IN ('hour', 'day')),
    start             timestamptz NOT NULL,
    model_used        text,
    cache_status      text NOT NULL,
    success           boolean NOT NULL,
    requests          bigint NOT NULL,
    cost_cents        numeric NOT NULL,
    saved_cents       numeric NOT NULL,
    tokens_in         bigint NOT NULL,
    tokens_out        bigint NOT NULL,
    tokens_cached_in  bigint NOT NULL,
    CONSTRAINT usage_rollups_key
        UNIQUE NULLS NOT DISTINCT (project_id, span, start, model_used, cache_status, success)
);

-- One row per (usage row, tag key) and span: the groups of one key never count a row twice. Rows
-- without the key are not here; their group is usage_rollups minus the key's groups.
CREATE TABLE usage_tag_rollups (
    project_id    uuid NOT NULL,
    tag_key       text NOT NULL,
    span          text NOT NULL CHECK (span IN ('hour', 'day')),
    start         timestamptz NOT NULL,
    tag_value     text NOT NULL,
    cache_status  text NOT NULL,
    requests      bigint NOT NULL,
    cost_cents    numeric NOT NULL,
    saved_cents   numeric NOT NULL,
    PRIMARY KEY (project_id, tag_key, span, start, tag_value, cache_status)
);

-- A session's totals over all its turns, per project (session ids are the client's, so two projects'
-- "conv-1" are two sessions). A window that holds all of a session's turns reads them here; only the
-- few sessions that straddle an end of the window are summed from their rows.
CREATE TABLE usage_sessions (
    project_id   uuid NOT NULL,
    session_id   text NOT NULL,
    requests     bigint NOT NULL,
    cost_cents   numeric NOT NULL,
    saved_cents  numeric NOT NULL,
    first_at     timestamptz NOT NULL,
    last_at      timestamptz NOT NULL,
    PRIMARY KEY (project_id, session_id)
);
CREATE INDEX usage_sessions_first ON usage_sessions (project_id, first_at) INCLUDE (last_at);
CREATE INDEX usage_sessions_last ON usage_sessions (project_id, last_at) INCLUDE (first_at);
CREATE INDEX usage_sessions_cost ON usage_sessions (project_id, cost_cents DESC, last_at DESC, session_id);

CREATE FUNCTION usage_rollup_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_rollups AS r
    SELECT
        project_id, spans.span, date_trunc(spans.span, created_at, 'UTC'), model_used, cache_status, success,
        count(*), sum(cost_total_cents), sum(cache_saved_cents), sum(tokens_in), sum(tokens_out),
        sum(tokens_cached_in)
    FROM new_rows CROSS JOIN (VALUES ('day'), ('hour')) AS spans (span)
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT usage_rollups_key DO UPDATE SET
        requests = r.requests + excluded.requests,
        cost_cents = r.cost_cents + excluded.cost_cents,
        saved_cents = r.saved_cents + excluded.saved_cents,
        tokens_in = r.tokens_in + excluded.tokens_in,
        tokens_out = r.tokens_out + excluded.tokens_out,
        tokens_cached_in = r.tokens_cached_in + excluded.tokens_cached_in;

    INSERT INTO usage_tag_rollups AS r
    SELECT
        project_id, tag.key, spans.span, date_trunc(spans.span, created_at, 'UTC'), tag.value, cache_status,
        count(*), sum(cost_total_cents), sum(cache_saved_cents)
    FROM new_rows
    CROSS JOIN LATERAL jsonb_each_text(request_tags) AS tag
    CROSS JOIN (VALUES ('day'), ('hour')) AS spans (span)
    WHERE jsonb_typeof(request_tags) = 'object'
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (project_id, tag_key, span, start, tag_value, cache_status) DO UPDATE SET
        requests = r.requests + excluded.requests,
        cost_cents = r.cost_cents + excluded.cost_cents,
        saved_cents = r.saved_cents + excluded.saved_cents;

    INSERT INTO usage_sessions AS r
    SELECT
        project_id, session_id, count(*), sum(cost_total_cents), sum(cache_saved_cents), min(created_at),
        max(created_at)
    FROM new_rows
    WHERE session_id IS NOT NULL
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (project_id, session_id) DO UPDATE SET
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

-- Which rollup rows cover the window's whole hours [lo, hi): with coarsest 'day', the day rows of its
-- whole UTC days [dlo, dhi) and the hour rows of [lo, dlo) and [dhi, hi); with 'hour' (an hourly
-- timeseries), or no whole day, dlo = dhi = hi: hour rows only. Callers read it as
-- "(SELECT * FROM usage_window_bounds(...) OFFSET 0)": the fence makes it one row computed once, whose
-- values parameterize the index scans; inlined, its expressions were evaluated again for every rollup
-- row (86 of 96 ms of an org's 90-day summary at 10M rows).
CREATE FUNCTION usage_window_bounds(since timestamptz, until timestamptz, coarsest text)
RETURNS TABLE (lo timestamptz, hi timestamptz, dlo timestamptz, dhi timestamptz)
LANGUAGE sql IMMUTABLE AS $$
    SELECT lo, hi, CASE WHEN used THEN dlo ELSE hi END, CASE WHEN used THEN dhi ELSE hi END
    FROM (
        SELECT lo, hi, dlo, dhi, coarsest = 'day' AND dlo < dhi AS used
        FROM (
            SELECT
                w.lo,
                w.hi,
                date_trunc('day', w.lo, 'UTC') + CASE
                    WHEN date_trunc('day', w.lo, 'UTC') = w.lo THEN interval '0' ELSE interval '1 day'
                END AS dlo,
                date_trunc('day', w.hi, 'UTC') AS dhi
            FROM usage_window_hours(since, until) AS w
        ) AS days
    ) AS bounds
$$;

-- usage_rollups' cells for a window: the rollup rows of its whole days and hours (starting at
-- ``start``) and the ragged rows summed per hour the same way. Sums over these equal sums over the
-- window's rows; grouping them by hour needs coarsest 'hour'.
CREATE FUNCTION usage_cells(projects uuid[], since timestamptz, until timestamptz, coarsest text)
RETURNS TABLE (
    start timestamptz, model_used text, cache_status text, success boolean, requests bigint,
    cost_cents numeric, saved_cents numeric, tokens_in bigint, tokens_out bigint, tokens_cached_in bigint
) LANGUAGE sql STABLE AS $$
    SELECT r.start, r.model_used, r.cache_status, r.success, r.requests, r.cost_cents, r.saved_cents,
        r.tokens_in, r.tokens_out, r.tokens_cached_in
    FROM (SELECT * FROM usage_window_bounds(since, until, coarsest) OFFSET 0) AS b, usage_rollups AS r
    WHERE r.project_id = ANY(projects) AND (
        (r.span = 'day' AND r.start >= b.dlo AND r.start < b.dhi)
        OR (r.span = 'hour' AND r.start >= b.lo AND r.start < b.dlo)
        OR (r.span = 'hour' AND r.start >= b.dhi AND r.start < b.hi)
    )
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

-- Per tag value of one key: the key's rollup groups of the whole days and hours, each also subtracted
-- (sign -1) from the NULL group, which starts as all the window's usage_rollups rows: the rows without the
-- key. The ragged rows are grouped by their value.
CREATE FUNCTION usage_tag_cells(projects uuid[], since timestamptz, until timestamptz, key text)
RETURNS TABLE (value text, cache_status text, requests bigint, cost_cents numeric, saved_cents numeric)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN sign = 1 THEN t.tag_value END, t.cache_status, sign * t.requests,
        sign * t.cost_cents, sign * t.saved_cents
    FROM (SELECT * FROM usage_window_bounds(since, until, 'day') OFFSET 0) AS b, usage_tag_rollups AS t,
        (VALUES (1), (-1)) AS signs (sign)
    WHERE t.project_id = ANY(projects) AND t.tag_key = key AND (
        (t.span = 'day' AND t.start >= b.dlo AND t.start < b.dhi)
        OR (t.span = 'hour' AND t.start >= b.lo AND t.start < b.dlo)
        OR (t.span = 'hour' AND t.start >= b.dhi AND t.start < b.hi)
    )
    UNION ALL
    SELECT NULL, r.cache_status, r.requests, r.cost_cents, r.saved_cents
    FROM (SELECT * FROM usage_window_bounds(since, until, 'day') OFFSET 0) AS b, usage_rollups AS r
    WHERE r.project_id = ANY(projects) AND (
        (r.span = 'day' AND r.start >= b.dlo AND r.start < b.dhi)
        OR (r.span = 'hour' AND r.start >= b.lo AND r.start < b.dlo)
        OR (r.span = 'hour' AND r.start >= b.dhi AND r.start < b.hi)
    )
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
