-- gridgeo schema 0002: the grid registry (schema "registry").
--
-- Grids are versioned in time: a row is never updated in place except to close it
-- (valid_to set once); a change closes the old row and opens a new one. Only an
-- accepted change set writes grids (registry.accept_changeset). Spatial integrity of
-- the current grids is enforced here, by a statement-level trigger on registry.grid.
-- All geometries use ONE projected SRID recorded in registry.meta ('srid'), fixed by
-- the first load; geometry columns are therefore untyped and checked by trigger.
--
-- Custom SQLSTATEs raised here (mapped to gridgeo errors in gridgeo/registry/_db.py):
--   GG404 not found · GG409 conflict (status or version) · GG422 spatial integrity
--   GG403 refused (append-only tables, immutable rows, wrong SRID)

CREATE SCHEMA IF NOT EXISTS registry;

CREATE TABLE registry.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO registry.meta (key, value) VALUES
    ('overlap_tolerance_m2', '1.0'),
    ('containment_tolerance_m2', '1.0');

CREATE FUNCTION registry.meta_float(p_key text, p_default double precision)
RETURNS double precision LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT value::double precision FROM registry.meta WHERE key = p_key), p_default)
$$;

CREATE FUNCTION registry.srid() RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT value::integer FROM registry.meta WHERE key = 'srid'
$$;

-- Geometry columns must carry the registry SRID (set by the first load).
CREATE FUNCTION registry.check_srid() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_srid integer := registry.srid();
BEGIN
    IF NEW.geom IS NULL THEN
        RETURN NEW;
    END IF;
    IF v_srid IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'GG403',
            MESSAGE = 'the registry SRID is not set yet (registry.meta key ''srid'')';
    END IF;
    IF ST_SRID(NEW.geom) <> v_srid THEN
        RAISE EXCEPTION USING ERRCODE = 'GG403',
            MESSAGE = format('%s: geometry has SRID %s, the registry uses %s',
                             TG_TABLE_NAME, ST_SRID(NEW.geom), v_srid);
    END IF;
    RETURN NEW;
END $$;

-- Refuse UPDATE/DELETE/TRUNCATE on append-only tables.
CREATE FUNCTION registry.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'GG403',
        MESSAGE = format('registry.%s is append-only: %s is not allowed', TG_TABLE_NAME, TG_OP);
END $$;

-- Divisions: province / city / county / street / community polygons (reference data).
CREATE TABLE registry.divisions (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county', 'street', 'community')),
    parent_code text REFERENCES registry.divisions (code),
    kind        text CHECK (kind IN ('urban', 'rural')),
    geom        geometry,
    CHECK (geom IS NULL OR (ST_GeometryType(geom) IN ('ST_Polygon', 'ST_MultiPolygon') AND ST_IsValid(geom)))
);
CREATE INDEX divisions_geom_idx ON registry.divisions USING gist (geom);
CREATE INDEX divisions_parent_idx ON registry.divisions (parent_code);
CREATE TRIGGER divisions_srid BEFORE INSERT OR UPDATE OF geom ON registry.divisions
    FOR EACH ROW EXECUTE FUNCTION registry.check_srid();

-- Change sets drafted by a county, filed with and decided by the city.
CREATE TABLE registry.changeset (
    changeset_id    bigserial PRIMARY KEY,
    county_code     text NOT NULL,
    title           text NOT NULL DEFAULT '',
    reason          text NOT NULL DEFAULT '',
    source          text,
    status          text NOT NULL DEFAULT 'draft'
                    CHECK (status IN ('draft', 'filed', 'accepted', 'returned')),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    filed_by        text,
    filed_at        timestamptz,
    decided_by      text,
    decided_at      timestamptz,
    decision_reason text,
    validation      jsonb,
    lock_version    integer NOT NULL DEFAULT 0,
    CHECK (status <> 'returned' OR coalesce(decision_reason, '') <> '')
);
CREATE INDEX changeset_status_idx ON registry.changeset (status, county_code);

CREATE TABLE registry.changeset_item (
    item_id      bigserial PRIMARY KEY,
    changeset_id bigint NOT NULL REFERENCES registry.changeset (changeset_id),
    seq          integer NOT NULL,
    action       text NOT NULL CHECK (action IN ('create', 'split', 'merge', 'reshape', 'rename',
                                                 'amend', 'retire', 'reassign_staff',
                                                 'reassign_department')),
    note         text NOT NULL DEFAULT '',
    payload      jsonb,
    UNIQUE (changeset_id, seq)
);

-- Grid versions an item closes (base_version = the version seen when drafting: optimistic lock).
CREATE TABLE registry.changeset_old (
    item_id      bigint NOT NULL REFERENCES registry.changeset_item (item_id),
    changeset_id bigint NOT NULL REFERENCES registry.changeset (changeset_id),
    grid_code    text NOT NULL,
    base_version integer NOT NULL,
    retire       boolean NOT NULL,
    PRIMARY KEY (changeset_id, grid_code)
);

-- Grid versions an item opens (codes are reserved in the ledger when drafting).
CREATE TABLE registry.changeset_new (
    item_id        bigint NOT NULL REFERENCES registry.changeset_item (item_id),
    changeset_id   bigint NOT NULL REFERENCES registry.changeset (changeset_id),
    grid_code      text NOT NULL,
    grid_name      text NOT NULL,
    grid_type      text NOT NULL CHECK (grid_type IN ('urban', 'rural', 'dedicated')),
    community_code text NOT NULL REFERENCES registry.divisions (code),
    households     integer NOT NULL DEFAULT 0 CHECK (households >= 0),
    population     integer NOT NULL DEFAULT 0 CHECK (population >= 0),
    geom           geometry NOT NULL,
    PRIMARY KEY (changeset_id, grid_code)
);
CREATE TRIGGER changeset_new_srid BEFORE INSERT OR UPDATE OF geom ON registry.changeset_new
    FOR EACH ROW EXECUTE FUNCTION registry.check_srid();

-- Every grid code ever issued (or reserved by a draft): never deleted, never reused.
CREATE TABLE registry.code_ledger (
    code           text PRIMARY KEY,
    community_code text NOT NULL,
    seq            integer NOT NULL CHECK (seq > 0),
    status         text NOT NULL CHECK (status IN ('reserved', 'active', 'retired', 'void')),
    changeset_id   bigint REFERENCES registry.changeset (changeset_id),
    reserved_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    issued_at      timestamptz,
    retired_at     timestamptz,
    retired_by     bigint REFERENCES registry.changeset (changeset_id),
    UNIQUE (community_code, seq)
);
CREATE FUNCTION registry.ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING ERRCODE = 'GG403',
            MESSAGE = format('grid code %s is in the ledger for good: codes are never deleted', OLD.code);
    END IF;
    IF NEW.code <> OLD.code OR NEW.community_code <> OLD.community_code OR NEW.seq <> OLD.seq THEN
        RAISE EXCEPTION USING ERRCODE = 'GG403',
            MESSAGE = format('grid code %s: a ledger entry''s code cannot change', OLD.code);
    END IF;
    IF OLD.status IN ('retired', 'void') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION USING ERRCODE = 'GG403',
            MESSAGE = format('grid code %s is %s and can never be used again', OLD.code, OLD.status);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER code_ledger_guard BEFORE UPDATE OR DELETE ON registry.code_ledger
    FOR EACH ROW EXECUTE FUNCTION registry.ledger_guard();
CREATE TRIGGER code_ledger_no_truncate BEFORE TRUNCATE ON registry.code_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION registry.refuse_change();

-- Grid versions.
CREATE TABLE registry.grid (
    grid_id        bigserial PRIMARY KEY,
    grid_code      text NOT NULL REFERENCES registry.code_ledger (code),
    version        integer NOT NULL CHECK (version > 0),
    grid_name      text NOT NULL,
    grid_type      text NOT NULL CHECK (grid_type IN ('urban', 'rural', 'dedicated')),
    community_code text NOT NULL REFERENCES registry.divisions (code),
    households     integer NOT NULL DEFAULT 0 CHECK (households >= 0),
    population     integer NOT NULL DEFAULT 0 CHECK (population >= 0),
    geom           geometry NOT NULL,
    valid_from     timestamptz NOT NULL,
    valid_to       timestamptz,
    opened_by      bigint REFERENCES registry.changeset (changeset_id),
    closed_by      bigint REFERENCES registry.changeset (changeset_id),
    UNIQUE (grid_code, version),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    CHECK (ST_GeometryType(geom) IN ('ST_Polygon', 'ST_MultiPolygon') AND ST_IsValid(geom))
);
CREATE UNIQUE INDEX grid_current_code_idx ON registry.grid (grid_code) WHERE valid_to IS NULL;
CREATE INDEX grid_geom_idx ON registry.grid USING gist (geom);
CREATE INDEX grid_current_geom_idx ON registry.grid USING gist (geom) WHERE valid_to IS NULL;
CREATE INDEX grid_community_idx ON registry.grid (community_code) WHERE valid_to IS NULL;
CREATE INDEX grid_time_idx ON registry.grid (valid_from, valid_to);
CREATE TRIGGER grid_srid BEFORE INSERT ON registry.grid
    FOR EACH ROW EXECUTE FUNCTION registry.check_srid();

-- A grid row is immutable; the only change allowed is closing it once.
CREATE FUNCTION registry.grid_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING ERRCODE = 'GG403',
            MESSAGE = format('grid %s v%s: grid versions are never deleted (close them instead)',
                             OLD.grid_code, OLD.version);
    END IF;
    IF OLD.valid_to IS NOT NULL
       OR NEW.valid_to IS NULL
       OR (NEW.grid_id, NEW.grid_code, NEW.version, NEW.grid_name, NEW.grid_type, NEW.community_code,
           NEW.households, NEW.population, NEW.valid_from, NEW.opened_by, ST_AsEWKB(NEW.geom))
          IS DISTINCT FROM
          (OLD.grid_id, OLD.grid_code, OLD.version, OLD.grid_name, OLD.grid_type, OLD.community_code,
           OLD.households, OLD.population, OLD.valid_from, OLD.opened_by, ST_AsEWKB(OLD.geom)) THEN
        RAISE EXCEPTION USING ERRCODE = 'GG403',
            MESSAGE = format('grid %s v%s: a grid version is never updated in place; only closing it once is allowed',
                             OLD.grid_code, OLD.version);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER grid_guard BEFORE UPDATE OR DELETE ON registry.grid
    FOR EACH ROW EXECUTE FUNCTION registry.grid_guard();
CREATE TRIGGER grid_no_truncate BEFORE TRUNCATE ON registry.grid
    FOR EACH STATEMENT EXECUTE FUNCTION registry.refuse_change();

-- Spatial integrity of the current grids, checked after every INSERT statement on
-- registry.grid: no two current grids overlap in their interiors by more than
-- overlap_tolerance_m2, and every current grid lies within its community (the part
-- outside is at most containment_tolerance_m2).
CREATE FUNCTION registry.grid_integrity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_overlap_tol double precision := registry.meta_float('overlap_tolerance_m2', 1.0);
    v_contain_tol double precision := registry.meta_float('containment_tolerance_m2', 1.0);
    v_msg text;
BEGIN
    SELECT string_agg(format('%s overlaps %s by %s m²', a, b, round(area::numeric, 1)), '; ')
      INTO v_msg
      FROM (
        SELECT n.grid_code AS a, g.grid_code AS b, ST_Area(ST_Intersection(n.geom, g.geom)) AS area
          FROM new_rows n
          JOIN registry.grid g
            ON g.valid_to IS NULL
           AND g.grid_id <> n.grid_id
           AND ST_Intersects(n.geom, g.geom)
           AND NOT ST_Touches(n.geom, g.geom)
         WHERE n.valid_to IS NULL
           AND (g.grid_id > n.grid_id OR NOT EXISTS (SELECT 1 FROM new_rows x WHERE x.grid_id = g.grid_id))
      ) o
     WHERE area > v_overlap_tol;
    IF v_msg IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'GG422',
            MESSAGE = 'current grids would overlap: ' || left(v_msg, 2000),
            HINT = format('overlap tolerance %s m² (registry.meta overlap_tolerance_m2)', v_overlap_tol);
    END IF;

    SELECT string_agg(format('%s lies %s m² outside community %s', code, round(outside::numeric, 1), cc), '; ')
      INTO v_msg
      FROM (
        SELECT n.grid_code AS code, n.community_code AS cc,
               CASE WHEN c.geom IS NULL THEN 'Infinity'::double precision
                    WHEN ST_CoveredBy(n.geom, c.geom) THEN 0
                    ELSE ST_Area(ST_Difference(n.geom, c.geom)) END AS outside
          FROM new_rows n
          LEFT JOIN registry.divisions c ON c.code = n.community_code
         WHERE n.valid_to IS NULL
      ) w
     WHERE outside > v_contain_tol;
    IF v_msg IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'GG422',
            MESSAGE = 'grids would leave their community: ' || left(v_msg, 2000),
            HINT = format('containment tolerance %s m² (registry.meta containment_tolerance_m2)', v_contain_tol);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER grid_integrity AFTER INSERT ON registry.grid
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION registry.grid_integrity();

-- Staff and their grid assignments (versioned in time as well).
CREATE TABLE registry.staff (
    staff_id    bigserial PRIMARY KEY,
    person_name text NOT NULL,
    phone       text NOT NULL DEFAULT '',
    is_sample   boolean NOT NULL DEFAULT false,
    UNIQUE (person_name, phone)
);
CREATE TABLE registry.staff_assignment (
    assignment_id bigserial PRIMARY KEY,
    staff_id      bigint NOT NULL REFERENCES registry.staff (staff_id),
    grid_code     text NOT NULL REFERENCES registry.code_ledger (code),
    role          text NOT NULL CHECK (role IN ('head', 'full_time', 'part_time', 'professional')),
    posted        boolean NOT NULL DEFAULT true,
    valid_from    timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to      timestamptz,
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX staff_assignment_grid_idx ON registry.staff_assignment (grid_code, valid_from);

-- Departments and their coverage per incident category (包片): by grid codes or own polygons.
CREATE TABLE registry.department (
    department_id bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    phone         text,
    is_sample     boolean NOT NULL DEFAULT false
);
CREATE TABLE registry.department_coverage (
    coverage_id   bigserial PRIMARY KEY,
    department_id bigint NOT NULL REFERENCES registry.department (department_id),
    category      text NOT NULL,
    grid_code     text REFERENCES registry.code_ledger (code),
    geom          geometry,
    lead          boolean NOT NULL DEFAULT true,
    valid_from    timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to      timestamptz,
    CHECK (grid_code IS NOT NULL OR geom IS NOT NULL),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX department_coverage_grid_idx ON registry.department_coverage (grid_code, category);
CREATE INDEX department_coverage_geom_idx ON registry.department_coverage USING gist (geom);
CREATE TRIGGER department_coverage_srid BEFORE INSERT OR UPDATE OF geom ON registry.department_coverage
    FOR EACH ROW EXECUTE FUNCTION registry.check_srid();

-- Staff or department changes tell the service to refresh (deduplicated per transaction).
CREATE FUNCTION registry.notify_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridgeo_registry',
                      json_build_object('event', TG_TABLE_NAME || '_changed', 'changeset', NULL)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER staff_notify AFTER INSERT OR UPDATE OR DELETE ON registry.staff
    FOR EACH STATEMENT EXECUTE FUNCTION registry.notify_contacts();
CREATE TRIGGER staff_assignment_notify AFTER INSERT OR UPDATE OR DELETE ON registry.staff_assignment
    FOR EACH STATEMENT EXECUTE FUNCTION registry.notify_contacts();
CREATE TRIGGER department_notify AFTER INSERT OR UPDATE OR DELETE ON registry.department
    FOR EACH STATEMENT EXECUTE FUNCTION registry.notify_contacts();
CREATE TRIGGER department_coverage_notify AFTER INSERT OR UPDATE OR DELETE ON registry.department_coverage
    FOR EACH STATEMENT EXECUTE FUNCTION registry.notify_contacts();

-- Append-only audit log: who, when, what, why.
CREATE TABLE registry.audit_log (
    audit_id     bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor        text NOT NULL,
    role         text,
    action       text NOT NULL,
    changeset_id bigint REFERENCES registry.changeset (changeset_id),
    reason       text,
    detail       jsonb
);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON registry.audit_log
    FOR EACH ROW EXECUTE FUNCTION registry.refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON registry.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION registry.refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON registry.audit_log FROM PUBLIC;

-- ---------------------------------------------------------------------------------------
-- Read API for the service (contract): grids_at, current_grid, grid_contacts_at.
CREATE FUNCTION registry.grids_at(at timestamptz DEFAULT now())
RETURNS TABLE (grid_id bigint, grid_code text, grid_name text, grid_type text,
               community_code text, community_name text, households integer, population integer,
               valid_from timestamptz, valid_to timestamptz, geom geometry)
LANGUAGE sql STABLE AS $$
    SELECT g.grid_id, g.grid_code, g.grid_name, g.grid_type, g.community_code, d.name,
           g.households, g.population, g.valid_from, g.valid_to, g.geom
      FROM registry.grid g
      LEFT JOIN registry.divisions d ON d.code = g.community_code
     WHERE g.valid_from <= at AND at < coalesce(g.valid_to, 'infinity'::timestamptz)
$$;

CREATE VIEW registry.current_grid AS SELECT * FROM registry.grids_at(now());

CREATE FUNCTION registry.grid_contacts_at(at timestamptz DEFAULT now())
RETURNS TABLE (grid_code text, role text, person_name text, phone text, posted boolean)
LANGUAGE sql STABLE AS $$
    SELECT a.grid_code, a.role, s.person_name, s.phone, a.posted
      FROM registry.staff_assignment a
      JOIN registry.staff s USING (staff_id)
     WHERE a.valid_from <= at AND at < coalesce(a.valid_to, 'infinity'::timestamptz)
     ORDER BY a.grid_code,
              array_position(ARRAY['head', 'full_time', 'part_time', 'professional'], a.role),
              s.person_name
$$;

-- Which grid covered a point (in the registry SRID unless p_srid is given) at a time.
CREATE FUNCTION registry.grid_at_point(x double precision, y double precision,
                                       at timestamptz DEFAULT now(), p_srid integer DEFAULT NULL)
RETURNS TABLE (grid_id bigint, grid_code text, grid_name text, community_code text,
               valid_from timestamptz, valid_to timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT g.grid_id, g.grid_code, g.grid_name, g.community_code, g.valid_from, g.valid_to
      FROM registry.grid g,
           LATERAL (SELECT CASE WHEN p_srid IS NULL OR p_srid = registry.srid()
                                THEN ST_SetSRID(ST_MakePoint(x, y), registry.srid())
                                ELSE ST_Transform(ST_SetSRID(ST_MakePoint(x, y), p_srid), registry.srid())
                           END AS pt) p
     WHERE ST_Intersects(g.geom, p.pt)
       AND g.valid_from <= at AND at < coalesce(g.valid_to, 'infinity'::timestamptz)
     ORDER BY g.grid_code
$$;
