"""Staffing rules (网格员配置): does every grid have the people its profile asks for?

Pure: plain tables in, a table of breaches out; no database. The registry
(:mod:`gridgeo.registry.staff`) reads the current grids and assignments and calls
:func:`check_staffing`; the same function runs at filing and behind the API.
Each rule is one small function with the signature ``(grids, staff, rule) -> rows``
and a stable id (``staff.*``, the keys of :class:`gridgeo.rules.StaffRule.basis`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pandas as pd

from gridgeo.i18n import _
from gridgeo.rules import Profile, StaffRule, load_profile

log = logging.getLogger(__name__)

BREACH_COLUMNS = ["rule", "grid_code", "community_code", "grid_type", "message", "basis"]
GRID_COLUMNS = ["grid_code", "grid_type", "community_code"]
STAFF_COLUMNS = ["grid_code", "role", "person", "name", "unit", "filed_with"]
WORKER_ROLES = ("full_time", "part_time", "professional")
#: How a grid type is named in a message (English; translated when the message is made).
_TYPE_TEXT = {"urban": "urban community grid", "rural": "rural grid", "dedicated": "dedicated grid"}

Row = tuple[str, str, str]  # rule id, grid_code, message
Check = Callable[[pd.DataFrame, pd.DataFrame, StaffRule], Iterator[Row]]


def _heads(grids: pd.DataFrame, staff: pd.DataFrame, rule: StaffRule) -> Iterator[Row]:
    if rule.head_scope == "none":
        return
    heads = staff[staff["role"] == "head"].groupby("grid_code")["person"].nunique()
    for g in grids.itertuples(index=False):
        n = int(heads.get(g.grid_code, 0))
        if n == 0:
            yield "staff.head", g.grid_code, _("the grid has no grid head")
        elif rule.head_scope == "grid" and n > 1:
            yield (
                "staff.head",
                g.grid_code,
                _("the grid has {n} grid heads (one per grid)").format(n=n),
            )
    if rule.head_scope == "community":
        per = staff[staff["role"] == "head"].merge(
            grids[["grid_code", "community_code"]], on="grid_code"
        )
        counts = per.groupby("community_code")["person"].nunique()
        for code, n in counts[counts > 1].items():
            for g in grids[grids["community_code"] == code]["grid_code"]:
                yield (
                    "staff.head",
                    g,
                    _("community {code} has {n} grid heads (one per community or village)").format(
                        code=code, n=int(n)
                    ),
                )


def _workers(grids: pd.DataFrame, staff: pd.DataFrame, rule: StaffRule) -> Iterator[Row]:
    counts = staff[staff["role"].isin(WORKER_ROLES)].groupby("grid_code")["person"].nunique()
    for g in grids.itertuples(index=False):
        n = int(counts.get(g.grid_code, 0))
        if n < rule.min_workers:
            yield (
                "staff.worker",
                g.grid_code,
                _("the grid has {n} grid workers (at least {minimum})").format(
                    n=n, minimum=rule.min_workers
                ),
            )


def _full_time(grids: pd.DataFrame, staff: pd.DataFrame, rule: StaffRule) -> Iterator[Row]:
    have = set(staff.loc[staff["role"] == "full_time", "grid_code"])
    for g in grids.itertuples(index=False):
        if g.grid_type in rule.full_time_grid_types and g.grid_code not in have:
            others = staff[(staff["grid_code"] == g.grid_code) & (staff["role"] == "part_time")]
            detail = _("part-time grid workers only") if len(others) else _("no grid workers")
            kind = _(_TYPE_TEXT[g.grid_type]) if g.grid_type in _TYPE_TEXT else g.grid_type
            yield (
                "staff.full_time",
                g.grid_code,
                _("{kind} without a full-time grid worker ({detail})").format(
                    kind=kind, detail=detail
                ),
            )


def _professional(grids: pd.DataFrame, staff: pd.DataFrame, rule: StaffRule) -> Iterator[Row]:
    if rule.professional_max_grids is None:
        return
    pro = staff[staff["role"] == "professional"]
    served = pro.groupby("person")["grid_code"].agg(lambda s: sorted(set(s)))
    names = pro.drop_duplicates("person").set_index("person")["name"]
    known = set(grids["grid_code"])
    for person, codes in served.items():
        if len(codes) > rule.professional_max_grids:
            for code in codes:
                if code in known:
                    yield (
                        "staff.professional_limit",
                        code,
                        _(
                            "professional grid worker {name} serves {n} grids (at most "
                            "{maximum}): {grids}"
                        ).format(
                            name=names[person],
                            n=len(codes),
                            maximum=rule.professional_max_grids,
                            grids=_(", ").join(codes),
                        ),
                    )


def _dedicated(grids: pd.DataFrame, staff: pd.DataFrame, rule: StaffRule) -> Iterator[Row]:
    if not rule.dedicated_unit_filed:
        return
    dedicated = set(grids.loc[grids["grid_type"] == "dedicated", "grid_code"])
    rows = staff[staff["grid_code"].isin(dedicated) & staff["role"].isin(WORKER_ROLES)]
    for r in rows.itertuples(index=False):
        missing = [
            label
            for label, value in (
                (_("appointing unit"), r.unit),
                (_("township (subdistrict) filed with"), r.filed_with),
            )
            if not str(value or "").strip() or pd.isna(value)
        ]
        if missing:
            yield (
                "staff.dedicated",
                r.grid_code,
                _("dedicated grid worker {name} lacks {fields}").format(
                    name=r.name, fields=_(", ").join(missing)
                ),
            )


CHECKS: dict[str, Check] = {
    "staff.head": _heads,
    "staff.worker": _workers,
    "staff.full_time": _full_time,
    "staff.professional_limit": _professional,
    "staff.dedicated": _dedicated,
}


def check_staffing(
    grids: pd.DataFrame, staff: pd.DataFrame, *, profile: str | Profile | None = None
) -> pd.DataFrame:
    """Every breach of the profile's staffing rules, one row per grid and rule breached.

    Parameters
    ----------
    grids
        The grids to judge: ``grid_code``, ``grid_type`` (urban/rural/dedicated),
        ``community_code``.
    staff
        Who serves them: ``grid_code``, ``role`` (head, full_time, part_time,
        professional), ``person`` (one key per person, e.g. a staff id), optional
        ``name`` (shown in messages; default ``person``), and
        for dedicated grids ``unit`` (选配单位) and ``filed_with`` (备案乡镇街道). Rows of
        grids not in ``grids`` still count towards a professional's grids.
    profile
        Profile name, path or object; its ``[staff]`` table holds the rules.

    Returns
    -------
    pandas.DataFrame
        ``rule``, ``grid_code``, ``community_code``, ``grid_type``, ``message``
        (in the language in use, :mod:`gridgeo.i18n`), ``basis`` (the article the rule
        rests on, the regulation's own Chinese); empty when all is well.
    """
    prof = load_profile(profile)
    g = grids[GRID_COLUMNS].drop_duplicates("grid_code").astype({"grid_code": str})
    s = staff.reindex(columns=STAFF_COLUMNS).astype({"grid_code": str, "person": str})
    s["name"] = s["name"].where(s["name"].notna(), s["person"])
    rows = [r for check in CHECKS.values() for r in check(g, s, prof.staff)]
    out = pd.DataFrame(rows, columns=["rule", "grid_code", "message"]).drop_duplicates()
    out = out.merge(g, on="grid_code", how="left")
    out["basis"] = out["rule"].map(lambda r: prof.staff.basis.get(r, ""))
    out = out[BREACH_COLUMNS].sort_values(["grid_code", "rule"], kind="stable")
    log.info(
        "staffing (%s): %d breaches in %d of %d grids",
        prof.name,
        len(out),
        out["grid_code"].nunique(),
        len(g),
    )
    return out.reset_index(drop=True)
