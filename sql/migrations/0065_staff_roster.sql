-- gridgeo schema 0065: the staff roster's own fields (issue 15).
--
-- A roster import (gridgeo staff import) writes people here; assignments to grids stay
-- change-set items (reassign_staff) matched on (person_name, phone).
-- id_number (身份证号) is a real-name field: never in grid_contacts_at, never public;
-- read only through registry.staff_roster by authorised roles (the Python layer checks).
-- unit (选配单位) and filed_with (备案乡镇街道) are what a dedicated grid's staff need
-- (Gansu 一(二)3).

ALTER TABLE registry.staff
    ADD COLUMN id_number  text NOT NULL DEFAULT '',
    ADD COLUMN unit       text NOT NULL DEFAULT '',
    ADD COLUMN filed_with text NOT NULL DEFAULT '',
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT clock_timestamp();
