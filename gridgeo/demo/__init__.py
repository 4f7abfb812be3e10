"""Demo districts: build the real shipped data into the partitioner's input, and sample data.

:mod:`gridgeo.demo.build` turns the raw files in ``data/raw/`` (real, checksummed) into
GeoPackages in the partitioner's input contract; :mod:`gridgeo.demo.sample` generates the
seeded, visibly marked sample data (grid workers, departments, incidents, patrol tracks)
that has no open source.
"""
