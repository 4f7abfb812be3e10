"""Test helpers in one place: generated districts, tilings and partition checks.

Used by the tests, the benchmarks and the notebooks, and by :mod:`gridgeo.warmup`
(its tiny district); nothing else in the library imports this module. All generators are seeded (same seed, same data).

* Partition inputs: :func:`district`, :func:`tiled_district`, :func:`street_grid`,
  :func:`dual_carriageway_city` (in
  :data:`CRS`, CGCS2000 / 3° GK CM 114°E, metres).
* Checks of a finished partition: :func:`seam_problems`, :func:`contiguity_problems`,
  :func:`code_problems`, :func:`household_problems` (rules 1 and 5; sizes are judged
  with the violations layer).
* Grid tilings for locate: :func:`jittered_tiling`, :func:`sample_points`,
  :func:`synthetic_district`, :func:`tiling_snapshot` (a locate snapshot without a database).
* A filled registry: :func:`seed_registry` (needs a database; imports the registry
  only when called).
"""

from __future__ import annotations

import logging
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, box

log = logging.getLogger(__name__)


# -- partition inputs --------------------------------------------------------------------

CRS = "EPSG:4547"  # CGCS2000 / 3-degree GK CM 114E: metres


def street_grid(x0: float, y0: float, size: float, step: float) -> list[LineString]:
    lines = []
    for k in np.arange(step, size, step):
        lines.append(LineString([(x0 + k, y0 - 20), (x0 + k, y0 + size + 20)]))
        lines.append(LineString([(x0 - 20, y0 + k), (x0 + size + 20, y0 + k)]))
    return lines


def district(
    *,
    seed: int = 0,
    n_households: int = 3000,
    size: float = 1000.0,
    step: float = 100.0,
    code: str = "430102001001",
    name: str = "东风社区",
    per_point: int = 10,
):
    """One square community with a street grid and ``n_households`` in points of ``per_point``.

    Returns ``(communities, roads, households)`` GeoDataFrames in EPSG:4547 (metres);
    household points are kept 3 m off the streets. Everything random comes from ``seed``.
    """
    rng = np.random.default_rng(seed)
    x0, y0 = 500000.0, 3000000.0
    comm = gpd.GeoDataFrame(
        {"code": [code], "name": [name]}, geometry=[box(x0, y0, x0 + size, y0 + size)], crs=CRS
    )
    roads = gpd.GeoDataFrame(geometry=street_grid(x0, y0, size, step), crs=CRS)
    n_pts = n_households // per_point
    xy = rng.uniform([x0 + 3, y0 + 3], [x0 + size - 3, y0 + size - 3], size=(n_pts, 2))
    # keep points off the streets
    off = (np.abs((xy - [x0, y0]) % step) > 3).all(axis=1)
    xy = xy[off]
    hh = gpd.GeoDataFrame(
        {"households": np.full(len(xy), per_point), "population": np.full(len(xy), per_point * 3)},
        geometry=shapely.points(xy),
        crs=CRS,
    )
    return comm, roads, hh


def tiled_district(nx: int = 2, ny: int = 2, *, seed: int = 0, size: float = 600.0, **kwargs):
    """``nx × ny`` adjacent square communities (codes ``430102001001``…), each from :func:`district`."""
    comms, roads, hhs = [], [], []
    k = 0
    for i in range(nx):
        for j in range(ny):
            k += 1
            c, r, h = district(
                seed=seed + k, size=size, code=f"430102001{k:03d}", name=f"社区{k}", **kwargs
            )
            dx, dy = i * size, j * size
            for gdf, out in ((c, comms), (r, roads), (h, hhs)):
                g = gdf.copy()
                g["geometry"] = g.geometry.translate(dx, dy)
                out.append(g)
    cat = lambda parts: gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=CRS)  # noqa: E731
    return cat(comms), cat(roads), cat(hhs)


def _carriageway(fixed: float, lo: float, hi: float, *, vertical: bool, rng, step: float = 25.0):
    """One slightly wavy road line at ``fixed`` (x if ``vertical`` else y) from ``lo`` to ``hi``."""
    t = np.append(np.arange(lo, hi, step), hi)
    off = fixed + np.clip(rng.normal(0, 0.15, len(t)), -0.3, 0.3)
    return LineString(np.column_stack([off, t] if vertical else [t, off]))


def dual_carriageway_city(
    nx: int = 5,
    ny: int = 3,
    *,
    size: float = 900.0,
    avenue_step: float = 150.0,
    n_households: int = 71_000,
    per_point: int = 10,
    seed: int = 0,
):
    """``nx × ny`` square communities crossed by dual carriageways: many thin medians.

    Every ``avenue_step`` metres in both directions an avenue runs as two parallel,
    slightly wavy carriageways 6–16 m apart, so the faces include a thin median strip
    along every avenue segment and a small square where two avenues cross. Between the
    avenues, local streets stop 0.3–1.8 m short of the carriageways (dangles to connect).
    The roads carry what OpenStreetMap gives a divided road: both carriageways of an avenue
    ``oneway="yes"``, one ``name``, ``highway="primary"``, drawn in opposite directions;
    the local streets ``oneway="no"``, ``highway="residential"`` and names of their own.
    Household points (``per_point`` households on average) are kept 3 m off every road
    and out of the medians.
    The defaults give a 15-community city of about 71,000 households and thousands of
    road segments; everything random comes from ``seed``.

    Returns
    -------
    tuple of geopandas.GeoDataFrame
        ``(communities, roads, households)`` in :data:`CRS` (metres).
    """
    rng = np.random.default_rng(seed)
    x0, y0 = 500000.0, 3000000.0
    w, h = nx * size, ny * size
    comms = [
        box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
        for j in range(ny)
        for i in range(nx)
    ]
    codes = [f"430102001{k + 1:03d}" for k in range(len(comms))]
    comm = gpd.GeoDataFrame(
        {"code": codes, "name": [f"社区{k + 1}" for k in range(len(comms))]},
        geometry=comms,
        crs=CRS,
    )
    xs = np.arange(avenue_step / 2, w, avenue_step)
    ys = np.arange(avenue_step / 2, h, avenue_step)
    gx, gy = rng.uniform(6, 16, len(xs)) / 2, rng.uniform(6, 16, len(ys)) / 2
    lines, attrs = [], []
    # as OpenStreetMap draws a divided road: two one-way ways, one name, opposite directions
    for k, (x, g) in enumerate(zip(xs, gx, strict=True)):
        for s in (-g, g):
            c = _carriageway(x0 + x + s, y0 - 20, y0 + h + 20, vertical=True, rng=rng)
            lines.append(c if s < 0 else c.reverse())
            attrs.append((f"经{k + 1}路", "primary", "yes"))
    for k, (y, g) in enumerate(zip(ys, gy, strict=True)):
        for s in (-g, g):
            c = _carriageway(y0 + y + s, x0 - 20, x0 + w + 20, vertical=False, rng=rng)
            lines.append(c if s > 0 else c.reverse())
            attrs.append((f"纬{k + 1}路", "primary", "yes"))
    # local streets across each avenue cell, stopping just short of the carriageways
    for i in range(len(xs) - 1):
        for j in range(len(ys) - 1):
            short = rng.uniform(0.3, 1.8, 4)
            mid_y = y0 + (ys[j] + ys[j + 1]) / 2 + rng.uniform(-20, 20)
            a, b = x0 + xs[i] + gx[i] + short[0], x0 + xs[i + 1] - gx[i + 1] - short[1]
            lines.append(LineString([(a, mid_y), (b, mid_y)]))
            attrs.append((f"{i + 1}-{j + 1}横街", "residential", "no"))
            if rng.uniform() < 0.5:
                mid_x = x0 + (xs[i] + xs[i + 1]) / 2 + rng.uniform(-20, 20)
                a, b = y0 + ys[j] + gy[j] + short[2], y0 + ys[j + 1] - gy[j + 1] - short[3]
                lines.append(LineString([(mid_x, a), (mid_x, b)]))
                attrs.append((f"{i + 1}-{j + 1}纵街", "residential", "no"))
    name, highway, oneway = (list(c) for c in zip(*attrs, strict=True))
    roads = gpd.GeoDataFrame(
        {"name": name, "highway": highway, "oneway": oneway}, geometry=lines, crs=CRS
    )
    n_pts = int(n_households / per_point * 1.5)
    xy = rng.uniform([x0 + 3, y0 + 3], [x0 + w - 3, y0 + h - 3], size=(n_pts, 2))
    tree = shapely.STRtree(np.asarray(lines, dtype=object))
    near = np.unique(tree.query(shapely.points(xy), predicate="dwithin", distance=3.0)[0])
    # nobody lives on the median between two carriageways
    in_median = np.zeros(len(xy), dtype=bool)
    for x, g in zip(xs, gx, strict=True):
        in_median |= np.abs(xy[:, 0] - (x0 + x)) < g + 0.3
    for y, g in zip(ys, gy, strict=True):
        in_median |= np.abs(xy[:, 1] - (y0 + y)) < g + 0.3
    xy = np.delete(xy, np.union1d(near, np.flatnonzero(in_median)), axis=0)
    xy = xy[: int(n_households / per_point)]
    hh = rng.integers(1, 2 * per_point, len(xy))
    hh = gpd.GeoDataFrame(
        {"households": hh, "population": hh * 3}, geometry=shapely.points(xy), crs=CRS
    )
    return comm, roads, hh


# -- checks of a finished partition ------------------------------------------------------


def huangpu_core(n_points: int = 6000, *, seed: int = 0):
    """Real OpenStreetMap roads of Huangpu's core with generated households, one "community".

    The shipped road extract (dual carriageways, elevated and slip roads, clipped edges) in
    EPSG:4528; the community is the roads' bounding box shrunk by 100 m; ``n_points`` household
    points with 1–11 households each, uniform over it (from ``seed``). Mainland open data has no
    community polygons or geocoded households, so this is the quality case for real roads.

    Returns
    -------
    tuple
        ``(communities, roads, households)`` GeoDataFrames, then a dict of extra
        :func:`gridgeo.partition.partition` arguments (none).
    """
    from gridgeo.demo.build import raw_file

    roads = gpd.read_file(raw_file("huangpu/shanghai_huangpu_core_roads_osm.gpkg"), layer="roads")
    roads = roads.to_crs("EPSG:4528")
    area = shapely.box(*roads.total_bounds).buffer(-100)
    comm = gpd.GeoDataFrame(
        {"code": ["310101002001"], "name": ["南京东路"]}, geometry=[area], crs=roads.crs
    )
    rng = np.random.default_rng(seed)
    xy = rng.uniform(area.bounds[:2], area.bounds[2:], size=(n_points, 2))
    hh = gpd.GeoDataFrame(
        {"households": rng.integers(1, 12, len(xy))}, geometry=shapely.points(xy), crs=roads.crs
    )
    return (comm, roads, hh), {}


def seam_problems(
    grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, *, tolerance_m2: float = 1.0
) -> list[str]:
    """Rule 1: per community, grids cover it without gaps or overlaps and never cross its border.

    Both layers must be in the same metric CRS.
    """
    out = []
    by = grids.groupby("community_code").groups
    for code, geom in zip(communities["code"].astype(str), communities.geometry, strict=True):
        idx = by.get(code)
        if idx is None:
            out.append(f"{code}: no grids")
            continue
        parts = grids.geometry.loc[idx].to_numpy()
        union = shapely.union_all(parts)
        gap = shapely.difference(geom, union).area
        outside = shapely.difference(union, geom).area
        overlap = float(shapely.area(parts).sum() - union.area)
        if gap > tolerance_m2:
            out.append(f"{code}: gap of {gap:.2f} m²")
        if outside > tolerance_m2:
            out.append(f"{code}: grids extend {outside:.2f} m² beyond the community")
        if overlap > tolerance_m2:
            out.append(f"{code}: grids overlap by {overlap:.2f} m²")
    return out


def contiguity_problems(grids: gpd.GeoDataFrame) -> list[str]:
    """Rule 1: every grid is one valid polygon."""
    out = []
    for code, g in zip(grids["grid_code"], grids.geometry, strict=True):
        if g is None or g.geom_type != "Polygon":
            out.append(f"{code}: geometry is {None if g is None else g.geom_type}, not one Polygon")
        elif not g.is_valid:
            out.append(f"{code}: invalid polygon ({shapely.is_valid_reason(g)})")
    return out


def code_problems(grids: gpd.GeoDataFrame, *, digits: int = 3) -> list[str]:
    """Rule 5: grid codes are the community code + a ``digits``-digit sequence, unique."""
    out = []
    codes = grids["grid_code"].astype(str)
    dup = codes[codes.duplicated()]
    out += [f"{c}: duplicate grid code" for c in dup]
    for code, comm in zip(codes, grids["community_code"].astype(str), strict=True):
        if not re.fullmatch(re.escape(comm) + rf"\d{{{digits}}}", code):
            out.append(f"{code}: not community code {comm} + {digits} digits")
    return out


def household_problems(
    grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame, *, weight: str = "households"
) -> list[str]:
    """Every household point counted once: the grids' totals equal the points' totals per grid."""
    pts = households.geometry.to_numpy()
    w = households[weight].to_numpy(float) if weight in households.columns else np.ones(len(pts))
    tree = shapely.STRtree(grids.geometry.to_numpy())
    pi, gi = tree.query(pts, predicate="intersects")
    first = np.unique(pi, return_index=True)[1]
    counted = np.bincount(gi[first], weights=w[pi[first]], minlength=len(grids))
    out = []
    for code, have, want in zip(grids["grid_code"], grids["households"], counted, strict=True):
        if abs(have - want) > 1e-6 and abs(have - want) > 0:
            out.append(f"{code}: households {have} but the points inside sum to {want:.0f}")
    return out


# -- tilings for locate ------------------------------------------------------------------


def jittered_tiling(
    nx: int,
    ny: int,
    *,
    size: float = 300.0,
    origin: tuple[float, float] = (300_000.0, 2_760_000.0),
    jitter: float = 0.25,
    seed: int = 0,
    vertices_per_edge: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """A seamless tiling of ``nx × ny`` quadrilateral grids with irregular shared borders.

    Vertices of a regular lattice are moved at random (by up to ``jitter × size``);
    each lattice edge gets ``vertices_per_edge`` extra zig-zag vertices, shared by the
    two grids on either side, so neighbours share borders exactly (same coordinates).
    Codes are ``G`` + 6 digits in row-major order.

    Parameters
    ----------
    nx, ny
        Grids per row and per column.
    size
        Lattice spacing (CRS units, metres).
    origin
        Lower-left corner of the lattice.
    jitter
        Largest vertex displacement as a share of ``size``.
    seed
        Seed of the random generator.
    vertices_per_edge
        Extra vertices per lattice edge.

    Returns
    -------
    codes, geoms
        Object arrays of str and shapely Polygons.
    """
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1))
    vx = origin[0] + gx * size + rng.uniform(-jitter, jitter, gx.shape) * size
    vy = origin[1] + gy * size + rng.uniform(-jitter, jitter, gy.shape) * size
    m = vertices_per_edge

    def edge(a: tuple[int, int], b: tuple[int, int]) -> np.ndarray:
        # deterministic per undirected edge: same points whichever way it is walked
        key = (min(a, b), max(a, b))
        erng = np.random.default_rng([seed, *key[0], *key[1]])
        p = np.array([vx[key[0][1], key[0][0]], vy[key[0][1], key[0][0]]])
        q = np.array([vx[key[1][1], key[1][0]], vy[key[1][1], key[1][0]]])
        t = np.sort(erng.uniform(0.1, 0.9, m))
        normal = np.array([-(q - p)[1], (q - p)[0]])
        off = erng.uniform(-0.08, 0.08, m)[:, None] * normal
        pts = p + t[:, None] * (q - p) + off
        pts = np.vstack([p, pts, q])
        return pts if key[0] == a else pts[::-1]

    codes, geoms = [], []
    for j in range(ny):
        for i in range(nx):
            corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
            ring = []
            for c in range(4):
                pts = edge(corners[c], corners[(c + 1) % 4])
                ring.append(pts[:-1])
            ring = np.vstack([*ring, ring[0][:1]])
            codes.append(f"G{j * nx + i:06d}")
            geoms.append(shapely.Polygon(ring))
    geoms_arr = np.asarray(geoms, dtype=object)
    bad = np.flatnonzero(~shapely.is_valid(geoms_arr))
    if bad.size:
        raise ValueError(
            f"{bad.size} generated grids self-intersect (first: {codes[bad[0]]}); "
            f"use a smaller jitter than {jitter}"
        )
    return np.asarray(codes, dtype=object), geoms_arr


def sample_points(
    codes: np.ndarray,
    geoms: np.ndarray,
    n: int,
    *,
    seed: int = 0,
    share_on_vertices: float = 0.05,
    share_on_edges: float = 0.05,
    margin: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Points over the grids' extent (plus ``margin`` outside) incl. exact vertices and edge points.

    A share of the points are grid vertices (on shared borders and corners, exactly),
    a share lie on edges (interpolated, so on the segment up to rounding), the rest
    are uniform over the extent enlarged by ``margin``.
    """
    rng = np.random.default_rng(seed)
    coords = shapely.get_coordinates(shapely.boundary(geoms))
    nv = int(n * share_on_vertices)
    ne = int(n * share_on_edges)
    nu = n - nv - ne
    v = coords[rng.integers(0, len(coords), nv)]
    rings = shapely.get_exterior_ring(shapely.get_geometry(geoms, 0))
    pick = rng.integers(0, len(rings), ne)
    e = shapely.get_coordinates(
        shapely.line_interpolate_point(rings[pick], rng.uniform(0, 1, ne), normalized=True)
    )
    b = shapely.total_bounds(geoms)
    w, h = b[2] - b[0], b[3] - b[1]
    ux = rng.uniform(b[0] - margin * w, b[2] + margin * w, nu)
    uy = rng.uniform(b[1] - margin * h, b[3] + margin * h, nu)
    x = np.concatenate([v[:, 0], e[:, 0], ux])
    y = np.concatenate([v[:, 1], e[:, 1], uy])
    perm = rng.permutation(n)
    return x[perm], y[perm]


def synthetic_district(
    nx: int,
    ny: int,
    *,
    block: tuple[int, int] = (4, 3),
    county: str = "110101",
    crs: str = "EPSG:3826",
    seed: int = 0,
    **tiling: object,
):
    """Communities and grids (GeoDataFrames) of a generated district, registry-ready.

    Grids come from :func:`jittered_tiling`; each ``block`` of grids forms a community
    (their union) with a 12-digit code ``county + street + sequence`` (sequence 001–199,
    residents' committees; street 001, then 002 from the 200th community).

    Returns
    -------
    communities, grids
        ``communities``: ``code``, ``name``, ``kind``; ``grids``: ``community_code``,
        ``grid_name``, ``grid_type``, ``households``, ``population`` — both in ``crs``.
    """
    import geopandas as gpd

    codes, geoms = jittered_tiling(nx, ny, seed=seed, **tiling)
    rng = np.random.default_rng(seed)
    col = np.arange(nx * ny) % nx // block[0]
    row = np.arange(nx * ny) // nx // block[1]
    ncol = (nx + block[0] - 1) // block[0]
    comm_no = row * ncol + col + 1
    # residents' committees are 001–199 within a street (profile code ranges): the 200th
    # community opens the next street
    comm_codes = np.array(
        [f"{county}{(n - 1) // 199 + 1:03d}{(n - 1) % 199 + 1:03d}" for n in comm_no], dtype=object
    )
    grids = gpd.GeoDataFrame(
        {
            "community_code": comm_codes,
            "grid_name": [f"第{i + 1}网格" for i in range(len(codes))],
            "grid_type": "urban",
            "households": rng.integers(300, 500, len(codes)),
            "population": rng.integers(700, 1400, len(codes)),
        },
        geometry=list(geoms),
        crs=crs,
    )
    uniq = sorted(set(comm_codes))
    communities = gpd.GeoDataFrame(
        {
            "code": uniq,
            "name": [f"示例社区{c[-3:]}" for c in uniq],
            "kind": "urban",
        },
        geometry=[shapely.union_all(geoms[comm_codes == c]) for c in uniq],
        crs=crs,
    )
    return communities, grids


def tiling_snapshot(
    codes: np.ndarray,
    geoms: np.ndarray,
    *,
    name: str = "网格{code}",
    srid: int = 3826,
    contact_rows: list[tuple] | tuple = (),
    department_rows: list[tuple] | tuple = (),
    coverage_rows: list[tuple] | tuple = (),
    category_rows: list[tuple] | tuple = (),
):
    """A locate :class:`~gridgeo.locate.snapshot.Snapshot` of a tiling (no database): one
    residential grid per code, its own community, valid from 2026-01-01, named
    ``name.format(code=…)``; the rows as :func:`~gridgeo.locate.snapshot.build_snapshot`
    takes them."""
    from gridgeo.locate.snapshot import build_snapshot

    grids = pd.DataFrame(
        {
            "grid_code": codes,
            "grid_name": [name.format(code=c) for c in codes],
            "grid_type": "residential",
            "community_code": codes,
            "community_name": codes,
            "valid_from": pd.Timestamp("2026-01-01"),
            "valid_to": pd.NaT,
        }
    )
    return build_snapshot(
        srid=srid,
        at=None,
        grids=grids,
        geoms=geoms,
        contact_rows=list(contact_rows),
        department_rows=list(department_rows),
        coverage_rows=list(coverage_rows),
        category_rows=list(category_rows),
    )


# -- a filled registry -------------------------------------------------------------------


def seed_registry(
    url: str,
    nx: int,
    ny: int,
    *,
    seed: int = 0,
    county: str = "110101",
    crs: str = "EPSG:3826",
    **tiling: object,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, int]:
    """Load and accept a generated district of ``nx × ny`` grids.

    Returns
    -------
    communities, grids, changeset_id
        The generated layers (grids without codes: the registry assigns them).
    """
    from gridgeo.registry import Principal, accept_changeset, file_changeset, load_grids
    from gridgeo.registry.bindings import bind_profile

    communities, grids = synthetic_district(nx, ny, seed=seed, county=county, crs=crs, **tiling)
    admin = Principal("gridgeo-synthetic", "admin")
    reviewer = Principal("gridgeo-synthetic reviewer", "admin")  # four eyes
    res = load_grids(
        url,
        grids,
        county=county,
        actor=admin,
        communities=communities,
        code_pattern=r"\d{12}",
        title="synthetic district",
        reason="test data",
    )
    bind_profile(url, county, "yongzhou", actor=admin, code_pattern=r"\d{12}", reason="test data")
    file_changeset(
        url, res.changeset_id, actor=admin, force=True, force_reason="synthetic test data"
    )
    accept_changeset(url, res.changeset_id, actor=reviewer, reason="test data")
    log.info("seeded the registry with %d synthetic grids", len(grids))
    return communities, grids, int(res.changeset_id)
