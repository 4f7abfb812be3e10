"""The FastAPI map service over the registry."""

from gridgeo.service.app import create_app

__all__ = ["create_app"]
