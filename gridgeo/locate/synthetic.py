"""Generated grid tilings with shared borders, for tests and benchmarks (seeded)."""

from __future__ import annotations

import numpy as np
import shapely


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
    (their union) with a 12-digit code ``county + street (001) + 3-digit sequence``.

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
    comm_codes = np.array([f"{county}001{n:03d}" for n in comm_no], dtype=object)
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
