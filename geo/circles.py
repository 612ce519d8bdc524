"""Service circles: one bounded multi-source Dijkstra from all facilities of a type.

Residents travel *to* facilities, so the search runs on ``Network.reverse`` from the facilities.
Each facility enters the graph as a virtual source node whose arcs reach the ends of its snapped
edge with the exact partial edge time plus its access leg (``geo.snapping.entries``); scipy's
``dijkstra(min_only=True, limit=...)`` then gives every layer node the time to, and the source of,
its nearest facility. Points read their time from the ends of their own edge
(``geo.snapping.exits``) plus their access leg; a facility on the *same* edge is also reached
directly along the edge (respecting one-way).

Ties: when several facilities are equally near (within ``TIE_TOLERANCE_S``) the one with the lowest
``facility_id`` wins, at nodes and at points alike, so results never depend on heap order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geo.network import Network
from geo.snapping import Snap, along_edge_s, entries, exits

TIE_TOLERANCE_S = 1e-7
_NO_LABEL = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class Reach:
    """Nearest facility of every layer node of a network.

    Attributes
    ----------
    time_s : (n_total,) seconds from the node to its nearest facility; ``inf`` beyond ``limit_s``.
    source : (n_total,) index into ``facility_ids`` of that facility; -1 beyond the limit.
    facility_ids : (k,) ids of the routable facilities, ascending.
    facility_snap : snaps of those facilities, aligned with ``facility_ids``.
    limit_s : search bound, seconds.
    """

    time_s: np.ndarray
    source: np.ndarray
    facility_ids: np.ndarray
    facility_snap: Snap
    limit_s: float


def nearest_facility(network: Network, facility_ids: np.ndarray, facility_snap: Snap, *, limit_s: float) -> Reach:
    """Multi-source search from the facilities, bounded by ``limit_s`` seconds.

    Parameters
    ----------
    network : profile network.
    facility_ids : (k,) facility ids (any order, unique).
    facility_snap : their snaps on ``network``; unreachable facilities are left out.
    limit_s : largest travel time of interest, seconds.
    """
    ids = np.asarray(facility_ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    order = order[facility_snap.reachable[order]]
    ids, snap = ids[order], facility_snap.take(order)
    nodes, cost = entries(network, snap)
    graph = with_sources(network.reverse, nodes, cost + snap.access_s[:, None])
    n = network.n_total
    if len(ids) == 0:
        return Reach(np.full(n, np.inf), np.full(n, -1, np.int64), ids, snap, float(limit_s))
    # the bound is widened by a hair so nodes exactly at the limit are kept
    dist, _, src = dijkstra(
        graph, indices=np.arange(n, n + len(ids)), min_only=True, return_predecessors=True,
        limit=float(limit_s) + TIE_TOLERANCE_S,
    )
    label = np.where(src >= 0, src.astype(np.int64) - n, -1)
    if len(ids) > 1:  # a single source cannot tie
        virtual = np.repeat(np.arange(n, n + len(ids), dtype=np.int32), np.diff(graph.indptr[n:]))
        label = _lowest_id_on_ties(graph, dist, label, tails=np.concatenate([network.reverse_tails, virtual]))
    return Reach(dist[:n], label[:n], ids, snap, float(limit_s))


def with_sources(graph: sp.csr_matrix, nodes: np.ndarray, cost: np.ndarray) -> sp.csr_matrix:
    """``graph`` plus one virtual source node per row of ``nodes`` (appended after the others).

    Row ``i`` of ``nodes``/``cost`` (node indices, -1 unused; seconds) gives the arcs of virtual
    node ``n + i``. Only the new rows are built; the graph's arrays are copied once.
    """
    n, k = graph.shape[0], len(nodes)
    nodes, cost = nodes.copy(), cost.copy()
    for a, b in itertools.combinations(range(nodes.shape[1]), 2):
        same = (nodes[:, a] == nodes[:, b]) & (nodes[:, a] >= 0)  # self-loop edge: keep the quicker
        cost[same, a] = np.minimum(cost[same, a], cost[same, b])
        nodes[same, b] = -1
    use = (nodes >= 0) & np.isfinite(cost)
    counts = use.sum(axis=1)
    indptr = np.concatenate([graph.indptr, graph.indptr[-1] + np.cumsum(counts)]).astype(np.int32)
    indices = np.concatenate([graph.indices, nodes[use].astype(np.int32)])
    data = np.concatenate([graph.data, cost[use]])
    return sp.csr_matrix((data, indices, indptr), shape=(n + k, n + k))


def _lowest_id_on_ties(graph: sp.csr_matrix, dist: np.ndarray, label: np.ndarray, *, tails: np.ndarray) -> np.ndarray:
    """Relabel nodes reached equally fast from several sources with the lowest source index.

    Propagates labels along tight arcs (``dist[a] + w <= dist[b] + tol``): at the fixed point each
    node carries the least index of all sources that have a shortest path to it. ``tails`` is the
    tail node of every stored arc of ``graph`` (used when the frontier is large).
    """
    label = label.copy()
    frontier = np.flatnonzero(np.isfinite(dist))
    while len(frontier):
        tail, head, weight = _arcs_of(graph, frontier, tails=tails)
        better = (label[tail] < label[head]) & (dist[tail] + weight <= dist[head] + TIE_TOLERANCE_S)
        if not better.any():
            break
        np.minimum.at(label, head[better], label[tail[better]])
        frontier = np.unique(head[better])
    return label


def _arcs_of(graph: sp.csr_matrix, rows: np.ndarray, *, tails: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every arc leaving ``rows``: (tail, head, weight); a full scan when ``rows`` is large."""
    if len(rows) * 8 > graph.shape[0]:
        use = np.zeros(graph.shape[0], dtype=bool)
        use[rows] = True
        arc = np.flatnonzero(use[tails])
        return tails[arc], graph.indices[arc], graph.data[arc]
    starts = graph.indptr[rows].astype(np.int64)
    counts = graph.indptr[rows + 1] - starts
    ends = np.cumsum(counts)
    arc = np.repeat(starts - (ends - counts), counts) + np.arange(ends[-1] if len(ends) else 0)
    return np.repeat(rows, counts), graph.indices[arc], graph.data[arc]


def read_points(
    network: Network, reach: Reach, snap: Snap, *, starts: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Time (seconds) to, and id of, the nearest facility for each snapped point.

    The point leaves its edge by either end (one-way permitting) or travels along it to a facility
    on the same edge; its access leg is added. Returns ``(time_s, facility_id)``; points not
    within ``reach.limit_s`` (or unreachable) get ``inf`` and -1. ``starts`` may pass
    ``exits(network, snap)`` computed beforehand (it does not depend on the facilities).
    """
    nodes, cost = exits(network, snap) if starts is None else starts
    safe = np.maximum(nodes, 0)
    time = np.where(nodes >= 0, reach.time_s[safe] + cost, np.inf)
    label = np.where(nodes >= 0, reach.source[safe], -1)
    point, pair_time, pair_label = _same_edge(network, reach, snap)
    best_time = time.min(axis=1)
    np.minimum.at(best_time, point, pair_time)
    best_label = np.where(_tied(time, best_time[:, None]), label, _NO_LABEL).min(axis=1)
    tied = _tied(pair_time, best_time[point])
    np.minimum.at(best_label, point[tied], pair_label[tied])
    best_time = best_time + np.nan_to_num(snap.access_s, nan=np.inf)
    within = np.isfinite(best_time) & (best_time <= reach.limit_s + TIE_TOLERANCE_S)
    fid = np.full(len(best_time), -1, dtype=np.int64)
    fid[within] = reach.facility_ids[best_label[within]]
    return np.where(within, best_time, np.inf), fid


def _tied(time: np.ndarray, best: np.ndarray) -> np.ndarray:
    return np.isfinite(time) & (time <= best + TIE_TOLERANCE_S)


def _same_edge(network: Network, reach: Reach, snap: Snap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, time, facility index) for facilities on the point's own edge, straight along it.

    Times exclude the point's access leg but include the facility's; on a binding one-way edge the
    facility must lie ahead of the point (larger fraction).
    """
    fac = reach.facility_snap
    order = np.argsort(fac.edge, kind="stable")
    fac_edge = fac.edge[order]
    start = np.searchsorted(fac_edge, snap.edge, side="left")
    counts = np.where(snap.reachable, np.searchsorted(fac_edge, snap.edge, side="right") - start, 0)
    point = np.repeat(np.arange(len(snap.edge)), counts)
    ends = np.cumsum(counts)
    k = order[np.repeat(start - (ends - counts), counts) + np.arange(ends[-1] if len(ends) else 0)]
    along = along_edge_s(network, snap.edge[point], snap.fraction[point], fac.fraction[k])
    return point, along + fac.access_s[k], k


def facility_times(
    network: Network, facility_ids: np.ndarray, facility_snap: Snap, point_snap: Snap, *, limit_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Convenience: ``read_points`` after ``nearest_facility``; (time_s, facility_id) per point."""
    reach = nearest_facility(network, facility_ids, facility_snap, limit_s=limit_s)
    return read_points(network, reach, point_snap)
