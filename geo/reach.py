"""Reach: how far every place is from its nearest facility.

One bounded multi-source Dijkstra from all facilities of a type.

Residents travel *to* facilities, so the search runs on ``Network.reverse`` from the facilities.
Each facility enters the graph as a virtual source node whose arcs reach the two ends of its
chain (``geo.network``) with the exact partial time plus its access leg
(``geo.snapping.entries``); scipy's ``dijkstra(min_only=True, limit=...)`` then gives every graph
node the time to, and the source of, its nearest facility. Points read their time from the ends
of their own chain (``geo.snapping.exits``) plus their access leg; a facility on the *same* chain
is also reached directly along it (respecting one-way). ``node_times`` reads every street node
the same way.

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
from geo.snapping import Snap, along_chain_s, chain_position, entries, exits, node_snap

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
    facility_chain, facility_pos_s : chain positions of the facilities (computed when omitted).
    """

    time_s: np.ndarray
    source: np.ndarray
    facility_ids: np.ndarray
    facility_snap: Snap
    limit_s: float
    facility_chain: np.ndarray | None = None
    facility_pos_s: np.ndarray | None = None

    def facility_position(self, network: Network) -> tuple[np.ndarray, np.ndarray]:
        """Chain and position (seconds from its end ``a``) of each facility."""
        if self.facility_chain is None or self.facility_pos_s is None:
            return chain_position(network, self.facility_snap)
        return self.facility_chain, self.facility_pos_s


@dataclass(frozen=True, eq=False)
class Starts:
    """Where trips from snapped points join the graph (independent of the facilities).

    ``nodes``/``cost_s`` are ``geo.snapping.exits``; ``chain``/``pos_s`` the chain positions.
    """

    snap: Snap
    nodes: np.ndarray
    cost_s: np.ndarray
    chain: np.ndarray
    pos_s: np.ndarray


def starts_of(network: Network, snap: Snap) -> Starts:
    """Precompute the ``Starts`` of ``snap`` (reuse them across facility types)."""
    return Starts(snap, *exits(network, snap), *chain_position(network, snap))


def nearest_facility(
    network: Network, facility_ids: np.ndarray, facility_snap: Snap, *, limit_s: float
) -> Reach:
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
        return Reach(
            np.full(n, np.inf),
            np.full(n, -1, np.int64),
            ids,
            snap,
            float(limit_s),
            *chain_position(network, snap),
        )
    # the bound is widened by a hair so nodes exactly at the limit are kept
    dist, _, src = dijkstra(
        graph,
        indices=np.arange(n, n + len(ids)),
        min_only=True,
        return_predecessors=True,
        limit=float(limit_s) + TIE_TOLERANCE_S,
    )
    label = np.where(src >= 0, src.astype(np.int64) - n, -1)
    if len(ids) > 1:  # a single source cannot tie
        virtual = np.repeat(np.arange(n, n + len(ids), dtype=np.int32), np.diff(graph.indptr[n:]))
        label = _lowest_id_on_ties(graph, dist, label, tails=np.concatenate([network.reverse_tails, virtual]))
    return Reach(dist[:n], label[:n], ids, snap, float(limit_s), *chain_position(network, snap))


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


def _lowest_id_on_ties(
    graph: sp.csr_matrix, dist: np.ndarray, label: np.ndarray, *, tails: np.ndarray
) -> np.ndarray:
    """Relabel nodes reached equally fast from several sources with the lowest source index.

    Propagates labels along tight arcs (``dist[a] + w <= dist[b] + tol``): at the fixed point each
    node carries the least index of all sources that have a shortest path to it. ``tails`` is the
    tail node of every stored arc of ``graph`` (for a full first scan when much is reached).
    """
    unreached = np.iinfo(np.int32).max  # larger than any label, so never propagated
    lab = np.where(label >= 0, label, unreached).astype(np.int32)
    reached = np.flatnonzero(np.isfinite(dist))
    if len(reached) * 8 > len(dist):
        tail, head, weight = tails, graph.indices, graph.data
    else:
        tail, head, weight = _arcs_of(graph, reached)
    while True:
        # only arcs into a node with a larger label can change anything; few do
        cand = np.flatnonzero(lab[tail] < lab[head])
        t, h = tail[cand], head[cand]
        better = np.isfinite(dist[h]) & (dist[t] + weight[cand] <= dist[h] + TIE_TOLERANCE_S)
        if not better.any():
            break
        np.minimum.at(lab, h[better], lab[t[better]])
        tail, head, weight = _arcs_of(graph, np.unique(h[better]))
    return np.where(lab == unreached, -1, lab).astype(np.int64)


def _arcs_of(graph: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every arc leaving ``rows``: (tail, head, weight)."""
    starts = graph.indptr[rows].astype(np.int64)
    counts = graph.indptr[rows + 1] - starts
    ends = np.cumsum(counts)
    arc = np.repeat(starts - (ends - counts), counts) + np.arange(ends[-1] if len(ends) else 0)
    return np.repeat(rows, counts), graph.indices[arc], graph.data[arc]


def read_points(
    network: Network,
    reach: Reach,
    points: Snap | Starts,
    *,
    starts: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Time (seconds) to, and id of, the nearest facility for each snapped point.

    The point leaves its chain by either end (one-way permitting) or travels along it to a
    facility on the same chain; its access leg is added. Returns ``(time_s, facility_id)``; points
    not within ``reach.limit_s`` (or unreachable) get ``inf`` and -1. ``points`` may be
    ``starts_of(network, snap)`` computed beforehand (or pass ``starts=exits(network, snap)``).
    """
    if isinstance(points, Starts):
        pts = points
    elif starts is not None:
        pts = Starts(points, starts[0], starts[1], *chain_position(network, points))
    else:
        pts = starts_of(network, points)
    # column by column: row-wise min over 4 columns is slow in numpy
    columns = range(pts.nodes.shape[1])
    safe = [np.maximum(pts.nodes[:, k], 0) for k in columns]
    time = [reach.time_s[safe[k]] + pts.cost_s[:, k] for k in columns]  # unused slots carry cost inf
    point, pair_time, pair_label = _same_chain(network, reach, pts)
    best_time = np.minimum.reduce(time) if time else np.full(len(pts.nodes), np.inf)
    np.minimum.at(best_time, point, pair_time)
    best_label = np.full(len(best_time), _NO_LABEL)
    for k in columns:
        np.copyto(best_label, np.minimum(best_label, reach.source[safe[k]]), where=_tied(time[k], best_time))
    tied = _tied(pair_time, best_time[point])
    np.minimum.at(best_label, point[tied], pair_label[tied])
    best_time = best_time + np.nan_to_num(pts.snap.access_s, nan=np.inf)
    within = np.isfinite(best_time) & (best_time <= reach.limit_s + TIE_TOLERANCE_S)
    fid = np.full(len(best_time), -1, dtype=np.int64)
    fid[within] = reach.facility_ids[best_label[within]]
    return np.where(within, best_time, np.inf), fid


def _tied(time: np.ndarray, best: np.ndarray) -> np.ndarray:
    return np.isfinite(time) & (time <= best + TIE_TOLERANCE_S)


def _same_chain(network: Network, reach: Reach, starts: Starts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, time, facility index) for facilities on the point's own chain, straight along it.

    Times exclude the point's access leg but include the facility's; one-way chains only allow
    travel in their direction.
    """
    fac_chain, fac_pos = reach.facility_position(network)
    point, k = same_chain_pairs(starts.chain, fac_chain)
    along = along_chain_s(network, starts.chain[point], starts.pos_s[point], fac_pos[k])
    return point, along + reach.facility_snap.access_s[k], k


def same_chain_pairs(chain: np.ndarray, other_chain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i, j) with ``chain[i] == other_chain[j] >= 0``."""
    order = np.argsort(other_chain, kind="stable")
    sorted_chain = other_chain[order]
    start = np.searchsorted(sorted_chain, chain, side="left")
    counts = np.where(chain >= 0, np.searchsorted(sorted_chain, chain, side="right") - start, 0)
    point = np.repeat(np.arange(len(chain)), counts)
    ends = np.cumsum(counts)
    j = order[np.repeat(start - (ends - counts), counts) + np.arange(ends[-1] if len(ends) else 0)]
    return point, j


def node_times(network: Network, reach: Reach) -> tuple[np.ndarray, np.ndarray]:
    """Time (seconds) to, and id of, the nearest facility for every street node (``node_ids``).

    Nodes contracted into chains are read like points at their chain position; a node inside a
    compound takes its best layer. ``inf`` / -1 beyond the limit or without a usable edge.
    """
    return read_points(network, reach, node_snap(network))


def facility_times(
    network: Network, facility_ids: np.ndarray, facility_snap: Snap, point_snap: Snap, *, limit_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Convenience: ``read_points`` after ``nearest_facility``; (time_s, facility_id) per point."""
    reach = nearest_facility(network, facility_ids, facility_snap, limit_s=limit_s)
    return read_points(network, reach, point_snap)
