"""Turn a soup of straight segments into a topological network (local metres).

Segments on the same ``layer`` that cross or touch get a shared node at the crossing; segments on
different layers (the motorway above ordinary roads) cross without a node, like an overpass.
Dangling ends within ``snap`` metres of another segment of the same layer are joined to it. Nodes
are identified by their coordinates rounded to 1 mm.
"""

from __future__ import annotations

import numpy as np
import shapely

_EPS = 0.01  # metres: an intersection closer than this to a segment end is that end


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


def _crossings(p0, p1, layer, tree, lines):
    """(segment, t, x, y) insertions where two same-layer segments cross or touch."""
    i, j = tree.query(lines, predicate="intersects")
    keep = (i < j) & (layer[i] == layer[j])
    i, j = i[keep], j[keep]
    r, u = p1[i] - p0[i], p1[j] - p0[j]
    den = _cross(r, u)
    ok = np.abs(den) > 1e-9
    i, j, r, u, den = i[ok], j[ok], r[ok], u[ok], den[ok]
    qp = p0[j] - p0[i]
    t, s = _cross(qp, u) / den, _cross(qp, r) / den
    li, lj = np.hypot(*r.T), np.hypot(*u.T)
    end_i = (t * li < _EPS) | ((1 - t) * li < _EPS)
    end_j = (s * lj < _EPS) | ((1 - s) * lj < _EPS)
    x = p0[i] + t[:, None] * r
    # a segment end touching another segment's interior: insert the exact end point there
    x = np.where((end_i & ~end_j)[:, None], np.where((t < 0.5)[:, None], p0[i], p1[i]), x)
    x = np.where((end_j & ~end_i)[:, None], np.where((s < 0.5)[:, None], p0[j], p1[j]), x)
    ins_i, ins_j = ~end_i, ~end_j
    seg = np.concatenate([i[ins_i], j[ins_j]])
    pts = np.vstack([x[ins_i], x[ins_j]])
    return seg, pts


def _snaps(p0, p1, layer, tree, lines, snap: float):
    """Insertions joining dangling segment ends to a segment of the same layer within ``snap`` m."""
    ends = np.vstack([p0, p1])
    owner = np.r_[np.arange(len(p0)), np.arange(len(p0))]
    key = np.round(ends * 1000).astype(np.int64)
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    dangling = cnt[inv.ravel()] == 1
    e, own = ends[dangling], owner[dangling]
    pi, sj = tree.query(shapely.points(e), predicate="dwithin", distance=snap)
    keep = (sj != own[pi]) & (layer[sj] == layer[own[pi]])
    pi, sj = pi[keep], sj[keep]
    d = shapely.distance(shapely.points(e[pi]), lines[sj])
    order = np.lexsort([d, pi])
    first = np.r_[True, pi[order][1:] != pi[order][:-1]]
    pi, sj = pi[order][first], sj[order][first]
    return sj, e[pi]


def _split(p0, p1, seg, pts):
    """Split segments at inserted points; returns new (p0, p1, parent index)."""
    d = p1[seg] - p0[seg]
    ln2 = (d**2).sum(1)
    t = ((pts - p0[seg]) * d).sum(1) / np.where(ln2 > 0, ln2, 1.0)
    m = len(p0)
    allseg = np.concatenate([np.arange(m), np.arange(m), seg])
    allt = np.concatenate([np.zeros(m), np.ones(m), np.clip(t, 1e-9, 1 - 1e-9)])
    allp = np.vstack([p0, p1, pts])
    order = np.lexsort([allt, allseg])
    allseg, allp = allseg[order], allp[order]
    same = allseg[1:] == allseg[:-1]
    return allp[:-1][same], allp[1:][same], allseg[:-1][same]


def node(p0: np.ndarray, p1: np.ndarray, layer: np.ndarray, *, snap: float = 0.5):
    """Node a segment soup.

    Parameters
    ----------
    p0, p1 : (m, 2) segment start and end points, metres.
    layer : (m,) int grade level; only equal levels connect.
    snap : distance in metres within which a dangling end joins a nearby segment.

    Returns
    -------
    xy : (n, 2) node coordinates; u, v : (k,) node indices of each new segment (u→v keeps the
    input direction); parent : (k,) index of the input segment each new segment comes from.
    """
    lines = shapely.linestrings(np.stack([p0, p1], axis=1))
    tree = shapely.STRtree(lines)
    s1, x1 = _crossings(p0, p1, layer, tree, lines)
    s2, x2 = _snaps(p0, p1, layer, tree, lines, snap)
    a, b, parent = _split(p0, p1, np.concatenate([s1, s2]), np.vstack([x1, x2]))
    key = np.round(np.vstack([a, b]) * 1000).astype(np.int64)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    xy = np.zeros((len(uniq), 2))
    xy[inv] = np.vstack([a, b])
    u, v = inv[: len(a)], inv[len(a) :]
    keep = u != v
    u, v, parent = u[keep], v[keep], parent[keep]
    pair = np.sort(np.column_stack([u, v]), axis=1)
    _, first = np.unique(pair, axis=0, return_index=True)
    first = np.sort(first)
    return xy, u[first], v[first], parent[first]
