-- gridgeo schema 0085: what a public noticeboard needs beyond grids and staff (SPEC §6;
-- Yongzhou art. 9, Xinxiang art. 11, Jiangmen art. 8): the supervision phone (监督电话)
-- per county or street, each role's duties (职责) per profile, and the posting date
-- (公示日期) per community. All three are versioned in time like the grids
-- (valid_from / valid_to): a row is never updated except to close it once, so a board can
-- be regenerated exactly as it stood on any date. Written only by gridgeo/registry/posting.py.

-- Rows of the posting tables are immutable; the only change allowed is closing one once.
CREATE FUNCTION registry.posting_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING ERRCODE = 'GG403',
            MESSAGE = format('registry.%s: rows are never deleted (close them instead)', TG_TABLE_NAME);
    END IF;
    IF OLD.valid_to IS NOT NULL OR NEW.valid_to IS NULL
       OR (to_jsonb(NEW) - 'valid_to') IS DISTINCT FROM (to_jsonb(OLD) - 'valid_to') THEN
        RAISE EXCEPTION USING ERRCODE = 'GG403',
            MESSAGE = format('registry.%s: a row is never updated in place; only closing it once is allowed',
                             TG_TABLE_NAME);
    END IF;
    RETURN NEW;
END $$;

-- Supervision phone of a county or a street: division_code is the county's or street's
-- code, and applies to every community whose code starts with it (or whose parent it is).
CREATE TABLE registry.supervision_phone (
    phone_id      bigserial PRIMARY KEY,
    division_code text NOT NULL CHECK (division_code ~ '^[0-9A-Za-z]{2,20}$'),
    phone         text NOT NULL CHECK (phone ~ '^[0-9][0-9 ()+-]{2,31}$'),
    label         text NOT NULL DEFAULT '',
    set_by        text NOT NULL,
    valid_from    timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to      timestamptz,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX supervision_phone_current_idx ON registry.supervision_phone (division_code)
    WHERE valid_to IS NULL;

-- Duties of a role (head, full_time, part_time, professional) under a profile.
CREATE TABLE registry.role_duties (
    duties_id  bigserial PRIMARY KEY,
    profile    text NOT NULL,
    role       text NOT NULL CHECK (role IN ('head', 'full_time', 'part_time', 'professional')),
    duties     text NOT NULL CHECK (length(btrim(duties)) > 0),
    source     text NOT NULL DEFAULT '',
    set_by     text NOT NULL,
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to   timestamptz,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX role_duties_current_idx ON registry.role_duties (profile, role)
    WHERE valid_to IS NULL;

-- The date a community's board was (or is to be) posted.
CREATE TABLE registry.posting (
    posting_id     bigserial PRIMARY KEY,
    community_code text NOT NULL REFERENCES registry.divisions (code),
    posted_on      date NOT NULL,
    note           text NOT NULL DEFAULT '',
    set_by         text NOT NULL,
    valid_from     timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to       timestamptz,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX posting_current_idx ON registry.posting (community_code) WHERE valid_to IS NULL;

CREATE TRIGGER supervision_phone_guard BEFORE UPDATE OR DELETE ON registry.supervision_phone
    FOR EACH ROW EXECUTE FUNCTION registry.posting_guard();
CREATE TRIGGER role_duties_guard BEFORE UPDATE OR DELETE ON registry.role_duties
    FOR EACH ROW EXECUTE FUNCTION registry.posting_guard();
CREATE TRIGGER posting_guard BEFORE UPDATE OR DELETE ON registry.posting
    FOR EACH ROW EXECUTE FUNCTION registry.posting_guard();
CREATE TRIGGER supervision_phone_no_truncate BEFORE TRUNCATE ON registry.supervision_phone
    FOR EACH STATEMENT EXECUTE FUNCTION registry.refuse_change();
CREATE TRIGGER role_duties_no_truncate BEFORE TRUNCATE ON registry.role_duties
    FOR EACH STATEMENT EXECUTE FUNCTION registry.refuse_change();
CREATE TRIGGER posting_no_truncate BEFORE TRUNCATE ON registry.posting
    FOR EACH STATEMENT EXECUTE FUNCTION registry.refuse_change();

-- Read API (contract): the posted facts of one community at a time.
-- The supervision phone that applies: the most specific division (longest code) among the
-- community's parent and the codes its own code starts with.
CREATE FUNCTION registry.supervision_phone_at(p_community text, at timestamptz DEFAULT now())
RETURNS TABLE (division_code text, phone text, label text, valid_from timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT s.division_code, s.phone, s.label, s.valid_from
      FROM registry.supervision_phone s
     WHERE s.valid_from <= at AND at < coalesce(s.valid_to, 'infinity'::timestamptz)
       AND (p_community LIKE s.division_code || '%'
            OR s.division_code = (SELECT d.parent_code FROM registry.divisions d WHERE d.code = p_community))
     ORDER BY length(s.division_code) DESC
     LIMIT 1
$$;

CREATE FUNCTION registry.role_duties_at(p_profile text, at timestamptz DEFAULT now())
RETURNS TABLE (role text, duties text, source text, valid_from timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT r.role, r.duties, r.source, r.valid_from
      FROM registry.role_duties r
     WHERE r.profile = p_profile
       AND r.valid_from <= at AND at < coalesce(r.valid_to, 'infinity'::timestamptz)
     ORDER BY array_position(ARRAY['head', 'full_time', 'part_time', 'professional'], r.role)
$$;

CREATE FUNCTION registry.posting_at(at timestamptz DEFAULT now())
RETURNS TABLE (community_code text, posted_on date, note text, valid_from timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT p.community_code, p.posted_on, p.note, p.valid_from
      FROM registry.posting p
     WHERE p.valid_from <= at AND at < coalesce(p.valid_to, 'infinity'::timestamptz)
$$;
