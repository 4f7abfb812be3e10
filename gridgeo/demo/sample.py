"""Seeded sample data for the demo: what has no open source, visibly marked as sample.

Grid workers and heads with phones, a department list per incident category, incidents
and GPS patrol tracks cannot be published for real. These functions generate them from
the real communities and grids, with a seed, and mark every record:

- a column ``is_sample`` that is always ``True``;
- names 示例网格员001 / 示例网格长01, departments 示例区…, reporters 示例居民;
- phones ``100-0000-xxxx`` (11 digits beginning 100: a block no mainland subscriber has;
  mobiles begin 13–19, landlines 0);
- incident descriptions starting with 【示例】, ids starting ``SAMPLE-``;
- files written only by :func:`write_samples` / :func:`write_tracks`, whose names must
  contain ``sample``; GPX files say "SAMPLE DATA" in their metadata.

Sample data is never written into the real data files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import write_layers
from gridgeo.io.atomic import atomic_path, write_text_atomic

log = logging.getLogger(__name__)

SAMPLE_MARK = "示例"
DESCRIPTION_MARK = "【示例】"
PHONE_PREFIX = "100-0000-"
TIMEZONE = "Asia/Shanghai"
DEFAULT_START = "2025-03-03"

_DEPARTMENTS = [
    # category, code, department, deadline (working days), complex-case deadline — per the Yongzhou regulation
    ("环境卫生", "sanitation", "示例区城市管理局（环境卫生科）", 5, 10),
    ("市政设施", "municipal_facilities", "示例区住房和城乡建设局（市政设施科）", 5, 10),
    ("违章建筑", "illegal_construction", "示例区城市管理综合执法局", 5, 10),
    ("市场监管", "market_supervision", "示例区市场监督管理局", 5, 10),
    ("噪声扰民", "noise", "示例区生态环境分局", 5, 10),
    ("园林绿化", "greenery", "示例区园林绿化局", 5, 10),
    ("消防安全", "fire_safety", "示例区消防救援大队", 5, 10),
]

_INCIDENT_TEXT = {
    "sanitation": ["垃圾桶满溢未及时清运", "路边堆放建筑垃圾", "楼道杂物堆积", "公厕卫生差"],
    "municipal_facilities": ["路灯不亮", "井盖缺失", "人行道地砖破损", "排水口堵塞积水"],
    "illegal_construction": ["楼顶搭建彩钢棚", "占用绿地私搭乱建", "阳台外扩违建"],
    "market_supervision": ["流动摊贩占道经营", "商铺出售过期食品", "价格标示不清"],
    "noise": ["夜间施工噪声扰民", "商铺高音喇叭招揽", "广场舞音响过响"],
    "greenery": ["行道树倒伏", "绿地被踩踏损毁", "树枝遮挡路灯"],
    "fire_safety": ["消防通道被占用", "电动自行车楼道充电", "灭火器过期"],
}
# relative frequency of each category among sample incidents
_CATEGORY_WEIGHTS = np.array([0.28, 0.22, 0.1, 0.12, 0.12, 0.08, 0.08])


def _require(gdf: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise InputError(
            _("{what} lacks required fields: {items}").format(
                what=what, items=_(", ").join(missing)
            ),
            [
                Problem(_("field is missing"), layer=what, field=c, rule="sample.field")
                for c in missing
            ],
        )
    if len(gdf) == 0:
        raise InputError(
            _("{what} is empty").format(what=what),
            [Problem(_("no rows"), layer=what, rule="sample.empty")],
        )


def _metric(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise InputError(
            _("{what} has no CRS").format(what=what),
            [Problem(_("no CRS"), layer=what, rule="crs.missing")],
        )
    return gdf if gdf.crs.is_projected else gdf.to_crs(gdf.estimate_utm_crs())


def _phone(i: int, *, limit: int = 9899) -> str:
    """Sample phone number ``i``; 9900–9999 are kept for the sample departments."""
    if not 0 < i <= limit:
        raise InputError(
            _("sample phone numbers run out at {limit:,} people (asked for number {i})").format(
                limit=limit, i=i
            ),
            [Problem(_("too many sample staff"), rule="sample.phone_range")],
        )
    return f"{PHONE_PREFIX}{i:04d}"


def deliberate_breach_grid(grids: pd.DataFrame) -> str | None:
    """The grid where the sample staff break a rule on purpose: the first urban grid
    (by code) gets only a part-time worker, so ``gridgeo staff check`` and the demo have
    one documented ``staff.full_time`` breach to show. None when there is no urban grid.
    """
    types = grids["grid_type"].astype(str) if "grid_type" in grids else None
    codes = grids["grid_code"].astype(str)
    urban = sorted(codes[types == "urban"]) if types is not None else sorted(codes)
    return urban[0] if urban else None


def sample_staff(grids: gpd.GeoDataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Sample grid workers and grid heads, one row per person and grid they serve.

    Each grid gets a full-time grid worker, sometimes a second part-time worker and
    sometimes a professional one (each serving one grid); each community gets one grid
    head (示例网格长NN), listed once for every grid of the community. Staff of dedicated
    grids carry ``unit`` (选配单位) and ``filed_with`` (备案乡镇街道), Gansu 一(二)3.
    So the sample keeps every staffing rule of every shipped profile but one, on
    purpose: the grid :func:`deliberate_breach_grid` names (the first urban grid) has
    only a part-time worker, which ``gridgeo demo run`` reports (``staff.full_time``).

    Parameters
    ----------
    grids
        Grids with ``grid_code`` and ``community_code`` (the partitioner's output).
    seed
        Seed of the random choices; the same seed gives the same table.

    Returns
    -------
    pandas.DataFrame
        ``staff_id``, ``name``, ``position`` (``grid_worker``/``grid_head``), ``position_zh``,
        ``role`` (workers ``full_time``/``part_time``/``professional``, heads ``head``, as in
        ``registry.staff_assignment.role``), ``grid_code``,
        ``community_code``, ``phone`` (``100-0000-xxxx``), ``unit`` and ``filed_with``
        (dedicated grids' workers; else empty), ``is_sample`` (always True).
    """
    _require(grids, ["grid_code", "community_code"], "grids")
    rng = np.random.default_rng(seed)
    g = (
        pd.DataFrame(
            {
                "grid_code": grids["grid_code"].astype(str),
                "community_code": grids["community_code"].astype(str),
                "grid_type": grids["grid_type"].astype(str) if "grid_type" in grids else "urban",
            }
        )
        .drop_duplicates("grid_code")
        .sort_values(["community_code", "grid_code"], kind="stable")
        .reset_index(drop=True)
    )
    communities = sorted(g["community_code"].unique())
    head_width = max(2, len(str(len(communities))))
    rows = []
    phone_no = 0
    heads = {}
    for k, code in enumerate(communities, start=1):
        phone_no += 1
        label = f"{k:0{head_width}d}"
        heads[code] = (f"SAMPLE-H{label}", f"{SAMPLE_MARK}网格长{label}", _phone(phone_no))
    draws = rng.random((len(g), 3))
    breach = deliberate_breach_grid(grids)
    workers = []
    for i, grid in enumerate(g.itertuples(index=False)):
        workers.append((grid, "part_time" if grid.grid_code == breach else "full_time"))
        if draws[i, 1] < 0.25:
            workers.append((grid, "part_time"))
        if draws[i, 2] < 0.1:
            workers.append((grid, "professional"))
    worker_width = max(3, len(str(len(workers))))
    for n, (grid, role) in enumerate(workers, start=1):
        phone_no += 1
        dedicated = grid.grid_type == "dedicated"
        rows.append(
            {
                "staff_id": f"SAMPLE-W{n:0{worker_width}d}",
                "name": f"{SAMPLE_MARK}网格员{n:0{worker_width}d}",
                "position": "grid_worker",
                "position_zh": "网格员",
                "role": role,
                "grid_code": grid.grid_code,
                "community_code": grid.community_code,
                "phone": _phone(phone_no),
                "unit": f"{SAMPLE_MARK}选配单位（{grid.grid_code}）" if dedicated else "",
                "filed_with": f"{SAMPLE_MARK}街道综治中心" if dedicated else "",
            }
        )
    for grid in g.itertuples(index=False):
        staff_id, name, phone = heads[grid.community_code]
        rows.append(
            {
                "staff_id": staff_id,
                "name": name,
                "position": "grid_head",
                "position_zh": "网格长",
                "role": "head",
                "grid_code": grid.grid_code,
                "community_code": grid.community_code,
                "phone": phone,
                "unit": "",
                "filed_with": "",
            }
        )
    staff = pd.DataFrame(rows)
    staff["is_sample"] = True
    log.info(
        "sample staff: %d grid workers and %d grid heads for %d grids (seed %d)",
        len(workers),
        len(heads),
        len(g),
        seed,
    )
    return staff


def sample_departments() -> pd.DataFrame:
    """A small sample matter list: incident category → responsible department.

    Returns
    -------
    pandas.DataFrame
        ``category`` (e.g. 环境卫生), ``category_code``, ``department`` (示例区…),
        ``department_code``, ``deadline_days``, ``complex_deadline_days`` (working days,
        the Yongzhou regulation), ``phone`` (``100-0000-9xxx``), ``is_sample`` (always True).
    """
    rows = [
        {
            "category": cat,
            "category_code": code,
            "department": dept,
            "department_code": f"SAMPLE-D{i:02d}",
            "deadline_days": days,
            "complex_deadline_days": complex_days,
            "phone": _phone(9900 + i, limit=9999),
            "is_sample": True,
        }
        for i, (cat, code, dept, days, complex_days) in enumerate(_DEPARTMENTS, start=1)
    ]
    log.info("sample departments: %d categories", len(rows))
    return pd.DataFrame(rows)


def _points_in(polygons: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``counts[i]`` uniform random points inside ``polygons[i]`` (rejection sampling)."""
    out = []
    for poly, k in zip(polygons, counts, strict=True):
        if k == 0:
            continue
        xmin, ymin, xmax, ymax = poly.bounds
        got: list[np.ndarray] = []
        have = 0
        while have < k:
            xy = rng.uniform((xmin, ymin), (xmax, ymax), size=(max(16, 4 * (k - have)), 2))
            xy = xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])]
            got.append(xy)
            have += len(xy)
        out.append(np.concatenate(got)[:k])
    return np.concatenate(out) if out else np.empty((0, 2))


def sample_incidents(
    communities: gpd.GeoDataFrame,
    n: int,
    *,
    seed: int = 0,
    start: str = DEFAULT_START,
    days: int = 28,
) -> gpd.GeoDataFrame:
    """Sample incidents: points inside the communities with a category and report time.

    Communities are drawn in proportion to their ``households`` when the field exists
    (else to their area); the point is uniform inside the drawn community.

    Parameters
    ----------
    communities
        Community polygons with ``code`` (and optionally ``name``, ``households``).
    n
        Number of incidents.
    seed
        Seed of the random choices; the same seed gives the same incidents.
    start, days
        Reports fall on ``days`` days from ``start`` (local time, UTC+8), mostly 07–21 h.

    Returns
    -------
    geopandas.GeoDataFrame
        ``incident_id`` (SAMPLE-INC-…), ``category``, ``category_code``, ``community_code``,
        ``reported_at`` (tz-aware), ``reporter``, ``description`` (starts with 【示例】),
        ``is_sample``, point geometry in the communities' CRS.
    """
    _require(communities, ["code"], "communities")
    if n < 0:
        raise InputError(_("n must be ≥ 0"), [Problem(f"n = {n}", field="n", rule="sample.n")])
    if communities.crs is None:
        raise InputError(
            _("communities have no CRS"),
            [Problem(_("no CRS"), layer="communities", rule="crs.missing")],
        )
    rng = np.random.default_rng(seed)
    comm = communities.sort_values("code", kind="stable").reset_index(drop=True)
    if "households" in comm.columns and comm["households"].fillna(0).sum() > 0:
        weights = comm["households"].fillna(0).to_numpy(dtype=float)
    else:
        weights = comm.to_crs(_metric(comm, "communities").crs).area.to_numpy()
    picks = rng.choice(len(comm), size=n, p=weights / weights.sum())
    counts = np.bincount(picks, minlength=len(comm))
    xy = _points_in(comm.geometry.to_numpy(), counts, rng)
    comm_idx = np.repeat(np.arange(len(comm)), counts)
    cats = rng.choice(len(_DEPARTMENTS), size=n, p=_CATEGORY_WEIGHTS / _CATEGORY_WEIGHTS.sum())
    day = rng.integers(0, days, size=n)
    minute = np.clip(rng.normal(14 * 60, 3.5 * 60, size=n), 7 * 60, 21 * 60 + 59).astype(int)
    t0 = pd.Timestamp(start, tz=TIMEZONE)
    reported = t0 + pd.to_timedelta(day, unit="D") + pd.to_timedelta(minute, unit="min")
    reported = reported + pd.to_timedelta(rng.integers(0, 60, size=n), unit="s")
    names = comm["name"].astype(str) if "name" in comm.columns else comm["code"].astype(str)
    text_pick = rng.random(n)
    desc = []
    for c, ci, r in zip(cats, comm_idx, text_pick, strict=True):
        choices = _INCIDENT_TEXT[_DEPARTMENTS[c][1]]
        desc.append(f"{DESCRIPTION_MARK}{names.iloc[ci]}：{choices[int(r * len(choices))]}")
    inc = gpd.GeoDataFrame(
        {
            "category": [_DEPARTMENTS[c][0] for c in cats],
            "category_code": [_DEPARTMENTS[c][1] for c in cats],
            "community_code": comm["code"].astype(str).to_numpy()[comm_idx],
            "reported_at": reported,
            "reporter": f"{SAMPLE_MARK}居民",
            "description": desc,
            "is_sample": True,
        },
        geometry=shapely.points(xy) if n else shapely.points(np.empty((0, 2))),
        crs=comm.crs,
    )
    inc = inc.sort_values("reported_at", kind="stable").reset_index(drop=True)
    inc.insert(0, "incident_id", [f"SAMPLE-INC-{i:05d}" for i in range(1, len(inc) + 1)])
    log.info("sample incidents: %d in %d communities (seed %d)", len(inc), len(comm), seed)
    return inc


def _one_track(poly, rng: np.random.Generator, interval_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (n, 2) and seconds since midnight of one worker's patrol day."""
    if poly.geom_type == "MultiPolygon":
        poly = max(poly.geoms, key=lambda p: p.area)
    inner = poly.buffer(-6.0)
    if inner.is_empty:
        inner = poly
    if inner.geom_type == "MultiPolygon":
        inner = max(inner.geoms, key=lambda p: p.area)
    ring = inner.exterior
    length = ring.length
    short_day = rng.random() < 0.2
    if short_day:
        sessions = [(rng.uniform(8.0, 10.0), rng.uniform(0.5, 1.8))]
    elif rng.random() < 0.5:
        total = rng.uniform(2.2, 4.0)
        first = total * rng.uniform(0.4, 0.6)
        sessions = [(rng.uniform(8.0, 9.5), first), (rng.uniform(14.0, 15.5), total - first)]
    else:
        sessions = [(rng.uniform(8.0, 10.0), rng.uniform(2.2, 4.0))]
    excursion_session = int(rng.integers(0, len(sessions))) if rng.random() < 0.35 else -1
    all_xy, all_t = [], []
    s = rng.uniform(0, length)
    for k, (hour, dur) in enumerate(sessions):
        n = max(2, int(dur * 3600 / interval_s))
        t = round(float(hour) * 3600) + np.arange(n) * interval_s
        # walk (speed > 0) or stop (speed 0) in alternating spells of a few minutes
        speed = np.empty(n)
        i = 0
        walking = True
        while i < n:
            spell = int(rng.uniform(5, 20) * 60 / interval_s) if walking else 0
            spell = spell or max(1, int(rng.uniform(2, 10) * 60 / interval_s))
            speed[i : i + spell] = rng.uniform(0.9, 1.4) if walking else 0.0
            i += spell
            walking = not walking
        excursion = k == excursion_session and n > 10
        if excursion:
            # leave the grid: walk out 80–300 m beyond the boundary, stay, come back
            a = int(rng.integers(1, n // 2))
            m = min(n - a - 1, max(4, int(rng.uniform(10, 40) * 60 / interval_s)))
            speed[a : a + m] = 0.0  # progress along the boundary pauses meanwhile
        dist = s + np.concatenate([[0.0], np.cumsum(speed[:-1] * interval_s)])
        s = dist[-1]
        xy = shapely.get_coordinates(shapely.line_interpolate_point(ring, dist % length))
        if excursion:
            centre = np.array(inner.centroid.coords[0])
            out_dir = xy[a] - centre
            out_dir = out_dir / (np.linalg.norm(out_dir) or 1.0)
            target = xy[a] + out_dir * rng.uniform(80, 300)
            frac = np.minimum(1.0, np.minimum(np.arange(m), m - 1 - np.arange(m)) / max(1, m // 4))
            xy[a : a + m] = xy[a] + np.outer(frac, target - xy[a])
        xy = xy + rng.normal(0, 4.0, size=xy.shape)  # GPS noise
        all_xy.append(xy)
        all_t.append(t)
    return np.concatenate(all_xy), np.concatenate(all_t)


def sample_tracks(
    grids: gpd.GeoDataFrame,
    staff: pd.DataFrame,
    *,
    days: int,
    seed: int = 0,
    start: str = DEFAULT_START,
    interval_s: int = 60,
) -> gpd.GeoDataFrame:
    """Sample GPS patrol tracks: one track per grid worker and day, as timestamped points.

    A worker walks along the inside of their own grid's boundary (grids are bounded by
    road centrelines) with stops, at 0.9–1.4 m/s, with 4 m GPS noise. About a fifth of the
    days last under 2 hours; on about a third one spell goes 80–300 m outside the grid.

    Parameters
    ----------
    grids
        Grids with ``grid_code`` and polygon geometry.
    staff
        Output of :func:`sample_staff`; rows with ``position == "grid_worker"`` patrol.
    days
        Number of days from ``start``.
    seed
        Seed; the same seed gives the same tracks (each track has its own stream, so a
        track does not change when other workers are added).
    start
        First day (local time, UTC+8).
    interval_s
        Seconds between fixes.

    Returns
    -------
    geopandas.GeoDataFrame
        ``track_id``, ``staff_id``, ``name``, ``grid_code``, ``day``, ``seq``, ``time``
        (tz-aware), ``is_sample``, point geometry in the grids' CRS (projected first if
        the grids are geographic, then back).
    """
    _require(grids, ["grid_code"], "grids")
    _require(staff, ["staff_id", "name", "position", "grid_code"], "staff")
    if days < 1 or interval_s < 1:
        raise InputError(
            _("days and interval_s must be ≥ 1"),
            [
                Problem(
                    _("days={days}, interval_s={interval_s}").format(
                        days=days, interval_s=interval_s
                    ),
                    rule="sample.range",
                )
            ],
        )
    metric = _metric(grids, "grids")
    by_code = dict(zip(metric["grid_code"].astype(str), metric.geometry, strict=True))
    workers = staff[staff["position"] == "grid_worker"].sort_values("staff_id", kind="stable")
    unknown = sorted(set(workers["grid_code"].astype(str)) - set(by_code))
    if unknown:
        raise InputError(
            _("{n} staff grid codes are not among the grids").format(n=len(unknown)),
            [
                Problem(
                    _("grid {c} not found").format(c=c),
                    layer="staff",
                    field="grid_code",
                    rule="sample.grid",
                )
                for c in unknown
            ],
        )
    t0 = pd.Timestamp(start, tz=TIMEZONE)
    # one frame at the end: a small DataFrame per track cost ~5 ms each (2,000 in the demo)
    keys: list[tuple[str, str, str, str, str]] = []
    sizes, day_of, all_xy, all_secs = [], [], [], []
    for w in workers.itertuples(index=False):
        stream = zlib.crc32(str(w.staff_id).encode())  # per worker, independent of the others
        poly = by_code[str(w.grid_code)]
        for d in range(days):
            rng = np.random.default_rng([seed, stream, d])
            day0 = t0 + pd.Timedelta(days=d)
            xy, secs = _one_track(poly, rng, interval_s)
            label = day0.strftime("%Y%m%d")
            track_id = f"SAMPLE-TRK-{w.staff_id.removeprefix('SAMPLE-')}-{label}"
            keys.append((track_id, w.staff_id, w.name, str(w.grid_code), day0.strftime("%Y-%m-%d")))
            sizes.append(len(secs))
            day_of.append(d)
            all_xy.append(xy)
            all_secs.append(secs)
    if keys:
        sizes_a = np.asarray(sizes)
        xy = np.concatenate(all_xy)
        names = ("track_id", "staff_id", "name", "grid_code", "day")
        cols = dict(zip(names, zip(*keys, strict=True), strict=True))
        df = pd.DataFrame(
            {name: np.repeat(np.asarray(v, dtype=object), sizes_a) for name, v in cols.items()}
            | {
                "seq": np.concatenate([np.arange(n) for n in sizes]),
                "time": t0
                + pd.to_timedelta(np.repeat(np.asarray(day_of, dtype=np.int64), sizes_a), unit="D")
                + pd.to_timedelta(np.concatenate(all_secs), unit="s"),
                "x": xy[:, 0],
                "y": xy[:, 1],
            }
        )
    else:
        df = pd.DataFrame()
    tracks = gpd.GeoDataFrame(
        df.drop(columns=["x", "y"]).assign(is_sample=True),
        geometry=gpd.points_from_xy(df["x"], df["y"]),
        crs=metric.crs,
    ).to_crs(grids.crs)
    log.info(
        "sample tracks: %d tracks, %d points for %d workers over %d days (seed %d)",
        len(keys),
        len(tracks),
        len(workers),
        days,
        seed,
    )
    return tracks


@dataclass(frozen=True)
class SampleFiles:
    """One written sample data set: its number of rows (points for tracks) and files."""

    rows: int
    paths: list[Path]
    skipped: bool = False


_TRACK_COLUMNS = ("track_id", "staff_id", "grid_code", "seq", "time", "is_sample")


def _check_name(path: Path) -> None:
    if "sample" not in path.name.lower():
        raise InputError(
            _("sample data must go to a file whose name contains 'sample': {path}").format(
                path=path
            ),
            [Problem(_("name lacks 'sample'"), file=str(path), rule="sample.file_name")],
        )


def _write_gpx(tracks: gpd.GeoDataFrame, path: Path) -> None:
    ns = "http://www.topografix.com/GPX/1/1"
    ET.register_namespace("", ns)
    root = ET.Element(f"{{{ns}}}gpx", version="1.1", creator="gridgeo.demo.sample")
    meta = ET.SubElement(root, f"{{{ns}}}metadata")
    ET.SubElement(meta, f"{{{ns}}}name").text = "SAMPLE DATA 示例数据"
    ET.SubElement(
        meta, f"{{{ns}}}desc"
    ).text = "SAMPLE DATA generated by gridgeo.demo.sample: not real people or movements."
    wgs = tracks.to_crs(4326)
    lon, lat = wgs.geometry.x.to_numpy(), wgs.geometry.y.to_numpy()
    utc = wgs["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    utc = np.char.add(np.datetime_as_string(utc.astype("datetime64[s]"), unit="s"), "Z")
    for track_id, idx in wgs.groupby("track_id", sort=True).indices.items():
        first = wgs.iloc[idx[0]]
        trk = ET.SubElement(root, f"{{{ns}}}trk")
        ET.SubElement(trk, f"{{{ns}}}name").text = track_id
        ET.SubElement(
            trk, f"{{{ns}}}desc"
        ).text = f"{SAMPLE_MARK} staff={first['staff_id']} grid={first['grid_code']}"
        seg = ET.SubElement(trk, f"{{{ns}}}trkseg")
        for i in idx:
            pt = ET.SubElement(seg, f"{{{ns}}}trkpt", lat=f"{lat[i]:.7f}", lon=f"{lon[i]:.7f}")
            ET.SubElement(pt, f"{{{ns}}}time").text = utc[i]
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _iso(times: pd.Series) -> pd.Series:
    """ISO 8601 with the UTC offset as ``+08:00`` (vectorised ``Timestamp.isoformat``)."""
    local = times.dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    utc = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    offset_min = (local - utc).astype("int64") // 60
    sign = np.where(offset_min < 0, "-", "+")
    hh, mm = np.abs(offset_min) // 60, np.abs(offset_min) % 60
    suffix = np.char.add(
        np.char.add(sign, np.char.zfill(hh.astype(str), 2)),
        np.char.add(":", np.char.zfill(mm.astype(str), 2)),
    )
    text = np.char.add(np.datetime_as_string(local, unit="s").astype(str), suffix)
    return pd.Series(text, index=times.index, dtype=object)


def _write_geojson_lines(wgs: gpd.GeoDataFrame, path: Path) -> None:
    lon, lat = wgs.geometry.x.round(7).to_numpy(), wgs.geometry.y.round(7).to_numpy()
    times = _iso(wgs["time"]).to_numpy()
    features = []
    for track_id, idx in wgs.groupby("track_id", sort=True).indices.items():
        first = wgs.iloc[idx[0]]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "track_id": track_id,
                    "staff_id": first["staff_id"],
                    "grid_code": first["grid_code"],
                    "is_sample": True,
                    "coordTimes": times[idx].tolist(),
                },
                "geometry": {
                    "type": "LineString",
                    "coordinates": np.column_stack([lon[idx], lat[idx]]).tolist(),
                },
            }
        )
    doc = {
        "type": "FeatureCollection",
        "name": "SAMPLE DATA 示例数据",
        "features": features,
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def write_tracks(
    tracks: gpd.GeoDataFrame,
    directory: Path,
    *,
    stem: str = "sample_tracks",
    formats: Iterable[str] = ("csv", "gpx", "geojson"),
    geojson_layout: str = "lines",
) -> list[Path]:
    """Write sample tracks as CSV (lon/lat, WGS 84), GPX 1.1 and/or GeoJSON (RFC 7946).

    Parameters
    ----------
    tracks
        Output of :func:`sample_tracks`.
    directory
        Output folder (created).
    stem
        File name without suffix; must contain ``sample``.
    formats
        Any of ``csv``, ``gpx``, ``geojson``.
    geojson_layout
        ``lines`` (default): one LineString feature per track whose ``coordTimes``
        property lists the time of each vertex (the convention of GPX→GeoJSON converters
        such as togeojson; about 1/20 of the size); ``points``: one Point feature per fix.

    Returns
    -------
    list of Path
        The files written (each written to a temporary name, then renamed).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    formats = list(formats)
    if geojson_layout not in {"lines", "points"}:
        raise InputError(
            _("unknown GeoJSON layout {geojson_layout!r}").format(geojson_layout=geojson_layout),
            [
                Problem(
                    _("expected 'lines' or 'points'"), field="geojson_layout", rule="sample.format"
                )
            ],
        )
    for fmt in formats:
        if fmt not in {"csv", "gpx", "geojson"}:
            raise InputError(
                _("unknown track format {fmt!r}").format(fmt=fmt),
                [
                    Problem(
                        _("format {fmt!r}").format(fmt=fmt), field="formats", rule="sample.format"
                    )
                ],
            )
        _check_name(directory / f"{stem}.{fmt}")
    wgs = tracks.to_crs(4326)
    # one row per fix; names and days are in the staff table / derivable from time
    slim = pd.DataFrame(wgs[[c for c in _TRACK_COLUMNS if c in wgs.columns]])
    wrote = []
    for fmt in formats:
        path = directory / f"{stem}.{fmt}"
        with atomic_path(path, create=False) as tmp:
            if fmt == "csv":
                df = slim.assign(
                    time=_iso(slim["time"]),
                    lon=wgs.geometry.x.round(7),
                    lat=wgs.geometry.y.round(7),
                )
                df.to_csv(tmp, index=False)
            elif fmt == "gpx":
                _write_gpx(wgs, tmp)
            elif geojson_layout == "points":
                pyogrio.write_dataframe(
                    gpd.GeoDataFrame(slim, geometry=wgs.geometry.to_numpy(), crs=wgs.crs),
                    tmp,
                    driver="GeoJSON",
                    layer_options={"COORDINATE_PRECISION": 7, "RFC7946": "YES"},
                )
            else:
                _write_geojson_lines(wgs, tmp)
        wrote.append(path)
    log.info("wrote %d sample track files (%d points) to %s", len(wrote), len(tracks), directory)
    return wrote


def _write_table(df: pd.DataFrame, path: Path) -> Path:
    _check_name(path)
    if isinstance(df, gpd.GeoDataFrame):
        return write_layers(path, {path.stem: df})  # atomic; GeoJSON as RFC 7946
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path


def _fingerprint(
    communities: gpd.GeoDataFrame, grids: gpd.GeoDataFrame | None, params: dict
) -> str:
    """Hash of everything the sample files depend on: inputs, options and this module."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    digest.update(Path(__file__).read_bytes())
    for gdf, cols in (
        (communities, ["code", "name", "households"]),
        (grids, ["grid_code", "community_code"]),
    ):
        if gdf is None:
            digest.update(b"<none>")
            continue
        table = pd.DataFrame(gdf[[c for c in cols if c in gdf.columns]]).astype(str)
        digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
        digest.update(b"".join(shapely.to_wkb(gdf.geometry.to_numpy())))
        digest.update(str(gdf.crs).encode())
    return digest.hexdigest()


def _read_manifest(path: Path, fingerprint: str) -> dict[str, SampleFiles] | None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("fingerprint") != fingerprint:
        return None
    out = {}
    for name, entry in manifest.get("datasets", {}).items():
        paths = [path.parent / f for f in entry["files"]]
        if not all(p.is_file() for p in paths):
            return None
        out[name] = SampleFiles(int(entry["rows"]), paths, skipped=True)
    return out or None


def write_samples(
    directory: Path,
    communities: gpd.GeoDataFrame,
    *,
    grids: gpd.GeoDataFrame | None = None,
    prefix: str = "daan",
    seed: int = 0,
    n_incidents: int = 200,
    days: int = 3,
    start: str = DEFAULT_START,
    force: bool = False,
) -> dict[str, SampleFiles]:
    """Generate and write every sample data set of a demo district.

    Writes ``{prefix}_sample_departments.csv`` and ``{prefix}_sample_incidents.gpkg``
    (+ ``.geojson``); with ``grids`` also ``{prefix}_sample_staff.csv`` and
    ``{prefix}_sample_tracks.{csv,gpx,geojson}``; last ``{prefix}_sample_manifest.json``.
    When the manifest shows the same inputs, options and generator, nothing is
    regenerated (unless ``force``).

    Parameters
    ----------
    directory
        Output folder, e.g. ``data/build/sample``.
    communities
        Community polygons (``code``, ``name``, ``households``).
    grids
        Grid polygons (``grid_code``, ``community_code``); without them no staff or tracks.
    prefix, seed, n_incidents, days, start
        File-name prefix and generator options.
    force
        Regenerate even if the manifest matches.

    Returns
    -------
    dict
        Data set name (``departments``, ``incidents``, ``staff``, ``tracks``) →
        :class:`SampleFiles` (rows generated, files written, whether reused).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / f"{prefix}_sample_manifest.json"
    params = {"prefix": prefix, "seed": seed, "n_incidents": n_incidents, "days": days}
    params["start"] = start
    fingerprint = _fingerprint(communities, grids, params)
    if not force and (reused := _read_manifest(manifest, fingerprint)) is not None:
        log.info("sample data in %s is up to date (%d data sets)", directory, len(reused))
        return reused
    manifest.unlink(missing_ok=True)
    out: dict[str, SampleFiles] = {}
    departments = sample_departments()
    out["departments"] = SampleFiles(
        len(departments),
        [_write_table(departments, directory / f"{prefix}_sample_departments.csv")],
    )
    inc = sample_incidents(communities, n_incidents, seed=seed, start=start)
    out["incidents"] = SampleFiles(
        len(inc),
        [
            _write_table(inc, directory / f"{prefix}_sample_incidents.gpkg"),
            _write_table(inc, directory / f"{prefix}_sample_incidents.geojson"),
        ],
    )
    if grids is not None:
        staff = sample_staff(grids, seed=seed)
        out["staff"] = SampleFiles(
            len(staff), [_write_table(staff, directory / f"{prefix}_sample_staff.csv")]
        )
        tracks = sample_tracks(grids, staff, days=days, seed=seed, start=start)
        out["tracks"] = SampleFiles(
            len(tracks), write_tracks(tracks, directory, stem=f"{prefix}_sample_tracks")
        )
    doc = {
        "note": "SAMPLE DATA generated by gridgeo.demo.sample: not real people, phones or events",
        "fingerprint": fingerprint,
        "params": params,
        "datasets": {
            k: {"rows": v.rows, "files": [p.name for p in v.paths]} for k, v in out.items()
        },
    }
    write_text_atomic(manifest, json.dumps(doc, ensure_ascii=False, indent=1))
    log.info("wrote %d sample data sets to %s", len(out), directory)
    return out
