-- gridgeo schema 0062: notify the departments of every accepted division change
-- (Yongzhou art. 9: 网格划分和调整情况应当及时通报相关部门).
--
-- One row per department and accepted change set, written in the transaction that
-- accepts it; departments read their notifications through the API and mark them read.

CREATE TABLE registry.notification (
    notification_id bigserial PRIMARY KEY,
    department_id   bigint NOT NULL REFERENCES registry.department (department_id),
    changeset_id    bigint NOT NULL REFERENCES registry.changeset (changeset_id),
    grid_codes      text[] NOT NULL,
    package_path    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    read_at         timestamptz,
    read_by         text,
    UNIQUE (department_id, changeset_id),
    CHECK ((read_at IS NULL) = (read_by IS NULL))
);
CREATE INDEX notification_unread_idx ON registry.notification (department_id) WHERE read_at IS NULL;
