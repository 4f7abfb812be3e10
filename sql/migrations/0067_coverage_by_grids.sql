-- gridgeo schema 0067: a department's coverage (包片) is a set of grids, never its own polygon
-- (Yongzhou art. 9, Xinxiang art. 7, Gansu 一(一)3, Jiangmen art. 8: departments do not draw
-- their own grids; Panjin art. 4: departments are assigned to streets, communities, grids).
-- Polygon rows still current are ended now (kept as history for past-date answers);
-- new current rows with a polygon are refused.

UPDATE registry.department_coverage SET valid_to = clock_timestamp()
 WHERE geom IS NOT NULL AND valid_to IS NULL;

ALTER TABLE registry.department_coverage
    ADD CONSTRAINT department_coverage_by_grid
    CHECK (geom IS NULL OR valid_to IS NOT NULL) NOT VALID;
