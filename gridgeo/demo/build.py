"""Build the demo districts from the raw files shipped in ``data/raw/``.

The raw files are real published data (see ``data/README.md``), verified against
``data/raw/SHA256SUMS`` before use. A build writes one GeoPackage in the partitioner's input
contract, keeping the source CRS (EPSG:3826):

``communities``
    villages rebuilt from the small statistical areas (they nest exactly): ``code`` (11-digit
    Taiwan village code, text), ``name``, ``kind``, ``households``, ``population``,
    ``households_official``.
``households``
    one point per small area with households (a representative point inside it):
    ``unit_id``, ``community_code``, ``households``, ``population``.
``units``
    the small-area polygons: ``unit_id``, ``code1``, ``community_code``, ``households``,
    ``population``, ``area_m2``.
``roads``
    the small-area outlines as a stand-in for road centrelines, ``class = "boundary_standin"``.

No ``dedicated`` layer is written: the unpopulated small areas (parks, campuses) carry no
field that says which category they are.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import write_layers
from gridgeo.io.metadata import code_pattern_metadata

log = logging.getLogger(__name__)

CHECKSUM_FILE = "SHA256SUMS"
ROADS_CLASS = "boundary_standin"
LAYERS = ("communities", "households", "units", "roads")


@dataclass(frozen=True)
class District:
    """A demo district: where its raw file is and what kind of communities it has."""

    name: str
    raw: str
    kind: str
    title: str


DISTRICTS: dict[str, District] = {
    "daan": District(
        "daan", "daan/taipei_daan_segis_2017.gpkg", "urban", "臺北市大安區 Taipei, Da'an District"
    ),
    "gongguan": District(
        "gongguan",
        "gongguan/miaoli_gongguan_segis_2017.gpkg",
        "rural",
        "苗栗縣公館鄉 Miaoli, Gongguan Township",
    ),
}

_UNITS_LAYER = "basecode_min_stat_area"
_VILLAGES_LAYER = "village_dissolved_from_basecode"
_LINES_LAYER = "basecode_boundary_lines"
_UNIT_FIELDS = ("CODEBASE", "CODE1", "VILLCODE", "H_CNT", "P_CNT")
_VILLAGE_FIELDS = ("VILLCODE", "VILLNAME", "HH_2017_06_official")
_VILLAGE_CODE_DIGITS = 11
#: The villages' code scheme, declared in the built GeoPackage (layer metadata of
#: ``communities``) so that partition, inspect and validate need no ``--code-pattern``.
CODE_PATTERN = rf"\d{{{_VILLAGE_CODE_DIGITS}}}"


@dataclass
class BuildResult:
    """What a build did: the output file, whether it was up to date, counts and time."""

    district: str
    path: Path
    skipped: bool
    counts: dict[str, int] = field(default_factory=dict)
    households: int = 0
    population: int = 0
    seconds: float = 0.0


def project_dir() -> Path:
    """The source checkout that holds ``data/`` (two levels above this package)."""
    return Path(__file__).resolve().parents[2]


def default_raw_dir() -> Path:
    """``data/raw`` of the source checkout."""
    return project_dir() / "data" / "raw"


def default_build_dir() -> Path:
    """``data/build`` of the source checkout (not committed)."""
    return project_dir() / "data" / "build"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(raw_dir: Path) -> dict[str, str]:
    """Read ``SHA256SUMS`` (``sha256sum`` format) of a raw data folder.

    Parameters
    ----------
    raw_dir
        Folder holding ``SHA256SUMS`` and the raw files in sub-folders.

    Returns
    -------
    dict
        Relative path (``daan/….gpkg``) → hex digest.

    Raises
    ------
    InputError
        If the file is missing or a line is malformed.
    """
    sums = Path(raw_dir) / CHECKSUM_FILE
    if not sums.is_file():
        raise InputError(
            _("no checksum list {sums}: the raw data folder is incomplete").format(sums=sums),
            [Problem(_("file is missing"), file=str(sums), rule="raw.checksums_missing")],
        )
    out: dict[str, str] = {}
    problems = []
    for lineno, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            problems.append(
                Problem(
                    _("expected '<sha256>  <relative path>'"),
                    file=str(sums),
                    row=lineno,
                    rule="raw.checksums_malformed",
                )
            )
            continue
        out[parts[1].strip().lstrip("*")] = digest
    if problems:
        raise InputError(_("malformed checksum list {sums}").format(sums=sums), problems)
    return out


def verify_raw(names: list[str] | None = None, *, raw_dir: Path | None = None) -> dict[str, str]:
    """Check raw files against ``SHA256SUMS``; every missing or changed file is reported.

    Parameters
    ----------
    names
        Relative paths to check (e.g. ``["daan/taipei_daan_segis_2017.gpkg"]``); default all
        files listed in ``SHA256SUMS``.
    raw_dir
        The raw data folder; default ``data/raw`` of the checkout.

    Returns
    -------
    dict
        The verified relative paths → digests.

    Raises
    ------
    InputError
        Naming each file that is missing, unlisted or whose content changed.
    """
    raw_dir = Path(raw_dir) if raw_dir is not None else default_raw_dir()
    expected = read_checksums(raw_dir)
    wanted = list(expected) if names is None else list(names)
    problems = []
    verified = {}
    for name in wanted:
        path = raw_dir / name
        if name not in expected:
            problems.append(
                Problem(
                    _("not listed in {CHECKSUM_FILE}").format(CHECKSUM_FILE=CHECKSUM_FILE),
                    file=str(path),
                    rule="raw.checksum_unlisted",
                )
            )
        elif not path.is_file():
            problems.append(
                Problem(_("raw file is missing"), file=str(path), rule="raw.file_missing")
            )
        else:
            actual = _sha256(path)
            if actual != expected[name]:
                problems.append(
                    Problem(
                        _(
                            "content changed: sha256 {actual}… but {CHECKSUM_FILE} says {expected}…; "
                            "raw files are published data and must not be edited (restore it from "
                            "git)"
                        ).format(
                            actual=actual[:12],
                            CHECKSUM_FILE=CHECKSUM_FILE,
                            expected=expected[name][:12],
                        ),
                        file=str(path),
                        rule="raw.checksum_mismatch",
                    )
                )
            else:
                verified[name] = actual
    if problems:
        raise InputError(
            _("raw data in {raw_dir} failed verification").format(raw_dir=raw_dir), problems
        )
    log.info("verified %d raw files in %s", len(verified), raw_dir)
    return verified


def raw_file(name: str, *, raw_dir: Path | None = None, verify: bool = True) -> Path:
    """Path of a shipped raw file (e.g. ``huangpu/shanghai_huangpu_core_roads_osm.gpkg``).

    Parameters
    ----------
    name
        Path relative to the raw data folder.
    raw_dir
        The raw data folder; default ``data/raw`` of the checkout.
    verify
        Check its checksum first (default).

    Raises
    ------
    InputError
        If the file is missing or changed.
    """
    raw_dir = Path(raw_dir) if raw_dir is not None else default_raw_dir()
    if verify:
        verify_raw([name], raw_dir=raw_dir)
    elif not (raw_dir / name).is_file():
        raise InputError(
            _("raw file is missing"),
            [Problem(_("raw file is missing"), file=str(raw_dir / name), rule="raw.file_missing")],
        )
    return raw_dir / name


def _read(path: Path, layer: str, fields: tuple[str, ...], problems: list[Problem]):
    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:  # GDAL cannot open the file at all
        problems.append(
            Problem(_("cannot open: {exc}").format(exc=exc), file=str(path), rule="raw.unreadable")
        )
        return None
    if layer not in layers:
        problems.append(
            Problem(_("layer is missing"), file=str(path), layer=layer, rule="raw.layer")
        )
        return None
    gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    missing = [f for f in fields if f not in gdf.columns]
    for name in missing:
        problems.append(
            Problem(
                _("field is missing"), file=str(path), layer=layer, field=name, rule="raw.field"
            )
        )
    if gdf.crs is None or not gdf.crs.is_projected:
        problems.append(
            Problem(
                _("expected a projected metric CRS, got {crs}").format(crs=gdf.crs),
                file=str(path),
                layer=layer,
                rule="raw.crs",
            )
        )
    bad = np.flatnonzero(gdf.geometry.isna().to_numpy() | ~gdf.geometry.is_valid.to_numpy())
    for row in bad[:20]:
        problems.append(
            Problem(
                _("geometry is missing or invalid"),
                file=str(path),
                layer=layer,
                row=int(row),
                rule="raw.geometry",
            )
        )
    return None if missing else gdf


def _check_codes(units, villages, path: Path, problems: list[Problem]) -> None:
    codes = villages["VILLCODE"].astype("string")
    for row in np.flatnonzero(
        ~codes.str.fullmatch(rf"\d{{{_VILLAGE_CODE_DIGITS}}}").fillna(False).to_numpy()
    ):
        problems.append(
            Problem(
                _("village code {code!r} is not {digits} digits").format(
                    code=codes.iloc[row], digits=_VILLAGE_CODE_DIGITS
                ),
                file=str(path),
                layer=_VILLAGES_LAYER,
                row=int(row),
                field="VILLCODE",
                rule="code.pattern",
            )
        )
    for row in np.flatnonzero(codes.duplicated().to_numpy()):
        problems.append(
            Problem(
                _("village code {code} repeats").format(code=codes.iloc[row]),
                file=str(path),
                layer=_VILLAGES_LAYER,
                row=int(row),
                field="VILLCODE",
                rule="code.unique",
            )
        )
    for row in np.flatnonzero(
        units["CODEBASE"].isna().to_numpy() | units["CODEBASE"].duplicated().to_numpy()
    ):
        problems.append(
            Problem(
                _("small-area code is empty or repeats"),
                file=str(path),
                layer=_UNITS_LAYER,
                row=int(row),
                field="CODEBASE",
                rule="code.unique",
            )
        )
    for row in np.flatnonzero(~units["VILLCODE"].isin(set(codes)).to_numpy()):
        problems.append(
            Problem(
                _("small area's village {code!r} is not a village").format(
                    code=units["VILLCODE"].iloc[row]
                ),
                file=str(path),
                layer=_UNITS_LAYER,
                row=int(row),
                field="VILLCODE",
                rule="unit.village",
            )
        )
    for col in ("H_CNT", "P_CNT"):
        values = pd.to_numeric(units[col], errors="coerce")
        for row in np.flatnonzero((values.isna() | (values < 0)).to_numpy()):
            problems.append(
                Problem(
                    _("count {count!r} is not a non-negative integer").format(
                        count=units[col].iloc[row]
                    ),
                    file=str(path),
                    layer=_UNITS_LAYER,
                    row=int(row),
                    field=col,
                    rule="unit.count",
                )
            )


def _derive(units, villages, lines, district: District):
    crs = villages.crs
    units = units.sort_values("CODEBASE", kind="stable").reset_index(drop=True)
    units_out = gpd.GeoDataFrame(
        {
            "unit_id": units["CODEBASE"].astype(str),
            "code1": units["CODE1"].astype(str),
            "community_code": units["VILLCODE"].astype(str),
            "households": units["H_CNT"].astype("int64"),
            "population": units["P_CNT"].astype("int64"),
            "area_m2": shapely.area(units.geometry.to_numpy()).round(1),
        },
        geometry=units.geometry.to_numpy(),
        crs=crs,
    )
    populated = units_out[units_out["households"] > 0]
    households = gpd.GeoDataFrame(
        {
            "unit_id": populated["unit_id"].to_numpy(),
            "community_code": populated["community_code"].to_numpy(),
            "households": populated["households"].to_numpy(),
            "population": populated["population"].to_numpy(),
        },
        geometry=shapely.point_on_surface(populated.geometry.to_numpy()),
        crs=crs,
    )
    sums = units_out.groupby("community_code")[["households", "population"]].sum()
    villages = villages.sort_values("VILLCODE", kind="stable").reset_index(drop=True)
    code = villages["VILLCODE"].astype(str)
    communities = gpd.GeoDataFrame(
        {
            "code": code,
            "name": villages["VILLNAME"].astype(str),
            "kind": district.kind,
            "households": code.map(sums["households"]).fillna(0).astype("int64"),
            "population": code.map(sums["population"]).fillna(0).astype("int64"),
            "households_official": villages["HH_2017_06_official"].astype("int64"),
        },
        geometry=villages.geometry.to_numpy(),
        crs=crs,
    )
    roads = gpd.GeoDataFrame(
        {
            "class": ROADS_CLASS,
            "length_m": shapely.length(lines.geometry.to_numpy()).round(1),
        },
        geometry=lines.geometry.to_numpy(),
        crs=crs,
    )
    return {
        "communities": communities,
        "households": households,
        "units": units_out,
        "roads": roads,
    }


def _check_points_in_communities(households, communities, path: Path) -> None:
    """Every household point lies in exactly one community, the one of its small area."""
    tree = shapely.STRtree(communities.geometry.to_numpy())
    pts, polys = tree.query(households.geometry.to_numpy(), predicate="within")
    n_hits = np.bincount(pts, minlength=len(households))
    problems = []
    for row in np.flatnonzero(n_hits != 1):
        problems.append(
            Problem(
                _("household point of small area {unit} lies in {n_hits} communities").format(
                    unit=households["unit_id"].iloc[row], n_hits=n_hits[row]
                ),
                file=str(path),
                layer="households",
                row=int(row),
                rule="households.in_one_community",
            )
        )
    single = n_hits[pts] == 1
    got = communities["code"].to_numpy()[polys[single]]
    want = households["community_code"].to_numpy()[pts[single]]
    for i in np.flatnonzero(got != want):
        row = int(pts[single][i])
        problems.append(
            Problem(
                _("household point lies in community {got}, its small area says {want}").format(
                    got=got[i], want=want[i]
                ),
                file=str(path),
                layer="households",
                row=row,
                rule="households.community_code",
            )
        )
    if problems:
        raise InputError(_("household points do not nest in the communities"), problems)


def _up_to_date(out: Path, inputs: list[Path]) -> bool:
    if not out.is_file():
        return False
    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(out)}
    except Exception:
        return False
    if not set(LAYERS) <= layers:
        return False
    newest_input = max(p.stat().st_mtime for p in inputs)
    return out.stat().st_mtime > newest_input


def _existing_counts(out: Path) -> tuple[dict[str, int], int, int]:
    counts = {name: int(pyogrio.read_info(out, layer=name)["features"]) for name in LAYERS}
    hh = pyogrio.read_dataframe(
        out, layer="households", columns=["households", "population"], read_geometry=False
    )
    return counts, int(hh["households"].sum()), int(hh["population"].sum())


def build_district(
    name: str,
    out: Path | None = None,
    *,
    raw_dir: Path | None = None,
    force: bool = False,
) -> BuildResult:
    """Build one demo district into a GeoPackage in the partitioner's input contract.

    Parameters
    ----------
    name
        ``daan`` or ``gongguan``.
    out
        Output GeoPackage; default ``data/build/<name>.gpkg``.
    raw_dir
        The raw data folder; default ``data/raw`` of the checkout.
    force
        Rebuild even when the output is newer than the raw file, the checksum list and
        this script.

    Returns
    -------
    BuildResult
        Output path, whether the build was skipped, feature counts per layer, totals, seconds.

    Raises
    ------
    InputError
        If a raw file is missing or changed, or its content breaks an expectation (fields,
        codes, nesting); nothing is written then.
    """
    start = time.perf_counter()
    if name not in DISTRICTS:
        raise InputError(
            _("unknown demo district {name!r}; choose one of {items}").format(
                name=name, items=_(", ").join(DISTRICTS)
            ),
            [
                Problem(
                    _("unknown district {name!r}").format(name=name),
                    field="district",
                    rule="demo.district",
                )
            ],
        )
    district = DISTRICTS[name]
    raw_dir = Path(raw_dir) if raw_dir is not None else default_raw_dir()
    out = Path(out) if out is not None else default_build_dir() / f"{name}.gpkg"
    verify_raw([district.raw], raw_dir=raw_dir)
    src = raw_dir / district.raw
    inputs = [src, raw_dir / CHECKSUM_FILE, Path(__file__)]
    if not force and _up_to_date(out, inputs):
        counts, hh, pop = _existing_counts(out)
        result = BuildResult(name, out, True, counts, hh, pop, time.perf_counter() - start)
        log.info("%s: %s is up to date (%s)", name, out, counts)
        return result

    problems: list[Problem] = []
    units = _read(src, _UNITS_LAYER, _UNIT_FIELDS, problems)
    villages = _read(src, _VILLAGES_LAYER, _VILLAGE_FIELDS, problems)
    lines = _read(src, _LINES_LAYER, (), problems)
    if units is not None and villages is not None:
        _check_codes(units, villages, src, problems)
    if problems:
        raise InputError(_("{src} does not have the expected content").format(src=src), problems)

    layers = _derive(units, villages, lines, district)
    _check_points_in_communities(layers["households"], layers["communities"], src)
    write_layers(  # atomic: temp, then rename
        out,
        {name: layers[name] for name in LAYERS},
        layer_metadata={"communities": code_pattern_metadata(CODE_PATTERN)},
    )
    counts = {k: len(v) for k, v in layers.items()}
    hh = int(layers["households"]["households"].sum())
    pop = int(layers["households"]["population"].sum())
    result = BuildResult(name, out, False, counts, hh, pop, time.perf_counter() - start)
    log.info(
        "%s: wrote %s: %d communities, %d household points (%d households, %d people), "
        "%d units, %d road stand-in lines in %.1f s",
        name,
        out,
        counts["communities"],
        counts["households"],
        hh,
        pop,
        counts["units"],
        counts["roads"],
        result.seconds,
    )
    return result


def build_daan(
    out: Path | None = None, *, raw_dir: Path | None = None, force: bool = False
) -> Path:
    """Build Taipei's Da'an District (53 urban villages) — see :func:`build_district`.

    Parameters
    ----------
    out
        Output GeoPackage; default ``data/build/daan.gpkg``.
    raw_dir, force
        As for :func:`build_district`.

    Returns
    -------
    Path
        The output GeoPackage.
    """
    return build_district("daan", out, raw_dir=raw_dir, force=force).path


def build_gongguan(
    out: Path | None = None, *, raw_dir: Path | None = None, force: bool = False
) -> Path:
    """Build Miaoli's Gongguan Township (19 rural villages) — see :func:`build_district`.

    Parameters
    ----------
    out
        Output GeoPackage; default ``data/build/gongguan.gpkg``.
    raw_dir, force
        As for :func:`build_district`.

    Returns
    -------
    Path
        The output GeoPackage.
    """
    return build_district("gongguan", out, raw_dir=raw_dir, force=force).path
