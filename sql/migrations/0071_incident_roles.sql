-- gridgeo schema 0071: the case loop's people in the one identity model (registry.app_user).
--
-- department (承办部门): a user of one registered department (department_id); their
-- division is the county the department serves, or none. grid_worker (网格员): a user whose
-- division is the community (社区/村) whose grids they serve. division_code keeps its
-- foreign key to registry.divisions; a department user must name their department and
-- nobody else has one. (Replaces the incidents branch's 0071, which altered the dropped
-- service.api_token.)

ALTER TABLE registry.app_user
    ADD COLUMN department_id bigint REFERENCES registry.department (department_id);

ALTER TABLE registry.app_user DROP CONSTRAINT app_user_role_check;
ALTER TABLE registry.app_user ADD CONSTRAINT app_user_role_check CHECK (role IN (
    'public', 'dispatcher', 'county_editor', 'city_reviewer', 'province_reviewer',
    'centre_reviewer', 'admin', 'department', 'grid_worker'));

ALTER TABLE registry.app_user DROP CONSTRAINT app_user_check;
ALTER TABLE registry.app_user ADD CONSTRAINT app_user_division_check CHECK (
    role IN ('public', 'dispatcher', 'admin', 'department') OR division_code IS NOT NULL);
ALTER TABLE registry.app_user ADD CONSTRAINT app_user_department_check CHECK (
    (role = 'department') = (department_id IS NOT NULL));
