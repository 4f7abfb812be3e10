"""gridgeo: grid-based community governance (网格化服务管理) with geopandas and PostGIS."""

from gridgeo.errors import GridgeoError

__version__ = "0.1.0"

__all__ = ["GridgeoError", "__version__"]
