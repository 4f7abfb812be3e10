"""The grid rules, one small function each, all with the signature ``GridSet -> list[Issue]``.

Like GerryChain's constraints, each check judges a whole plan and can be used
alone or composed: the validator runs :data:`CHECKS`; the partitioner and the
registry can run any subset on a set of grids (:func:`run_checks`) or ask
whether a plan passes (:func:`passes`). Checks never mutate the :class:`GridSet`;
what several of them need (household counts, home community…) is cached on it.

Rule ids are stable (tests, reports and the registry refer to them) and come from the
one catalogue :data:`gridgeo.rule_ids.RULES` (severity, meaning, the article each rests
on), which the partitioner's violations use too.

An issue's ``message`` is written when the check runs, in the language in use
(:mod:`gridgeo.i18n`: Simplified Chinese by default, English with ``GRIDGEO_LANG=en``);
its ``rule`` id is the stable key for programs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gridgeo.crs import cached_transformer
from gridgeo.i18n import _
from gridgeo.io.metadata import CODE_PATTERN_HINT
from gridgeo.rule_ids import RULES
from gridgeo.validate.gridset import POSTING_FIELDS, GridSet, code_regex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Issue:
    """One broken rule: which rule, how bad, which grids, where and why.

    ``geometry`` is in the :class:`GridSet`'s metric CRS; ``value`` is the
    rule's measure (households, m², share…).
    """

    rule: str
    message: str
    grid_codes: tuple[str, ...] = ()
    community_code: str | None = None
    geometry: Any = None
    value: float | None = None
    severity: str = field(default="")

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule id {self.rule!r}")
        if not self.severity:
            object.__setattr__(self, "severity", RULES[self.rule].severity)


Check = Callable[[GridSet], list[Issue]]


def without_hairlines(geoms: Any, width: float) -> Any:
    """``geoms`` without the parts nowhere wider than ``width`` (morphological opening).

    Reprojection and digitising leave slivers a fraction of a millimetre wide
    along shared borders; they are round-off, not gaps, overlaps or crossings.
    """
    if width <= 0:
        return geoms
    half = width / 2.0
    inner = shapely.buffer(geoms, -half, join_style="mitre")
    return shapely.buffer(inner, half, join_style="mitre")


def _g(gs: GridSet, i: int) -> tuple[str, ...]:
    return (str(gs.labels[i]),)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:.2g}"


def _join(items: Iterable[str]) -> str:
    """Items listed in a message: ``a, b`` in English, ``a、b`` in Chinese."""
    return _(", ").join(items)


# --------------------------------------------------------------------------- geometry
def check_invalid_geometry(gs: GridSet) -> list[Issue]:
    """``geometry.invalid``: a grid with no geometry, a non-polygon or an invalid polygon.

    The other checks use the repaired geometry (``make_valid``), so one bad ring
    does not hide other problems.
    """
    raw = gs.raw_geoms
    missing = pd.isna(raw) | shapely.is_empty(np.where(pd.isna(raw), shapely.Polygon(), raw))
    issues = []
    for i in np.flatnonzero(missing):
        issues.append(
            Issue(
                "geometry.invalid",
                _("grid {grid} has no geometry").format(grid=gs.labels[i]),
                _g(gs, i),
            )
        )
    ok = np.flatnonzero(~missing)
    types = shapely.get_type_id(raw[ok])
    for i in ok[~np.isin(types, (3, 6))]:
        issues.append(
            Issue(
                "geometry.invalid",
                _("grid {grid} is a {type}, not a polygon").format(
                    grid=gs.labels[i], type=raw[i].geom_type
                ),
                _g(gs, i),
                gs.home_code[i],
                raw[i],
            )
        )
    poly = ok[np.isin(types, (3, 6))]
    bad = poly[~shapely.is_valid(raw[poly])]
    for i, reason in zip(bad, shapely.is_valid_reason(raw[bad]), strict=True):
        issues.append(
            Issue(
                "geometry.invalid",
                _("grid {grid} is not a valid polygon: {reason}").format(
                    grid=gs.labels[i], reason=reason
                ),
                _g(gs, i),
                gs.home_code[i],
                raw[i],
            )
        )
    return issues


def check_non_contiguous(gs: GridSet) -> list[Issue]:
    """``geometry.not_contiguous``: a multi-part grid whose community has one part."""
    tol = gs.profile.quality.seam_tolerance_m2
    parts, owner = shapely.get_parts(gs.geoms, return_index=True)
    areas = shapely.area(parts)
    big = areas > tol
    counts = np.bincount(owner[big], minlength=gs.n)
    comm_parts = np.append(gs.community_parts, 0)[gs.home]
    issues = []
    for i in np.flatnonzero((counts > 1) & (comm_parts <= 1)):
        mine = big & (owner == i)
        part_areas = areas[mine]
        main = np.argmax(part_areas)
        detached = np.delete(parts[mine], main)
        issues.append(
            Issue(
                "geometry.not_contiguous",
                _(
                    "grid {grid} has {n} separate parts ({areas} m²); the map shows the parts "
                    "apart from the largest"
                ).format(
                    grid=gs.labels[i],
                    n=counts[i],
                    areas=_join(_fmt(a) for a in sorted(part_areas, reverse=True)),
                ),
                _g(gs, i),
                gs.home_code[i],
                shapely.multipolygons(detached),
                float(counts[i]),
            )
        )
    return issues


def check_slivers(gs: GridSet) -> list[Issue]:
    """``geometry.sliver``: grid area below ``sliver_min_area_m2`` or width below ``sliver_min_width_m``.

    The width is the diameter of the largest circle that fits in the grid.
    """
    q = gs.profile.quality
    nonempty = np.flatnonzero(~shapely.is_empty(gs.geoms))
    small = gs.areas[nonempty] < q.sliver_min_area_m2
    width = np.full(len(nonempty), np.inf)
    if q.sliver_min_width_m > 0 and len(nonempty):
        tol = max(q.sliver_min_width_m / 20.0, 0.01)
        radius = shapely.length(shapely.maximum_inscribed_circle(gs.geoms[nonempty], tol))
        width = 2.0 * radius
    narrow = width < q.sliver_min_width_m
    issues = []
    for j in np.flatnonzero(small | narrow):
        i = nonempty[j]
        what = []
        if small[j]:
            what.append(
                _("area {area} m² < {minimum} m²").format(
                    area=f"{gs.areas[i]:.1f}", minimum=f"{q.sliver_min_area_m2:g}"
                )
            )
        if narrow[j]:
            what.append(
                _("width {width} m < {minimum} m").format(
                    width=f"{width[j]:.1f}", minimum=f"{q.sliver_min_width_m:g}"
                )
            )
        issues.append(
            Issue(
                "geometry.sliver",
                _("grid {grid} is a sliver: {what}").format(grid=gs.labels[i], what=_join(what)),
                _g(gs, i),
                gs.home_code[i],
                gs.geoms[i],
                float(gs.areas[i]),
            )
        )
    return issues


# --------------------------------------------------------------------------- size
def check_size_band(gs: GridSet) -> list[Issue]:
    """``size.below_floor`` / ``size.above_ceiling`` / ``size.band_unattainable``.

    Households are recounted from the points; the band is that of the grid's type
    (see :attr:`GridSet.size_table` for exemptions: dedicated grids, whole-village
    grids, villager-group mode). When the grid's community cannot meet the band at
    all (``attainable`` in :attr:`GridSet.community_table`: too few households for
    one grid, or an indivisible unit above the maximum) the finding is a warning
    with the reason.
    """
    if gs.households is None:
        return []
    sizes = gs.size_table
    comm = gs.community_table
    kinds = sizes["grid_type"].to_numpy(dtype=object)
    households = sizes["households"].to_numpy(dtype=float)
    lo, hi = sizes["band_min"].to_numpy(), sizes["band_max"].to_numpy()
    attainable = np.append(comm["attainable"].to_numpy(dtype=bool), True)[gs.home]
    reasons = comm["reason"].to_numpy(dtype=object)
    issues = []
    for i in np.flatnonzero(~sizes["in_band"].to_numpy(dtype=bool)):
        rule = "size.below_floor" if households[i] < lo[i] else "size.above_ceiling"
        values = {
            "grid": gs.labels[i],
            "n": f"{households[i]:g}",
            "kind": _(kinds[i]),
            "band": f"{lo[i]:.0f}–{hi[i]:.0f}",
        }
        if attainable[i]:
            msg = _("grid {grid} has {n} households; {kind} band {band}").format(**values)
        else:
            rule = "size.band_unattainable"
            msg = _(
                "grid {grid} has {n} households; {kind} band {band} cannot be met in "
                "community {community}: {reason}"
            ).format(**values, community=gs.home_code[i], reason=reasons[gs.home[i]])
        issues.append(
            Issue(rule, msg, _g(gs, i), gs.home_code[i], gs.geoms[i], float(households[i]))
        )
    return issues


# --------------------------------------------------------------------------- coverage
def check_gaps(gs: GridSet) -> list[Issue]:
    """``coverage.gap``: parts of a community covered by no grid, one issue per gap polygon.

    Gaps of at most ``quality.seam_tolerance_m2`` and slivers nowhere wider than
    ``quality.seam_width_m`` (round-off) are ignored; each issue gives the gap's
    area, location and the households (points) inside it.
    """
    tol = gs.profile.quality.seam_tolerance_m2
    ci, gi = gs.grid_tree.query(gs.community_geoms, predicate="intersects")
    groups = pd.Series(gi).groupby(ci).agg(list)
    gaps, gap_comm = [], []
    for c, geom in enumerate(gs.community_geoms):
        if shapely.is_empty(geom):
            continue
        members = groups.get(c, [])
        covered = shapely.union_all(gs.geoms[members]) if members else shapely.Polygon()
        rest = shapely.difference(geom, covered)
        if shapely.area(rest) <= tol:
            continue
        rest = without_hairlines(rest, gs.profile.quality.seam_width_m)
        parts = shapely.get_parts(rest)
        parts = parts[shapely.area(parts) > tol]
        gaps.extend(parts)
        gap_comm.extend([c] * len(parts))
    if not gaps:
        return []
    gaps = np.array(gaps, dtype=object)
    gap_comm = np.array(gap_comm)
    households = np.zeros(len(gaps))
    if gs.households is not None and len(gs.point_geoms):
        free = np.flatnonzero(gs.point_grid < 0)
        if len(free):
            pi, gj = shapely.STRtree(gaps).query(gs.point_geoms[free], predicate="intersects")
            first = np.unique(pi, return_index=True)[1]
            np.add.at(households, gj[first], gs.weights[free][pi[first]])
    near_g, near_i = gs.grid_tree.query(gaps, predicate="dwithin", distance=0.01)
    neighbours = pd.Series(near_i).groupby(near_g).agg(list)
    inside = shapely.get_coordinates(shapely.point_on_surface(gaps))
    lon, lat = cached_transformer(gs.crs, 4326).transform(*inside.T)
    issues = []
    for k, gap in enumerate(gaps):
        code = gs.community_codes[gap_comm[k]]
        labels = tuple(sorted({str(gs.labels[i]) for i in neighbours.get(k, [])}))
        issues.append(
            Issue(
                "coverage.gap",
                _gap_message(code, shapely.area(gap), lon[k], lat[k], households[k], labels),
                labels,
                code,
                gap,
                float(shapely.area(gap)),
            )
        )
    return issues


def _gap_message(
    code: str, area: float, lon: float, lat: float, households: float, labels: tuple[str, ...]
) -> str:
    values = {
        "area": _fmt(area),
        "community": code,
        "lon": f"{lon:.5f}",
        "lat": f"{lat:.5f}",
        "n": f"{households:g}",
    }
    if labels:
        return _(
            "gap of {area} m² in community {community} at lon {lon}, lat {lat} with {n} "
            "households; next to {grids}"
        ).format(**values, grids=_join(labels))
    return _(
        "gap of {area} m² in community {community} at lon {lon}, lat {lat} with {n} "
        "households; no grid next to it"
    ).format(**values)


def check_overlaps(gs: GridSet) -> list[Issue]:
    """``coverage.overlap``: pairs of grids sharing more than ``seam_tolerance_m2`` of area
    (not counting round-off slivers narrower than ``seam_width_m``)."""
    tol = gs.profile.quality.seam_tolerance_m2
    a, b = gs.grid_tree.query(gs.geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a):
        touch = shapely.touches(gs.geoms[a], gs.geoms[b])
        a, b = a[~touch], b[~touch]
    inter = without_hairlines(
        shapely.intersection(gs.geoms[a], gs.geoms[b]), gs.profile.quality.seam_width_m
    )
    area = shapely.area(inter)
    issues = []
    for k in np.flatnonzero(area > tol):
        i, j = a[k], b[k]
        issues.append(
            Issue(
                "coverage.overlap",
                _("grids {a} and {b} overlap by {area} m²").format(
                    a=gs.labels[i], b=gs.labels[j], area=_fmt(area[k])
                ),
                (str(gs.labels[i]), str(gs.labels[j])),
                gs.home_code[i],
                inter[k],
                float(area[k]),
            )
        )
    return issues


def check_crossing(gs: GridSet) -> list[Issue]:
    """``border.crosses_community``: grid area outside its community (by code, else location).

    Reports the area outside (more than ``seam_tolerance_m2``, not counting
    round-off slivers narrower than ``seam_width_m``), its share of the grid and
    the communities it enters.
    """
    tol = gs.profile.quality.seam_tolerance_m2
    home = gs.home
    has_home = home >= 0
    nonempty = ~shapely.is_empty(gs.geoms)
    issues = []
    for i in np.flatnonzero(~has_home & nonempty):
        issues.append(
            Issue(
                "border.crosses_community",
                _("grid {grid} lies in no community").format(grid=gs.labels[i]),
                _g(gs, i),
                None,
                gs.geoms[i],
                float(gs.areas[i]),
            )
        )
    idx = np.flatnonzero(has_home & nonempty)
    inside = shapely.covers(gs.community_geoms[home[idx]], gs.geoms[idx])
    idx = idx[~inside]
    outside = without_hairlines(
        shapely.difference(gs.geoms[idx], gs.community_geoms[home[idx]]),
        gs.profile.quality.seam_width_m,
    )
    area = shapely.area(outside)
    for k in np.flatnonzero(area > tol):
        i = idx[k]
        entered = gs.community_tree.query(outside[k], predicate="intersects")
        others = sorted(
            {
                str(gs.community_codes[c])
                for c in entered
                if c != home[i]
                and shapely.area(shapely.intersection(outside[k], gs.community_geoms[c])) > tol
            }
        )
        share = area[k] / gs.areas[i] if gs.areas[i] else 1.0
        issues.append(
            Issue(
                "border.crosses_community",
                _crossing_message(gs.labels[i], area[k], share, gs.home_code[i], others),
                _g(gs, i),
                gs.home_code[i],
                outside[k],
                float(area[k]),
            )
        )
    return issues


def _crossing_message(
    grid: str, area: float, share: float, community: str, others: list[str]
) -> str:
    values = {"grid": grid, "area": _fmt(area), "share": f"{share:.0%}", "community": community}
    if others:
        return _(
            "grid {grid} extends {area} m² ({share}) outside community {community} into {others}"
        ).format(**values, others=_join(others))
    return _("grid {grid} extends {area} m² ({share}) outside community {community}").format(
        **values
    )


# --------------------------------------------------------------------------- codes
def check_code_format(gs: GridSet) -> list[Issue]:
    """``code.format``: the grid code must be a community code (profile pattern) plus N digits."""
    pattern = code_regex(gs.profile)
    digits = gs.profile.codes.grid_sequence_digits
    issues = []
    for i, code in enumerate(gs.grids["grid_code"].to_numpy(dtype=object)):
        if code is None:
            msg = _("grid {grid} has no grid_code").format(grid=gs.labels[i])
        elif pattern.fullmatch(code) is None:
            msg = _(
                "grid code {code} is not a community code matching {pattern} followed by "
                "{digits} digits"
            ).format(
                code=repr(code), pattern=gs.profile.codes.community_pattern, digits=digits
            ) + _(CODE_PATTERN_HINT)
        else:
            continue
        issues.append(Issue("code.format", msg, _g(gs, i), gs.home_code[i], gs.geoms[i]))
    return issues


def check_code_unique(gs: GridSet) -> list[Issue]:
    """``code.duplicate``: one issue per grid code used by more than one grid."""
    codes = gs.grids["grid_code"]
    dup = codes[codes.notna() & codes.duplicated(keep=False)]
    issues = []
    for code, rows in dup.groupby(dup, sort=True).groups.items():
        rows = np.asarray(rows)
        issues.append(
            Issue(
                "code.duplicate",
                _("grid code {code} is used by {n} grids (rows {rows})").format(
                    code=code, n=len(rows), rows=_join(map(str, rows))
                ),
                (str(code),),
                gs.home_code[rows[0]],
                shapely.union_all(gs.geoms[rows]),
                float(len(rows)),
            )
        )
    return issues


def check_code_community(gs: GridSet) -> list[Issue]:
    """``code.community_mismatch``: code prefix, ``community_code`` and location must agree.

    Flags a missing or unknown ``community_code``, a grid code that does not
    start with it, and a grid lying mostly in another community than the one its
    ``community_code`` names.
    """
    digits = gs.profile.codes.grid_sequence_digits
    given = gs.grids["community_code"].to_numpy(dtype=object)
    codes = gs.grids["grid_code"].to_numpy(dtype=object)
    issues = []
    for i in range(gs.n):
        problems = []
        if given[i] is None:
            problems.append(_("has no community_code"))
        elif gs.coded_community[i] < 0:
            problems.append(_("names community {community}, which is not in the communities layer"))
        if given[i] is not None and codes[i] is not None and codes[i][:-digits] != given[i]:
            problems.append(
                _("has code {code} that does not start with community_code {community}")
            )
        where = gs.largest_community[i]
        if gs.coded_community[i] >= 0 and where >= 0 and where != gs.coded_community[i]:
            problems.append(_("lies mostly in community {other}, not in {community}"))
        if problems:
            issues.append(
                Issue(
                    "code.community_mismatch",
                    _("grid {grid} {problems}").format(
                        grid=gs.labels[i],
                        problems=_("; ").join(
                            p.format(
                                community=given[i],
                                code=codes[i],
                                other=gs.community_codes[where] if where >= 0 else None,
                            )
                            for p in problems
                        ),
                    ),
                    _g(gs, i),
                    given[i] if given[i] is not None else gs.home_code[i],
                    gs.geoms[i],
                )
            )
    return issues


def check_grid_type(gs: GridSet) -> list[Issue]:
    """``attr.grid_type``: a ``grid_type`` value that is not urban, rural or dedicated."""
    raw = gs.grids["grid_type"].to_numpy(dtype=object)
    bad = np.flatnonzero(pd.notna(raw) & pd.isna(gs.given_type))
    return [
        Issue(
            "attr.grid_type",
            _("grid {grid} has grid_type {value}; treated as {kind} (from its community)").format(
                grid=gs.labels[i], value=repr(raw[i]), kind=_(gs.grid_type[i])
            ),
            _g(gs, i),
            gs.home_code[i],
            gs.geoms[i],
        )
        for i in bad
    ]


# --------------------------------------------------------------------------- roads
def check_road_borders(gs: GridSet) -> list[Issue]:
    """``roads.border_share``: share of the internal border on road centrelines below the profile minimum.

    Only runs when roads are given. A border piece is on a road when it lies within
    ``quality.road_tolerance_m`` of a road line as drawn or of the middle of a divided
    road (two one-way carriageways of one name: :attr:`GridSet.road_middles`). The share
    of each grid is in :attr:`GridSet.road_border`; grids without internal border are
    skipped.
    """
    if gs.roads is None:
        return []
    table = gs.road_border
    minimum = gs.profile.quality.min_road_border_share
    shares = table["share"].to_numpy()
    internal = table["internal_m"].to_numpy()
    low = np.flatnonzero(shares < minimum)
    off_road = _polylines_by_grid(*gs.off_road_segments, wanted=low)
    issues = []
    for i in low:
        geom = off_road.get(i, gs.geoms[i])
        issues.append(
            Issue(
                "roads.border_share",
                _(
                    "grid {grid}: {share} of its {length} m internal border is on roads (within "
                    "{tolerance} m of a road line or of the middle of a divided road; minimum "
                    "{minimum}); the map shows the rest"
                ).format(
                    grid=gs.labels[i],
                    share=f"{shares[i]:.0%}",
                    length=_fmt(internal[i]),
                    tolerance=_fmt(gs.profile.quality.road_tolerance_m),
                    minimum=f"{minimum:.0%}",
                ),
                _g(gs, i),
                gs.home_code[i],
                geom,
                float(shares[i]),
            )
        )
    return issues


def _polylines_by_grid(x0, y0, x1, y1, owner, *, wanted: np.ndarray) -> dict[int, Any]:
    """Join consecutive pieces (in border order) into lines; one MultiLineString per grid."""
    keep = np.isin(owner, wanted)
    x0, y0, x1, y1, owner = x0[keep], y0[keep], x1[keep], y1[keep], owner[keep]
    if len(owner) == 0:
        return {}
    joined = np.r_[
        False,
        (owner[1:] == owner[:-1])
        & np.isclose(x0[1:], x1[:-1], rtol=0, atol=1e-6)
        & np.isclose(y0[1:], y1[:-1], rtol=0, atol=1e-6),
    ]
    run = np.cumsum(~joined) - 1
    n_runs = int(run[-1]) + 1
    last = np.r_[run[1:] != run[:-1], True]
    coords = np.empty((len(run) + n_runs, 2))
    line_of = np.empty(len(run) + n_runs, dtype=np.int64)
    pos = np.arange(len(run)) + run  # start point of each piece
    coords[pos] = np.c_[x0, y0]
    line_of[pos] = run
    end = np.flatnonzero(last)
    coords[pos[end] + 1] = np.c_[x1[end], y1[end]]
    line_of[pos[end] + 1] = run[end]
    lines = shapely.linestrings(coords, indices=line_of)
    grid_of_run = owner[end]
    grids, compact = np.unique(grid_of_run, return_inverse=True)
    multi = shapely.multilinestrings(lines, indices=compact.ravel())
    return dict(zip(grids.tolist(), multi, strict=True))


# --------------------------------------------------------------------------- posting
def check_posting(gs: GridSet) -> list[Issue]:
    """``posting.missing`` / ``posting.unknown_grid``: attributes for public posting.

    Only runs when a staff table is given. A field may be in the staff table or
    in the grids layer; blanks count as missing.
    """
    if gs.staff is None:
        return []
    staff = gs.staff
    issues = []
    known = set(gs.grids["grid_code"].dropna())
    for code in sorted(set(staff["grid_code"].dropna()) - known):
        issues.append(
            Issue(
                "posting.unknown_grid",
                _("staff table names grid {code}, not in the grids layer").format(code=code),
                (code,),
            )
        )
    first = staff.dropna(subset=["grid_code"]).drop_duplicates("grid_code").set_index("grid_code")
    codes = gs.grids["grid_code"].to_numpy(dtype=object)
    for i in range(gs.n):
        missing = []
        row = first.loc[codes[i]] if codes[i] in first.index else None
        for name in POSTING_FIELDS:
            value = row[name] if row is not None and name in row.index else None
            if _blank(value) and name in gs.grids.columns:
                value = gs.grids[name].iat[i]
            if _blank(value):
                missing.append(name)
        if missing:
            msg = (
                _("grid {grid} lacks {fields}")
                if row is not None
                else _("grid {grid} (not in the staff table) lacks {fields}")
            )
            issues.append(
                Issue(
                    "posting.missing",
                    msg.format(grid=gs.labels[i], fields=_join(missing)),
                    _g(gs, i),
                    gs.home_code[i],
                    gs.geoms[i],
                    float(len(missing)),
                )
            )
    return issues


def _blank(value: Any) -> bool:
    return (
        value is None or (not isinstance(value, str) and pd.isna(value)) or not str(value).strip()
    )


# --------------------------------------------------------------------------- inputs
def check_community_geometry(gs: GridSet) -> list[Issue]:
    """``input.community_invalid``: a community polygon was invalid (repaired before checking)."""
    reasons = gs.communities["invalid_reason"].to_numpy(dtype=object)
    return [
        Issue(
            "input.community_invalid",
            _(
                "community {community} has an invalid polygon ({reason}); it was repaired before "
                "the checks"
            ).format(community=gs.community_codes[c], reason=reasons[c]),
            (),
            gs.community_codes[c],
            gs.community_geoms[c],
        )
        for c in np.flatnonzero(pd.notna(reasons))
    ]


# --------------------------------------------------------------------------- composition
#: All checks in report order; each is ``GridSet -> list[Issue]``.
CHECKS: dict[str, Check] = {
    "input.community_invalid": check_community_geometry,
    "geometry.invalid": check_invalid_geometry,
    "geometry.not_contiguous": check_non_contiguous,
    "geometry.sliver": check_slivers,
    "size": check_size_band,
    "coverage.gap": check_gaps,
    "coverage.overlap": check_overlaps,
    "border.crosses_community": check_crossing,
    "code.format": check_code_format,
    "code.duplicate": check_code_unique,
    "code.community_mismatch": check_code_community,
    "attr.grid_type": check_grid_type,
    "roads.border_share": check_road_borders,
    "posting": check_posting,
}


def run_checks(gs: GridSet, checks: Iterable[str | Check] | None = None) -> list[Issue]:
    """Run ``checks`` (names from :data:`CHECKS` or functions; default all) on ``gs``."""
    issues: list[Issue] = []
    for check in CHECKS.values() if checks is None else checks:
        fn = CHECKS[check] if isinstance(check, str) else check
        issues.extend(fn(gs))
    return issues


def passes(gs: GridSet, checks: Iterable[str | Check] | None = None) -> bool:
    """Whether ``gs`` breaks none of ``checks`` with severity ``error`` (a GerryChain-style constraint)."""
    return not any(issue.severity == "error" for issue in run_checks(gs, checks))
