"""Settings: one pydantic-settings object, read from ``GRIDGEO_*`` variables.

No module-level instance exists; call :func:`get_settings` (cached) or build
``Settings(...)`` explicitly, e.g. in tests.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# read without pydantic at start-up (gridgeo/_env.py); re-exported here for callers
from gridgeo._env import (
    DEFAULT_LANG,
    DEFAULT_TIMEZONE,
    default_home,
    language_chosen,
    language_setting,
    project_root,
    timezone_setting,
)

__all__ = [
    "Settings",
    "get_settings",
    "language_chosen",
    "language_setting",
    "project_root",
    "timezone_setting",
]


class Settings(BaseSettings):
    """All of gridgeo's settings; each field is read from ``GRIDGEO_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GRIDGEO_", extra="ignore")

    home: Path = Field(
        default_factory=default_home,
        description="Where the private PostGIS instance and generated files live.",
    )
    database_url: str | None = Field(
        default=None,
        description="Use this PostgreSQL/PostGIS server instead of starting a private one.",
    )
    app_database_url: str | None = Field(
        default=None,
        description="The application role's URL (member of gridgeo_app, see "
        "sql/migrations/0900_roles.sql): the service and the CLI connect with it; "
        "GRIDGEO_DATABASE_URL (the owner) is then used only for migrations. Unset with the "
        "private instance: its own application login.",
    )
    read_database_url: str | None = Field(
        default=None,
        description="A login of the read-only role (gridgeo_read, sql/migrations/0900_roles.sql) "
        "for the service's anonymous read routes. Unset: the application's URL; its sessions "
        "then switch to gridgeo_read (migration 0120) and are read-only either way.",
    )
    pg_port: int | None = Field(
        default=None, description="Preferred port of the private PostGIS (default: a free one)."
    )
    pg_user: str = Field(default="gridgeo", description="Database role of the private instance.")
    pg_dbname: str = Field(default="gridgeo", description="Main database name.")
    pg_os_user: str = Field(
        default="gridgeo",
        description="Unprivileged system user that owns the instance when run as root.",
    )
    pg_start_timeout: float = Field(default=60.0, description="Seconds to wait for startup.")
    api_host: str = Field(default="127.0.0.1", description="Address the map service binds.")
    api_port: int = Field(default=8000, description="Port the map service binds.")
    profile: str = Field(default="yongzhou", description="Default partition profile.")
    token: SecretStr | None = Field(
        default=None,
        description="Your token: the CLI acts as the user it authenticates (gridgeo tokens create).",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000/public",
        description="Where the public grid pages are published (the boards' QR codes point there).",
    )
    public_dir: Path | None = Field(
        default=None,
        description="Folder `gridgeo publish` writes and the service serves at /public/ "
        "(default: $GRIDGEO_HOME/public).",
    )
    public_basemap: Literal["none", "tianditu", "gcj02"] = Field(
        default="none",
        description="Basemap of the public pages: none (offline), tianditu (needs "
        "GRIDGEO_TIANDITU_KEY) or gcj02 (a GCJ-02 tile service in GRIDGEO_PUBLIC_TILE_URL; "
        "the grids are shifted to GCJ-02).",
    )
    public_tile_url: str | None = Field(
        default=None,
        description="Tile URL template ({z}/{x}/{y}) of the basemap (an intranet mirror, or "
        "a GCJ-02 service such as Gaode's).",
    )
    tianditu_key: str | None = Field(default=None, description="Tianditu key (tk) for its tiles.")
    board_font: str | None = Field(
        default=None,
        description="A TrueType CJK font (.ttf/.ttc) for the boards (default: found by fc-list).",
    )

    @property
    def public_site_dir(self) -> Path:
        """Where the public site is written and served from."""
        return self.public_dir or self.home / "public"

    lang: str = Field(
        default=DEFAULT_LANG,
        description="Language of messages, tables and reports: zh_CN (default) or en.",
    )
    timezone: str = Field(
        default=DEFAULT_TIMEZONE,
        description="Time zone of the times shown in reports and filing packages.",
    )
    max_vertices: int = Field(
        default=100_000,
        gt=3,
        description="Most vertices one grid or coverage polygon may have (API and CLI loads).",
    )
    incident_work_hours: str = Field(
        default="08:30-12:00,14:00-17:30",
        description="Working hours of incident deadlines (HH:MM-HH:MM, comma separated).",
    )
    incident_timezone: str = Field(
        default="Asia/Shanghai", description="Time zone of incident working hours."
    )
    incident_soon_fraction: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="A case is soon overdue when less than this share of its working time is left.",
    )
    incident_max_photo_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Largest incident photo accepted."
    )

    @property
    def pg_dir(self) -> Path:
        """Data directory of the private instance."""
        return self.home / "pg"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached); tests build their own ``Settings``."""
    return Settings()
