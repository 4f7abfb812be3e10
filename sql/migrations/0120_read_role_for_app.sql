-- gridgeo schema 0120: the service's logins may act as the read-only role.
--
-- The map service answers anonymous read routes from a second connection pool whose
-- sessions SET ROLE gridgeo_read and are read-only (gridgeo.registry.users.read_only_session):
-- a bug in a public path then cannot write, nor read users and tokens. For that the
-- application role's members must be allowed to SET ROLE gridgeo_read. gridgeo_app is
-- NOINHERIT, so its logins gain no privilege from this grant, only the right to switch.
-- The roles are created here when missing (0900 creates them too, idempotently): on a new
-- database this migration runs before 0900.

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

GRANT gridgeo_read TO gridgeo_app;
