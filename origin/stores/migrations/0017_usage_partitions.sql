-- usage_logs partitioned by UTC month: a month's rows, and its indexes, live in usage_logs_YYYY_MM,
-- and retention drops a whole month at once instead of deleting rows.
--
-- A partitioned table's unique keys must hold its partition key, so a row is unique on
-- (request_id, created_at). That keeps the insert idempotent: created_at is stamped where the request
-- was served (origin or edge) and travels with the row through the spool, the dead letters and every
-- replay, so a replayed row meets its original. Rows whose month has no partition yet (one not made
-- ahead in time, a clock far off) go to usage_logs_default; making their month's partition moves them.
-- The rollup trigger sits on the parent and sees every partition's inserted rows.

ALTER TABLE usage_logs RENAME TO usage_logs_unpartitioned;

CREATE TABLE usage_logs (LIKE usage_logs_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (created_at);
CREATE TABLE usage_logs_default PARTITION OF usage_logs DEFAULT;

-- Make the partition of the UTC month holding ``month`` (moving that month's rows out of the default
-- partition); the partition's name, or NULL when it already exists. Instances may race: one at a time.
CREATE FUNCTION usage_logs_make_partition(month timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := date_trunc('month', month, 'UTC');
    hi timestamptz := date_trunc('month', month, 'UTC') + interval '1 month';
    partition text := 'usage_logs_' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('usage_logs partitions'));
    IF to_regclass(partition) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE usage_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', partition);
    -- Moved straight into the new table, not through usage_logs: the rollups counted them already.
    EXECUTE format(
        'WITH moved AS (DELETE FROM usage_logs_default WHERE created_at >= $1 AND created_at < $2 RETURNING *)'
        ' INSERT INTO %I SELECT * FROM moved', partition
    ) USING lo, hi;
    EXECUTE format('ALTER TABLE usage_logs ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', partition, lo, hi);
    RETURN partition;
END
$$;

-- Drop every month partition whose rows are all older than ``before`` (and such rows of the default
-- partition); the names dropped. The rollups keep their sums: they hold no request's own data.
CREATE FUNCTION usage_logs_drop_before(before timestamptz) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    partition text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('usage_logs partitions'));
    FOR partition IN
        SELECT c.relname
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'usage_logs'::regclass AND c.relname ~ '^usage_logs_[0-9]{4}_[0-9]{2}$'
            AND to_date(substr(c.relname, 12), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC' + interval '1 month'
                <= before
        ORDER BY 1
    LOOP
        EXECUTE format('DROP TABLE %I', partition);
        RETURN NEXT partition;
    END LOOP;
    DELETE FROM usage_logs_default WHERE created_at < before;
END
$$;

-- The months the existing rows span, then this month and the next two, made before the rows move in.
SELECT usage_logs_make_partition(month)
FROM (
    SELECT DISTINCT date_trunc('month', created_at, 'UTC') AS month FROM usage_logs_unpartitioned
    UNION
    SELECT date_trunc('month', now(), 'UTC') + ahead * interval '1 month' FROM generate_series(0, 2) AS ahead
) AS months
ORDER BY month;

INSERT INTO usage_logs SELECT * FROM usage_logs_unpartitioned;  -- before the trigger: counted already
DROP TABLE usage_logs_unpartitioned;

-- Built once the rows are in; each is made on every partition, present and future.
ALTER TABLE usage_logs ADD PRIMARY KEY (request_id, created_at);
CREATE INDEX usage_logs_project_keyset ON usage_logs (project_id, created_at DESC, request_id DESC);
CREATE INDEX usage_logs_session ON usage_logs (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX usage_logs_tags ON usage_logs USING gin (request_tags);
CREATE INDEX usage_logs_prefix ON usage_logs (project_id, prefix_fp, created_at) WHERE prefix_fp IS NOT NULL;
CREATE INDEX usage_logs_key_time ON usage_logs (key_id, created_at);

CREATE TRIGGER usage_logs_rollups AFTER INSERT ON usage_logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_rows();
