"""Geometry plumbing shared by the demo generator (local metric frame, metres).

All functions work on coordinates in metres of the copy's local frame (a translated UTM 50N
frame, see ``geography``), never in degrees.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box


def ellipse(cx: float, cy: float, rx: float, ry: float, *, n: int = 96) -> Polygon:
    """Ellipse polygon centred at ``cx, cy`` with semi-axes ``rx, ry`` (metres)."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return Polygon(np.column_stack([cx + rx * np.cos(t), cy + ry * np.sin(t)]))


def polygonal(geom) -> MultiPolygon:
    """The polygonal part of ``geom`` as a MultiPolygon (drops slivers of lines/points)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    extra = [
        g for p in shapely.get_parts(geom) if p.geom_type == "MultiPolygon" for g in shapely.get_parts(p)
    ]
    return MultiPolygon(parts + extra)


def smooth_noise(t: np.ndarray, rng: np.random.Generator, *, waves: int = 3, amp: float = 1.0) -> np.ndarray:
    """A smooth random function of ``t`` in [0, 1] that is zero at both ends (sum of sine modes)."""
    coef = rng.normal(0.0, amp, waves) / np.arange(1, waves + 1)
    return (coef[None, :] * np.sin(np.pi * np.outer(t, np.arange(1, waves + 1)))).sum(axis=1)


class Warp:
    """A smooth displacement field ``p → p + d(p)`` (metres) that keeps tilings exact.

    Shared vertices of neighbouring polygons move by the same amount, so cutting the plane and
    then warping every cell keeps the cells a gap-free, overlap-free partition (the field's
    gradient stays well below 1, so it is a homeomorphism).

    Parameters
    ----------
    rng : random generator giving wave directions and phases.
    amp : amplitude of the displacement in metres.
    wavelength : typical wavelength in metres.
    """

    def __init__(self, rng: np.random.Generator, *, amp: float, wavelength: float):
        ang = rng.uniform(0.0, np.pi, (2, 3))
        k = 2.0 * np.pi / (wavelength * rng.uniform(0.7, 1.4, (2, 3)))
        self.kx, self.ky = k * np.cos(ang), k * np.sin(ang)
        self.phase = rng.uniform(0.0, 2.0 * np.pi, (2, 3))
        self.amp = amp / 3.0

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        out = np.array(xy, dtype=float, copy=True)
        for axis in (0, 1):
            arg = xy[:, :1] * self.kx[axis] + xy[:, 1:2] * self.ky[axis] + self.phase[axis]
            out[:, axis] += self.amp * np.sin(arg).sum(axis=1)
        return out


def voronoi_cells(seeds: np.ndarray, parent, *, warp: Warp | None = None, step: float = 80.0) -> list:
    """Voronoi cells of ``seeds`` clipped to ``parent``, in seed order; optionally warped.

    The cells of a plane partition clipped to the same parent tile it exactly (up to floating
    noise). Returns MultiPolygons (possibly empty for a seed whose cell misses the parent).
    """
    if len(seeds) == 1:
        return [polygonal(parent)]
    minx, miny, maxx, maxy = parent.bounds
    pad = max(maxx - minx, maxy - miny)
    frame = box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame, ordered=True)
    )
    cells = shapely.intersection(cells, frame)
    if warp is not None:
        cells = shapely.transform(shapely.segmentize(cells, step), warp)
    return [polygonal(c) for c in shapely.intersection(cells, parent)]


def halfplanes(cut_x: float, bounds: tuple[float, float, float, float], axis: int) -> tuple[Polygon, Polygon]:
    """Two boxes covering ``bounds`` and sharing the straight cut at ``cut_x`` along ``axis``."""
    minx, miny, maxx, maxy = bounds
    minx, miny, maxx, maxy = minx - 10.0, miny - 10.0, maxx + 10.0, maxy + 10.0
    if axis == 0:
        return box(minx, miny, cut_x, maxy), box(cut_x, miny, maxx, maxy)
    return box(minx, miny, maxx, cut_x), box(minx, cut_x, maxx, maxy)


def weighted_cut(values: np.ndarray, weights: np.ndarray, frac: float) -> float | None:
    """A cut value between two distinct sorted ``values`` leaving ``frac`` of the weight below.

    Returns None when all values are equal (no cut can separate them).
    """
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    distinct = np.nonzero(np.diff(v) > 1e-6)[0]
    if len(distinct) == 0:
        return None
    below = np.cumsum(w)[distinct]
    i = distinct[np.argmin(np.abs(below - frac * w.sum()))]
    return float((v[i] + v[i + 1]) / 2.0)


def bisect(poly, xy: np.ndarray, w: np.ndarray, n: int) -> list:
    """Cut ``poly`` with straight lines into ``n`` parts of about equal point weight.

    Recursive coordinate bisection: each cut is perpendicular to the longer side of the points'
    bounding box and leaves a share of the weight proportional to the parts on each side, so the
    parts tile ``poly`` exactly. Fewer parts are returned when the points cannot be separated.
    """
    if n <= 1 or len(xy) < 2:
        return [polygonal(poly)]
    n1 = n // 2
    axis = int(np.ptp(xy[:, 1]) > np.ptp(xy[:, 0]))
    cut = weighted_cut(xy[:, axis], w, n1 / n)
    if cut is None:
        return [polygonal(poly)]
    low, high = halfplanes(cut, poly.bounds, axis)
    below = xy[:, axis] < cut
    return bisect(shapely.intersection(poly, low), xy[below], w[below], n1) + bisect(
        shapely.intersection(poly, high), xy[~below], w[~below], n - n1
    )


def weighted_kmeans(
    xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator, *, iters: int = 30
) -> np.ndarray:
    """Centres of ``k`` clusters of weighted points (k-means++ start, Lloyd iterations)."""
    k = min(k, len(xy))
    p = w / w.sum()
    centres = [xy[rng.choice(len(xy), p=p)]]
    for _ in range(1, k):
        d2 = ((xy[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1).min(axis=1) * w
        centres.append(xy[rng.choice(len(xy), p=d2 / d2.sum())] if d2.sum() > 0 else xy[0])
    c = np.asarray(centres, dtype=float)
    for _ in range(iters):
        lab = ((xy[:, None, :] - c[None]) ** 2).sum(-1).argmin(axis=1)
        ws = np.bincount(lab, weights=w, minlength=k)
        keep = ws > 0
        c[keep, 0] = np.bincount(lab, weights=w * xy[:, 0], minlength=k)[keep] / ws[keep]
        c[keep, 1] = np.bincount(lab, weights=w * xy[:, 1], minlength=k)[keep] / ws[keep]
    return c


def poisson_points(
    region, n: int, min_dist: float, rng: np.random.Generator, *, candidates: int = 8
) -> np.ndarray:
    """Up to ``n`` random points inside ``region`` at least ``min_dist`` metres apart.

    Dart throwing with a batch of candidates per accepted point; vectorised per batch.
    """
    minx, miny, maxx, maxy = region.bounds
    shapely.prepare(region)
    pts = np.empty((0, 2))
    for _ in range(12):
        m = max(64, candidates * (n - len(pts)))
        cand = np.column_stack([rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)])
        cand = cand[shapely.contains_xy(region, cand[:, 0], cand[:, 1])]
        for p in cand:
            if len(pts) >= n:
                return pts
            if len(pts) == 0 or ((pts - p) ** 2).sum(1).min() >= min_dist**2:
                pts = np.vstack([pts, p])
    return pts


def points_in(region, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniformly random points inside ``region`` (rejection sampling, vectorised)."""
    minx, miny, maxx, maxy = region.bounds
    shapely.prepare(region)
    out = np.empty((0, 2))
    while len(out) < n:
        m = 4 * (n - len(out)) + 16
        cand = np.column_stack([rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)])
        out = np.vstack([out, cand[shapely.contains_xy(region, cand[:, 0], cand[:, 1])]])
    return out[:n]
