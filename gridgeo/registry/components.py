"""City components (城市部件, Panjin art. 2): inventory import, grid of each, problem routing.

A component is a point with an inventory id, a class of the national component classes
(:data:`CLASSES`), a kind (井盖, 消火栓 …) and an owner department. Import replaces the
current version of a component id (history kept, ``valid_from``/``valid_to``). A
problem with a component goes to its owner first (:func:`route_problem`), then to the
grid's lead department for the category (包片), then to the category's default
department in the city catalogue.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
from sqlalchemy import text

from gridgeo.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError, Problem
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.users import REVIEWER_ROLES, Principal

log = logging.getLogger(__name__)

#: National component classes (GB/T 30428.2) → Chinese labels accepted on import.
CLASSES: dict[str, tuple[str, ...]] = {
    "public_facilities": ("公用设施", "公用设施类"),
    "traffic": ("道路交通", "道路交通类", "交通设施", "交通设施类"),
    "city_appearance": ("市容环境", "市容环境类"),
    "landscaping": ("园林绿化", "园林绿化类"),
    "other": ("其他设施", "其他设施类", "其他"),
}
HEADERS: dict[str, tuple[str, ...]] = {
    "component_id": ("部件编码", "部件标识码", "编码", "component_id", "id"),
    "class": ("部件大类", "部件类别", "大类", "class"),
    "kind": ("部件小类", "部件名称", "小类", "kind", "type"),
    "owner": ("权属单位", "主管部门", "权属部门", "owner_department", "owner"),
}


def _norm(v: object) -> str:
    return unicodedata.normalize("NFKC", str(v)).strip().lower()


_CLASS_WORDS = {_norm(w): c for c, words in CLASSES.items() for w in (c, *words)}


def read_components(
    path: str | os.PathLike[str], *, crs: object = None, layer: str | None = None
) -> gpd.GeoDataFrame:
    """Read a component inventory (points: GeoPackage, GeoJSON, Shapefile, CSV with lon/lat).

    Columns (Chinese or English, :data:`HEADERS`): 部件编码, 部件大类 (公用设施, 道路交通,
    市容环境, 园林绿化, 其他设施), 部件小类, 权属单位.

    Returns
    -------
    geopandas.GeoDataFrame
        ``component_id``, ``class`` (the English class key), ``kind``, ``owner`` in
        WGS 84.

    Raises
    ------
    InputError
        Naming the file, row and field of every problem; nothing is returned.
    """
    from gridgeo.crs import to_wgs84
    from gridgeo.io import read_layer

    gdf = read_layer(path, layer, crs=crs)
    lookup = {_norm(c): c for c in gdf.columns if c != gdf.geometry.name}
    cols = {
        f: next((lookup[_norm(n)] for n in names if _norm(n) in lookup), None)
        for f, names in HEADERS.items()
    }
    problems = [
        Problem(
            _("column {value} ({f}) is missing").format(value=HEADERS[f][0], f=f),
            file=str(path),
            rule="component.column",
        )
        for f, c in cols.items()
        if c is None and f != "kind"
    ]
    if problems:
        raise InputError(_("component inventory {path} cannot be used").format(path=path), problems)
    out = gpd.GeoDataFrame(
        {
            "component_id": gdf[cols["component_id"]].map(
                lambda v: "" if pd.isna(v) else str(v).strip()
            ),
            "class": gdf[cols["class"]].map(lambda v: _CLASS_WORDS.get(_norm(v), "")),
            "kind": gdf[cols["kind"]].fillna("").astype(str) if cols["kind"] else "",
            "owner": gdf[cols["owner"]].map(lambda v: "" if pd.isna(v) else str(v).strip()),
        },
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    )
    for i, r in out.iterrows():
        where = {"file": str(path), "row": int(i)}
        if not r["component_id"]:
            problems.append(
                Problem(
                    _("部件编码 is empty"),
                    field=cols["component_id"],
                    rule="component.id",
                    **where,
                )
            )
        if not r["class"]:
            raw = gdf.loc[i, cols["class"]]
            problems.append(
                Problem(
                    _(
                        "部件大类 {value!r} is not one of 公用设施、道路交通、市容环境、园林绿化、其他设施"
                    ).format(value=raw),
                    field=cols["class"],
                    rule="component.class",
                    **where,
                )
            )
        if not r["owner"]:
            problems.append(
                Problem(
                    _("权属单位 is empty"), field=cols["owner"], rule="component.owner", **where
                )
            )
        if r.geometry is None or r.geometry.is_empty or r.geometry.geom_type != "Point":
            problems.append(
                Problem(_("not a point"), field="geometry", rule="component.geometry", **where)
            )
    dup = out["component_id"][out["component_id"].duplicated() & (out["component_id"] != "")]
    problems += [
        Problem(
            f"部件编码 {v} appears twice",
            file=str(path),
            row=int(i),
            field=cols["component_id"],
            rule="component.duplicate",
        )
        for i, v in dup.items()
    ]
    if problems:
        raise InputError(
            _("component inventory {path}: {n} problem(s)").format(path=path, n=len(problems)),
            problems,
        )
    return to_wgs84(out)


def import_components(
    bind: Bind, components: gpd.GeoDataFrame, *, actor: Principal, is_sample: bool = False
) -> pd.DataFrame:
    """Store the inventory (new versions of known ids) and locate each component to its grid.

    Returns
    -------
    pandas.DataFrame
        ``component_id``, ``grid_code`` (None outside every current grid).

    Raises
    ------
    PermissionDeniedError
        For county editors (the inventory is kept by the city or an admin).
    InputError
        Naming owners that are not registered departments; nothing is written.
    """
    if actor.role not in ("admin", *REVIEWER_ROLES):
        raise PermissionDeniedError(
            _("the component inventory is kept by a city reviewer or an admin")
        )
    with transaction(bind) as conn:
        srid = conn.execute(text("SELECT registry.srid()")).scalar()
        if srid is None:
            raise ConflictError(_("components need the registry's CRS, set by the first grid load"))
        depts = dict(
            conn.execute(text("SELECT name, department_id FROM registry.department")).all()
        )
        unknown = sorted(set(components["owner"]) - set(depts))
        if unknown:
            raise InputError(
                _("the component inventory names departments that are not registered"),
                [
                    Problem(
                        _("department {d!r} is not registered").format(d=d),
                        field="owner",
                        rule="component.owner",
                    )
                    for d in unknown
                ],
            )
        pts = components.to_crs(int(srid))
        ids = list(pts["component_id"])
        conn.execute(
            text(
                "UPDATE registry.component SET valid_to = clock_timestamp() "
                "WHERE valid_to IS NULL AND component_id = ANY(:ids)"
            ),
            {"ids": ids},
        )
        conn.execute(
            text(
                "INSERT INTO registry.component (component_id, class, kind, owner_department_id, "
                "geom, is_sample, imported_by) VALUES (:id, :cls, :kind, :dep, "
                "ST_SetSRID(ST_MakePoint(:x, :y), :srid), :s, :by)"
            ),
            [
                {
                    "id": r.component_id,
                    "cls": r["class"],
                    "kind": r.kind,
                    "dep": depts[r.owner],
                    "x": r.geometry.x,
                    "y": r.geometry.y,
                    "srid": int(srid),
                    "s": bool(is_sample),
                    "by": actor.name,
                }
                for _, r in pts.iterrows()
            ],
        )
        located = conn.execute(
            text(
                "SELECT c.component_id, g.grid_code FROM registry.component c "
                "LEFT JOIN LATERAL (SELECT grid_code FROM registry.grid g WHERE g.valid_to IS NULL "
                "AND ST_Covers(g.geom, c.geom) ORDER BY grid_code LIMIT 1) g ON true "
                "WHERE c.valid_to IS NULL AND c.component_id = ANY(:ids) ORDER BY c.component_id"
            ),
            {"ids": ids},
        ).all()
    out = pd.DataFrame(located, columns=["component_id", "grid_code"])
    log.info(
        "imported %d components, %d inside a grid", len(out), int(out["grid_code"].notna().sum())
    )
    return out


@dataclass(frozen=True)
class Route:
    """Which department a problem goes to, and by which rule."""

    department: str | None
    rule: str  # component_owner | grid_coverage | category_default | none
    grid_code: str | None = None


def route_problem(
    bind: Bind, *, category: str, component_id: str | None = None, grid_code: str | None = None
) -> Route:
    """The department for a problem: the component's owner first, then the grid's lead
    department for ``category`` (包片), then the category's default department.

    With ``component_id`` the grid is the one covering the component now.

    Raises
    ------
    NotFoundError
        When ``component_id`` is not a current component.
    """
    with transaction(bind) as conn:
        if component_id:
            row = conn.execute(
                text(
                    "SELECT d.name, (SELECT g.grid_code FROM registry.grid g "
                    "WHERE g.valid_to IS NULL AND ST_Covers(g.geom, c.geom) "
                    "ORDER BY g.grid_code LIMIT 1) "
                    "FROM registry.component c JOIN registry.department d "
                    "ON d.department_id = c.owner_department_id "
                    "WHERE c.component_id = :id AND c.valid_to IS NULL"
                ),
                {"id": component_id},
            ).first()
            if row is None:
                raise NotFoundError(
                    _("no current component {component_id!r}").format(component_id=component_id)
                )
            return Route(row[0], "component_owner", row[1])
        if grid_code:
            lead = conn.execute(
                text(
                    "SELECT d.name FROM registry.department_coverage v JOIN registry.department d "
                    "USING (department_id) WHERE v.grid_code = :g AND v.category = :c "
                    "AND v.valid_to IS NULL ORDER BY v.lead DESC, d.department_id LIMIT 1"
                ),
                {"g": grid_code, "c": category},
            ).scalar()
            if lead:
                return Route(lead, "grid_coverage", grid_code)
        default = conn.execute(
            text(
                "SELECT d.name FROM service.category c JOIN registry.department d "
                "ON d.department_id = c.default_department_id WHERE c.code = :c"
            ),
            {"c": category},
        ).scalar()
        if default:
            return Route(default, "category_default", grid_code)
    return Route(None, "none", grid_code)
