-- gridgeo schema 0066: matter lists (事项清单) with history, county admission lists and the
-- negative list (issue 15).
--
-- * The city catalogue is service.category (one home), now with the default responsible
--   department, a deadline class and the negative-list flag (Xinxiang art. 14, Gansu 二(二)4:
--   matters that must not be pushed onto grid workers). Every insert, change and removal
--   is kept in service.category_version (valid_from / valid_to).
-- * A county's admission list (准入清单) is registry.matter_admission, versioned in time.
--   Admission and exit are change-set items (admit_matter, exit_matter) filed with the city
--   like grid changes (Yongzhou art. 13, Xinxiang art. 13, Gansu 二(二)5, Jiangmen art. 9);
--   they take effect when the city accepts the change set.

ALTER TABLE service.category
    ADD COLUMN default_department_id bigint
        REFERENCES registry.department (department_id) ON DELETE SET NULL,
    ADD COLUMN deadline_class text NOT NULL DEFAULT 'routine'
        CHECK (deadline_class IN ('routine', 'complex', 'urgent')),
    ADD COLUMN negative boolean NOT NULL DEFAULT false,
    ADD COLUMN basis text NOT NULL DEFAULT '';

CREATE TABLE service.category_version (
    version_id            bigserial PRIMARY KEY,
    code                  text NOT NULL,
    name                  text NOT NULL,
    description           text NOT NULL,
    deadline_days         integer NOT NULL,
    complex_deadline_days integer NOT NULL,
    default_department_id bigint,
    deadline_class        text NOT NULL,
    negative              boolean NOT NULL,
    basis                 text NOT NULL,
    is_sample             boolean NOT NULL,
    valid_from            timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to              timestamptz,
    changed_by            text NOT NULL DEFAULT current_user,
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX category_version_code_idx ON service.category_version (code, valid_from);

CREATE FUNCTION service.category_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := clock_timestamp();
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE service.category_version SET valid_to = v_at
         WHERE code = OLD.code AND valid_to IS NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO service.category_version
               (code, name, description, deadline_days, complex_deadline_days,
                default_department_id, deadline_class, negative, basis, is_sample, valid_from,
                changed_by)
        VALUES (NEW.code, NEW.name, NEW.description, NEW.deadline_days,
                NEW.complex_deadline_days, NEW.default_department_id, NEW.deadline_class,
                NEW.negative, NEW.basis, NEW.is_sample, v_at,
                coalesce(nullif(current_setting('gridgeo.actor', true), ''), current_user));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER category_history AFTER INSERT OR UPDATE OR DELETE ON service.category
    FOR EACH ROW EXECUTE FUNCTION service.category_history();
-- categories that exist already start their history now
INSERT INTO service.category_version
       (code, name, description, deadline_days, complex_deadline_days, default_department_id,
        deadline_class, negative, basis, is_sample)
SELECT code, name, description, deadline_days, complex_deadline_days, default_department_id,
       deadline_class, negative, basis, is_sample
  FROM service.category;

CREATE TABLE registry.matter_admission (
    admission_id  bigserial PRIMARY KEY,
    county_code   text NOT NULL,
    category      text NOT NULL,
    changeset_id  bigint NOT NULL REFERENCES registry.changeset (changeset_id),
    valid_from    timestamptz NOT NULL,
    valid_to      timestamptz,
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE UNIQUE INDEX matter_admission_current_idx
    ON registry.matter_admission (county_code, category) WHERE valid_to IS NULL;

ALTER TABLE registry.changeset_item DROP CONSTRAINT changeset_item_action_check;
ALTER TABLE registry.changeset_item ADD CONSTRAINT changeset_item_action_check
    CHECK (action IN ('create', 'split', 'merge', 'reshape', 'rename', 'amend', 'retire',
                      'reassign_staff', 'reassign_department', 'admit_matter', 'exit_matter'));

-- Admission and exit take effect when the city accepts the change set (same transaction,
-- same time as the change set's decision).
CREATE FUNCTION registry.apply_matter_items() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_at timestamptz := coalesce(NEW.decided_at, clock_timestamp());
BEGIN
    FOR r IN SELECT * FROM registry.changeset_item
              WHERE changeset_id = NEW.changeset_id AND action IN ('admit_matter', 'exit_matter')
              ORDER BY seq
    LOOP
        IF r.action = 'admit_matter' THEN
            IF NOT EXISTS (SELECT 1 FROM service.category
                            WHERE code = r.payload->>'category' AND NOT negative) THEN
                RAISE EXCEPTION USING ERRCODE = 'GG409',
                    MESSAGE = format('item %s: category %s is not in the city catalogue or is on '
                                     'the negative list', r.seq, r.payload->>'category');
            END IF;
            UPDATE registry.matter_admission SET valid_to = v_at
             WHERE county_code = NEW.county_code AND category = r.payload->>'category'
               AND valid_to IS NULL;
            INSERT INTO registry.matter_admission (county_code, category, changeset_id, valid_from)
            VALUES (NEW.county_code, r.payload->>'category', NEW.changeset_id, v_at);
        ELSE
            UPDATE registry.matter_admission SET valid_to = v_at
             WHERE county_code = NEW.county_code AND category = r.payload->>'category'
               AND valid_to IS NULL;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'GG409',
                    MESSAGE = format('item %s: category %s is not on the admission list of %s',
                                     r.seq, r.payload->>'category', NEW.county_code);
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER changeset_matter_items AFTER UPDATE OF status ON registry.changeset
    FOR EACH ROW WHEN (NEW.status = 'accepted' AND OLD.status IS DISTINCT FROM 'accepted')
    EXECUTE FUNCTION registry.apply_matter_items();
