-- gridgeo schema 0900: least-privilege database roles (sorts last on purpose).
--
-- The role that runs the migrations owns every table and function (the "owner"); only it
-- can ALTER tables or disable triggers. Two group roles are granted to login roles:
--
--   gridgeo_app   the service and the CLI: reads and writes registry and service rows, calls
--                 the workflow functions; writes the audit log only through them and
--                 registry.append_audit, never UPDATE/DELETE/TRUNCATE; not an owner, so no
--                 ALTER TABLE / DISABLE TRIGGER.
--   gridgeo_read  the service's public paths: SELECT on the registry and the matter list,
--                 the read-only functions; no tokens, no writes, no workflow functions.
--
-- ALTER DEFAULT PRIVILEGES gives tables, sequences and functions that later migrations create
-- (as the same owner) the same grants. Roles are cluster-wide: created once, re-used by every
-- gridgeo database on the server.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridgeo_app') THEN
        CREATE ROLE gridgeo_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridgeo_read') THEN
        CREATE ROLE gridgeo_read NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

-- nobody but the owner creates objects in the public schema (PostgreSQL < 15 allowed it)
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

GRANT USAGE ON SCHEMA registry, service TO gridgeo_app, gridgeo_read;

-- The audit log is written only by the owner's functions: registry.append_audit (the
-- registry's Python code calls it; the time is the database's, never the caller's) and the
-- workflow functions, which run as the owner (SECURITY DEFINER, fixed search_path).
CREATE OR REPLACE FUNCTION registry.append_audit(p_actor text, p_role text, p_action text,
                                                 p_changeset bigint DEFAULT NULL,
                                                 p_reason text DEFAULT NULL,
                                                 p_detail jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO registry.audit_log (at, actor, role, action, changeset_id, reason, detail)
    VALUES (clock_timestamp(), p_actor, p_role, p_action, p_changeset, p_reason, p_detail)
    RETURNING audit_id
$$;
ALTER FUNCTION registry.accept_changeset(bigint, text, text, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION registry.return_changeset(bigint, text, text, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'registry'::regnamespace AND p.proname = 'withdraw_changeset'
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = public, pg_temp', f);
    END LOOP;
END
$$;

-- the application role: rows, not structure
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA registry, service TO gridgeo_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON registry.audit_log FROM gridgeo_app;
REVOKE DELETE, TRUNCATE ON registry.code_ledger FROM gridgeo_app;  -- codes are for good
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA registry, service TO gridgeo_app;
-- the counties' household layers (schema restricted, filing): the application only, never
-- the read-only role
GRANT USAGE ON SCHEMA restricted TO gridgeo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA restricted TO gridgeo_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA restricted TO gridgeo_app;

-- functions: none for PUBLIC; all for the application; the read-only ones for readers
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA registry, service FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA registry, service TO gridgeo_app;
GRANT EXECUTE ON FUNCTION
    registry.srid(),
    registry.meta_float(text, double precision),
    registry.grids_at(timestamptz),
    registry.grid_contacts_at(timestamptz),
    registry.served_geom(geometry, double precision, integer)
TO gridgeo_read;
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'registry'::regnamespace AND p.proname = 'grid_at_point'
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO gridgeo_read', f);
    END LOOP;
END
$$;

-- the read-only role: the registry and the matter list, never users and tokens
GRANT SELECT ON ALL TABLES IN SCHEMA registry TO gridgeo_read;
REVOKE SELECT ON registry.app_user, registry.user_token FROM gridgeo_read;
GRANT SELECT ON service.category TO gridgeo_read;

-- schemas of later capabilities, when present: rows for the application, nothing for readers
-- (restricted: the counties' household layers, never public; incidents: the case loop)
DO $$
DECLARE sch text;
BEGIN
    FOREACH sch IN ARRAY ARRAY['restricted', 'incidents', 'tracks'] LOOP
        IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = sch) THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO gridgeo_app', sch);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I '
                           'TO gridgeo_app', sch);
            EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO gridgeo_app', sch);
            EXECUTE format('REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA %I FROM PUBLIC', sch);
            EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO gridgeo_app', sch);
            EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, '
                           'DELETE ON TABLES TO gridgeo_app', sch);
            EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON '
                           'SEQUENCES TO gridgeo_app', sch);
        END IF;
    END LOOP;
END
$$;

-- objects later migrations create get the same grants
ALTER DEFAULT PRIVILEGES IN SCHEMA registry, service
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gridgeo_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA registry, service
    GRANT USAGE, SELECT ON SEQUENCES TO gridgeo_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA registry, service REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA registry, service GRANT EXECUTE ON FUNCTIONS TO gridgeo_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA registry GRANT SELECT ON TABLES TO gridgeo_read;
