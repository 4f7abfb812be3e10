-- gridgeo schema 0130: the month partitions of the patrol fixes by name, for COPY straight into them.
--
-- An import now COPYs each month's fixes into that month's partitions directly (no tuple routing
-- through the parent), with FREEZE when the partition is created in the loading transaction
-- (and, on a server with wal_level = minimal, without writing WAL for it); the raw and the
-- cleaned fixes may be loaded by two connections whose transactions commit as one (two-phase
-- commit, see gridgeo.registry.tracks). For that each connection opens the partitions of its own
-- table: track_month_open(day, parents) creates what is missing bare, like track_month_bare,
-- and returns each partition's name and whether this call created it; track_part_index(part)
-- builds one partition's (worker_no, t) index. The names are those track_month and
-- track_month_index give (<table>_yYYYYmMM, <partition>_worker_no_t_idx).

CREATE FUNCTION restricted.track_month_open(
    day date, parents text[] DEFAULT ARRAY['track_fix_raw', 'track_fix']
) RETURNS TABLE (parent text, part text, created boolean) LANGUAGE plpgsql AS $$
DECLARE
    m0 date := date_trunc('month', day)::date;
    m1 date := (date_trunc('month', day) + interval '1 month')::date;
    suffix text := to_char(m0, '"y"YYYY"m"MM');
BEGIN
    FOREACH parent IN ARRAY parents LOOP
        IF parent NOT IN ('track_fix_raw', 'track_fix') THEN
            RAISE EXCEPTION 'not a table of patrol fixes: %', parent;
        END IF;
        part := parent || '_' || suffix;
        created := to_regclass(format('restricted.%I', part)) IS NULL;
        IF created THEN
            EXECUTE format(
                'CREATE TABLE restricted.%I PARTITION OF restricted.%I '
                'FOR VALUES FROM (%L) TO (%L)',
                part, parent,
                (m0::timestamp AT TIME ZONE 'Asia/Shanghai'),
                (m1::timestamp AT TIME ZONE 'Asia/Shanghai'));
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

CREATE FUNCTION restricted.track_part_index(part text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF part !~ '^track_fix(_raw)?_y[0-9]{4}m[0-9]{2}$' THEN
        RAISE EXCEPTION 'not a month partition of patrol fixes: %', part;
    END IF;
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON restricted.%I (worker_no, t)',
                   part || '_worker_no_t_idx', part);
END $$;
