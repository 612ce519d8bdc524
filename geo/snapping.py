"""Snapping points (homes, facilities, map clicks) onto the nearest usable edge of a network.

A point joins the nearest *edge* of the profile's network (not the nearest node) at the exact
position along it; the leg from the point to the street is walked at the profile's access speed.
Points farther than ``max_distance_m`` from every usable edge are unreachable (edge -1), never
silently snapped. A point exactly at a node (e.g. projected beyond a dead end) is at that node:
it may leave by it whatever the one-way rules of its edge. Gated compounds: a point may snap onto
a compound's private edges only when it lies inside that compound (the convex hull of its private
roads, optionally grown by a margin: ``Network.compound_hulls``); points outside snap onto public
edges or the compounds that contain them.

Trips start and end through the two ends of the point's chain (``geo.network``): ``exits`` and
``entries`` give those graph nodes and the exact partial times; ``chain_position`` and
``along_chain_s`` give direct trips between points of one chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, to_metric
from geo.errors import MissingColumnsError
from geo.network import Network


def with_lonlat(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``lon``/``lat`` columns (degrees, EPSG:4326).

    They are taken from its point geometry when the columns are missing (CONTRACTS.md frames carry
    lon/lat; GeoDataFrames may not).
    """
    if {"lon", "lat"} <= set(frame.columns) or len(frame) == 0 and "geometry" not in frame:
        return frame
    if "geometry" not in frame:
        raise MissingColumnsError("points", ["lon", "lat"])
    geom = gpd.GeoSeries(frame["geometry"], crs=getattr(frame, "crs", None) or WGS84).to_crs(WGS84)
    return frame.assign(lon=shapely.get_x(geom.to_numpy()), lat=shapely.get_y(geom.to_numpy()))


@dataclass(frozen=True, eq=False)
class Snap:
    """Where points join a network (arrays aligned with the input points).

    Attributes
    ----------
    edge : row into the network's ``edge_*`` arrays, -1 when unreachable.
    fraction : position along the edge, 0 at ``u`` and 1 at ``v`` (NaN when unreachable).
    distance_m : length of the straight leg from the point to the edge, metres.
    access_s : time of that leg at the profile's access (walking) speed, seconds.
    """

    edge: np.ndarray
    fraction: np.ndarray
    distance_m: np.ndarray
    access_s: np.ndarray

    @property
    def reachable(self) -> np.ndarray:
        """Whether each point found a usable edge within the snapping distance."""
        return self.edge >= 0

    def take(self, index: np.ndarray) -> Snap:
        """The snaps of the points selected by ``index`` (integer or boolean array)."""
        return Snap(self.edge[index], self.fraction[index], self.distance_m[index], self.access_s[index])


def snap_points(network: Network, lon: np.ndarray, lat: np.ndarray, *, max_distance_m: float = 500.0) -> Snap:
    """Snap points given in degrees (EPSG:4326) onto ``network``'s usable edges.

    Parameters
    ----------
    network : the profile network (its metric CRS is used for distances).
    lon, lat : point coordinates, degrees.
    max_distance_m : farthest allowed leg from point to edge, metres; farther points get edge -1.

    Returns
    -------
    Snap; ties between equidistant edges go to the lowest ``edge_id``.
    """
    lon, lat = np.asarray(lon, float).ravel(), np.asarray(lat, float).ravel()
    n = len(lon)
    if n == 0 or len(network.edge_id) == 0:
        return _unreachable(n)
    x, y, _ = to_metric((lon, lat), crs=network.crs)
    points = shapely.points(x, y)
    point, row, dist = _candidates(network, points, max_distance_m)
    order = np.lexsort((row, dist, point))
    point, row, dist = point[order], row[order], dist[order]
    first = np.ones(len(point), dtype=bool)
    first[1:] = point[1:] != point[:-1]
    snap = _unreachable(n)
    chosen = point[first]
    snap.edge[chosen] = row[first]
    snap.distance_m[chosen] = dist[first]
    snap.access_s[chosen] = dist[first] / network.profile.access_speed_mps
    located = shapely.line_locate_point(network.edge_geometry[row[first]], points[chosen], normalized=True)
    snap.fraction[chosen] = np.clip(np.nan_to_num(located, nan=0.0), 0.0, 1.0)
    return snap


def _unreachable(n: int) -> Snap:
    return Snap(np.full(n, -1, np.int64), np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan))


def _candidates(network: Network, points: np.ndarray, max_distance_m: float):
    """(point, edge row, distance) candidate pairs: nearest public edges + allowed private ones."""
    parts = [_nearest(network, points, np.arange(len(points)), False, max_distance_m)]
    if len(network.compound_hulls):
        parts.append(_private_candidates(network, points, max_distance_m))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _nearest(network: Network, points: np.ndarray, which: np.ndarray, private: bool, max_distance_m: float):
    """All equally nearest public (or private) edges within ``max_distance_m`` of ``points[which]``."""
    rows, tree = network.edge_trees[private]
    if len(rows) == 0 or len(which) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    (k, t), dist = tree.query_nearest(
        points[which], max_distance=max_distance_m, return_distance=True, all_matches=True
    )
    return which[k], rows[t], dist


def _private_candidates(network: Network, points: np.ndarray, max_distance_m: float):
    """Private edges of the compounds that contain each point (never of other compounds)."""
    inside, comp = network.hull_tree.query(points, predicate="intersects")
    if len(inside) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    which = np.unique(inside)
    point, row, dist = _nearest(network, points, which, True, max_distance_m)
    n_comp = len(network.compound_hulls)
    allowed = np.isin(point * n_comp + network.edge_compound[row], inside * n_comp + comp)
    # points whose nearest private edge lies in another compound: search their own compounds fully
    missed = np.isin(inside, point[allowed], invert=True)
    extra = _within_compounds(network, points, inside[missed], comp[missed], max_distance_m)
    return tuple(np.concatenate([a[allowed], b]) for a, b in zip((point, row, dist), extra, strict=True))


def _within_compounds(network: Network, points, point: np.ndarray, comp: np.ndarray, max_distance_m: float):
    """Brute-force distances from each point to every private edge of its compound ``comp``."""
    rows = np.flatnonzero(network.edge_compound >= 0)
    rows = rows[np.argsort(network.edge_compound[rows], kind="stable")]
    starts = np.searchsorted(network.edge_compound[rows], comp)
    counts = np.searchsorted(network.edge_compound[rows], comp, side="right") - starts
    pair_point = np.repeat(point, counts)
    pair_row = rows[np.repeat(starts, counts) + _ragged_arange(counts)]
    dist = shapely.distance(points[pair_point], network.edge_geometry[pair_row])
    near = dist <= max_distance_m
    return pair_point[near], pair_row[near], dist[near]


def _ragged_arange(counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(c)`` for each ``c`` in ``counts``."""
    ends = np.cumsum(counts)
    return np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - counts, counts)


def chain_position(network: Network, snap: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Chain of each snapped point and its position on it, seconds from the chain's end ``a``.

    Unreachable points get chain -1 and position NaN.
    """
    rows = np.where(snap.reachable, snap.edge, 0)
    if len(network.edge_id) == 0:
        return np.full(len(rows), -1, np.int64), np.full(len(rows), np.nan)
    frac = np.nan_to_num(snap.fraction, nan=0.0)
    along = np.where(network.edge_aligned[rows], frac, 1.0 - frac) * network.edge_time_s[rows]
    chain = np.where(snap.reachable, network.edge_chain[rows], -1)
    return chain, np.where(snap.reachable, network.edge_offset_s[rows] + along, np.nan)


def exits(network: Network, snap: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Layer nodes where a trip *starting* at each snapped point joins the graph, and the times.

    Returns ``(nodes, cost_s)``, both shape (n, 4): the ends ``a`` and ``b`` of the point's chain
    (``M`` layer for public chains; ``P`` then ``S`` copies for private ones) and the time along the
    chain to reach each, seconds (``inf`` where one-way forbids, or where unused). The access leg
    ``snap.access_s`` is NOT included.
    """
    chain, pos = chain_position(network, snap)
    if len(network.edge_id) == 0:
        return _masked(np.full((len(chain), 4), -1), np.full((len(chain), 4), np.inf), snap.reachable)
    c = np.maximum(chain, 0)
    to_a = _if_allowed(network.chain_ba[c], pos)
    to_b = _if_allowed(network.chain_ab[c], network.chain_time_s[c] - pos)
    first_a, first_b, s_a, s_b = network.chain_ends(c)
    nodes = np.column_stack([first_a, first_b, s_a, s_b])
    return _masked(nodes, np.column_stack([to_a, to_b, to_a, to_b]), snap.reachable)


def entries(network: Network, snap: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Layer nodes from which a trip *ending* at each snapped point arrives, and the times.

    Returns ``(nodes, cost_s)``, shape (n, 2): the chain ends ``a`` and ``b`` (``M`` layer for
    public chains, ``S`` copies for private ones) and the time along the chain from each to the
    point, seconds (``inf`` where one-way forbids). The access leg is NOT included.
    """
    chain, pos = chain_position(network, snap)
    if len(network.edge_id) == 0:
        return _masked(np.full((len(chain), 2), -1), np.full((len(chain), 2), np.inf), snap.reachable)
    c = np.maximum(chain, 0)
    from_a = _if_allowed(network.chain_ab[c], pos)
    from_b = _if_allowed(network.chain_ba[c], network.chain_time_s[c] - pos)
    first_a, first_b, s_a, s_b = network.chain_ends(c)
    private = network.chain_compound[c] >= 0
    nodes = np.column_stack([np.where(private, s_a, first_a), np.where(private, s_b, first_b)])
    return _masked(nodes, np.column_stack([from_a, from_b]), snap.reachable)


def _if_allowed(allowed: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """``time_s`` where travel that way is allowed, else inf; standing still is always allowed."""
    return np.where(allowed | (time_s == 0), time_s, np.inf)


def _masked(nodes: np.ndarray, cost: np.ndarray, reachable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unused = (nodes < 0) | ~reachable[:, None] | ~np.isfinite(cost)
    return np.where(unused, -1, nodes), np.where(unused, np.inf, cost)


def along_chain_s(network: Network, chain: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Time (seconds) to travel along ``chain`` from position ``start`` to ``end`` (seconds from ``a``).

    ``inf`` when that direction is forbidden by one-way streets.
    """
    chain = np.asarray(chain, dtype=np.int64)
    time = np.abs(end - start)
    forbidden = ((end > start) & ~network.chain_ab[chain]) | ((end < start) & ~network.chain_ba[chain])
    time[forbidden] = np.inf
    return time


def node_snap(network: Network) -> Snap:
    """Every original node as a point lying on one of its usable edges (access leg 0).

    Lets node times be read like any point's, wherever chains contracted the node away; nodes
    without a usable edge are unreachable.
    """
    n, m = network.n_nodes, len(network.edge_id)
    node = np.concatenate([network.edge_u, network.edge_v])
    row = np.tile(np.arange(m), 2)
    at = np.repeat([0.0, 1.0], m)
    order = np.lexsort((row, at, node))  # per node: u ends first, then the lowest edge
    first = order[np.r_[True, node[order][1:] != node[order][:-1]]] if len(order) else order
    edge = np.full(n, -1, dtype=np.int64)
    fraction = np.full(n, np.nan)
    edge[node[first]] = row[first]
    fraction[node[first]] = at[first]
    zero = np.where(edge >= 0, 0.0, np.nan)
    return Snap(edge, fraction, zero, zero)
