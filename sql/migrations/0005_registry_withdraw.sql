-- gridgeo schema 0005: a county may withdraw its own draft or filed change set.
-- Its reserved codes become void (never reused), like those of a returned one.

ALTER TABLE registry.changeset DROP CONSTRAINT changeset_status_check;
ALTER TABLE registry.changeset ADD CONSTRAINT changeset_status_check
    CHECK (status IN ('draft', 'filed', 'accepted', 'returned', 'withdrawn'));

CREATE FUNCTION registry.withdraw_changeset(p_changeset bigint, p_actor text, p_reason text,
                                            p_role text DEFAULT 'county')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_cs   registry.changeset;
    v_at   timestamptz := clock_timestamp();
    v_void text[];
BEGIN
    SELECT * INTO v_cs FROM registry.changeset WHERE changeset_id = p_changeset FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'GG404',
            MESSAGE = format('change set %s does not exist', p_changeset);
    END IF;
    IF v_cs.status NOT IN ('draft', 'filed') THEN
        RAISE EXCEPTION USING ERRCODE = 'GG409',
            MESSAGE = format('change set %s is %s: only a draft or filed change set can be withdrawn',
                             p_changeset, v_cs.status);
    END IF;
    WITH voided AS (
        UPDATE registry.code_ledger SET status = 'void'
         WHERE changeset_id = p_changeset AND status = 'reserved'
        RETURNING code
    )
    SELECT coalesce(array_agg(code ORDER BY code), '{}') INTO v_void FROM voided;
    UPDATE registry.changeset
       SET status = 'withdrawn', decided_by = p_actor, decided_at = v_at,
           decision_reason = p_reason, lock_version = lock_version + 1
     WHERE changeset_id = p_changeset;
    INSERT INTO registry.audit_log (at, actor, role, action, changeset_id, reason, detail)
    VALUES (v_at, p_actor, p_role, 'withdraw', p_changeset, p_reason,
            jsonb_build_object('void_codes', to_jsonb(v_void), 'was', v_cs.status));
    PERFORM pg_notify('gridgeo_registry',
                      json_build_object('event', 'changeset_withdrawn', 'changeset', p_changeset)::text);
    RETURN jsonb_build_object('changeset', p_changeset, 'void_codes', to_jsonb(v_void));
END $$;
