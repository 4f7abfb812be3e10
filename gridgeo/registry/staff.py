"""The staff roster (网格员名册): import, who may see what, and the staffing check.

A roster row is a person and the grid they serve in one role. Importing one
writes the people to ``registry.staff`` (with the real-name field ``id_number``,
身份证号, shown only to authorised roles) and drafts their assignments as a change
set (:func:`gridgeo.registry.assignments.draft_assignments`) — both in one
transaction, so a bad roster writes nothing. :func:`check_staff` judges the
current grids against the profile's ``[staff]`` rules
(:func:`gridgeo.validate.staffing.check_staffing`); :func:`changeset_staff_problems`
runs the same check on a change set's grids at filing.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from pathlib import Path

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.assignments import STAFF_ROLES, draft_assignments
from gridgeo.registry.bindings import profile_for
from gridgeo.registry.users import Principal
from gridgeo.rules import Profile
from gridgeo.validate.staffing import check_staffing

log = logging.getLogger(__name__)

#: Roster column → accepted headers (Chinese first; English as in ``draft_assignments``).
HEADERS: dict[str, tuple[str, ...]] = {
    "grid_code": ("网格编码", "网格代码", "网格编号", "grid_code"),
    "role": ("岗位", "角色", "类别", "人员类别", "role"),
    "person_name": ("姓名", "person_name", "name"),
    "phone": ("联系电话", "电话", "手机", "手机号码", "phone"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "id_number"),
    "unit": ("选配单位", "所属单位", "unit"),
    "filed_with": ("备案乡镇（街道）", "备案街道", "备案乡镇", "备案", "filed_with"),
    "posted": ("是否公示", "公示", "posted"),
    "is_sample": ("示例", "is_sample"),
}
REQUIRED = ("grid_code", "role", "person_name")
#: Role words on a roster → ``registry.staff_assignment.role``.
ROLE_WORDS = {
    "网格长": "head",
    "专职网格员": "full_time",
    "专职": "full_time",
    "兼职网格员": "part_time",
    "兼职": "part_time",
    "专业网格员": "professional",
    "专业": "professional",
    **{r: r for r in STAFF_ROLES},
}
#: Roles of the service that may see real-name fields (身份证号).
REAL_NAME_ROLES = frozenset({"county_editor", "city_reviewer", "admin", "county", "city"})
_ID_NUMBER = r"^\d{17}[\dXx]$"


def _norm(s: object) -> str:
    return unicodedata.normalize("NFKC", str(s)).strip().lower()


def read_table(path: str | os.PathLike[str], *, sheet: str | None = None) -> pd.DataFrame:
    """A plain table (no geometry): CSV in UTF-8 or GBK/GB18030, or a sheet of an XLSX file.

    Raises
    ------
    InputError
        When the file is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(_("file {path} does not exist").format(path=path))
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return pd.read_excel(path, sheet_name=sheet or 0, dtype=str, engine="openpyxl")
        from gridgeo.io._encoding import guess_file_encoding

        enc = guess_file_encoding(path, None).encoding or "utf-8"
        return pd.read_csv(path, dtype=str, encoding=enc, skipinitialspace=True)
    except Exception as exc:  # pandas/openpyxl raise many kinds
        raise InputError(_("cannot read {path}: {exc}").format(path=path, exc=exc)) from exc


def read_roster(path: str | os.PathLike[str], *, sheet: str | None = None) -> pd.DataFrame:
    """Read a roster (CSV in UTF-8 or GBK, or XLSX) with Chinese or English headers.

    Headers: 网格编码, 岗位 (网格长/专职网格员/兼职网格员/专业网格员), 姓名, 联系电话,
    身份证号, 选配单位, 备案乡镇（街道）, 是否公示 (see :data:`HEADERS`).

    Returns
    -------
    pandas.DataFrame
        Columns named as the keys of :data:`HEADERS`, roles as ``head`` …; the index
        is the row number in the file (the header is row 1).

    Raises
    ------
    InputError
        Naming the file, row and field of every problem (missing column, unknown
        role, empty name or grid code, malformed 身份证号); nothing is returned.
    """
    path = Path(path)
    raw = read_table(path, sheet=sheet)
    lookup = {_norm(c): c for c in raw.columns}
    cols = {}
    for field, names in HEADERS.items():
        found = next((lookup[_norm(n)] for n in names if _norm(n) in lookup), None)
        if found is not None:
            cols[field] = found
    problems = [
        Problem(
            _("column {value} ({f}) is missing; columns are {value2}").format(
                value=HEADERS[f][0], f=f, value2=", ".join(map(str, raw.columns))
            ),
            file=str(path),
            field=HEADERS[f][0],
            rule="roster.column",
        )
        for f in REQUIRED
        if f not in cols
    ]
    if problems:
        raise InputError(_("roster {path} cannot be used").format(path=path), problems)
    df = pd.DataFrame({f: raw[c] for f, c in cols.items()})
    df.index = pd.RangeIndex(2, len(df) + 2)
    df = df.apply(lambda s: s.map(lambda v: "" if pd.isna(v) else str(v).strip()))
    df = df.reindex(columns=list(HEADERS), fill_value="")
    for row, r in df.iterrows():
        for f in REQUIRED:
            if not r[f]:
                problems.append(
                    Problem(
                        _("value is empty"),
                        file=str(path),
                        row=row,
                        field=cols[f],
                        rule="roster.empty",
                    )
                )
        if r["role"] and _norm(r["role"]) not in {_norm(k) for k in ROLE_WORDS}:
            problems.append(
                Problem(
                    _(
                        "岗位 {role!r} is not one of 网格长、专职网格员、兼职网格员、专业网格员"
                    ).format(role=r["role"]),
                    file=str(path),
                    row=row,
                    field=cols["role"],
                    rule="roster.role",
                )
            )
        if r["id_number"] and not pd.Series([r["id_number"]]).str.match(_ID_NUMBER).iloc[0]:
            problems.append(
                Problem(
                    _("身份证号 must be 18 characters (17 digits and a digit or X)"),
                    file=str(path),
                    row=row,
                    field=cols["id_number"],
                    rule="roster.id_number",
                )
            )
    if problems:
        raise InputError(
            _("roster {path} cannot be used: {n} problem(s)").format(path=path, n=len(problems)),
            problems,
        )
    words = {_norm(k): v for k, v in ROLE_WORDS.items()}
    df["role"] = df["role"].map(lambda v: words[_norm(v)])
    log.info("read roster %s: %d rows, %d people", path, len(df), df["person_name"].nunique())
    return df


def import_roster(
    bind: Bind,
    roster: pd.DataFrame,
    *,
    county: str,
    actor: Principal,
    title: str = "",
    reason: str = "",
) -> int:
    """Store the roster's people and draft their grid assignments as one change set.

    Parameters
    ----------
    roster
        As :func:`read_roster` returns it (``grid_code``, ``role``, ``person_name``,
        optional ``phone``, ``id_number``, ``unit``, ``filed_with``, ``posted``,
        ``is_sample``).
    county
        The county whose grids are staffed; ``actor`` must be allowed to draft there.

    Returns
    -------
    int
        The draft change set's id; file and accept it like any change set.

    Raises
    ------
    InputError, PermissionDeniedError
        As :func:`gridgeo.registry.assignments.draft_assignments`; nothing is written.
    """
    df = roster.reindex(columns=list(HEADERS), fill_value="")
    df = df.apply(lambda s: s.map(lambda v: "" if v is None or pd.isna(v) else str(v)))
    staff = df[["grid_code", "role", "person_name", "phone", "posted", "is_sample"]].copy()
    staff.loc[staff["posted"] == "", "posted"] = "是"
    staff.loc[staff["is_sample"] == "", "is_sample"] = "否"
    staff = staff.reset_index(drop=True)
    with transaction(bind) as conn:
        cs = draft_assignments(
            conn,
            county=county,
            actor=actor,
            staff=staff,
            title=title or "staff roster",
            reason=reason or "gridgeo staff import",
        )
        n = store_people(conn, df)
    log.info("imported roster: %d people, change set %s", n, cs)
    return cs


def store_people(bind: Bind, people: pd.DataFrame) -> int:
    """Add or update the people of a roster (``person_name`` or ``name``, ``phone``,
    optional ``id_number``, ``unit``, ``filed_with``, ``is_sample``), keyed by name and
    phone; an empty 身份证号 keeps the stored one. Returns how many people."""
    df = people.rename(columns={"name": "person_name"}) if "person_name" not in people else people
    df = df.reindex(
        columns=["person_name", "phone", "id_number", "unit", "filed_with", "is_sample"]
    )
    df = df.apply(lambda s: s.map(lambda v: "" if v is None or pd.isna(v) else str(v).strip()))
    rows = (
        df.drop_duplicates(["person_name", "phone"])
        .assign(is_sample=lambda d: d["is_sample"].map(lambda v: _norm(v) in _YES))
        .to_dict("records")
    )
    with transaction(bind) as conn:
        conn.execute(
            text(
                "INSERT INTO registry.staff (person_name, phone, id_number, unit, filed_with, "
                "is_sample) VALUES (:person_name, :phone, :id_number, :unit, :filed_with, "
                ":is_sample) ON CONFLICT (person_name, phone) DO UPDATE SET "
                "id_number = coalesce(nullif(EXCLUDED.id_number, ''), registry.staff.id_number), "
                "unit = EXCLUDED.unit, filed_with = EXCLUDED.filed_with, "
                "updated_at = clock_timestamp()"
            ),
            rows,
        )
    return len(rows)


_YES = {"1", "true", "yes", "y", "t", "是"}


def roster(bind: Bind, *, county: str | None = None, real_name: bool = False) -> pd.DataFrame:
    """The people serving current grids now (of ``county``, default all).

    ``id_number`` (身份证号) is filled only with ``real_name``; callers pass it only
    for roles in :data:`REAL_NAME_ROLES`.
    """
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT a.grid_code, a.role, s.person_name, s.phone, "
                "CASE WHEN :rn THEN s.id_number ELSE '' END, s.unit, s.filed_with, a.posted, "
                "s.is_sample FROM registry.staff_assignment a "
                "JOIN registry.staff s USING (staff_id) "
                "JOIN registry.grid g ON g.grid_code = a.grid_code AND g.valid_to IS NULL "
                "WHERE a.valid_to IS NULL AND g.community_code LIKE :c || '%' "
                "ORDER BY a.grid_code, a.role, s.person_name"
            ),
            {"rn": bool(real_name), "c": county or ""},
        ).all()
    return pd.DataFrame(
        rows,
        columns=[
            "grid_code",
            "role",
            "person_name",
            "phone",
            "id_number",
            "unit",
            "filed_with",
            "posted",
            "is_sample",
        ],
    )


def _grids(conn: Connection, county: str) -> pd.DataFrame:
    rows = conn.execute(
        text(
            "SELECT grid_code, grid_type, community_code FROM registry.grid "
            "WHERE valid_to IS NULL AND community_code LIKE :c || '%' ORDER BY grid_code"
        ),
        {"c": county},
    ).all()
    return pd.DataFrame(rows, columns=["grid_code", "grid_type", "community_code"])


def _assignments(conn: Connection) -> pd.DataFrame:
    rows = conn.execute(
        text(
            "SELECT a.grid_code, a.role, s.staff_id::text, s.person_name, s.unit, s.filed_with "
            "FROM registry.staff_assignment a JOIN registry.staff s USING (staff_id) "
            "WHERE a.valid_to IS NULL"
        )
    ).all()
    return pd.DataFrame(rows, columns=["grid_code", "role", "person", "name", "unit", "filed_with"])


def check_staff(
    bind: Bind, *, profile: str | Profile | None = None, county: str = ""
) -> pd.DataFrame:
    """Every current grid (of ``county``) that breaks the profile's staffing rules.

    Returns
    -------
    pandas.DataFrame
        As :func:`gridgeo.validate.staffing.check_staffing`: ``rule``, ``grid_code``,
        ``community_code``, ``grid_type``, ``message``, ``basis``.
    """
    with transaction(bind) as conn:
        grids, staff = _grids(conn, county), _assignments(conn)
    return check_staffing(grids, staff, profile=profile_for(bind, county, profile))


def changeset_staff_problems(
    conn: Connection, changeset_id: int, profile: str | Profile
) -> list[Problem]:
    """The staffing breaches of the grids a change set (re)staffs, as they would be
    after acceptance; warnings (a vacancy is reported to the city, it does not block
    filing)."""
    items = conn.execute(
        text(
            "SELECT payload FROM registry.changeset_item "
            "WHERE changeset_id = :id AND action = 'reassign_staff' ORDER BY seq"
        ),
        {"id": int(changeset_id)},
    ).scalars()
    items = list(items)
    if not items:
        return []
    county = conn.execute(
        text("SELECT county_code FROM registry.changeset WHERE changeset_id = :id"),
        {"id": int(changeset_id)},
    ).scalar_one()
    staff = _assignments(conn)
    replaced = {(p["grid_code"], p["role"]) for p in items if p.get("replace", True)}
    keep = [(g, r) not in replaced for g, r in zip(staff["grid_code"], staff["role"], strict=True)]
    people = conn.execute(
        text("SELECT person_name, phone, staff_id::text, unit, filed_with FROM registry.staff")
    ).all()
    known = {(n, p): (sid, u, f) for n, p, sid, u, f in people}
    added = []
    for p in items:
        if p.get("person_name") is None:
            continue
        sid, unit, filed = known.get(
            (p["person_name"], p.get("phone") or ""), (f"new:{p['person_name']}", "", "")
        )
        added.append((p["grid_code"], p["role"], sid, p["person_name"], unit, filed))
    after = pd.concat([staff[keep], pd.DataFrame(added, columns=staff.columns)], ignore_index=True)
    touched = {p["grid_code"] for p in items}
    grids = _grids(conn, county)
    breaches = check_staffing(grids[grids["grid_code"].isin(touched)], after, profile=profile)
    return [
        Problem(
            f"{b.message}（{b.basis}）" if b.basis else b.message,
            layer=f"change set {changeset_id} (staff)",
            row=b.grid_code,
            rule=b.rule,
            severity="warning",
        )
        for b in breaches.itertuples()
    ]
