"""Isochrones: the street area reachable from (or able to reach) a point within a time budget.

One bounded Dijkstra from the snapped point (on ``Network.forward`` for ``direction='from'``, on
``Network.reverse`` for ``'to'``, i.e. the places whose residents reach the point). The polygon
follows the streets: every reachable edge piece — whole edges, plus the reachable part of an edge
whose far end is out of reach, plus the point's own edge — is buffered by ``buffer_m`` metres in
the metric CRS and unioned (never a convex hull), then returned in EPSG:4326.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from geo.circles import TIE_TOLERANCE_S, with_sources
from geo.crs import WGS84, geometries_to
from geo.errors import GeoError, UnreachablePointError
from geo.gaps import valid_polygons
from geo.network import Network
from geo.snapping import (
    Snap,
    along_chain_s,
    chain_position,
    entries,
    exits,
    node_snap,
    snap_points,
    with_lonlat,
)

DIRECTIONS = ("from", "to")


@dataclass(frozen=True, eq=False)
class Isochrone:
    """Isochrone polygons and the reachable places behind them.

    Attributes
    ----------
    polygons : GeoDataFrame (EPSG:4326): ``minutes``, ``geometry`` (valid (Multi)Polygon), one row
        per budget, ascending.
    nodes : ``node_id``, ``time_s`` of the street nodes reachable within the largest budget.
    points : for the ``points`` passed in (same index): ``time_s`` (NaN when not reachable within
        the largest budget) and ``snapped``; None when no points were given.
    """

    polygons: gpd.GeoDataFrame
    nodes: pd.DataFrame
    points: pd.DataFrame | None


def isochrones(
    network: Network,
    lon: float,
    lat: float,
    *,
    minutes: tuple[float, ...] = (5, 10, 15, 30),
    direction: str = "from",
    buffer_m: float = 60.0,
    points: pd.DataFrame | None = None,
    max_distance_m: float = 500.0,
) -> Isochrone:
    """Isochrones of ``network``'s profile around the point ``lon, lat`` (degrees, EPSG:4326).

    Parameters
    ----------
    minutes : time budgets, minutes.
    direction : ``'from'`` (where one gets from the point) or ``'to'`` (from where one gets to it).
    buffer_m : half-width of the street band, metres.
    points : optional frame with ``lon``, ``lat`` (or point geometry): their exact travel times
        are returned.
    max_distance_m : snapping distance of the point (and ``points``) to the street, metres.
    """
    if direction not in DIRECTIONS:
        raise GeoError(f"direction {direction!r} is not one of {DIRECTIONS}: use 'from' or 'to'")
    origin = snap_points(network, np.array([lon]), np.array([lat]), max_distance_m=max_distance_m)
    if not origin.reachable[0]:
        raise UnreachablePointError(lon, lat, network.profile.name, max_distance_m)
    budgets = sorted(float(m) for m in minutes)
    limit = budgets[-1] * 60.0
    dist = _search(network, origin, direction, limit)
    node_time = _snap_times(network, origin, direction, dist, node_snap(network), limit)
    polygons = [_polygon(network, origin, direction, dist, node_time, m * 60.0, buffer_m) for m in budgets]
    reached = np.flatnonzero(np.isfinite(node_time))
    if points is not None:
        points = with_lonlat(points)
        snap = snap_points(network, points.lon.to_numpy(), points.lat.to_numpy(), max_distance_m=max_distance_m)
        time = _snap_times(network, origin, direction, dist, snap, limit)
        points = pd.DataFrame({"time_s": np.where(np.isfinite(time), time, np.nan), "snapped": snap.reachable},
                              index=points.index)
    return Isochrone(
        polygons=gpd.GeoDataFrame(
            {"minutes": budgets}, geometry=valid_polygons(geometries_to(np.array(polygons), network.crs, WGS84)), crs=WGS84
        ),
        nodes=pd.DataFrame({"node_id": network.node_ids[reached], "time_s": node_time[reached]}),
        points=points,
    )


def _search(network: Network, origin: Snap, direction: str, limit_s: float) -> np.ndarray:
    """Seconds from (or to) the origin for every layer node; ``inf`` beyond ``limit_s``."""
    nodes, cost = exits(network, origin) if direction == "from" else entries(network, origin)
    graph = network.forward if direction == "from" else network.reverse
    augmented = with_sources(graph, nodes, cost + origin.access_s[:, None])
    dist = dijkstra(augmented, indices=[network.n_total], min_only=True, limit=limit_s + TIE_TOLERANCE_S)
    return dist[: network.n_total]


def _chain_end_times(network: Network, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per chain, the best time at its ends ``a`` and ``b`` over the layers the chain lives on."""
    first_a, first_b, s_a, s_b = network.chain_ends(np.arange(len(network.chain_a)))
    t_a = np.minimum(dist[first_a], np.where(s_a >= 0, dist[np.maximum(s_a, 0)], np.inf))
    t_b = np.minimum(dist[first_b], np.where(s_b >= 0, dist[np.maximum(s_b, 0)], np.inf))
    return t_a, t_b


def _pieces(network: Network, origin: Snap, direction: str, dist: np.ndarray, budget_s: float):
    """(edge row, start, end) fractions of every edge part reachable within ``budget_s``.

    Reachable stretches are intervals of chain positions (seconds from ``a``): from end ``a``,
    from end ``b`` and, on the origin's own chain, around the origin; each edge keeps its share.
    """
    t_a, t_b = _chain_end_times(network, dist)
    ab, ba, total = network.chain_ab, network.chain_ba, network.chain_time_s
    up, down = (ab, ba) if direction == "from" else (ba, ab)  # may one cover a→b from a / b→a from b
    lo = [np.zeros(len(total)), total - np.where(down, budget_s - t_b, -np.inf)]
    hi = [np.where(up, budget_s - t_a, -np.inf), total.copy()]
    chain, pos = chain_position(network, origin)
    c, po, left = int(chain[0]), float(pos[0]), budget_s - float(origin.access_s[0])
    o_lo, o_hi = np.full(len(total), np.inf), np.full(len(total), -np.inf)
    o_lo[c] = po - (left if down[c] else 0.0) if left >= 0 else np.inf
    o_hi[c] = po + (left if up[c] else 0.0) if left >= 0 else -np.inf
    lo.append(o_lo)
    hi.append(o_hi)
    return _edge_shares(network, np.concatenate(lo), np.concatenate(hi), len(total))


def _edge_shares(network: Network, lo: np.ndarray, hi: np.ndarray, n_chains: int):
    """Cut chain intervals ``[lo, hi]`` (stacked per chain, k per chain) to edge fractions."""
    k = len(lo) // n_chains
    rows = np.tile(np.arange(len(network.edge_id)), k)
    which = np.repeat(np.arange(k), len(network.edge_id)) * n_chains + network.edge_chain[rows]
    start_s, length = network.edge_offset_s[rows], network.edge_time_s[rows]
    a = np.maximum(lo[which], start_s)
    b = np.minimum(hi[which], start_s + length)
    keep = (b > a) | ((b >= a) & (length == 0))
    rows, a, b, start_s, length = rows[keep], a[keep], b[keep], start_s[keep], length[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        fa = np.where(length > 0, (a - start_s) / length, 0.0)
        fb = np.where(length > 0, (b - start_s) / length, 1.0)
    aligned = network.edge_aligned[rows]
    f0, f1 = np.where(aligned, fa, 1.0 - fb), np.where(aligned, fb, 1.0 - fa)
    return rows, np.clip(f0, 0.0, 1.0), np.clip(f1, 0.0, 1.0)


def _fraction(left_s: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """Share (0..1) of an edge of ``time_s`` seconds covered with ``left_s`` seconds to spare."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(time_s > 0, left_s / time_s, np.where(left_s >= 0, 1.0, 0.0))
    return np.clip(np.nan_to_num(share, nan=0.0, neginf=0.0), 0.0, 1.0)


def _polygon(network, origin, direction, dist, node_time, budget_s, buffer_m):
    """Street-band polygon (metric) of everything reachable within ``budget_s``."""
    row, start, end = _pieces(network, origin, direction, dist, budget_s)
    lines = substrings(network.edge_geometry[row], start, end)
    nodes = shapely.points(network.node_xy[node_time <= budget_s + TIE_TOLERANCE_S])
    parts = np.concatenate([shapely.buffer(lines, buffer_m, quad_segs=4), shapely.buffer(nodes, buffer_m, quad_segs=4)])
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


def substrings(lines: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Vectorised ``shapely.ops.substring``: the parts of ``lines`` between fractions start..end."""
    if len(lines) == 0:
        return np.empty(0, dtype=object)
    xy, idx = shapely.get_coordinates(lines, return_index=True)
    step = np.hypot(*np.diff(xy, axis=0).T)
    step[idx[1:] != idx[:-1]] = 0.0
    cum = np.concatenate([[0.0], np.cumsum(step)])
    first = np.searchsorted(idx, np.arange(len(lines)))
    cum -= cum[first][idx]
    total = shapely.length(lines)
    s, e = start * total, end * total
    inner = (cum > s[idx]) & (cum < e[idx])
    ends = shapely.get_coordinates(shapely.line_interpolate_point(np.concatenate([lines, lines]), np.concatenate([s, e])))
    n = len(lines)
    piece = np.concatenate([np.arange(n), idx[inner], np.arange(n)])
    key = np.concatenate([np.full(n, -1.0), cum[inner], total + 1.0])
    coords = np.concatenate([ends[:n], xy[inner], ends[n:]])
    order = np.lexsort((key, piece))
    return shapely.linestrings(coords[order], indices=piece[order])


def _snap_times(network, origin, direction, dist, snap: Snap, limit_s: float) -> np.ndarray:
    """Exact seconds between the origin and each snapped point (``inf`` beyond ``limit_s``).

    Points are reached through their chain's ends or, on the origin's chain, directly along it.
    """
    nodes, cost = entries(network, snap) if direction == "from" else exits(network, snap)
    time = (dist[np.maximum(nodes, 0)] + cost).min(axis=1)  # unused slots carry cost inf
    chain, pos = chain_position(network, snap)
    o_chain, o_pos = chain_position(network, origin)
    same = np.flatnonzero(chain == o_chain[0])
    fo = np.full(len(same), o_pos[0])
    start, end = (fo, pos[same]) if direction == "from" else (pos[same], fo)
    along = along_chain_s(network, chain[same], start, end) + origin.access_s[0]
    time[same] = np.minimum(time[same], along)
    time = time + np.nan_to_num(snap.access_s, nan=np.inf)
    return np.where(time <= limit_s + TIE_TOLERANCE_S, time, np.inf)
