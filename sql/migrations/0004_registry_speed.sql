-- gridgeo schema 0004: faster integrity checks, quieter notifications.
--
-- * changeset_new gets a spatial index; check_changeset lets the planner use the
--   indexes (no materialised CTEs) and tests "interiors meet" with one ST_Relate
--   instead of ST_Intersects + NOT ST_Touches;
-- * the integrity trigger on registry.grid does the same and finds the rows of the
--   inserting statement with a hashed NOT IN (5,000 new grids: ~5 s → ~0.6 s);
-- * accept_changeset touches staff/department rows only when a retired grid has some,
--   so an acceptance sends no spurious *_changed notifications.

CREATE INDEX changeset_new_geom_idx ON registry.changeset_new USING gist (geom);

CREATE OR REPLACE FUNCTION registry.grid_integrity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_overlap_tol double precision := registry.meta_float('overlap_tolerance_m2', 1.0);
    v_contain_tol double precision := registry.meta_float('containment_tolerance_m2', 1.0);
    v_msg text;
BEGIN
    SELECT string_agg(format('%s overlaps %s by %s m²', a, b, round(area::numeric, 1)), '; ')
      INTO v_msg
      FROM (
        SELECT n.grid_code AS a, g.grid_code AS b, ST_Area(ST_Intersection(n.geom, g.geom)) AS area
          FROM new_rows n
          JOIN registry.grid g
            ON g.valid_to IS NULL
           AND g.grid_id <> n.grid_id
           AND g.geom && n.geom
           AND ST_Relate(n.geom, g.geom, 'T********')   -- the interiors meet
         WHERE n.valid_to IS NULL
           AND (g.grid_id > n.grid_id OR g.grid_id NOT IN (SELECT grid_id FROM new_rows))
      ) o
     WHERE area > v_overlap_tol;
    IF v_msg IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'GG422',
            MESSAGE = 'current grids would overlap: ' || left(v_msg, 2000),
            HINT = format('overlap tolerance %s m² (registry.meta overlap_tolerance_m2)', v_overlap_tol);
    END IF;

    SELECT string_agg(format('%s lies %s m² outside community %s', code, round(outside::numeric, 1), cc), '; ')
      INTO v_msg
      FROM (
        SELECT n.grid_code AS code, n.community_code AS cc,
               CASE WHEN c.geom IS NULL THEN 'Infinity'::double precision
                    WHEN ST_CoveredBy(n.geom, c.geom) THEN 0
                    ELSE ST_Area(ST_Difference(n.geom, c.geom)) END AS outside
          FROM new_rows n
          LEFT JOIN registry.divisions c ON c.code = n.community_code
         WHERE n.valid_to IS NULL
      ) w
     WHERE outside > v_contain_tol;
    IF v_msg IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'GG422',
            MESSAGE = 'grids would leave their community: ' || left(v_msg, 2000),
            HINT = format('containment tolerance %s m² (registry.meta containment_tolerance_m2)', v_contain_tol);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION registry.check_changeset(p_changeset bigint)
RETURNS TABLE (rule text, grid_code text, other_code text, area_m2 double precision, message text)
LANGUAGE sql STABLE AS $$
    WITH cs_new AS NOT MATERIALIZED (
        SELECT * FROM registry.changeset_new WHERE changeset_id = p_changeset
    ), cs_old AS NOT MATERIALIZED (
        SELECT * FROM registry.changeset_old WHERE changeset_id = p_changeset
    ), tol AS (
        SELECT registry.meta_float('overlap_tolerance_m2', 1.0) AS overlap,
               registry.meta_float('containment_tolerance_m2', 1.0) AS contain
    ), remaining AS NOT MATERIALIZED (   -- current grids that stay current after acceptance
        SELECT g.* FROM registry.grid g
         WHERE g.valid_to IS NULL
           AND NOT EXISTS (SELECT 1 FROM cs_old o WHERE o.grid_code = g.grid_code)
    )
    SELECT 'geometry.invalid', n.grid_code, NULL::text, NULL::double precision,
           format('grid %s: %s', n.grid_code, ST_IsValidReason(n.geom))
      FROM cs_new n WHERE NOT ST_IsValid(n.geom)
    UNION ALL
    SELECT 'version.stale', o.grid_code, NULL, NULL,
           format('grid %s was drafted against version %s but is now %s', o.grid_code, o.base_version,
                  coalesce('version ' || c.version, 'no longer current'))
      FROM cs_old o
      LEFT JOIN registry.grid c ON c.grid_code = o.grid_code AND c.valid_to IS NULL
     WHERE c.version IS DISTINCT FROM o.base_version
    UNION ALL
    SELECT 'code.unusable', n.grid_code, NULL, NULL,
           format('grid code %s is %s in the code ledger', n.grid_code,
                  CASE WHEN l.status = 'reserved' THEN 'reserved by change set ' || l.changeset_id
                       ELSE l.status END)
      FROM cs_new n
      JOIN registry.code_ledger l ON l.code = n.grid_code
     WHERE l.status IN ('retired', 'void')
        OR (l.status = 'reserved' AND l.changeset_id IS DISTINCT FROM p_changeset)
        OR (l.status = 'active' AND EXISTS (SELECT 1 FROM remaining r WHERE r.grid_code = n.grid_code))
    UNION ALL
    SELECT 'overlap', a.grid_code, b.grid_code, ST_Area(ST_Intersection(a.geom, b.geom)),
           format('grid %s overlaps grid %s by %s m²', a.grid_code, b.grid_code,
                  round(ST_Area(ST_Intersection(a.geom, b.geom))::numeric, 1))
      FROM cs_new a
      JOIN cs_new b ON a.grid_code < b.grid_code AND a.geom && b.geom
     WHERE ST_Relate(a.geom, b.geom, 'T********')
       AND ST_Area(ST_Intersection(a.geom, b.geom)) > (SELECT overlap FROM tol)
    UNION ALL
    SELECT 'overlap', a.grid_code, r.grid_code, ST_Area(ST_Intersection(a.geom, r.geom)),
           format('grid %s overlaps current grid %s by %s m²', a.grid_code, r.grid_code,
                  round(ST_Area(ST_Intersection(a.geom, r.geom))::numeric, 1))
      FROM cs_new a
      JOIN remaining r ON a.geom && r.geom
     WHERE ST_Relate(a.geom, r.geom, 'T********')
       AND ST_Area(ST_Intersection(a.geom, r.geom)) > (SELECT overlap FROM tol)
    UNION ALL
    SELECT 'containment', n.grid_code, n.community_code, w.outside,
           format('grid %s lies %s m² outside its community %s', n.grid_code,
                  round(w.outside::numeric, 1), n.community_code)
      FROM cs_new n
      LEFT JOIN registry.divisions c ON c.code = n.community_code,
      LATERAL (SELECT CASE WHEN c.geom IS NULL THEN 'Infinity'::double precision
                           WHEN ST_CoveredBy(n.geom, c.geom) THEN 0
                           ELSE ST_Area(ST_Difference(n.geom, c.geom)) END AS outside) w
     WHERE w.outside > (SELECT contain FROM tol)
$$;


CREATE OR REPLACE FUNCTION registry.accept_changeset(p_changeset bigint, p_actor text,
                                          p_reason text DEFAULT NULL, p_role text DEFAULT 'city')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_cs       registry.changeset;
    v_at       timestamptz;
    v_expected integer;
    v_closed   integer;
    v_opened   integer;
    v_msg      text;
    v_retired  text[];
    v_new      text[];
    v_staff    bigint;
    v_dept     bigint;
    r          record;
    v_summary  jsonb;
BEGIN
    -- Acceptances are serialised: each one sees the registry as the previous one left it.
    PERFORM pg_advisory_xact_lock(hashtext('gridgeo.registry.accept'));
    SELECT * INTO v_cs FROM registry.changeset WHERE changeset_id = p_changeset FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'GG404',
            MESSAGE = format('change set %s does not exist', p_changeset);
    END IF;
    IF v_cs.status <> 'filed' THEN
        RAISE EXCEPTION USING ERRCODE = 'GG409',
            MESSAGE = format('change set %s is %s: only a filed change set can be accepted',
                             p_changeset, v_cs.status);
    END IF;
    v_at := clock_timestamp();

    -- Codes to open must be reserved for this change set (or continue an active code).
    SELECT string_agg(format('%s (%s)', n.grid_code, coalesce(l.status, 'not in the ledger')), ', ')
      INTO v_msg
      FROM registry.changeset_new n
      LEFT JOIN registry.code_ledger l ON l.code = n.grid_code
     WHERE n.changeset_id = p_changeset
       AND (l.status IS NULL OR l.status IN ('retired', 'void')
            OR (l.status = 'reserved' AND l.changeset_id IS DISTINCT FROM p_changeset));
    IF v_msg IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'GG409',
            MESSAGE = format('change set %s uses codes that cannot be issued: %s', p_changeset, v_msg);
    END IF;

    -- Optimistic version check: close exactly the versions the draft was based on.
    SELECT count(*) INTO v_expected FROM registry.changeset_old WHERE changeset_id = p_changeset;
    WITH closed AS (
        UPDATE registry.grid g
           SET valid_to = v_at, closed_by = p_changeset
          FROM registry.changeset_old o
         WHERE o.changeset_id = p_changeset
           AND g.grid_code = o.grid_code
           AND g.version = o.base_version
           AND g.valid_to IS NULL
        RETURNING g.grid_code
    )
    SELECT count(*) INTO v_closed FROM closed;
    IF v_closed <> v_expected THEN
        SELECT string_agg(format('%s (drafted against version %s, now %s)', o.grid_code, o.base_version,
                                 coalesce('version ' || c.version, 'no longer current')), ', ')
          INTO v_msg
          FROM registry.changeset_old o
          LEFT JOIN registry.grid c ON c.grid_code = o.grid_code AND c.valid_to IS NULL
         WHERE o.changeset_id = p_changeset
           AND NOT EXISTS (SELECT 1 FROM registry.grid x
                            WHERE x.grid_code = o.grid_code AND x.version = o.base_version
                              AND x.closed_by = p_changeset);
        RAISE EXCEPTION USING ERRCODE = 'GG409',
            MESSAGE = format('change set %s conflicts with changes accepted since it was drafted: %s',
                             p_changeset, v_msg),
            HINT = 'draft the change again against the current registry';
    END IF;

    -- Open the new versions; registry.grid_integrity() checks overlap and containment.
    INSERT INTO registry.grid (grid_code, version, grid_name, grid_type, community_code,
                               households, population, geom, valid_from, opened_by)
    SELECT n.grid_code, coalesce(v.max_version, 0) + 1, n.grid_name, n.grid_type, n.community_code,
           n.households, n.population, n.geom, v_at, p_changeset
      FROM registry.changeset_new n
      LEFT JOIN LATERAL (SELECT max(g.version) AS max_version FROM registry.grid g
                          WHERE g.grid_code = n.grid_code) v ON true
     WHERE n.changeset_id = p_changeset;
    GET DIAGNOSTICS v_opened = ROW_COUNT;

    -- Code ledger: new codes become active, retired codes are retired for good.
    UPDATE registry.code_ledger l
       SET status = 'active', issued_at = v_at
      FROM registry.changeset_new n
     WHERE n.changeset_id = p_changeset AND l.code = n.grid_code AND l.status = 'reserved';
    SELECT coalesce(array_agg(grid_code ORDER BY grid_code), '{}') INTO v_new
      FROM registry.changeset_new n
     WHERE n.changeset_id = p_changeset
       AND NOT EXISTS (SELECT 1 FROM registry.changeset_old o
                        WHERE o.changeset_id = p_changeset AND o.grid_code = n.grid_code);
    WITH retired AS (
        UPDATE registry.code_ledger l
           SET status = 'retired', retired_at = v_at, retired_by = p_changeset
          FROM registry.changeset_old o
         WHERE o.changeset_id = p_changeset AND o.retire AND l.code = o.grid_code
        RETURNING l.code
    )
    SELECT coalesce(array_agg(code ORDER BY code), '{}') INTO v_retired FROM retired;

    -- Staff and grid-based department coverage of retired grids end with them.
    -- (only when there is something to close: the statements would notify the service)
    IF EXISTS (SELECT 1 FROM registry.staff_assignment
                WHERE valid_to IS NULL AND grid_code = ANY (v_retired)) THEN
        UPDATE registry.staff_assignment SET valid_to = v_at
         WHERE valid_to IS NULL AND grid_code = ANY (v_retired);
    END IF;
    IF EXISTS (SELECT 1 FROM registry.department_coverage
                WHERE valid_to IS NULL AND grid_code = ANY (v_retired)) THEN
        UPDATE registry.department_coverage SET valid_to = v_at
         WHERE valid_to IS NULL AND grid_code = ANY (v_retired);
    END IF;

    -- Reassignments of staff and departments.
    FOR r IN SELECT * FROM registry.changeset_item
              WHERE changeset_id = p_changeset AND action IN ('reassign_staff', 'reassign_department')
              ORDER BY seq
    LOOP
        IF NOT EXISTS (SELECT 1 FROM registry.grid g
                        WHERE g.grid_code = r.payload->>'grid_code' AND g.valid_to IS NULL) THEN
            RAISE EXCEPTION USING ERRCODE = 'GG409',
                MESSAGE = format('item %s (%s): grid %s is not current', r.seq, r.action,
                                 r.payload->>'grid_code');
        END IF;
        IF r.action = 'reassign_staff' THEN
            IF coalesce((r.payload->>'replace')::boolean, true) THEN
                UPDATE registry.staff_assignment SET valid_to = v_at
                 WHERE valid_to IS NULL AND grid_code = r.payload->>'grid_code'
                   AND role = r.payload->>'role';
            END IF;
            IF r.payload->>'person_name' IS NOT NULL THEN
                INSERT INTO registry.staff (person_name, phone, is_sample)
                VALUES (r.payload->>'person_name', coalesce(r.payload->>'phone', ''),
                        coalesce((r.payload->>'is_sample')::boolean, false))
                ON CONFLICT (person_name, phone) DO UPDATE SET person_name = EXCLUDED.person_name
                RETURNING staff_id INTO v_staff;
                INSERT INTO registry.staff_assignment (staff_id, grid_code, role, posted, valid_from)
                VALUES (v_staff, r.payload->>'grid_code', r.payload->>'role',
                        coalesce((r.payload->>'posted')::boolean, true), v_at);
            END IF;
        ELSE
            SELECT department_id INTO v_dept FROM registry.department
             WHERE name = r.payload->>'department';
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'GG404',
                    MESSAGE = format('item %s: department %s does not exist', r.seq, r.payload->>'department');
            END IF;
            UPDATE registry.department_coverage SET valid_to = v_at
             WHERE valid_to IS NULL AND grid_code = r.payload->>'grid_code'
               AND category = r.payload->>'category'
               AND lead = coalesce((r.payload->>'lead')::boolean, true);
            INSERT INTO registry.department_coverage (department_id, category, grid_code, lead, valid_from)
            VALUES (v_dept, r.payload->>'category', r.payload->>'grid_code',
                    coalesce((r.payload->>'lead')::boolean, true), v_at);
        END IF;
    END LOOP;

    UPDATE registry.changeset
       SET status = 'accepted', decided_by = p_actor, decided_at = v_at,
           decision_reason = p_reason, lock_version = lock_version + 1
     WHERE changeset_id = p_changeset;

    v_summary := jsonb_build_object('changeset', p_changeset, 'accepted_at', v_at,
                                    'closed', v_closed, 'opened', v_opened,
                                    'new_codes', to_jsonb(v_new), 'retired_codes', to_jsonb(v_retired));
    INSERT INTO registry.audit_log (at, actor, role, action, changeset_id, reason, detail)
    VALUES (v_at, p_actor, p_role, 'accept', p_changeset, p_reason, v_summary);
    PERFORM pg_notify('gridgeo_registry',
                      json_build_object('event', 'changeset_accepted', 'changeset', p_changeset)::text);
    RETURN v_summary;
END $$;

