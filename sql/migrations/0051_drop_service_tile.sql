-- gridgeo schema 0051: drop the unused SQL function service.tile (issue 12).
-- The service builds vector tiles with the query in gridgeo/registry/features.py, which
-- clips the tile envelope to where the registry CRS is usable; nothing called this one.

DROP FUNCTION IF EXISTS service.tile(integer, integer, integer, boolean);
