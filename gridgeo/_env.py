"""The few ``GRIDGEO_*`` values read before the settings object is built (start-up speed).

:class:`gridgeo.settings.Settings` (pydantic-settings) is the one place every setting is
declared; building it costs about 0.3 s of imports. What the command line needs before
that, or instead of it — the language of ``gridgeo --help``, the private instance's home
for ``gridgeo db status``, the time zone of reports — is read here from the environment,
with the defaults that :class:`~gridgeo.settings.Settings` also uses (they live here).
Nothing here imports pydantic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: Defaults shared with :class:`gridgeo.settings.Settings`.
DEFAULT_LANG = "zh_CN"
DEFAULT_TIMEZONE = "Asia/Shanghai"


def project_root() -> Path | None:
    """The source checkout holding this package, or ``None`` when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "sql").is_dir() else None


def default_home() -> Path:
    """``.gridgeo`` in the checkout (or the current folder when installed)."""
    root = project_root()
    return (root if root is not None else Path.cwd()) / ".gridgeo"


def _env(name: str) -> str | None:
    # pydantic-settings matches GRIDGEO_* case-insensitively (case_sensitive=False)
    value = os.environ.get(f"GRIDGEO_{name.upper()}")
    if value is None:
        wanted = f"gridgeo_{name}".lower()
        value = next((v for k, v in os.environ.items() if k.lower() == wanted), None)
    return value


def language_setting() -> str:
    """``GRIDGEO_LANG`` as set now (read on every call: the CLI's ``--lang`` and tests change it)."""
    return os.environ.get("GRIDGEO_LANG") or DEFAULT_LANG


def language_chosen() -> str | None:
    """``GRIDGEO_LANG`` when set explicitly (None: let the browser's language decide)."""
    return os.environ.get("GRIDGEO_LANG") or None


def timezone_setting() -> str:
    """``GRIDGEO_TIMEZONE`` as set now (default Asia/Shanghai)."""
    return os.environ.get("GRIDGEO_TIMEZONE") or DEFAULT_TIMEZONE


def home_setting() -> Path:
    """``GRIDGEO_HOME`` as :class:`~gridgeo.settings.Settings` reads it (default: :func:`default_home`)."""
    value = _env("home")
    return Path(value) if value else default_home()


def database_url_set() -> bool:
    """Whether ``GRIDGEO_DATABASE_URL`` names an external server (non-empty)."""
    return bool(_env("database_url"))


@dataclass(frozen=True)
class HomeOnly:
    """The private instance's place from the environment: all that ``gridgeo db status``
    needs of :class:`~gridgeo.settings.Settings` (``home`` and ``pg_dir``), without pydantic."""

    home: Path = field(default_factory=home_setting)

    @property
    def pg_dir(self) -> Path:
        """Data directory of the private instance (as :attr:`Settings.pg_dir`)."""
        return self.home / "pg"
