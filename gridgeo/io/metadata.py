"""The code scheme a data file declares about itself (GeoPackage layer metadata).

A county's community codes are not always the 12-digit statistical codes: the shipped
Taiwanese villages have 11 digits, a county may use its own scheme. A file that knows its
scheme says so in the layer metadata item ``GRIDGEO_CODE_PATTERN`` (a regular expression);
``gridgeo partition``, ``inspect`` and ``validate`` use it when no ``--code-pattern`` is
given, and ``gridgeo partition`` writes the pattern it used into its output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

log = logging.getLogger(__name__)

#: Layer metadata item holding a regular expression of the layer's community codes.
CODE_PATTERN_KEY = "GRIDGEO_CODE_PATTERN"

#: Appended to every "code does not match" message: the settings that fix it.
CODE_PATTERN_HINT = (
    "; another scheme: --code-pattern REGEX, or the county's binding "
    "(gridgeo city profile COUNTY PROFILE --code-pattern REGEX)"
)


def code_pattern_metadata(pattern: str | None) -> dict[str, str]:
    """Layer metadata declaring ``pattern`` (empty when there is none to declare)."""
    return {CODE_PATTERN_KEY: pattern} if pattern else {}


def declared_code_pattern(spec: str | os.PathLike[str] | None) -> str | None:
    """The code pattern a file declares in its layer metadata, or None.

    Parameters
    ----------
    spec
        ``FILE[:LAYER][@CRS]`` as given on the command line. With a layer, only that
        layer's metadata is read; else the ``communities`` layer first, then any layer.

    Returns
    -------
    str or None
        The declared regular expression; None when the file declares none or cannot be
        read here (reading it later reports why).
    """
    if spec is None:
        return None
    import pyogrio

    from gridgeo.io._read import split_layer_spec
    from gridgeo.io.layer_crs import split_crs_spec

    path, _ = split_crs_spec(spec)
    file, layer = split_layer_spec(path)
    try:
        names = [layer] if layer else _ordered(n for n, _ in pyogrio.list_layers(file))
        for name in names:
            meta = pyogrio.read_info(file, layer=name).get("layer_metadata") or {}
            if meta.get(CODE_PATTERN_KEY):
                return str(meta[CODE_PATTERN_KEY])
    except Exception as exc:  # unreadable here: the real read reports the problem
        log.debug("no code pattern read from %s: %s", spec, exc)
    return None


def _ordered(names: Iterable[str]) -> list[str]:
    names = list(names)
    return sorted(names, key=lambda n: n != "communities")


def first_declared(*specs: str | os.PathLike[str] | None) -> str | None:
    """The first code pattern declared by any of ``specs`` (see :func:`declared_code_pattern`)."""
    for spec in specs:
        found = declared_code_pattern(spec)
        if found:
            return found
    return None
