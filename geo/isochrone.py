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
from geo.snapping import Snap, along_edge_s, entries, exits, snap_points, with_lonlat

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
    origin = snap_points(network, [lon], [lat], max_distance_m=max_distance_m)
    if not origin.reachable[0]:
        raise UnreachablePointError(lon, lat, network.profile.name, max_distance_m)
    budgets = sorted(float(m) for m in minutes)
    dist = _search(network, origin, direction, budgets[-1] * 60.0)
    node_time = network.best_layer_times(dist)
    polygons = [_polygon(network, origin, direction, dist, node_time, m * 60.0, buffer_m) for m in budgets]
    reached = np.flatnonzero(np.isfinite(node_time))
    return Isochrone(
        polygons=gpd.GeoDataFrame(
            {"minutes": budgets}, geometry=valid_polygons(geometries_to(np.array(polygons), network.crs, WGS84)), crs=WGS84
        ),
        nodes=pd.DataFrame({"node_id": network.node_ids[reached], "time_s": node_time[reached]}),
        points=None if points is None else _point_times(network, origin, direction, dist, points, budgets[-1] * 60.0, max_distance_m),
    )


def _search(network: Network, origin: Snap, direction: str, limit_s: float) -> np.ndarray:
    """Seconds from (or to) the origin for every layer node; ``inf`` beyond ``limit_s``."""
    nodes, cost = exits(network, origin) if direction == "from" else entries(network, origin)
    graph = network.forward if direction == "from" else network.reverse
    augmented = with_sources(graph, nodes, cost + origin.access_s[:, None])
    dist = dijkstra(augmented, indices=[network.n_total], min_only=True, limit=limit_s + TIE_TOLERANCE_S)
    return dist[: network.n_total]


def _end_times(network: Network, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per edge, the best time at its ``u`` and ``v`` over the layers the edge lives on."""
    first_u, first_v, s_u, s_v = network.layer_index(np.arange(len(network.edge_id)))
    t_u = np.minimum(dist[first_u], np.where(s_u >= 0, dist[np.maximum(s_u, 0)], np.inf))
    t_v = np.minimum(dist[first_v], np.where(s_v >= 0, dist[np.maximum(s_v, 0)], np.inf))
    return t_u, t_v


def _pieces(network: Network, origin: Snap, direction: str, dist: np.ndarray, budget_s: float):
    """(edge row, start, end) fractions of every edge part reachable within ``budget_s``."""
    time = network.edge_time_s
    oneway = network.edge_oneway
    t_u, t_v = _end_times(network, dist)
    from_u_ok = np.ones(len(time), bool) if direction == "from" else ~oneway
    from_v_ok = ~oneway if direction == "from" else np.ones(len(time), bool)
    reach_u = np.where(from_u_ok, _fraction(budget_s - t_u, time), 0.0)
    reach_v = np.where(from_v_ok, _fraction(budget_s - t_v, time), 0.0)
    rows = np.arange(len(time))
    e, fo = int(origin.edge[0]), float(origin.fraction[0])
    left = budget_s - float(origin.access_s[0])
    ahead_ok = direction == "from" or not oneway[e]
    behind_ok = direction == "to" or not oneway[e]
    span = _fraction(np.array([left]), time[[e]])[0]
    start = np.concatenate([np.zeros(len(time)), 1.0 - reach_v, [fo, max(0.0, fo - span) if behind_ok else fo]])
    end = np.concatenate([reach_u, np.ones(len(time)), [min(1.0, fo + span) if ahead_ok else fo, fo]])
    row = np.concatenate([rows, rows, [e, e]])
    keep = end > start
    return row[keep], start[keep], end[keep]


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


def _point_times(network, origin, direction, dist, points, limit_s, max_distance_m) -> pd.DataFrame:
    """Exact seconds between the origin and each point (NaN beyond ``limit_s``)."""
    points = with_lonlat(points)
    snap = snap_points(network, points.lon.to_numpy(), points.lat.to_numpy(), max_distance_m=max_distance_m)
    nodes, cost = entries(network, snap) if direction == "from" else exits(network, snap)
    time = np.where(nodes >= 0, dist[np.maximum(nodes, 0)] + cost, np.inf).min(axis=1)
    same = snap.edge == origin.edge[0]
    fo = np.full(same.sum(), origin.fraction[0])
    fp = snap.fraction[same]
    along = along_edge_s(network, snap.edge[same], fo, fp) if direction == "from" else along_edge_s(network, snap.edge[same], fp, fo)
    time[same] = np.minimum(time[same], along + origin.access_s[0])
    time = time + np.nan_to_num(snap.access_s, nan=np.inf)
    time = np.where(time <= limit_s + TIE_TOLERANCE_S, time, np.nan)
    return pd.DataFrame({"time_s": time, "snapped": snap.reachable}, index=points.index)
