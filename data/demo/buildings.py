"""Building footprints of one copy (local metres): one per residence point, drawn by the base map.

A residence point stands for a building (a tower, a walk-up slab, a village house ...); its
footprint is a rectangle of the kind's size turned along the nearest street and set back from it
(a village house stands beside its lane, not on it), so blocks read as rows of houses facing their
streets. A footprint never overlaps another one or a street: it
shrinks (``SHRINK``) until it fits, else that point gets none. Only form and
height are kept (``kind``, ``levels``): no household figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

# residence kind → (width m, depth m, levels low, levels high, building kind)
SIZE = {"highrise": (24.0, 24.0, 18, 32, "residential"), "compound": (20.0, 26.0, 11, 18, "residential"),
        "midrise": (12.0, 34.0, 6, 7, "residential"), "lowrise": (10.0, 13.0, 2, 4, "residential"),
        "urban_village": (9.0, 11.0, 4, 7, "residential"), "commercial": (26.0, 30.0, 3, 5, "commercial"),
        "old_town": (7.0, 9.0, 1, 3, "residential"), "village": (7.0, 9.0, 2, 3, "residential"),
        "remote": (5.0, 6.0, 1, 1, "residential")}
SHRINK = (1.0, 0.75, 0.55)
"""Scales tried in turn for a footprint that meets a street or a footprint already placed."""
STREET_CLEARANCE_M = 3.0
"""Half the width kept free along every street centreline."""


@dataclass
class Buildings:
    """Footprints (local metres) with the residence each stands on."""

    geoms: np.ndarray
    kind: np.ndarray
    levels: np.ndarray
    residence: np.ndarray


def _rectangles(xy: np.ndarray, w: np.ndarray, d: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rectangles ``w`` × ``d`` centred on ``xy``, the ``w`` side along ``angle`` (radians)."""
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    u = corners[None, :, 0] * w[:, None]
    v = corners[None, :, 1] * d[:, None]
    x = xy[:, None, 0] + u * c[:, None] - v * s[:, None]
    y = xy[:, None, 1] + u * s[:, None] + v * c[:, None]
    return shapely.polygons(np.stack([x, y], axis=2))


def build(xy: np.ndarray, kind: np.ndarray, segments: np.ndarray, rng: np.random.Generator) -> Buildings:
    """Footprints of the residences at ``xy`` (kinds ``kind``) beside the street ``segments``
    (LineStrings of the network, local metres); ``rng``: a stream of its own, for the levels."""
    spec = [SIZE.get(k, SIZE["village"]) for k in kind]
    w = np.array([s[0] for s in spec])
    d = np.array([s[1] for s in spec])
    levels = np.array([rng.integers(s[2], s[3] + 1) for s in spec])
    tree = shapely.STRtree(segments)
    points = shapely.points(xy)
    near = tree.query_nearest(points, return_distance=False, all_matches=False)[1]
    a, b = shapely.get_coordinates(shapely.get_point(segments[near], 0)), shapely.get_coordinates(
        shapely.get_point(segments[near], -1))
    angle = np.arctan2(b[:, 1] - a[:, 1], b[:, 0] - a[:, 0])
    # the footprint faces its street: pushed back from the centreline when the point is on it
    foot = shapely.get_coordinates(shapely.line_interpolate_point(
        segments[near], shapely.line_locate_point(segments[near], points)))
    off = xy - foot
    dist = np.hypot(off[:, 0], off[:, 1])
    normal = np.where(dist[:, None] > 0.1, off / np.maximum(dist, 0.1)[:, None],
                      np.column_stack([-np.sin(angle), np.cos(angle)]))
    order = np.argsort(-w * d, kind="stable")  # large buildings first: they need the room
    kept: list[int] = []
    kept_geoms: list = []
    for scale in SHRINK:
        back = np.maximum(dist[order], STREET_CLEARANCE_M + 0.5 + d[order] * scale / 2)
        centre = foot[order] + normal[order] * back[:, None]
        g = _rectangles(centre, w[order] * scale, d[order] * scale, angle[order])
        clear = np.ones(len(order), dtype=bool)
        clear[tree.query(g, predicate="dwithin", distance=STREET_CLEARANCE_M)[0]] = False
        if kept_geoms:
            clear[shapely.STRtree(kept_geoms).query(g, predicate="intersects")[0]] = False
        a, b = shapely.STRtree(g).query(g, predicate="intersects")
        rivals: dict[int, list[int]] = {}
        for x, y in zip(a[a < b], b[a < b], strict=True):
            rivals.setdefault(int(y), []).append(int(x))  # y yields to x (earlier: larger)
        taken = np.zeros(len(order), dtype=bool)
        for k in np.nonzero(clear)[0]:
            taken[k] = not any(taken[r] for r in rivals.get(int(k), ()))
        kept += order[taken].tolist()
        kept_geoms += list(g[taken])
        order = order[~taken]
    out_idx, out_geoms = kept, kept_geoms
    idx = np.array(out_idx, dtype=np.int64)
    back = np.argsort(idx, kind="stable")
    kinds = np.array([spec[i][4] for i in idx])
    return Buildings(geoms=np.array(out_geoms, dtype=object)[back], kind=kinds[back],
                     levels=levels[idx][back], residence=idx[back])

