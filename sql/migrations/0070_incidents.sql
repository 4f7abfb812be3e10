-- gridgeo schema 0070: incidents — the case loop from report to evaluation (schema "incidents").
--
-- A case keeps the locate answer it got at intake and the registry time it was located
-- against (registry.grids_at(located_as_of) gives the same grid again). A case outside
-- every grid, with an unknown category or without a department is kept and queued for
-- the centre (queue_reason), never dropped. Every action is one row of the append-only
-- event log; photos are files under GRIDGEO_HOME with their SHA-256 here.

CREATE SCHEMA IF NOT EXISTS incidents;

CREATE TABLE incidents.case (
    case_id          bigserial PRIMARY KEY,
    external_id      text UNIQUE,
    source           text NOT NULL CHECK (source IN ('patrol', 'hotline', 'app', 'walk_in', 'import')),
    category         text NOT NULL DEFAULT '',
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    reporter         text NOT NULL DEFAULT '' CHECK (length(reporter) <= 200),
    reported_at      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    lon              double precision NOT NULL,
    lat              double precision NOT NULL,
    crs              text NOT NULL,
    geom             geometry(Point),           -- in the registry's CRS; NULL if it had none
    located          boolean NOT NULL,
    located_as_of    timestamptz NOT NULL,      -- registry version: grids_at(located_as_of)
    grid_code        text,
    grid_name        text,
    grid_valid_from  timestamptz,
    community_code   text,
    community_name   text,
    locate_answer    jsonb NOT NULL,
    routed_department bigint,                   -- what automatic routing proposed
    queue_reason     text,                      -- why the centre must look (NULL: routed)
    is_complex       boolean NOT NULL DEFAULT false,
    limit_amount     double precision NOT NULL,
    limit_unit       text NOT NULL CHECK (limit_unit IN ('hours', 'days')),
    state            text NOT NULL DEFAULT 'reported' CHECK (state IN (
                         'reported', 'accepted', 'rejected', 'dispatched', 'returned',
                         'handled', 'closed', 'archived', 'evaluated')),
    departments      bigint[] NOT NULL DEFAULT '{}',  -- first = lead department (牵头)
    returned_by      bigint[] NOT NULL DEFAULT '{}',
    designated       boolean NOT NULL DEFAULT false,
    level            integer NOT NULL DEFAULT 0,       -- supervision (督办) level
    satisfaction     smallint CHECK (satisfaction BETWEEN 1 AND 5),
    accepted_at      timestamptz,
    dispatched_at    timestamptz,                      -- first dispatch: the clock starts
    due_at           timestamptz,
    handled_at       timestamptz,
    closed_at        timestamptz,
    archived_at      timestamptz,
    evaluated_at     timestamptz,
    overdue_explanation text,
    is_sample        boolean NOT NULL DEFAULT false,
    import_file      text,
    version          integer NOT NULL DEFAULT 0
);
CREATE INDEX case_state_idx ON incidents.case (state, due_at);
CREATE INDEX case_grid_idx ON incidents.case (grid_code);
CREATE INDEX case_category_idx ON incidents.case (category);
CREATE INDEX case_reported_idx ON incidents.case (reported_at);
CREATE INDEX case_queue_idx ON incidents.case (case_id) WHERE queue_reason IS NOT NULL;

CREATE TABLE incidents.event (
    event_id   bigserial PRIMARY KEY,
    case_id    bigint NOT NULL REFERENCES incidents.case (case_id),
    action     text NOT NULL,
    from_state text,
    to_state   text NOT NULL,
    role       text NOT NULL,
    actor      text NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    body       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX event_case_idx ON incidents.event (case_id, event_id);

CREATE FUNCTION incidents.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incidents.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON incidents.event
    FOR EACH ROW EXECUTE FUNCTION incidents.refuse_change();
CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON incidents.event
    FOR EACH STATEMENT EXECUTE FUNCTION incidents.refuse_change();

CREATE TABLE incidents.photo (
    photo_id     bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES incidents.case (case_id),
    event_id     bigint REFERENCES incidents.event (event_id),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes        bigint NOT NULL CHECK (bytes > 0),
    content_type text NOT NULL,
    path         text NOT NULL,           -- relative to GRIDGEO_HOME
    added_by     text NOT NULL,
    added_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (case_id, sha256)
);
CREATE TRIGGER photo_append_only BEFORE UPDATE OR DELETE ON incidents.photo
    FOR EACH ROW EXECUTE FUNCTION incidents.refuse_change();

-- Notifications to departments: dispatch, designation, supervision (督办).
CREATE TABLE incidents.notification (
    notification_id bigserial PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES incidents.case (case_id),
    department_id   bigint NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('dispatch', 'designate', 'supervise', 'verify_fail')),
    level           integer NOT NULL DEFAULT 0,
    message         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    read_at         timestamptz
);
CREATE INDEX notification_department_idx ON incidents.notification (department_id, read_at);

-- Imported files (idempotent re-import by file hash).
CREATE TABLE incidents.import_file (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    name        text NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    imported_by text NOT NULL,
    rows_total  integer NOT NULL,
    rows_stored integer NOT NULL,
    rows_bad    integer NOT NULL,
    rows_known  integer NOT NULL   -- already stored (same external id)
);
