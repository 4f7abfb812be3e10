-- gridgeo schema 0050: the map service's own objects (schema "service").
--
-- The service reads the registry only through the contract objects (registry.grids_at,
-- registry.current_grid, registry.divisions, registry.grid_contacts_at,
-- registry.department, registry.department_coverage). Here: API tokens with roles,
-- the matter list (事项清单: incident categories), and the vector-tile function.

CREATE SCHEMA IF NOT EXISTS service;

-- Bearer tokens: only their SHA-256 is stored.
CREATE TABLE service.api_token (
    token_id      bigserial PRIMARY KEY,
    token_sha256  text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    role          text NOT NULL
                  CHECK (role IN ('public', 'dispatcher', 'county_editor', 'city_reviewer', 'admin')),
    division_code text NOT NULL DEFAULT '',
    label         text NOT NULL DEFAULT '',
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at    timestamptz,
    CHECK (role <> 'county_editor' OR division_code <> '')
);

-- The matter list: incident categories with their handling deadlines (working days).
CREATE TABLE service.category (
    code                  text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,64}$'),
    name                  text NOT NULL UNIQUE CHECK (name <> ''),
    description           text NOT NULL DEFAULT '',
    deadline_days         integer NOT NULL DEFAULT 5 CHECK (deadline_days > 0),
    complex_deadline_days integer NOT NULL DEFAULT 10 CHECK (complex_deadline_days > 0),
    is_sample             boolean NOT NULL DEFAULT false
);

CREATE FUNCTION service.notify_categories() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridgeo_registry',
                      json_build_object('event', 'category_changed', 'changeset', NULL)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER category_notify AFTER INSERT OR UPDATE OR DELETE ON service.category
    FOR EACH STATEMENT EXECUTE FUNCTION service.notify_categories();

-- One Mapbox vector tile (EPSG:3857 tile z/x/y) with layers "grids" and "divisions".
-- Public tiles carry names, codes and types; with detail = true also households and
-- population per grid (aggregates only; household points are never in tiles).
CREATE FUNCTION service.tile(z integer, x integer, y integer, detail boolean DEFAULT false)
RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    v_srid integer := registry.srid();
    v_env  geometry;
    v_envr geometry;
    v_grids bytea;
    v_divs bytea;
BEGIN
    IF v_srid IS NULL THEN
        RETURN ''::bytea;
    END IF;
    v_env := ST_TileEnvelope(z, x, y);
    v_envr := ST_Transform(ST_Segmentize(v_env, (ST_XMax(v_env) - ST_XMin(v_env)) / 8), v_srid);
    IF detail THEN
        SELECT ST_AsMVT(t.*, 'grids', 4096, 'geom')
          INTO v_grids
          FROM (
            SELECT g.grid_code, g.grid_name, g.grid_type, g.community_code, g.community_name,
                   g.households, g.population,
                   ST_AsMVTGeom(ST_Transform(g.geom, 3857), v_env, 4096, 64, true) AS geom
              FROM registry.current_grid g
             WHERE g.geom && v_envr
          ) t
         WHERE t.geom IS NOT NULL;
    ELSE
        SELECT ST_AsMVT(t.*, 'grids', 4096, 'geom')
          INTO v_grids
          FROM (
            SELECT g.grid_code, g.grid_name, g.grid_type, g.community_code, g.community_name,
                   ST_AsMVTGeom(ST_Transform(g.geom, 3857), v_env, 4096, 64, true) AS geom
              FROM registry.current_grid g
             WHERE g.geom && v_envr
          ) t
         WHERE t.geom IS NOT NULL;
    END IF;
    SELECT ST_AsMVT(t.*, 'divisions', 4096, 'geom')
      INTO v_divs
      FROM (
        SELECT d.code, d.name, d.level,
               ST_AsMVTGeom(ST_Transform(d.geom, 3857), v_env, 4096, 64, true) AS geom
          FROM registry.divisions d
         WHERE d.geom IS NOT NULL AND d.geom && v_envr
      ) t
     WHERE t.geom IS NOT NULL;
    RETURN coalesce(v_grids, ''::bytea) || coalesce(v_divs, ''::bytea);
END $$;
