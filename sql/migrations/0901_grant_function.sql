-- gridgeo schema 0901: the application role's grants as one function, re-run after every
-- migration (gridgeo.database.migrate), so that a schema or table a later migration creates —
-- after a database already applied 0900 — gets the same grants as the rest. Idempotent.

CREATE OR REPLACE FUNCTION registry.grant_app_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE sch text;
BEGIN
    FOREACH sch IN ARRAY ARRAY['registry', 'service', 'restricted', 'incidents'] LOOP
        IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = sch) THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO gridgeo_app', sch);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I '
                           'TO gridgeo_app', sch);
            EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO gridgeo_app', sch);
            EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO gridgeo_app', sch);
        END IF;
    END LOOP;
    -- what 0900 takes back from the application and the readers stays taken back
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON registry.audit_log FROM gridgeo_app;
    REVOKE DELETE, TRUNCATE ON registry.code_ledger FROM gridgeo_app;
    REVOKE SELECT ON registry.app_user, registry.user_token FROM gridgeo_read;
    -- the grant function itself is the owner's
    REVOKE EXECUTE ON FUNCTION registry.grant_app_roles() FROM gridgeo_app, PUBLIC;
END
$$;

SELECT registry.grant_app_roles();
