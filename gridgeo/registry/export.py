"""The filing package for the city (备案): one zip with everything a reviewer needs.

``changeset_<id>.zip`` holds

* ``grids.gpkg`` — layers ``old_grids`` (versions the change set closes),
  ``new_grids`` (versions it opens) and ``communities`` (their outlines);
* ``code_changes.csv`` — one row per code: item, action, community, old code, new
  code, what happens to it (kept / new / retired), households before/after (UTF-8
  with BOM so that Excel shows Chinese text);
* ``summary.html`` — one printable page: header, counts, code changes and a static
  before/after map (inline SVG: no script, nothing loaded from anywhere);
* ``reassignments.csv`` — staff and department reassignments: who, which grid,
  before → after (when there are any);
* ``forced_breaks.json`` — rule errors filed anyway, with the written reason (also
  at the top of ``summary.html``);
* ``map.html`` — an interactive map of old and new grids made with
  :mod:`gridgeo.maps.offline` (vendored Leaflet inlined, no CDN, no basemap).
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text

from gridgeo.io import write_layers
from gridgeo.io.atomic import atomic_path
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.reassignments import reassignments
from gridgeo.registry.workflow import (
    ChangeSet,
    changeset_grids,
    changeset_items,
    get_changeset,
)
from gridgeo.settings import timezone_setting

log = logging.getLogger(__name__)

CSV_COLUMNS = [
    "item",
    "action",
    "community_code",
    "old_code",
    "new_code",
    "change",
    "households_before",
    "households_after",
]


def code_changes(items: pd.DataFrame, old: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per code a change set touches: kept (new version), new, or retired."""
    hh_old = dict(zip(old["grid_code"], old["households"], strict=True)) if len(old) else {}
    hh_new = dict(zip(new["grid_code"], new["households"], strict=True)) if len(new) else {}
    rows = []
    for it in items.itertuples():
        olds, news = list(it.old_codes or []), list(it.new_codes or [])
        retired = set(it.retired_codes or [])
        for code in olds:
            if code in retired:
                rows.append((it.seq, it.action, it.community_code, code, "", "retired"))
            else:
                rows.append(
                    (it.seq, it.action, it.community_code, code, code, "kept (new version)")
                )
        for code in news:
            if code not in olds:
                rows.append((it.seq, it.action, it.community_code, "", code, "new"))
    df = pd.DataFrame(rows, columns=CSV_COLUMNS[:6])
    df["households_before"] = [hh_old.get(c) if c else None for c in df["old_code"]]
    df["households_after"] = [hh_new.get(c) if c else None for c in df["new_code"]]
    return df.astype({"households_before": "Int64", "households_after": "Int64"})


def _communities(bind: Bind, codes: Iterable[str], srid: int | None) -> gpd.GeoDataFrame:
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, ST_AsBinary(geom) FROM registry.divisions "
                "WHERE code = ANY(:c) AND geom IS NOT NULL ORDER BY code"
            ),
            {"c": sorted(set(codes))},
        ).all()
    geoms = shapely.from_wkb([bytes(r[2]) for r in rows]) if rows else []
    return gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "name": [r[1] for r in rows]},
        geometry=gpd.GeoSeries(geoms, crs=f"EPSG:{srid}" if srid else None),
    )


def _context(bind: Bind, communities: set[str], exclude: set[str], crs) -> gpd.GeoDataFrame:
    """Current grids of the communities that the change set does not touch."""
    from gridgeo.registry.history import grids_at

    if not communities:
        return gpd.GeoDataFrame(geometry=[], crs=crs)
    now = grids_at(bind)
    keep = now["community_code"].isin(communities) & ~now["grid_code"].isin(exclude)
    return now[keep]


# -- static SVG map ---------------------------------------------------------------------
def _svg_paths(geoms: Iterable, to_px) -> list[str]:
    out = []
    for geom in geoms:
        d = []
        for poly in shapely.get_parts(geom):
            for ring in [poly.exterior, *poly.interiors]:
                xy = to_px(np.asarray(ring.coords)[:, :2])
                d.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + " Z")
        out.append(" ".join(d))
    return out


def svg_map(
    layers: list[tuple[gpd.GeoDataFrame, str, str, str | None]],
    *,
    bounds: tuple[float, float, float, float],
    width: int = 340,
    height: int = 300,
    title: str = "",
    max_labels: int = 60,
) -> str:
    """A static SVG map: ``layers`` are (frame, stroke, fill, label column or None).

    Labels (the last four characters, i.e. the grid sequence) are drawn only when a
    layer has at most ``max_labels`` features.
    """
    minx, miny, maxx, maxy = bounds
    scale = min((width - 20) / max(maxx - minx, 1e-9), (height - 40) / max(maxy - miny, 1e-9))
    simplify = 0.5 / scale  # half a pixel
    ox = 10 + ((width - 20) - scale * (maxx - minx)) / 2
    oy = 30 + ((height - 40) - scale * (maxy - miny)) / 2

    def to_px(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([ox + (xy[:, 0] - minx) * scale, oy + (maxy - xy[:, 1]) * scale])

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">'
        f"{html.escape(title)}</text>",
    ]
    for frame, stroke, fill, label in layers:
        if frame is None or len(frame) == 0:
            continue
        for d in _svg_paths(shapely.simplify(frame.geometry.values, simplify), to_px):
            parts.append(
                f'<path d="{d}" fill="{fill}" stroke="{stroke}" stroke-width="1" fill-rule="evenodd"/>'
            )
        if label and len(frame) <= max_labels:
            pts = shapely.point_on_surface(frame.geometry.values)
            xy = to_px(np.column_stack([shapely.get_x(pts), shapely.get_y(pts)]))
            for (x, y), value in zip(xy, frame[label].astype(str), strict=True):
                parts.append(
                    f'<text x="{x:.1f}" y="{y:.1f}" font-size="8" text-anchor="middle">'
                    f"{html.escape(value[-4:])}</text>"
                )
    parts.append("</svg>")
    return "\n".join(parts)


def summary_html(
    cs: ChangeSet,
    items: pd.DataFrame,
    changes: pd.DataFrame,
    old: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    context: gpd.GeoDataFrame | None = None,
    moves: pd.DataFrame | None = None,
) -> str:
    """The one-page HTML summary with a before/after map (``context``: unchanged grids).

    Forced rule breaks (filed with a written reason) come first; ``moves`` lists the
    staff and department reassignments (who, which grid, before → after).
    """
    frames = [f for f in (old, new) if len(f)]
    if frames:
        b = np.array([f.total_bounds for f in [*frames, communities] if len(f)])
        bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
        pad = 0.05 * max(bounds[2] - bounds[0], bounds[3] - bounds[1], 1.0)
        bounds = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
        base = [(context, "#aaa", "#f2f2f2", None), (communities, "#555", "none", None)]
        before = svg_map(
            [*base, (old, "#b2182b", "#f4a58255", "grid_code")],
            bounds=bounds,
            title="Before / 调整前",
        )
        after = svg_map(
            [*base, (new, "#2166ac", "#92c5de55", "grid_code")],
            bounds=bounds,
            title="After / 调整后",
        )
    else:
        before = after = "<p>(no grid geometry changes)</p>"
    counts = items["action"].value_counts().to_dict() if len(items) else {}
    n_new = int((changes["change"] == "new").sum()) if len(changes) else 0
    n_ret = int((changes["change"] == "retired").sum()) if len(changes) else 0
    shown = changes.head(25)
    rows = "\n".join(
        "<tr>"
        + "".join(f"<td>{html.escape('' if pd.isna(v) else str(v))}</td>" for v in r)
        + "</tr>"
        for r in shown.itertuples(index=False)
    )
    more = (
        f"<p>… {len(changes) - len(shown)} more rows in code_changes.csv</p>"
        if len(changes) > len(shown)
        else ""
    )
    esc = html.escape
    forced = _forced_html(cs)
    moves_html = _moves_html(moves)

    def when(t) -> str:
        return local_time(t)

    filing = cs.validation or {}
    rules = filing.get("rules") or {}
    checked = (
        f"{rules.get('errors', 0)} errors 错误, {rules.get('warnings', 0)} warnings 警告 "
        f"(profile {rules.get('profile', '—')}){' — forced 强制报备' if filing.get('forced') else ''}"
        if rules
        else "not filed yet 尚未报备"
    )
    metrics = grid_metrics(new)
    sizes = (
        f"{metrics['grids']} grids 个网格; households per grid 每格户数 "
        f"{metrics['households']['min']} / {metrics['households']['median']} / "
        f"{metrics['households']['max']} (min / median / max)"
        if metrics["grids"]
        else "—"
    )

    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>网格调整备案 change set {cs.changeset_id}</title>
<style>
@page {{ size: A4; margin: 12mm; }}
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; font-size: 11px; margin: 0 auto;
       max-width: 720px; }}
h1 {{ font-size: 16px; margin: 4px 0; }} table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: 1px 4px; text-align: left; }}
.maps {{ display: flex; gap: 8px; justify-content: center; }} .meta td:first-child {{ width: 25%; }}
</style></head><body>
<h1>网格划分调整备案 · Grid change filing — change set {cs.changeset_id}</h1>
{forced}
<table class="meta">
<tr><td>County 县区</td><td>{esc(cs.county_code)}</td></tr>
<tr><td>Title / reason 事由</td><td>{esc(cs.title)} {esc(cs.reason)}</td></tr>
<tr><td>Status 状态</td><td>{esc(cs.status)}{" — " + esc(cs.decision_reason) if cs.decision_reason else ""}</td></tr>
<tr><td>Drafted 起草</td><td>{esc(cs.created_by)}, {when(cs.created_at)}</td></tr>
<tr><td>Filed 报备</td><td>{esc(cs.filed_by or "—")}, {when(cs.filed_at)}</td></tr>
<tr><td>Decided 审核</td><td>{esc(cs.decided_by or "—")}, {when(cs.decided_at)}</td></tr>
<tr><td>Items 事项</td><td>{esc(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))}</td></tr>
<tr><td>Codes 编码</td><td>{n_new} new 新增, {n_ret} retired 注销 (retired codes are never reused)</td></tr>
<tr><td>Profile 规则</td><td>{esc(cs.profile or "—")}; households 户数: {esc(_HH_SOURCE.get(cs.household_source or "", "—"))}</td></tr>
<tr><td>Filed with 备案机关</td><td>{esc(cs.receiver_code or "—")}</td></tr>
<tr><td>County's note 县区说明</td><td>{esc(filing.get("note") or "—")}</td></tr>
<tr><td>Validator 校验结果</td><td>{esc(checked)}</td></tr>
<tr><td>New grids 新网格</td><td>{esc(sizes)}</td></tr>
<tr><td>Times 时间</td><td>{esc(timezone_setting())}</td></tr>
</table>
<div class="maps">{before}{after}</div>
<table><tr>{"".join(f"<th>{c}</th>" for c in CSV_COLUMNS)}</tr>
{rows}</table>{more}
{moves_html}
</body></html>
"""


def local_time(t) -> str:
    """A registry time in the configured time zone (``GRIDGEO_TIMEZONE``), or "—"."""
    if t is None:
        return "—"
    zone = ZoneInfo(timezone_setting())
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def grid_metrics(grids: gpd.GeoDataFrame) -> dict:
    """Figures of a set of grids for the city: count per type, households and area spread."""
    if grids.empty:
        return {"grids": 0}
    hh = pd.to_numeric(grids["households"], errors="coerce").fillna(0)
    area = grids.geometry.area if grids.crs is not None and grids.crs.is_projected else None
    out = {
        "grids": len(grids),
        "by_type": {str(k): int(v) for k, v in grids["grid_type"].value_counts().items()},
        "households": {
            "total": int(hh.sum()),
            "min": int(hh.min()),
            "median": float(hh.median()),
            "max": int(hh.max()),
        },
    }
    if area is not None:
        out["area_m2"] = {
            "min": round(float(area.min())),
            "median": round(float(area.median())),
            "max": round(float(area.max())),
        }
    return out


_HH_SOURCE = {
    "points": "按本县户籍点位重新统计 (recounted from the household layer)",
    "declared": "本县未上传户籍点位，采用网格申报户数 (declared counts: no household layer)",
}


def _forced_html(cs: ChangeSet) -> str:
    breaks = cs.forced_breaks or []
    if not breaks:
        return ""
    esc = html.escape
    items = "".join(
        f"<li>{esc(str(b.get('rule')))} {esc(str(b.get('grids') or ''))}: {esc(str(b.get('message')))}</li>"
        for b in breaks
    )
    return (
        '<div class="forced" style="border:2px solid #b2182b;padding:4px;margin:6px 0">'
        f"<b>强制报备的规则违反 · Forced rule breaks ({len(breaks)})</b>"
        f"<p>理由 Reason: {esc(cs.force_reason or '')}</p><ul>{items}</ul></div>"
    )


def _moves_html(moves: pd.DataFrame | None) -> str:
    if moves is None or moves.empty:
        return ""
    esc = html.escape
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{esc('' if v is None or pd.isna(v) else str(v))}</td>" for v in r)
        + "</tr>"
        for r in moves.itertuples(index=False)
    )
    head = "".join(f"<th>{c}</th>" for c in moves.columns)
    return f"<h2>人员与包片部门调整 · Reassignments ({len(moves)})</h2><table><tr>{head}</tr>{rows}</table>"


def _interactive_map(
    old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, communities: gpd.GeoDataFrame
) -> str | None:
    from gridgeo.maps.offline import add_geodataframe, offline_map, render_offline

    frames = [f for f in (old, new) if len(f)]
    if not frames:
        return None
    m = offline_map(
        pd.concat([f[["geometry"]] for f in frames]).set_crs(frames[0].crs, allow_override=True)
    )
    if len(communities):
        add_geodataframe(m, communities, name="communities", color="#555555", fill_opacity=0.0)
    if len(old):
        add_geodataframe(m, old, name="before", color="#b2182b", tooltip=["grid_code", "grid_name"])
    if len(new):
        add_geodataframe(m, new, name="after", color="#2166ac", tooltip=["grid_code", "grid_name"])
    import folium

    folium.LayerControl().add_to(m)
    return render_offline(m)


def export_changeset(bind: Bind, changeset_id: int, out: str | os.PathLike[str]) -> Path:
    """Write the filing package of a change set as a zip (atomically).

    Parameters
    ----------
    bind
        Database.
    changeset_id
        The change set (any status).
    out
        The ``.zip`` to write; an existing file is replaced.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    cs = get_changeset(bind, changeset_id)
    items = changeset_items(bind, changeset_id)
    old, new = changeset_grids(bind, changeset_id)
    crs = old.crs or new.crs
    comm_codes = set(old["community_code"]) | set(new["community_code"])
    communities = _communities(bind, comm_codes, crs.to_epsg() if crs else None)
    changes = code_changes(items, old, new)
    context = _context(bind, comm_codes, set(old["grid_code"]) | set(new["grid_code"]), crs)
    moves = reassignments(bind, changeset_id)
    page = summary_html(cs, items, changes, old, new, communities, context, moves)
    interactive = _interactive_map(old, new, communities)

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        gpkg = Path(tmp) / "grids.gpkg"
        layers = {"old_grids": old, "new_grids": new}
        if len(communities):
            layers["communities"] = communities
        layers = {k: v if v.crs is not None else v.set_crs(crs) for k, v in layers.items()}
        write_layers(gpkg, layers)
        buf = io.StringIO()
        changes.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
        with (
            atomic_path(out) as part,
            zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        ):
            zf.write(gpkg, "grids.gpkg")
            zf.writestr("code_changes.csv", "\ufeff" + buf.getvalue())
            zf.writestr("summary.html", page)
            zf.writestr(
                "filing.json",
                json.dumps(
                    {
                        "changeset": cs.changeset_id,
                        "county": cs.county_code,
                        "note": (cs.validation or {}).get("note"),
                        "validator": (cs.validation or {}).get("rules"),
                        "metrics": grid_metrics(new),
                        "timezone": timezone_setting(),
                        "filed_at": local_time(cs.filed_at),
                    },
                    ensure_ascii=False,
                    indent=1,
                    default=str,
                ),
            )
            if len(moves):
                zf.writestr("reassignments.csv", "\ufeff" + moves.to_csv(index=False))
            if cs.forced_breaks:
                zf.writestr(
                    "forced_breaks.json",
                    json.dumps(
                        {"reason": cs.force_reason, "breaks": cs.forced_breaks},
                        ensure_ascii=False,
                        indent=1,
                    ),
                )
            if interactive:
                zf.writestr("map.html", interactive)
    log.info(
        "exported change set %s to %s: %d old and %d new grids, %d code changes",
        changeset_id,
        out,
        len(old),
        len(new),
        len(changes),
    )
    return out
