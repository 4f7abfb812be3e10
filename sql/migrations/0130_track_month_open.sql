-- gridgeo schema 0130: the month partitions of the patrol fixes by name, for COPY straight into them.
--
-- An import now COPYs each month's fixes into that month's partitions directly (no tuple routing
-- through the parent), with FREEZE when the partition is created in the import's own transaction
-- (and, on a server with wal_level = minimal, without writing WAL for it). For that it needs the
-- partitions' names and whether this transaction created them: track_month_open(day) creates
-- what is missing bare, like track_month_bare, and says so per table. The names are those
-- track_month and track_month_bare give (<table>_yYYYYmMM); track_month_index is unchanged.

CREATE FUNCTION restricted.track_month_open(day date)
RETURNS TABLE (parent text, part text, created boolean) LANGUAGE plpgsql AS $$
DECLARE
    m0 date := date_trunc('month', day)::date;
    m1 date := (date_trunc('month', day) + interval '1 month')::date;
    suffix text := to_char(m0, '"y"YYYY"m"MM');
BEGIN
    FOREACH parent IN ARRAY ARRAY['track_fix_raw', 'track_fix'] LOOP
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
