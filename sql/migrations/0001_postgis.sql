-- gridgeo schema 0001: the PostGIS extension.
-- Note: never create a schema named after the database role ("gridgeo"): it would come first in
-- the default search_path ("$user", public) and hide yoyo's bookkeeping tables in public.
CREATE EXTENSION IF NOT EXISTS postgis;
