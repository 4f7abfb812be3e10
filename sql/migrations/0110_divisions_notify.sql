-- gridgeo schema 0110: a change of the divisions notifies gridgeo_registry too.
--
-- Vector tiles carry a "divisions" layer (names, levels, outlines) and the service caches
-- tiles per registry version, the version moving on every NOTIFY gridgeo_registry. Grids
-- and contacts already notify; divisions were registered or renamed silently, so a cached
-- tile could keep an old name. One notification per statement, as for the contacts.

CREATE TRIGGER divisions_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON registry.divisions
    FOR EACH STATEMENT EXECUTE FUNCTION registry.notify_contacts();
