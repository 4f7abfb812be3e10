-- gridgeo schema 0135: ending a department's coverage (包片) is a change-set item too.
--
-- Until now DELETE /coverage/{id} ended a coverage row at once; every other change of who
-- answers for a grid went through a change set filed with the city. An 'end_department'
-- item names one current, grid-based coverage row (payload: coverage_id, grid_code,
-- category, department, lead); when the city accepts the change set the row ends at the
-- decision time (same transaction, like the matter items of 0066). A row already ended by
-- another item of the same change set (a reassignment of the same grid and category) is
-- left as it is; a row ended earlier refuses the acceptance (GG409).

ALTER TABLE registry.changeset_item DROP CONSTRAINT changeset_item_action_check;
ALTER TABLE registry.changeset_item ADD CONSTRAINT changeset_item_action_check
    CHECK (action IN ('create', 'split', 'merge', 'reshape', 'rename', 'amend', 'retire',
                      'reassign_staff', 'reassign_department', 'end_department',
                      'admit_matter', 'exit_matter'));

CREATE FUNCTION registry.apply_coverage_end_items() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_at timestamptz := coalesce(NEW.decided_at, clock_timestamp());
    v_to timestamptz;
BEGIN
    FOR r IN SELECT * FROM registry.changeset_item
              WHERE changeset_id = NEW.changeset_id AND action = 'end_department'
              ORDER BY seq
    LOOP
        SELECT valid_to INTO v_to FROM registry.department_coverage
         WHERE coverage_id = (r.payload->>'coverage_id')::bigint;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'GG409',
                MESSAGE = format('item %s: coverage row %s does not exist', r.seq,
                                 r.payload->>'coverage_id');
        ELSIF v_to IS NULL THEN
            UPDATE registry.department_coverage SET valid_to = v_at
             WHERE coverage_id = (r.payload->>'coverage_id')::bigint;
        ELSIF v_to <> v_at THEN
            RAISE EXCEPTION USING ERRCODE = 'GG409',
                MESSAGE = format('item %s: coverage row %s already ended at %s', r.seq,
                                 r.payload->>'coverage_id', v_to);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER changeset_coverage_end_items AFTER UPDATE OF status ON registry.changeset
    FOR EACH ROW WHEN (NEW.status = 'accepted' AND OLD.status IS DISTINCT FROM 'accepted')
    EXECUTE FUNCTION registry.apply_coverage_end_items();
