"""Isochrones: the street area reachable from (or able to reach) a point within a time budget.

One bounded Dijkstra from the snapped point (on ``Network.forward`` for ``direction='from'``, on
``Network.reverse`` for ``'to'``, i.e. the places whose residents reach the point). Times of
nodes and of given points are exact (partial edges, access legs, one-way streets, compounds),
the same as ``geo.reach`` computes for coverage.

The polygon of a budget follows the streets (never a convex hull):

1. the *street band*: every reachable stretch of street — whole chains, and the part of a chain
   whose far end is out of reach, cut at the remaining time — widened by ``buffer_m`` metres on
   either side (simplified by at most ``buffer_m / 20``, at most 2 m), plus the origin's access leg;
2. for the ``points`` passed in, the polygon is made exact: a point lies inside the polygon of a
   budget **if and only if** its travel time (``points.time_s``: along the streets plus its access
   leg at walking speed) is within the budget. An unreachable point that falls in the band gets a
   small hole around it (radius at most ``buffer_m / 4`` or 10 m, and under half its distance to
   any reachable point, leg or street node); a reachable point outside the band is joined by its
   access leg (a strip up to 2 m wide from the point to its snapped position on the street) and a
   small disc, both kept under half their distance to any unreachable point.

Anywhere else the band is an approximation: a place next to a reachable street may itself be out
of reach (its nearest street is another, or its walk to the street is long), and a reachable
place far from its street lies outside the band. Pass the places that matter as ``points``.
Polygons are built in the network's metric CRS and returned in EPSG:4326.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Hashable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from geo.crs import WGS84, geometries_to, to_metric
from geo.errors import GeoError, UnreachablePointError
from geo.gaps import valid_polygons
from geo.network import Network
from geo.reach import TIE_TOLERANCE_S
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
LEG_WIDTH_M = 2.0  # full width of an access-leg strip
DISC_M = 4.0  # radius of the disc around a reachable point off the band


@dataclass(frozen=True, eq=False)
class Isochrone:
    """Isochrone polygons and the reachable places behind them.

    Attributes
    ----------
    polygons : GeoDataFrame (EPSG:4326): ``minutes``, ``geometry`` (valid (Multi)Polygon), one row
        per budget, ascending. Each holds exactly the given ``points`` reachable within its budget.
    nodes : ``node_id``, ``time_s`` of the street nodes reachable within the largest budget.
    points : for the ``points`` passed in (same index): ``time_s`` (NaN when not reachable within
        the largest budget) and ``snapped``; None when no points were given.
    """

    polygons: gpd.GeoDataFrame
    nodes: pd.DataFrame
    points: pd.DataFrame | None


@dataclass(frozen=True, eq=False)
class _Places:
    """Metric positions of points, where they join the street, and their travel times."""

    xy: np.ndarray  # (n, 2)
    street_xy: np.ndarray  # (n, 2), NaN when not snapped
    time_s: np.ndarray  # (n,), inf beyond the largest budget or not snapped


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
        are returned, and each polygon contains exactly those reachable within its budget.
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
    node_time = _snap_times(network, origin, direction, dist, _node_targets(network), limit)
    reached = np.flatnonzero(np.isfinite(node_time))
    nodes = _Places(network.node_xy[reached], network.node_xy[reached], node_time[reached])
    start = _places(network, np.array([lon]), np.array([lat]), origin, np.zeros(1))
    given = None
    if points is not None:
        points = with_lonlat(points)
        targets = _point_targets(
            network, points.lon.to_numpy(float), points.lat.to_numpy(float), max_distance_m
        )
        time = _snap_times(network, origin, direction, dist, targets, limit)
        given = _Places(targets.xy, targets.street_xy, time)
        points = pd.DataFrame(
            {"time_s": np.where(np.isfinite(time), time, np.nan), "snapped": targets.snap.reachable},
            index=points.index,
        )
    polygons = [
        _polygon(network, origin, direction, dist, m * 60.0, buffer_m, start, given, nodes) for m in budgets
    ]
    return Isochrone(
        polygons=gpd.GeoDataFrame(
            {"minutes": budgets},
            geometry=valid_polygons(geometries_to(np.array(polygons), network.crs, WGS84)),
            crs=WGS84,
        ),
        nodes=pd.DataFrame({"node_id": network.node_ids[reached], "time_s": node_time[reached]}),
        points=points,
    )


def _places(network: Network, lon: np.ndarray, lat: np.ndarray, snap: Snap, time: np.ndarray) -> _Places:
    x, y, _ = to_metric((lon, lat), crs=network.crs)
    rows = np.where(snap.reachable, snap.edge, 0)
    on_street = shapely.line_interpolate_point(
        network.edge_geometry[rows], np.nan_to_num(snap.fraction), normalized=True
    )
    street = np.where(snap.reachable[:, None], shapely.get_coordinates(on_street), np.nan)
    return _Places(np.column_stack([x, y]), street, np.asarray(time, dtype=float))


@dataclass(frozen=True, eq=False)
class _Targets:
    """Points whose travel times an isochrone reads, prepared once per network.

    Prepared are their snaps, chain positions, metric and on-street positions, and (per direction, on
    first use) where they join the graph. The street nodes and the last few point sets (facilities) are
    kept per network, so a request reads times with a gather and a minimum instead of snapping again.
    """

    snap: Snap
    chain: np.ndarray
    pos: np.ndarray
    xy: np.ndarray
    street_xy: np.ndarray
    ways: dict = field(default_factory=dict)

    def joins(self, network: Network, direction: str) -> tuple[np.ndarray, np.ndarray]:
        """``entries`` (direction 'from': trips from the origin end at the points) or ``exits``."""
        if direction not in self.ways:
            self.ways[direction] = (
                entries(network, self.snap) if direction == "from" else exits(network, self.snap)
            )
        return self.ways[direction]


POINT_SETS = 4
"""Point sets (e.g. the open facilities of a data version) prepared per network.

The least recently used set is dropped.
"""
_TARGETS: weakref.WeakKeyDictionary[Network, dict] = weakref.WeakKeyDictionary()
_TARGETS_LOCK = threading.Lock()


def _targets(network: Network, snap: Snap, xy: np.ndarray, street_xy: np.ndarray) -> _Targets:
    chain, pos = chain_position(network, snap)
    return _Targets(snap, chain, pos, xy, street_xy)


def _prepared(network: Network, key: Hashable, build) -> _Targets:
    with _TARGETS_LOCK:
        kept = _TARGETS.setdefault(network, {})
        if key in kept:
            kept[key] = kept.pop(key)  # most recently used last
            return kept[key]
    value = build()
    with _TARGETS_LOCK:
        kept = _TARGETS.setdefault(network, {})
        kept[key] = value
        points = [k for k in kept if k != "nodes"]
        for old in points[:-POINT_SETS]:
            del kept[old]
    return value


def _node_targets(network: Network) -> _Targets:
    """Every street node as a target (``node_snap``), prepared once per network."""

    def build() -> _Targets:
        return _targets(network, node_snap(network), network.node_xy, network.node_xy)

    return _prepared(network, "nodes", build)


def _point_targets(network: Network, lon: np.ndarray, lat: np.ndarray, max_distance_m: float) -> _Targets:
    """The points ``lon, lat`` snapped and prepared, kept for the next request with the same points."""
    key = (
        hashlib.sha1(np.ascontiguousarray(lon).tobytes() + np.ascontiguousarray(lat).tobytes()).hexdigest(),
        float(max_distance_m),
    )

    def build() -> _Targets:
        snap = snap_points(network, lon, lat, max_distance_m=max_distance_m)
        places = _places(network, lon, lat, snap, np.zeros(len(lon)))
        return _targets(network, snap, places.xy, places.street_xy)

    return _prepared(network, key, build)


def _search(network: Network, origin: Snap, direction: str, limit_s: float) -> np.ndarray:
    """Seconds from (or to) the origin for every layer node; ``inf`` beyond ``limit_s``.

    One bounded search per graph node where the origin joins the streets (its chain's ends, at most
    four), on the prepared graph as it is (no virtual source added, so nothing of the graph is
    copied per request), then the quickest over them with the time to reach each.
    """
    nodes, cost = exits(network, origin) if direction == "from" else entries(network, origin)
    graph = network.forward if direction == "from" else network.reverse
    cost = cost[0] + origin.access_s[0]
    use = (nodes[0] >= 0) & np.isfinite(cost)
    starts, offsets = nodes[0][use], cost[use]
    dist = np.full(network.n_total, np.inf)
    bound = limit_s + TIE_TOLERANCE_S
    if len(starts) == 0 or offsets.min() > bound:
        return dist
    order = np.lexsort((offsets, starts))  # a node reached two ways (a loop): the quicker
    starts, offsets = starts[order], offsets[order]
    keep = np.r_[True, starts[1:] != starts[:-1]]
    starts, offsets = starts[keep], offsets[keep]
    found = dijkstra(graph, indices=starts, limit=bound - offsets.min())
    dist = (np.atleast_2d(found)[:, : network.n_total] + offsets[:, None]).min(axis=0)
    return np.where(dist <= bound, dist, np.inf)


def _chain_end_times(network: Network, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per chain, the best time at its ends ``a`` and ``b`` over the layers the chain lives on."""
    first_a, first_b, s_a, s_b = _chain_lines(network).ends
    t_a = np.minimum(dist[first_a], np.where(s_a >= 0, dist[np.maximum(s_a, 0)], np.inf))
    t_b = np.minimum(dist[first_b], np.where(s_b >= 0, dist[np.maximum(s_b, 0)], np.inf))
    return t_a, t_b


def _intervals(network: Network, origin: Snap, direction: str, dist: np.ndarray, budget_s: float):
    """(chain, from, to) in seconds from the chain's end ``a`` of every stretch reachable within ``budget_s``.

    The stretches reached from end ``a``, from end ``b`` (one piece when they meet) and around the origin.
    """
    t_a, t_b = _chain_end_times(network, dist)
    ab, ba, total = network.chain_ab, network.chain_ba, network.chain_time_s
    up, down = (ab, ba) if direction == "from" else (ba, ab)  # may one cover a→b from a / b→a from b
    hi_a = np.minimum(np.where(up, budget_s - t_a, -np.inf), total)
    lo_b = np.maximum(total - np.where(down, budget_s - t_b, -np.inf), 0.0)
    meet = (hi_a >= lo_b) & (hi_a >= 0) & (lo_b <= total)
    hi_a = np.where(meet, total, hi_a)
    lo_b = np.where(meet, np.inf, lo_b)
    chain, pos = chain_position(network, origin)
    c, po, left = int(chain[0]), float(pos[0]), budget_s - float(origin.access_s[0])
    n = len(total)
    chains = np.concatenate([np.arange(n), np.arange(n), [c]])
    lo = np.concatenate([np.zeros(n), lo_b, [po - (left if down[c] else 0.0)]])
    hi = np.concatenate([hi_a, total, [po + (left if up[c] else 0.0)]])
    lo, hi = np.maximum(lo, 0.0), np.minimum(hi, total[chains])
    keep = hi > lo
    keep[-1] &= left >= 0  # the origin's walk to its street may already exceed the budget
    return chains[keep], lo[keep], hi[keep]


@dataclass(frozen=True, eq=False)
class _ChainLines:
    """Each chain as one metric LineString from end ``a`` to ``b``, and its edges in order.

    The edges (start and length in seconds and metres) turn chain positions (seconds) into distances
    along it.
    """

    lines: np.ndarray
    length_m: np.ndarray
    key: np.ndarray
    first: np.ndarray
    start_s: np.ndarray
    time_s: np.ndarray
    start_m: np.ndarray
    edge_m: np.ndarray
    ends: tuple  # network.chain_ends of every chain


_CHAIN_LINES: weakref.WeakKeyDictionary[Network, _ChainLines] = weakref.WeakKeyDictionary()


def _chain_lines(network: Network) -> _ChainLines:
    """The chains of ``network`` as lines (built once per network)."""
    if network in _CHAIN_LINES:
        return _CHAIN_LINES[network]
    order = np.lexsort((network.edge_offset_s, network.edge_chain))
    chain = network.edge_chain[order]
    geom = network.edge_geometry[order]
    geom = np.where(network.edge_aligned[order], geom, shapely.reverse(geom))
    coords, idx = shapely.get_coordinates(geom, return_index=True)
    first_edge = np.r_[True, chain[1:] != chain[:-1]] if len(chain) else np.empty(0, bool)
    first_coord = np.r_[True, idx[1:] != idx[:-1]] if len(idx) else np.empty(0, bool)
    keep = ~(first_coord & ~first_edge[idx])  # a joint is stored once
    lines = (
        shapely.linestrings(coords[keep], indices=chain[idx][keep]) if len(coords) else np.empty(0, object)
    )
    edge_m = shapely.length(geom)
    start_m = np.cumsum(edge_m) - edge_m
    chain_start = np.flatnonzero(first_edge)
    start_m -= np.repeat(start_m[chain_start], np.diff(np.r_[chain_start, len(chain)]))
    times = network.chain_time_s
    out = _ChainLines(
        lines=lines,
        length_m=shapely.length(lines),
        key=chain + network.edge_offset_s[order] / (times[chain] + 1.0),
        first=chain_start,
        start_s=network.edge_offset_s[order],
        time_s=network.edge_time_s[order],
        start_m=start_m,
        edge_m=edge_m,
        ends=network.chain_ends(np.arange(len(network.chain_a))),
    )
    _CHAIN_LINES[network] = out
    return out


def _metres(network: Network, lines: _ChainLines, chain: np.ndarray, at_s: np.ndarray) -> np.ndarray:
    """Distance (metres along the chain line) of the chain position ``at_s`` (seconds from ``a``)."""
    total = network.chain_time_s[chain]
    at_s = np.clip(at_s, 0.0, total)
    i = np.searchsorted(lines.key, chain + at_s / (total + 1.0), side="right") - 1
    last = np.r_[lines.first[1:], len(lines.key)][chain] - 1
    i = np.clip(i, lines.first[chain], last)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(lines.time_s[i] > 0, (at_s - lines.start_s[i]) / lines.time_s[i], 0.0)
    return lines.start_m[i] + np.clip(share, 0.0, 1.0) * lines.edge_m[i]


def _street_band(
    network: Network, origin: Snap, direction: str, dist: np.ndarray, budget_s: float, buffer_m: float
):
    """Union of the reachable stretches of street widened by ``buffer_m`` (metric polygon).

    Whole chains come widened from ``_blocks`` (built once per network), and a block all of whose
    chains are reached as one polygon: the union then takes a few block polygons for the inside of
    the isochrone, and only the partly reached stretches at its edge are cut and widened here.
    """
    lines = _chain_lines(network)
    chain, lo, hi = _intervals(network, origin, direction, dist, budget_s)
    if len(chain) == 0:
        return shapely.Polygon()
    blocks = _blocks(network, buffer_m)
    whole = (lo <= 0.0) & (hi >= network.chain_time_s[chain])
    reached = np.unique(chain[whole])
    done = np.bincount(blocks.block[reached], minlength=len(blocks.size)) == blocks.size
    own = reached[~done[blocks.block[reached]]]
    part = ~whole
    length = np.where(lines.length_m[chain[part]] > 0, lines.length_m[chain[part]], 1.0)
    start = _metres(network, lines, chain[part], lo[part]) / length
    end = _metres(network, lines, chain[part], hi[part]) / length
    pieces = substrings(lines.lines[chain[part]], np.clip(start, 0, 1), np.clip(end, 0, 1))
    pieces = shapely.buffer(shapely.simplify(pieces, _tolerance(buffer_m)), buffer_m, quad_segs=2)
    return shapely.union_all(np.concatenate([blocks.band[done], blocks.chain_band[own], pieces]))


BLOCK_M = 120.0
"""Side of the square blocks (metres) whose streets' bands are united once per network (``_blocks``)."""


@dataclass(frozen=True, eq=False)
class _Blocks:
    """Per network and band width: the chains widened, and united per block.

    Each chain widened whole (``chain_band``), the block its midpoint lies in (``block``), the chains
    per block (``size``) and each block's chains united (``band``).
    """

    chain_band: np.ndarray
    block: np.ndarray
    size: np.ndarray
    band: np.ndarray


_BLOCKS: weakref.WeakKeyDictionary[Network, dict[float, _Blocks]] = weakref.WeakKeyDictionary()


def _tolerance(buffer_m: float) -> float:
    """How far a street line is simplified before it is widened (metres)."""
    return min(2.0, buffer_m / 20.0)


def _blocks(network: Network, buffer_m: float) -> _Blocks:
    """The widened chains and blocks of ``network`` for ``buffer_m`` (built once, then reused)."""
    with _TARGETS_LOCK:
        found = _BLOCKS.get(network, {}).get(float(buffer_m))
    if found is not None:
        return found
    lines = _chain_lines(network).lines
    chain_band = shapely.buffer(shapely.simplify(lines, _tolerance(buffer_m)), buffer_m, quad_segs=2)
    if len(lines):
        mid = shapely.get_coordinates(shapely.line_interpolate_point(lines, 0.5, normalized=True))
        cell = np.floor(mid / BLOCK_M).astype(np.int64)
        _, block = np.unique(cell, axis=0, return_inverse=True)
        block = block.ravel()
    else:
        block = np.empty(0, np.int64)
    size = np.bincount(block)
    order = np.argsort(block, kind="stable")
    ends = np.cumsum(size)
    band = np.array(
        [shapely.union_all(chain_band[order[e - n : e]]) for n, e in zip(size, ends, strict=True)],
        dtype=object,
    )
    out = _Blocks(chain_band, block, size, band)
    with _TARGETS_LOCK:
        _BLOCKS.setdefault(network, {})[float(buffer_m)] = out
    return out


def _polygon(
    network,
    origin,
    direction,
    dist,
    budget_s,
    buffer_m,
    start: _Places,
    given: _Places | None,
    nodes: _Places,
):
    """Polygon (metric) of a budget: the street band made exact for ``given`` (module docstring)."""
    band = _street_band(network, origin, direction, dist, budget_s, buffer_m)
    places = (
        start
        if given is None
        else _Places(
            np.r_[start.xy, given.xy],
            np.r_[start.street_xy, given.street_xy],
            np.r_[start.time_s, given.time_s],
        )
    )
    inside = places.time_s <= budget_s + TIE_TOLERANCE_S
    near, far = places.xy[inside], shapely.points(places.xy[~inside])
    legs = shapely.linestrings(np.stack([near, places.street_xy[inside]], axis=1))
    street = shapely.points(nodes.xy[nodes.time_s <= budget_s + TIE_TOLERANCE_S])
    band = _holes(band, far, np.concatenate([legs, street]), radius_m=min(buffer_m / 4.0, 10.0))
    return _joined(band, near, legs, far)


def _holes(band, far: np.ndarray, keep: np.ndarray, *, radius_m: float):
    """``band`` minus a disc around each point of ``far`` inside it, kept clear of ``keep``.

    ``keep``: the reachable points' legs and the reachable street nodes.
    """
    if band.is_empty or len(far) == 0:
        return band
    shapely.prepare(band)
    hit = far[shapely.contains(band, far)]
    if len(hit) == 0:
        return band
    radius = np.minimum(radius_m, 0.45 * _nearest_distance(hit, keep))
    return shapely.difference(band, shapely.union_all(shapely.buffer(hit, radius, quad_segs=4)))


def _joined(band, near: np.ndarray, legs: np.ndarray, far: np.ndarray):
    """``band`` plus the access leg and a disc of each reachable point of ``near`` outside it.

    The added parts are kept clear of every point of ``far``.
    """
    out = (
        ~shapely.contains_xy(band, near[:, 0], near[:, 1]) if not band.is_empty else np.ones(len(near), bool)
    )
    if not out.any():
        return band
    width = np.minimum(LEG_WIDTH_M / 2.0, 0.45 * _nearest_distance(legs[out], far))
    points = shapely.points(near[out])
    disc = np.minimum(DISC_M, 0.45 * _nearest_distance(points, far))
    extra = np.concatenate(
        [shapely.buffer(legs[out], width, quad_segs=2), shapely.buffer(points, disc, quad_segs=4)]
    )
    return shapely.union_all(np.append(extra, band))


def _nearest_distance(geoms: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Distance from each of ``geoms`` to the nearest of ``others`` (inf when there are none)."""
    out = np.full(len(geoms), np.inf)
    if len(geoms) == 0 or len(others) == 0:
        return out
    (which, _), d = shapely.STRtree(others).query_nearest(geoms, return_distance=True, all_matches=False)
    out[which] = d
    return out


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
    ends = shapely.get_coordinates(
        shapely.line_interpolate_point(np.concatenate([lines, lines]), np.concatenate([s, e]))
    )
    n = len(lines)
    piece = np.concatenate([np.arange(n), idx[inner], np.arange(n)])
    key = np.concatenate([np.full(n, -1.0), cum[inner], total + 1.0])
    coords = np.concatenate([ends[:n], xy[inner], ends[n:]])
    order = np.lexsort((key, piece))
    return shapely.linestrings(coords[order], indices=piece[order])


def _snap_times(network, origin, direction, dist, targets: _Targets, limit_s: float) -> np.ndarray:
    """Exact seconds between the origin and each of the prepared ``targets`` (``inf`` beyond ``limit_s``).

    Points are reached through their chain's ends or, on the origin's chain, directly along it.
    """
    nodes, cost = targets.joins(network, direction)
    time = (dist[np.maximum(nodes, 0)] + cost).min(axis=1)  # unused slots carry cost inf
    chain, pos = targets.chain, targets.pos
    o_chain, o_pos = chain_position(network, origin)
    same = np.flatnonzero(chain == o_chain[0])
    fo = np.full(len(same), o_pos[0])
    start, end = (fo, pos[same]) if direction == "from" else (pos[same], fo)
    along = along_chain_s(network, chain[same], start, end) + origin.access_s[0]
    time[same] = np.minimum(time[same], along)
    time = time + np.nan_to_num(targets.snap.access_s, nan=np.inf)
    return np.where(time <= limit_s + TIE_TOLERANCE_S, time, np.inf)


def travel_times(
    network: Network,
    lon: float,
    lat: float,
    points: pd.DataFrame,
    *,
    direction: str = "from",
    max_distance_m: float = 500.0,
    limit_s: float = np.inf,
) -> np.ndarray:
    """Seconds between the point ``lon, lat`` and each of ``points``, with no cut-off by default.

    One Dijkstra from the snapped point reaches every target at once (the "nearest services" list
    of the public map); times are exact as in :func:`isochrones`.

    Parameters
    ----------
    points : frame with ``lon``, ``lat`` (or point geometry), degrees EPSG:4326.
    direction : ``'from'`` (from the point to ``points``) or ``'to'``.
    max_distance_m : snapping distance of the point and of ``points`` to the street, metres.
    limit_s : search bound, seconds (``inf``: the whole network).

    Returns
    -------
    ndarray
        (len(points),) seconds; ``inf`` for a point not reachable (or not snapped, or beyond ``limit_s``).

    Raises
    ------
    UnreachablePointError
        When ``lon, lat`` lies farther than ``max_distance_m`` from any usable street.
    """
    if direction not in DIRECTIONS:
        raise GeoError(f"direction {direction!r} is not one of {DIRECTIONS}: use 'from' or 'to'")
    origin = snap_points(network, np.array([lon]), np.array([lat]), max_distance_m=max_distance_m)
    if not origin.reachable[0]:
        raise UnreachablePointError(lon, lat, network.profile.name, max_distance_m)
    if len(points) == 0:
        return np.empty(0)
    points = with_lonlat(points)
    dist = _search(network, origin, direction, limit_s)
    targets = _point_targets(network, points.lon.to_numpy(float), points.lat.to_numpy(float), max_distance_m)
    return _snap_times(network, origin, direction, dist, targets, limit_s)
