"""A worker's day as a PNG: the track in and out of the own grid over the grids, roads covered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely

from gridgeo.tracks.pipeline import GridSnapshot, Patrol

__all__ = ["plot_day"]

_CJK_FONTS = [
    "Noto Sans CJK SC",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "DejaVu Sans",
]


def _leg_lines(patrol: Patrol, mask: np.ndarray) -> np.ndarray:
    legs = patrol.legs
    a, f0, f1 = legs.fix[mask], legs.f0[mask], legs.f1[mask]
    x, y = patrol.x, patrol.y
    dx, dy = x[a + 1] - x[a], y[a + 1] - y[a]
    return np.stack(
        [
            np.column_stack([x[a] + f0 * dx, y[a] + f0 * dy]),
            np.column_stack([x[a] + f1 * dx, y[a] + f1 * dy]),
        ],
        axis=1,
    )


def plot_day(
    patrol: Patrol,
    grids: GridSnapshot,
    worker: str,
    out: str | Path,
    *,
    tolerance: float = 5.0,
    dpi: int = 150,
) -> Path:
    """Draw one worker's day and write it as a PNG.

    Parameters
    ----------
    patrol
        :func:`gridgeo.tracks.patrol_days` of that worker and day.
    grids
        The grids of that day (the snapshot the patrol was measured on).
    worker
        The worker shown (the title).
    out
        PNG path.
    tolerance
        Roads within this many metres of the track in the own grid count as covered.

    Returns
    -------
    pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    plt.rcParams["font.sans-serif"] = _CJK_FONTS
    plt.rcParams["axes.unicode_minus"] = False
    days = patrol.days[patrol.days["worker"] == str(worker)]
    row = days.iloc[0]
    own = set(filter(None, str(row["own_grids"]).split(",")))
    codes = grids.index.codes
    own_idx = np.array([i for i, c in enumerate(codes) if c in own], dtype=np.int64)
    in_own = np.isin(patrol.legs.grid, own_idx)
    mine = patrol.cleaned.points.worker[patrol.legs.fix] == str(worker)
    fig, ax = plt.subplots(figsize=(8, 8))
    for i, g in enumerate(grids.index.geoms):
        for poly in getattr(g, "geoms", [g]):
            xs, ys = poly.exterior.xy
            ax.fill(
                xs,
                ys,
                color="#dbe9f6" if i in own_idx else "#f2f2f2",
                ec="#4a6fa5" if i in own_idx else "#bbbbbb",
                lw=1.5 if i in own_idx else 0.6,
            )
    on = _leg_lines(patrol, mine & in_own)
    off = _leg_lines(patrol, mine & ~in_own)
    if grids.roads is not None:
        road = shapely.union_all(grids.roads)
        near = (
            shapely.union_all(shapely.buffer(shapely.linestrings(on), tolerance))
            if len(on)
            else shapely.Point()
        )
        for geom, color, lw in (
            (road, "#999999", 1.0),
            (shapely.intersection(road, near), "#f5a623", 4.0),
        ):
            for part in getattr(geom, "geoms", [geom]):
                if not part.is_empty and part.geom_type == "LineString":
                    xs, ys = part.xy
                    ax.plot(xs, ys, color=color, lw=lw, zorder=2)
    ax.add_collection(
        LineCollection(on, colors="#1a9641", linewidths=1.6, zorder=3, label="本网格内")
    )
    ax.add_collection(
        LineCollection(off, colors="#d7191c", linewidths=1.6, zorder=3, label="本网格外")
    )
    lines = np.concatenate([on.reshape(-1, 2), off.reshape(-1, 2)])
    if len(lines):
        pad = 0.15 * max(np.ptp(lines[:, 0]), np.ptp(lines[:, 1]), 50.0)
        ax.set_xlim(lines[:, 0].min() - pad, lines[:, 0].max() + pad)
        ax.set_ylim(lines[:, 1].min() - pad, lines[:, 1].max() + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    rule = ""
    if row["required_h"] == row["required_h"]:
        rule = "，达标" if bool(row["meets_rule"]) else "，未达标"
    share = "" if row["road_share"] != row["road_share"] else f"，道路覆盖 {row['road_share']:.0%}"
    ax.set_title(
        f"网格员 {worker}  {row['date']:%Y-%m-%d}  网格 {row['own_grids'] or '无'}\n"
        f"本网格巡查 {row['own_s'] / 3600:.2f} 小时、{row['own_m'] / 1000:.2f} 公里，"
        f"网格外 {row['other_s'] / 3600:.2f} 小时{share}{rule}"
    )
    ax.legend(loc="lower right")
    out = Path(out)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return out
