-- gridgeo schema 0055: people and their tokens, one home for the CLI and the API.
--
-- A user has one role and (except admin/dispatcher/public) one division of the registry:
-- a county editor its county, a city reviewer its city, a province reviewer its province,
-- a district-centre reviewer its district (county level). The division must exist in
-- registry.divisions (foreign key): a scope of "6" is impossible. Tokens authenticate a
-- user; only their SHA-256 is stored. Replaces service.api_token (its tokens carry over
-- when their division exists; others are dropped with a notice).

CREATE TABLE registry.app_user (
    user_id       bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (btrim(name) <> ''),
    role          text NOT NULL CHECK (role IN ('public', 'dispatcher', 'county_editor',
                                                'city_reviewer', 'province_reviewer',
                                                'centre_reviewer', 'admin')),
    division_code text REFERENCES registry.divisions (code),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (role IN ('public', 'dispatcher', 'admin') OR division_code IS NOT NULL)
);

CREATE TABLE registry.user_token (
    token_id      bigserial PRIMARY KEY,
    token_sha256  text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    user_id       bigint NOT NULL REFERENCES registry.app_user (user_id),
    name          text NOT NULL DEFAULT '',
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    revoked_by    text
);
CREATE INDEX user_token_user_idx ON registry.user_token (user_id);

-- Audit entries about people and tokens have no change set.
DO $$
DECLARE
    r record;
    v_user bigint;
    v_dropped integer := 0;
BEGIN
    FOR r IN SELECT * FROM service.api_token ORDER BY token_id LOOP
        IF r.role NOT IN ('public', 'dispatcher', 'admin')
           AND NOT EXISTS (SELECT 1 FROM registry.divisions d WHERE d.code = r.division_code) THEN
            v_dropped := v_dropped + 1;
            CONTINUE;
        END IF;
        INSERT INTO registry.app_user (name, role, division_code, created_by, created_at)
        VALUES (format('%s (token %s)', coalesce(nullif(r.label, ''), r.role), r.token_id),
                r.role, nullif(r.division_code, ''), r.created_by, r.created_at)
        RETURNING user_id INTO v_user;
        INSERT INTO registry.user_token (token_sha256, user_id, name, created_by, created_at,
                                         revoked_at)
        VALUES (r.token_sha256, v_user, r.label, r.created_by, r.created_at, r.revoked_at);
    END LOOP;
    IF v_dropped > 0 THEN
        RAISE NOTICE '% API token(s) scoped to divisions unknown to the registry were dropped',
            v_dropped;
    END IF;
END $$;

DROP TABLE service.api_token;
