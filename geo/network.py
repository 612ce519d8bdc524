"""Street network of one travel profile as compressed sparse (CSR) arrays.

Graph direction: an arc ``a → b`` with weight ``w`` means "one can travel from a to b in w
seconds". ``Network.forward`` holds those arcs; ``Network.reverse`` is its transpose, used to
search from facilities back towards the residents who travel to them.

Gated compounds (edges whose effective access is ``'private'``; connected groups of them form one
compound, touching public streets only at gate nodes) are routed with three layers of nodes:

* ``M`` — every original node, linked by the public edges;
* ``P`` ("prefix") — a copy of each private node, linked by the private edges; gate copies have a
  zero-time arc ``P_gate → M_gate``: a trip that *starts* inside a compound leaves it by a gate;
* ``S`` ("suffix") — a second copy, also linked by the private edges; gates have a zero-time arc
  ``M_gate → S_gate``: a trip that *ends* inside a compound enters it by a gate.

There is no arc from ``S`` or ``M`` back to ``P`` and none from ``S`` to ``M``, so every route has
the form ``[inside origin compound] → public streets → [inside destination compound]``; a route
can never pass *through* a compound between two outside points. A point inside a compound starts
on both its ``P`` copy (to leave) and its ``S`` copy (to reach places in the same compound without
leaving); a destination inside a compound is entered on its ``S`` copy only. See
``geo.snapping.exits`` / ``entries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from geo.crs import WGS84, geometries_to, to_metric, utm_crs_for
from geo.errors import MissingColumnsError, NetworkError
from geo.profiles import Profile, edge_rules

NODE_COLUMNS = ["node_id", "lon", "lat"]
EDGE_COLUMNS = ["edge_id", "u", "v", "length_m", "highway", "oneway", "access"]


@dataclass(frozen=True, eq=False)
class Network:
    """Routable arrays of one profile. Coordinates are metres in ``crs`` (UTM of the data).

    Node indices ``0..n_nodes-1`` are the original nodes (``node_ids`` ascending, layer ``M``);
    ``s_copy[i]`` / ``p_copy[i]`` give the ``S``/``P`` copies of private node ``i`` (or -1).
    Edge arrays (``edge_*``) hold the profile's usable edges, ascending by ``edge_id``;
    ``edge_u``/``edge_v`` are original node indices, ``edge_compound`` is -1 on public edges.
    """

    profile: Profile
    crs: pyproj.CRS
    node_ids: np.ndarray
    node_xy: np.ndarray
    n_total: int
    s_copy: np.ndarray
    p_copy: np.ndarray
    edge_id: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_time_s: np.ndarray
    edge_oneway: np.ndarray
    edge_compound: np.ndarray
    edge_geometry: np.ndarray
    compound_hulls: np.ndarray
    forward: sp.csr_matrix
    reverse: sp.csr_matrix

    @property
    def n_nodes(self) -> int:
        """Number of original street nodes."""
        return len(self.node_ids)

    @cached_property
    def edge_trees(self) -> dict[bool, tuple[np.ndarray, shapely.STRtree]]:
        """Spatial indexes of the edges, keyed by "private": ``{flag: (edge rows, STRtree)}``."""
        trees = {}
        for private in (False, True):
            rows = np.flatnonzero((self.edge_compound >= 0) == private)
            trees[private] = (rows, shapely.STRtree(self.edge_geometry[rows]))
        return trees

    @cached_property
    def hull_tree(self) -> shapely.STRtree:
        """Spatial index of ``compound_hulls``."""
        return shapely.STRtree(self.compound_hulls)

    @cached_property
    def reverse_tails(self) -> np.ndarray:
        """Row (tail node) of every stored arc of ``reverse``, int32, in storage order."""
        return np.repeat(np.arange(self.n_total, dtype=np.int32), np.diff(self.reverse.indptr))

    def layer_index(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Layer node indices ``(first_u, first_v, s_u, s_v)`` of edge ``rows``.

        For a public edge ``first_*`` are the ``M`` nodes and ``s_*`` are -1; for a private edge
        ``first_*`` are the ``P`` copies and ``s_*`` the ``S`` copies.
        """
        u, v = self.edge_u[rows], self.edge_v[rows]
        private = self.edge_compound[rows] >= 0
        first_u = np.where(private, self.p_copy[u], u)
        first_v = np.where(private, self.p_copy[v], v)
        s_u = np.where(private, self.s_copy[u], -1)
        s_v = np.where(private, self.s_copy[v], -1)
        return first_u, first_v, s_u, s_v

    def best_layer_times(self, times: np.ndarray) -> np.ndarray:
        """Per original node, the least of its ``M``, ``P`` and ``S`` copies' values in ``times``."""
        best = times[: self.n_nodes].copy()
        for copy in (self.s_copy, self.p_copy):
            has = copy >= 0
            best[has] = np.minimum(best[has], times[copy[has]])
        return best


def build_network(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    profile: Profile,
    *,
    crs: pyproj.CRS | None = None,
    compound_margin_m: float = 0.0,
) -> Network:
    """Build the routable network of ``profile`` from the nodes/edges frames of CONTRACTS.md.

    Parameters
    ----------
    nodes, edges : street network frames, EPSG:4326; ``edges.length_m`` in metres.
    profile : travel profile (``geo.profiles.load_profiles``).
    crs : metric CRS; default the UTM zone of the centre of the nodes.
    compound_margin_m : a compound's extent for snapping is the convex hull of its private edges
        grown by this margin, metres. 0 (default) is strict: no point beyond the inner roads'
        hull ever snaps inside. A margin of ~20 m also lets homes between the outermost inner
        road and the fence snap inside, at the risk of catching points just beyond a fence that
        has no public street along it.

    Returns
    -------
    Network with per-arc travel time in seconds. Pure and deterministic: the same frames give
    identical arrays whatever their row order, so the result can be cached per data version.
    """
    nodes, edges = _validated(nodes, edges)
    rules = edge_rules(profile, edges)
    keep = rules.usable
    u = np.searchsorted(nodes.node_id.to_numpy(), edges.u.to_numpy())[keep]
    v = np.searchsorted(nodes.node_id.to_numpy(), edges.v.to_numpy())[keep]
    if crs is None:
        crs = utm_crs_for(float(nodes.lon.median()), float(nodes.lat.median()))
    x, y, _ = to_metric((nodes.lon.to_numpy(), nodes.lat.to_numpy()), crs=crs)
    xy = np.column_stack([x, y])
    length = edges.length_m.to_numpy(float)[keep]
    compound = _compounds(len(nodes), u, v, rules.private[keep])
    geometry = _edge_geometry(edges.loc[keep], xy, u, v, crs)
    s_copy, p_copy, n_total = _layer_copies(len(nodes), u, v, compound)
    oneway = rules.oneway[keep]
    time = length / rules.speed_mps[keep]
    forward = _layered_graph(u, v, time, oneway, compound, s_copy, p_copy, n_total)
    return Network(
        profile=profile, crs=crs, node_ids=nodes.node_id.to_numpy(np.int64), node_xy=xy,
        n_total=n_total, s_copy=s_copy, p_copy=p_copy,
        edge_id=edges.edge_id.to_numpy(np.int64)[keep], edge_u=u, edge_v=v, edge_length_m=length,
        edge_time_s=time, edge_oneway=oneway, edge_compound=compound, edge_geometry=geometry,
        compound_hulls=_compound_hulls(geometry, compound, compound_margin_m), forward=forward,
        reverse=_transpose(forward),
    )


def _validated(nodes: pd.DataFrame, edges: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    for name, frame, cols in (("nodes", nodes, NODE_COLUMNS), ("edges", edges, EDGE_COLUMNS)):
        missing = sorted(set(cols) - set(frame.columns))
        if missing:
            raise MissingColumnsError(name, missing)
    nodes = nodes.sort_values("node_id", kind="stable").reset_index(drop=True)
    edges = edges.sort_values("edge_id", kind="stable").reset_index(drop=True)
    for name, ids in (("node_id", nodes.node_id), ("edge_id", edges.edge_id)):
        if ids.duplicated().any():
            raise NetworkError(f"duplicate {name} values {ids[ids.duplicated()].head(5).tolist()}: ids must be unique")
    unknown = ~edges.u.isin(nodes.node_id) | ~edges.v.isin(nodes.node_id)
    if unknown.any():
        raise NetworkError(
            f"edges {edges.edge_id[unknown].head(5).tolist()} name nodes missing from the nodes frame: "
            "load the nodes of every edge"
        )
    bad = ~np.isfinite(edges.length_m.to_numpy(float)) | (edges.length_m.to_numpy(float) < 0)
    if bad.any():
        raise NetworkError(f"edges {edges.edge_id[bad].head(5).tolist()} have missing or negative length_m: give metres >= 0")
    return nodes, edges


def _compounds(n_nodes: int, u: np.ndarray, v: np.ndarray, private: np.ndarray) -> np.ndarray:
    """Compound id per edge (-1 public): connected groups of private edges, numbered by least edge."""
    compound = np.full(len(u), -1, dtype=np.int64)
    if not private.any():
        return compound
    adj = sp.coo_matrix((np.ones(private.sum()), (u[private], v[private])), shape=(n_nodes, n_nodes))
    _, label = connected_components(adj, directed=False)
    edge_label = label[u[private]]
    # renumber in order of first appearance (edges are sorted by edge_id) for determinism
    _, first, inverse = np.unique(edge_label, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    compound[private] = order[inverse]
    return compound


def _edge_geometry(edges: pd.DataFrame, xy: np.ndarray, u: np.ndarray, v: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """Metric LineStrings running u→v: the frame's geometry when given, else straight segments."""
    straight = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))
    if "geometry" not in edges:
        return straight
    given = np.asarray(edges["geometry"].to_numpy(), dtype=object)
    present = ~shapely.is_missing(given) & ~shapely.is_empty(given)
    if not present.any():
        return straight
    straight[present] = geometries_to(given[present], WGS84, crs)
    return straight


def _layer_copies(n_nodes: int, u: np.ndarray, v: np.ndarray, compound: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    private_nodes = np.unique(np.concatenate([u[compound >= 0], v[compound >= 0]]))
    k = len(private_nodes)
    s_copy = np.full(n_nodes, -1, dtype=np.int64)
    p_copy = np.full(n_nodes, -1, dtype=np.int64)
    s_copy[private_nodes] = n_nodes + np.arange(k)
    p_copy[private_nodes] = n_nodes + k + np.arange(k)
    return s_copy, p_copy, n_nodes + 2 * k


def _layered_graph(u, v, time, oneway, compound, s_copy, p_copy, n_total) -> sp.csr_matrix:
    """Forward arcs of the three-layer graph described in the module docstring."""
    pub, priv = compound < 0, compound >= 0
    tails, heads, weights = [], [], []

    def add(a, b, w):
        tails.append(a)
        heads.append(b)
        weights.append(w)

    add(u[pub], v[pub], time[pub])
    back = pub & ~oneway
    add(v[back], u[back], time[back])
    pback = priv & ~oneway
    for copy in (s_copy, p_copy):
        add(copy[u[priv]], copy[v[priv]], time[priv])
        add(copy[v[pback]], copy[u[pback]], time[pback])
    gates = np.intersect1d(np.concatenate([u[pub], v[pub]]), np.flatnonzero(s_copy >= 0))
    add(p_copy[gates], gates, np.zeros(len(gates)))
    add(gates, s_copy[gates], np.zeros(len(gates)))
    return _csr(np.concatenate(tails), np.concatenate(heads), np.concatenate(weights), n_total)


def _csr(tails: np.ndarray, heads: np.ndarray, weights: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR with the least weight of parallel arcs, no self-loops, explicit zeros kept."""
    keep = tails != heads
    tails, heads, weights = tails[keep], heads[keep], weights[keep]
    order = np.lexsort((weights, tails.astype(np.int64) * n + heads))
    tails, heads, weights = tails[order], heads[order], weights[order]
    first = np.ones(len(tails), dtype=bool)
    first[1:] = (tails[1:] != tails[:-1]) | (heads[1:] != heads[:-1])
    tails, heads, weights = tails[first], heads[first], weights[first]
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(tails, minlength=n), out=indptr[1:])
    return sp.csr_matrix((weights.astype(float), heads.astype(np.int32), indptr), shape=(n, n))


def _transpose(graph: sp.csr_matrix) -> sp.csr_matrix:
    """Transpose as CSR (explicit zero arcs kept: no duplicates exist to be summed)."""
    out = graph.transpose().tocsr()
    out.indices = out.indices.astype(np.int32)
    out.indptr = out.indptr.astype(np.int32)
    return out


def _compound_hulls(geometry: np.ndarray, compound: np.ndarray, margin_m: float) -> np.ndarray:
    """Convex hull (metric) of each compound's private edges: the compound's extent for snapping."""
    n = int(compound.max()) + 1 if len(compound) else 0
    if n == 0:
        return np.empty(0, dtype=object)
    rows = np.flatnonzero(compound >= 0)
    rows = rows[np.argsort(compound[rows], kind="stable")]
    coords, index = shapely.get_coordinates(geometry[rows], return_index=True)
    points = shapely.multipoints(coords, indices=compound[rows][index])
    hulls = shapely.convex_hull(points)
    return shapely.buffer(hulls, margin_m, quad_segs=4) if margin_m > 0 else hulls
