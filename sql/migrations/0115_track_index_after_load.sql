-- gridgeo schema 0115: month partitions of the patrol fixes indexed after their first load.
--
-- restricted.track_month(day) creates a month's partitions with their (worker_no, t) index, so
-- the first COPY into a new month maintained that index row by row. An import now calls
-- track_month_bare(day) (the partitions without index; returns whether it created them) and,
-- after its COPY, track_month_index(day) (the index, built once from the loaded rows). Both
-- run inside the import's transaction: nothing half-written. The index names are those
-- track_month gives (<partition>_worker_no_t_idx), so either way a month ends up the same.

CREATE FUNCTION restricted.track_month_bare(day date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    m0 date := date_trunc('month', day)::date;
    m1 date := (date_trunc('month', day) + interval '1 month')::date;
    suffix text := to_char(m0, '"y"YYYY"m"MM');
    tbl text;
    created boolean := false;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['track_fix_raw', 'track_fix'] LOOP
        IF to_regclass(format('restricted.%I', tbl || '_' || suffix)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE restricted.%I PARTITION OF restricted.%I '
                'FOR VALUES FROM (%L) TO (%L)',
                tbl || '_' || suffix, tbl,
                (m0::timestamp AT TIME ZONE 'Asia/Shanghai'),
                (m1::timestamp AT TIME ZONE 'Asia/Shanghai'));
            created := true;
        END IF;
    END LOOP;
    RETURN created;
END $$;

CREATE FUNCTION restricted.track_month_index(day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    suffix text := to_char(date_trunc('month', day), '"y"YYYY"m"MM');
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['track_fix_raw', 'track_fix'] LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON restricted.%I (worker_no, t)',
                       tbl || '_' || suffix || '_worker_no_t_idx', tbl || '_' || suffix);
    END LOOP;
END $$;
