-- gridgeo schema 0100: each county's road centrelines, to cut communities into blocks
-- for grid adjustment (issue 19: the browser editor and `gridgeo change export-edit`).
--
-- Replaced whole per county by registry/edits.py (load_roads); read only to build blocks.

CREATE TABLE registry.road (
    road_id     bigserial PRIMARY KEY,
    county_code text NOT NULL,
    name        text,
    geom        geometry NOT NULL
                CHECK (ST_GeometryType(geom) IN ('ST_LineString', 'ST_MultiLineString'))
);
CREATE INDEX road_county_idx ON registry.road (county_code);
CREATE INDEX road_geom_idx ON registry.road USING gist (geom);
CREATE TRIGGER road_srid BEFORE INSERT OR UPDATE OF geom ON registry.road
    FOR EACH ROW EXECUTE FUNCTION registry.check_srid();
