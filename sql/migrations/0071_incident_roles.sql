-- gridgeo schema 0071: token roles of the case loop — department (承办部门; division_code
-- holds the department id) and grid_worker (网格员; division_code holds a grid-code prefix).

ALTER TABLE service.api_token DROP CONSTRAINT api_token_role_check;
ALTER TABLE service.api_token ADD CONSTRAINT api_token_role_check CHECK (role IN (
    'public', 'dispatcher', 'county_editor', 'city_reviewer', 'admin', 'department', 'grid_worker'));
