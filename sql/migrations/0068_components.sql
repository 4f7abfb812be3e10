-- gridgeo schema 0068: city components (城市部件, Panjin art. 2: manhole covers, hydrants,
-- road signs, litter bins … — public facilities and equipment), versioned in time.
--
-- class follows the national component classes (GB/T 30428.2 数字化城市管理信息系统 第2部分：
-- 管理部件和事件): public_facilities 公用设施, traffic 道路交通, city_appearance 市容环境,
-- landscaping 园林绿化, other 其他设施. The owner department (权属/主管单位) answers for a
-- problem with the component before the category's default department.

CREATE TABLE registry.component (
    row_id              bigserial PRIMARY KEY,
    component_id        text NOT NULL CHECK (component_id <> ''),
    class               text NOT NULL CHECK (class IN ('public_facilities', 'traffic',
                                                       'city_appearance', 'landscaping', 'other')),
    kind                text NOT NULL DEFAULT '',
    owner_department_id bigint NOT NULL REFERENCES registry.department (department_id),
    geom                geometry(Point) NOT NULL,
    is_sample           boolean NOT NULL DEFAULT false,
    imported_by         text NOT NULL,
    valid_from          timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to            timestamptz,
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE UNIQUE INDEX component_current_idx ON registry.component (component_id) WHERE valid_to IS NULL;
CREATE INDEX component_geom_idx ON registry.component USING gist (geom);
CREATE TRIGGER component_srid BEFORE INSERT OR UPDATE OF geom ON registry.component
    FOR EACH ROW EXECUTE FUNCTION registry.check_srid();
