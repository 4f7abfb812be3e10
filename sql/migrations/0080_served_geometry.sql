-- gridgeo schema 0080: geometry as served to map clients, simplified per zoom and capped.
--
-- registry.served_geom(g, tol, max_points): g simplified with tolerance tol (metres in the
-- registry CRS; 0 or NULL = as stored), and if it then still has more than max_points
-- vertices (NULL = no cap), simplified again with a tolerance of perimeter / max_points.
-- Topology is preserved (rings stay valid); the stored geometry is never changed.

CREATE FUNCTION registry.served_geom(g geometry, tol double precision, max_points integer)
RETURNS geometry LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN s.g1 IS NULL OR max_points IS NULL OR ST_NPoints(s.g1) <= max_points THEN s.g1
        ELSE ST_SimplifyPreserveTopology(s.g1, ST_Perimeter(s.g1) / max_points)
    END
      FROM (SELECT CASE WHEN coalesce(tol, 0) > 0 THEN ST_SimplifyPreserveTopology(g, tol)
                        ELSE g END AS g1) s
$$;
