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

Chains: most street nodes only join two edges (vertices of curved roads). With ``contract=True``
such a node is routed through: maximal runs of edges through nodes of degree two (same compound,
both two-way or one-way in the same direction) form one *chain* whose two end nodes are kept; the
graph holds one arc per chain direction. Every point, facility and contracted node is a position
(seconds from the chain's end ``a``) on its chain, read exactly from both chain ends
(``geo.snapping``), and points on one chain also reach each other directly along it. Contracted
nodes keep their index but have no arcs. A ring with no junction keeps its least node.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from geo.crs import WGS84, geometries_to, to_metric, utm_crs_for
from geo.errors import MissingColumnsError, NetworkError
from geo.pickled import packed, unpacked
from geo.profiles import Profile, edge_rules

_GEOMETRY_FIELDS = ("edge_geometry", "compound_hulls")
"""``Network`` fields holding shapely geometries (pickled by ``geo.pickled``)."""

NODE_COLUMNS = ["node_id", "lon", "lat"]
EDGE_COLUMNS = ["edge_id", "u", "v", "length_m", "highway", "oneway", "access"]


@dataclass(frozen=True, eq=False)
class Network:
    """Routable arrays of one profile. Coordinates are metres in ``crs`` (UTM of the data).

    Node indices ``0..n_nodes-1`` are the original nodes (``node_ids`` ascending, layer ``M``);
    ``s_copy[i]`` / ``p_copy[i]`` give the ``S``/``P`` copies of private node ``i`` (or -1).
    Edge arrays (``edge_*``) hold the profile's usable edges, ascending by ``edge_id``;
    ``edge_u``/``edge_v`` are original node indices, ``edge_compound`` is -1 on public edges.
    Edge ``e`` lies on chain ``edge_chain[e]`` from position ``edge_offset_s[e]`` (seconds from the
    chain's end ``a``), running u→v towards ``b`` when ``edge_aligned[e]``. Chain arrays
    (``chain_*``): end nodes ``a``, ``b`` (original node indices), travel time, whether travel
    a→b / b→a is allowed, compound (-1 public).
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
    edge_chain: np.ndarray
    edge_aligned: np.ndarray
    edge_offset_s: np.ndarray
    chain_a: np.ndarray
    chain_b: np.ndarray
    chain_time_s: np.ndarray
    chain_ab: np.ndarray
    chain_ba: np.ndarray
    chain_compound: np.ndarray
    compound_hulls: np.ndarray
    forward: sp.csr_matrix
    reverse: sp.csr_matrix

    def __getstate__(self) -> dict:
        """The fields only (spatial indexes are rebuilt on first use), geometries ``geo.pickled``."""
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**state, **{name: packed(state[name]) for name in _GEOMETRY_FIELDS}}

    def __setstate__(self, state: dict) -> None:
        """Rebuild from ``__getstate__``."""
        self.__dict__.update({**state, **{name: unpacked(state[name]) for name in _GEOMETRY_FIELDS}})

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

    def chain_ends(self, chains: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Layer node indices ``(first_a, first_b, s_a, s_b)`` of the ends of ``chains``.

        For a public chain ``first_*`` are the ``M`` nodes and ``s_*`` are -1; for a private chain
        ``first_*`` are the ``P`` copies and ``s_*`` the ``S`` copies.
        """
        a, b = self.chain_a[chains], self.chain_b[chains]
        private = self.chain_compound[chains] >= 0
        first_a = np.where(private, self.p_copy[a], a)
        first_b = np.where(private, self.p_copy[b], b)
        s_a = np.where(private, self.s_copy[a], -1)
        s_b = np.where(private, self.s_copy[b], -1)
        return first_a, first_b, s_a, s_b


def build_network(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    profile: Profile,
    *,
    crs: pyproj.CRS | None = None,
    compound_margin_m: float = 0.0,
    contract: bool = True,
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
    contract : route through nodes of degree two (chains, see the module docstring); results are
        identical either way, searches are several times faster.

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
    chains = _chains(len(nodes), u, v, time, oneway, compound, contract=contract)
    forward = _layered_graph(chains, s_copy, p_copy, n_total)
    return Network(
        profile=profile,
        crs=crs,
        node_ids=nodes.node_id.to_numpy(np.int64),
        node_xy=xy,
        n_total=n_total,
        s_copy=s_copy,
        p_copy=p_copy,
        edge_id=edges.edge_id.to_numpy(np.int64)[keep],
        edge_u=u,
        edge_v=v,
        edge_length_m=length,
        edge_time_s=time,
        edge_oneway=oneway,
        edge_compound=compound,
        edge_geometry=geometry,
        **{f"edge_{k}": chains[f"edge_{k}"] for k in ("chain", "aligned", "offset_s")},
        **{f"chain_{k}": chains[k] for k in ("a", "b", "time_s", "ab", "ba", "compound")},
        compound_hulls=_compound_hulls(geometry, compound, compound_margin_m),
        forward=forward,
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
            raise NetworkError(
                f"duplicate {name} values {ids[ids.duplicated()].head(5).tolist()}: ids must be unique"
            )
    unknown = ~edges.u.isin(nodes.node_id) | ~edges.v.isin(nodes.node_id)
    if unknown.any():
        raise NetworkError(
            f"edges {edges.edge_id[unknown].head(5).tolist()} name nodes missing from the nodes frame: "
            "load the nodes of every edge"
        )
    bad = ~np.isfinite(edges.length_m.to_numpy(float)) | (edges.length_m.to_numpy(float) < 0)
    if bad.any():
        raise NetworkError(
            f"edges {edges.edge_id[bad].head(5).tolist()} have missing or negative length_m: give metres >= 0"
        )
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


def metric_geometry_column(crs: pyproj.CRS) -> str:
    """Name of the edges column holding their geometry already projected to ``crs``.

    ``with_metric_geometry`` adds that column.
    """
    return f"metric_geometry_{crs.to_epsg() or abs(hash(crs.to_wkt()))}"


def with_metric_geometry(edges: pd.DataFrame, crs: pyproj.CRS) -> pd.DataFrame:
    """``edges`` plus their geometry projected to the metric ``crs`` (None where missing).

    The networks of several profiles built with ``build_network(crs=crs)`` then project it once, not
    once each.
    """
    if "geometry" not in edges:
        return edges
    given = np.asarray(edges["geometry"].to_numpy(), dtype=object)
    present = ~shapely.is_missing(given) & ~shapely.is_empty(given)
    metric = np.full(len(given), None, dtype=object)
    if present.any():
        metric[present] = geometries_to(given[present], WGS84, crs)
    return edges.assign(**{metric_geometry_column(crs): metric})


def _edge_geometry(
    edges: pd.DataFrame, xy: np.ndarray, u: np.ndarray, v: np.ndarray, crs: pyproj.CRS
) -> np.ndarray:
    """Metric LineStrings running u→v: the frame's geometry when given, else straight segments.

    The geometry is projected already when ``with_metric_geometry`` added it for ``crs``.
    """
    column = metric_geometry_column(crs)
    if column in edges:
        out = np.asarray(edges[column].to_numpy(), dtype=object).copy()
        present = ~shapely.is_missing(out)
    elif "geometry" in edges:
        given = np.asarray(edges["geometry"].to_numpy(), dtype=object)
        present = ~shapely.is_missing(given) & ~shapely.is_empty(given)
        out = np.full(len(given), None, dtype=object)
        if present.any():
            out[present] = geometries_to(given[present], WGS84, crs)
    else:
        present, out = np.zeros(len(u), dtype=bool), np.full(len(u), None, dtype=object)
    if not present.all():
        out[~present] = shapely.linestrings(np.stack([xy[u[~present]], xy[v[~present]]], axis=1))
    return out


def _layer_copies(
    n_nodes: int, u: np.ndarray, v: np.ndarray, compound: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    private_nodes = np.unique(np.concatenate([u[compound >= 0], v[compound >= 0]]))
    k = len(private_nodes)
    s_copy = np.full(n_nodes, -1, dtype=np.int64)
    p_copy = np.full(n_nodes, -1, dtype=np.int64)
    s_copy[private_nodes] = n_nodes + np.arange(k)
    p_copy[private_nodes] = n_nodes + k + np.arange(k)
    return s_copy, p_copy, n_nodes + 2 * k


def _layered_graph(chains: dict, s_copy, p_copy, n_total) -> sp.csr_matrix:
    """Forward arcs of the three-layer graph described in the module docstring (one per chain way)."""
    a, b, time, ab, ba, compound = (chains[k] for k in ("a", "b", "time_s", "ab", "ba", "compound"))
    pub, priv = compound < 0, compound >= 0
    tails, heads, weights = [], [], []

    def add(x, y, w):
        tails.append(x)
        heads.append(y)
        weights.append(w)

    for copy_ in (None, s_copy, p_copy):
        use = pub if copy_ is None else priv
        ca, cb = (a, b) if copy_ is None else (copy_[a], copy_[b])
        add(ca[use & ab], cb[use & ab], time[use & ab])
        add(cb[use & ba], ca[use & ba], time[use & ba])
    gates = np.intersect1d(np.concatenate([a[pub], b[pub]]), np.concatenate([a[priv], b[priv]]))
    add(p_copy[gates], gates, np.zeros(len(gates)))
    add(gates, s_copy[gates], np.zeros(len(gates)))
    return _csr(np.concatenate(tails), np.concatenate(heads), np.concatenate(weights), n_total)


# --- chains -------------------------------------------------------------------------------------


def _chains(n: int, u, v, time, oneway, compound, *, contract: bool) -> dict:
    """Chains of edges through nodes of degree two (see the module docstring).

    Returns per-edge ``edge_chain``, ``edge_aligned``, ``edge_offset_s`` and per-chain ``a``,
    ``b``, ``time_s``, ``ab``, ``ba``, ``compound``.
    """
    through = _contractible(n, u, v, oneway, compound) if contract else np.zeros(n, dtype=bool)
    uvert, vvert, label = _split_components(n, u, v, through)
    loops = _pure_cycles(n, u, uvert, vvert, label, through)
    if len(loops):  # a ring with no junction keeps its least node as both chain ends
        through[loops] = False
        uvert, vvert, label = _split_components(n, u, v, through)
    chain = _renumber(label[uvert]) if len(u) else np.empty(0, np.int64)
    return _chain_geometry(n, u, v, time, oneway, compound, uvert, vvert, chain)


def _contractible(n: int, u, v, oneway, compound) -> np.ndarray:
    """Nodes joining exactly two edges of one compound that can be travelled straight through."""
    m = len(u)
    node = np.concatenate([u, v])
    deg = np.bincount(node, minlength=n)
    order = np.argsort(node, kind="stable")
    start = np.concatenate([[0], np.cumsum(deg)[:-1]])
    selfloop = np.zeros(n, dtype=bool)
    selfloop[u[u == v]] = True
    cand = np.flatnonzero((deg == 2) & ~selfloop)
    first, second = order[start[cand]], order[start[cand] + 1]
    e1, e2 = first % m, second % m
    enters1, enters2 = first >= m, second >= m  # the node is the edge's v end
    straight = (~oneway[e1] & ~oneway[e2]) | (oneway[e1] & oneway[e2] & (enters1 != enters2))
    out = np.zeros(n, dtype=bool)
    out[cand] = straight & (compound[e1] == compound[e2])
    return out


def _split_components(n: int, u, v, through):
    """Components of the graph where every kept node is split into one vertex per edge end.

    Vertex ids: a through node keeps its index; the u end of edge e at a kept node is ``n + e``,
    its v end ``n + m + e``. Each component is one chain (a path between two end vertices).
    """
    m = len(u)
    uvert = np.where(through[u], u, n + np.arange(m))
    vvert = np.where(through[v], v, n + m + np.arange(m))
    size = n + 2 * m
    graph = sp.coo_matrix((np.ones(m), (uvert, vvert)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    return uvert, vvert, label


def _pure_cycles(n, u, uvert, vvert, label, through) -> np.ndarray:
    """Least node of each component made only of through nodes (a ring without junction)."""
    ends = np.concatenate([uvert[uvert >= n], vvert[vvert >= n]])
    has_end = np.zeros(label.max() + 1 if len(label) else 0, dtype=bool)
    has_end[label[ends]] = True
    ring_nodes = np.flatnonzero(through & ~has_end[label[np.arange(n)]])
    if len(ring_nodes) == 0:
        return ring_nodes
    least = np.full(label.max() + 1, n)
    np.minimum.at(least, label[ring_nodes], ring_nodes)
    return np.unique(least[label[ring_nodes]])


def _renumber(label: np.ndarray) -> np.ndarray:
    """Dense ids in order of first appearance (edges are sorted by edge_id): deterministic."""
    _, first, inverse = np.unique(label, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first, kind="stable"), kind="stable")[inverse]


def _chain_geometry(n, u, v, time, oneway, compound, uvert, vvert, chain) -> dict:
    """Ends, orientation and positions along each chain (walked from its end ``a``)."""
    m = len(u)
    n_chains = int(chain.max()) + 1 if m else 0
    end_vert = np.concatenate([uvert, vvert])
    end_node = np.concatenate([u, v])
    end_chain = np.concatenate([chain, chain])
    is_end = end_vert >= n
    order = np.lexsort((end_vert[is_end], end_node[is_end], end_chain[is_end]))
    ends = end_vert[is_end][order].reshape(n_chains, 2)  # (a vertex, b vertex), least node first
    ends_node = end_node[is_end][order].reshape(n_chains, 2)
    pos, aligned = _walk_chains(n, uvert, vvert, time, ends[:, 0])
    first_edge = np.full(n_chains, m)
    np.minimum.at(first_edge, chain, np.arange(m))
    ow, al = oneway[first_edge], aligned[first_edge]
    return {
        "edge_chain": chain,
        "edge_aligned": aligned,
        "edge_offset_s": np.where(aligned, pos[uvert], pos[vvert]),
        "a": ends_node[:, 0],
        "b": ends_node[:, 1],
        "time_s": pos[ends[:, 1]],
        "ab": ~ow | al,
        "ba": ~ow | ~al,
        "compound": compound[first_edge],
    }


def _walk_chains(
    n: int, uvert: np.ndarray, vvert: np.ndarray, time: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds from its chain's start of every vertex, and whether each edge runs u→v from it.

    Every chain is a path: its two end vertices (``>= n``) have one edge, its through nodes two. All
    chains are walked at once, one edge per step, from ``starts``; a vertex's position is its
    predecessor's plus the edge's time, the same sums in the same order as a shortest-path search
    from the starts (a path has one way through it) at a fraction of the cost.
    """
    m = len(uvert)
    size = n + 2 * m
    pos = np.full(size, np.inf)
    aligned = np.zeros(m, dtype=bool)
    if m == 0:
        return pos, aligned
    # the (at most two) edges at each vertex
    vert = np.concatenate([uvert, vvert])
    edge = np.concatenate([np.arange(m), np.arange(m)])
    order = np.argsort(vert, kind="stable")
    vert, edge = vert[order], edge[order]
    second = np.r_[False, vert[1:] == vert[:-1]]
    at = np.full((size, 2), -1, dtype=np.int64)
    at[vert, second.astype(np.int64)] = edge
    cur = np.asarray(starts, dtype=np.int64)
    came = np.full(len(cur), -1, dtype=np.int64)
    pos[cur] = 0.0
    while len(cur):
        first = at[cur, 0]
        e = np.where(first != came, first, at[cur, 1])
        forward = uvert[e] == cur
        nxt = np.where(forward, vvert[e], uvert[e])
        aligned[e] = forward
        pos[nxt] = pos[cur] + time[e]
        on = nxt < n  # through nodes go on; an end vertex closes its chain
        cur, came = nxt[on], e[on]
    return pos, aligned


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
