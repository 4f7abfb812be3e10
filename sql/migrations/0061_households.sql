-- gridgeo schema 0061: each county's household layer (restricted data).
--
-- Points with counts, used to recount grid households when a change set is filed.
-- Never served publicly: the service reads no table of this schema, and only the
-- registry's filing code selects from it.

CREATE SCHEMA IF NOT EXISTS restricted;
REVOKE ALL ON SCHEMA restricted FROM PUBLIC;

CREATE TABLE restricted.household (
    household_id bigserial PRIMARY KEY,
    county_code  text NOT NULL,
    households   integer NOT NULL DEFAULT 1 CHECK (households >= 0),
    population   integer CHECK (population >= 0),
    compound_id  text,
    geom         geometry NOT NULL CHECK (ST_GeometryType(geom) = 'ST_Point')
);
CREATE INDEX household_county_idx ON restricted.household (county_code);
CREATE INDEX household_geom_idx ON restricted.household USING gist (geom);
CREATE TRIGGER household_srid BEFORE INSERT OR UPDATE OF geom ON restricted.household
    FOR EACH ROW EXECUTE FUNCTION registry.check_srid();

-- One row per load of a county's layer: who, when, how many (the layer is replaced whole).
CREATE TABLE restricted.household_load (
    county_code text PRIMARY KEY,
    points      integer NOT NULL,
    households  bigint NOT NULL,
    source      text NOT NULL DEFAULT '',
    loaded_by   text NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
