"""Label placement for the board's map: every grid's name and short code, no overlaps.

Pure geometry: polygons already in page coordinates (points) in, one :class:`Label`
box per grid out. Each label is tried at decreasing font sizes at the grid's pole of
inaccessibility and around it; the first box lying inside its grid and clear of every
box placed so far wins. A grid too small for any size gets its label outside, at the
nearest free place, with a leader line. The boxes are kept so that tests (and
callers) can check them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon, box
from shapely.ops import polylabel

#: Font sizes tried, largest first (points).
SIZES = (11.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0)
CODE_RATIO = 0.8  # the code line's size relative to the name's
PAD = 1.5


@dataclass(frozen=True)
class Label:
    """One placed label: its box (page points), font size, lines and anchor."""

    grid_code: str
    name: str
    code: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    inside: bool
    anchor: tuple[float, float]

    @property
    def box(self) -> Polygon:
        return box(self.x0, self.y0, self.x1, self.y1)


def _extent(name: str, code: str, size: float, width: Callable[[str, float], float]):
    w = max(width(name, size), width(code, size * CODE_RATIO)) + 2 * PAD
    h = size * 1.15 + size * CODE_RATIO * 1.15 + 2 * PAD
    return w, h


def _anchor(poly) -> tuple[float, float]:
    part = max(getattr(poly, "geoms", [poly]), key=lambda p: p.area)
    try:
        p = polylabel(part, tolerance=max(part.length / 400, 0.5))
    except Exception:  # degenerate shapes: fall back to a point surely inside
        p = part.representative_point()
    return float(p.x), float(p.y)


def _offsets(w: float, h: float, steps: int) -> list[tuple[float, float]]:
    out = [(0.0, 0.0)]
    for r in range(1, steps + 1):
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1)):
            out.append((dx * r * w * 0.25, dy * r * h * 0.35))
    return out


def place_labels(
    polygons: Sequence,
    codes: Sequence[str],
    names: Sequence[str],
    short_codes: Sequence[str],
    *,
    width: Callable[[str, float], float],
    frame: tuple[float, float, float, float],
) -> list[Label]:
    """Place one label per polygon (page coordinates) with no two boxes overlapping.

    Parameters
    ----------
    polygons
        The grids, in page points.
    codes, names, short_codes
        Grid code (kept on the label), and the two lines shown: name, short code.
    width
        ``width(text, size)``: the rendered width of a text in points (the PDF font's).
    frame
        ``(x0, y0, x1, y1)`` of the map: labels stay inside it.

    Returns
    -------
    list of Label
        In the order of ``polygons``.
    """
    n = len(polygons)
    fx0, fy0, fx1, _ = frame
    frame_box = box(*frame)
    placed: list[Polygon] = []
    result: dict[int, Label] = {}
    order = np.argsort([p.area for p in polygons])  # the smallest grids choose first
    prepared = list(polygons)
    shapely.prepare(prepared)
    for i in order:
        poly = prepared[i]
        ax, ay = _anchor(poly)
        label = None
        for size in SIZES:
            w, h = _extent(names[i], short_codes[i], size, width)
            for dx, dy in _offsets(w, h, 3):
                cx, cy = ax + dx, ay + dy
                b = box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                if poly.contains(b) and not any(b.intersects(o) for o in placed):
                    label = Label(
                        codes[i], names[i], short_codes[i], *b.bounds, size, True, (ax, ay)
                    )
                    break
            if label:
                break
        if label is None:  # outside, at the nearest free place, smallest size
            size = SIZES[-1]
            w, h = _extent(names[i], short_codes[i], size, width)
            for dx, dy in _offsets(w, h, 60):
                cx, cy = ax + dx, ay + dy + h
                b = box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                if frame_box.contains(b) and not any(b.intersects(o) for o in placed):
                    label = Label(
                        codes[i], names[i], short_codes[i], *b.bounds, size, False, (ax, ay)
                    )
                    break
        if label is None:  # nowhere free in the frame: below the map, in a column
            size = SIZES[-1]
            w, h = _extent(names[i], short_codes[i], size, width)
            k = sum(1 for v in result.values() if v.y1 <= fy0)
            x = fx0 + (k % 6) * (fx1 - fx0) / 6
            y = fy0 - (k // 6 + 1) * (h + 1)
            label = Label(
                codes[i], names[i], short_codes[i], x, y, x + w, y + h, size, False, (ax, ay)
            )
        placed.append(label.box)
        result[int(i)] = label
    return [result[i] for i in range(n)]


def overlaps(labels: Sequence[Label]) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes overlap (empty for a good placement)."""
    boxes = [lb.box for lb in labels]
    tree = shapely.STRtree(boxes)
    out = []
    for i, j in zip(*tree.query(boxes, predicate="intersects"), strict=True):
        if i < j and boxes[i].intersection(boxes[j]).area > 1e-6:
            out.append((labels[i].grid_code, labels[j].grid_code))
    return out
