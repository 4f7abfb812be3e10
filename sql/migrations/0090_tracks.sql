-- gridgeo schema 0090: grid workers' patrol tracks (issue 20; restricted data).
--
-- Tracks are personal data: never public. One row per imported file (its SHA-256 makes a
-- re-import a no-op); the fixes as read (raw) and as kept by cleaning (clean), each in a
-- table partitioned by month of the fix time. Times are timestamptz, coordinates WGS 84.

CREATE SCHEMA IF NOT EXISTS restricted;

CREATE TABLE restricted.track_file (
    file_id     bigserial PRIMARY KEY,
    sha256      text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    name        text NOT NULL,
    crs         text NOT NULL,
    fixes_read  integer NOT NULL CHECK (fixes_read >= 0),
    fixes_kept  integer NOT NULL CHECK (fixes_kept >= 0),
    counts      jsonb NOT NULL DEFAULT '{}',
    problems    jsonb NOT NULL DEFAULT '[]',
    is_sample   boolean NOT NULL DEFAULT false,
    imported_by text NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Worker ids as written in track files (网格员编号; the registry's staff_id where they match).
CREATE TABLE restricted.track_worker (
    worker_no serial PRIMARY KEY,
    worker    text NOT NULL UNIQUE
);

-- accuracy/speed: NaN where the device reported none (binary COPY writes floats as is).
CREATE TABLE restricted.track_fix_raw (
    file_id  bigint NOT NULL,
    row_no   integer NOT NULL,
    worker_no integer NOT NULL,
    t        timestamptz NOT NULL,
    lon      double precision NOT NULL,
    lat      double precision NOT NULL,
    accuracy real,
    speed    real
) PARTITION BY RANGE (t);

CREATE TABLE restricted.track_fix (
    file_id  bigint NOT NULL,
    row_no   integer NOT NULL,
    worker_no integer NOT NULL,
    t        timestamptz NOT NULL,
    lon      double precision NOT NULL,
    lat      double precision NOT NULL,
    piece    integer NOT NULL
) PARTITION BY RANGE (t);

-- The month partitions of both tables for the month holding `day` (idempotent).
CREATE FUNCTION restricted.track_month(day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m0 date := date_trunc('month', day)::date;
    m1 date := (date_trunc('month', day) + interval '1 month')::date;
    suffix text := to_char(m0, '"y"YYYY"m"MM');
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['track_fix_raw', 'track_fix'] LOOP
        IF to_regclass(format('restricted.%I', tbl || '_' || suffix)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE restricted.%I PARTITION OF restricted.%I '
                'FOR VALUES FROM (%L) TO (%L)',
                tbl || '_' || suffix, tbl,
                (m0::timestamp AT TIME ZONE 'Asia/Shanghai'),
                (m1::timestamp AT TIME ZONE 'Asia/Shanghai'));
            EXECUTE format('CREATE INDEX ON restricted.%I (worker_no, t)', tbl || '_' || suffix);
        END IF;
    END LOOP;
END $$;
