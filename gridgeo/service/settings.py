"""Settings of the map service (``GRIDGEO_*`` variables), apart from the database ones."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridgeo.settings import timezone_setting


class ServiceSettings(BaseSettings):
    """Map-service settings; each field is read from ``GRIDGEO_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GRIDGEO_", extra="ignore")

    admin_token: SecretStr | None = Field(
        default=None,
        description="Bootstrap bearer token with the admin role (create further tokens with "
        "POST /admin/tokens). Unset: only tokens stored in the database are accepted.",
    )
    near_border_m: float = Field(
        default=20.0,
        ge=0,
        description="A located point this close to its grid's border is near_border.",
    )
    batch_max_points: int = Field(default=5_000_000, gt=0, description="Largest batch accepted.")
    batch_max_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="Largest batch request body in bytes."
    )
    batch_chunk: int = Field(default=100_000, gt=0, description="Rows per streamed chunk.")
    batch_memory_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="A batch body up to this size is held in memory (larger ones are spooled "
        "to a temporary file); an Arrow or GeoParquet body whose length is declared up to "
        "twice this size (gathered in one buffer as it arrives: held once, not joined).",
    )
    batch_scan_pages: bool = Field(
        default=False,
        description="Decode a GeoParquet body's pages in a thread while it arrives. Off by "
        "default: on 2 cores the walk slowed the body's upload more than it shortened the "
        "check (docs/benchmarks.md).",
    )
    past_snapshots: int = Field(
        default=4, ge=1, description="How many past-date locate indexes to keep in memory."
    )
    gc_freeze: bool = Field(
        default=True,
        description="Move the objects alive after start-up and after each index reload out of "
        "the garbage collector's reach (gc.freeze): a full collection then takes well under "
        "1 ms instead of ~130 ms, a pause every request waiting at that moment would share.",
    )
    direct_send: bool = Field(
        default=True,
        description="Write a streamed answer's large parts to uvicorn's transport without its "
        "chunked-encoding copy (gridgeo.service.directsend; the same bytes on the wire). It "
        "reads uvicorn's request cycle, checked by class: off falls back to uvicorn's own send.",
    )
    gil_switch_ms: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description="How long a Python thread of the service may hold the interpreter while "
        "another waits for it, in ms (sys.setswitchinterval; Python's default is 5). A snapshot "
        "reload or a tile pre-render runs in a thread of its own: each time the request thread "
        "waits for the interpreter it may wait this long, several times per request.",
    )
    listen: bool = Field(
        default=True, description="Refresh the in-memory index on NOTIFY gridgeo_registry."
    )
    token_cache_s: float = Field(
        default=30.0, ge=0, description="Seconds a token lookup is cached."
    )
    features_max_limit: int = Field(default=10_000, gt=0, description="Largest items page.")
    upload_max_bytes: int = Field(
        default=200 * 1024 * 1024,
        gt=0,
        description="Largest grid layer accepted by POST /changes (GeoPackage, GeoJSON, zipped Shapefile).",
    )
    json_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        gt=0,
        description="Largest JSON request body of the write endpoints, in bytes (413 above).",
    )
    public_max_vertices: int = Field(
        default=5_000,
        gt=3,
        description="Most vertices of one feature served to public callers (simplified above).",
    )
    tile_cache_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=0,
        description="Memory for vector tiles cached per registry version, in bytes "
        "(least recently used dropped first; 0: every tile rendered on request).",
    )
    tile_cache_max_age_s: int = Field(
        default=60,
        ge=0,
        description="Cache-Control max-age of vector tiles, in seconds (clients then revalidate "
        "with the ETag).",
    )
    tile_prerender_max_tiles: int = Field(
        default=2_000,
        ge=0,
        description="Most public tiles rendered ahead over the district after each registry "
        "change, plus a quarter as many of the staff tiles in use before it (0: none ahead).",
    )
    tile_prerender_share: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Most of its wall time the tile pre-render spends rendering (PostgreSQL "
        "does the work); it waits the rest (1: no waits). On 2 cores a share of 0.25 did not "
        "lower the /locate tail during the pre-render and made it last 4 times as long.",
    )
    tile_prerender_nice: int = Field(
        default=19,
        ge=0,
        le=19,
        description="CPU priority (Unix nice, 19 lowest) of the PostgreSQL process that "
        "renders tiles ahead, when the database runs on this machine (0: unchanged).",
    )
    tile_prerender_min_zoom: int = Field(
        default=10, ge=0, le=22, description="Lowest zoom rendered ahead."
    )
    tile_prerender_max_zoom: int = Field(
        default=16, ge=0, le=22, description="Highest zoom rendered ahead."
    )
    rate_limit_per_s: float = Field(
        default=100.0,
        ge=0,
        description="Anonymous requests per second per client address (0: no limit).",
    )
    rate_limit_burst: float = Field(
        default=1000.0, gt=0, description="Anonymous requests a client may send at once."
    )
    auth_failures_per_min: float = Field(
        default=10.0,
        ge=0,
        description="Failed tokens (401) per minute per address before 429 (0: no limit).",
    )
    auth_failures_burst: float = Field(
        default=20.0, gt=0, description="Failed tokens an address may try at once."
    )

    @property
    def timezone(self) -> str:
        """Time zone of dates and naive times given in ``at=`` (a date means the end of that
        day): the one ``GRIDGEO_TIMEZONE`` setting (:attr:`gridgeo.settings.Settings.timezone`)."""
        return timezone_setting()
