"""Standard addresses (标准地址) for residences and facilities: nearest named road + house number.

Numbers run along each road's main direction, odd on one side and even on the other, as on
Chinese door plates; residences in a named estate also get their building (栋) number.
"""

from __future__ import annotations

import numpy as np
import shapely

from .network import Network

_NO_ADDRESS_KINDS = ("motorway", "link", "bridge", "greenway")


def _road_axes(net: Network, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean point and unit principal direction of every road (from its edge midpoints)."""
    n = len(net.roads)
    r = net.road[edges]
    mid = (net.xy[net.u[edges]] + net.xy[net.v[edges]]) / 2
    cnt = np.maximum(np.bincount(r, minlength=n), 1)
    mean = np.column_stack([np.bincount(r, mid[:, 0], n), np.bincount(r, mid[:, 1], n)]) / cnt[:, None]
    d = mid - mean[r]
    sxx, syy, sxy = (
        np.bincount(r, d[:, 0] ** 2, n),
        np.bincount(r, d[:, 1] ** 2, n),
        np.bincount(r, d[:, 0] * d[:, 1], n),
    )
    ang = 0.5 * np.arctan2(2 * sxy, sxx - syy)
    return mean, np.column_stack([np.cos(ang), np.sin(ang)])


def numbers(net: Network, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest named road (index into ``net.roads``) and house number of each point."""
    named = np.array([r.name is not None and r.kind not in _NO_ADDRESS_KINDS for r in net.roads])
    edges = np.nonzero(named[net.road])[0]
    lines = shapely.linestrings(np.stack([net.xy[net.u[edges]], net.xy[net.v[edges]]], axis=1))
    near = shapely.STRtree(lines).query_nearest(shapely.points(xy), return_distance=False, all_matches=False)
    road = np.empty(len(xy), dtype=np.int64)
    road[near[0]] = net.road[edges[near[1]]]
    mean, axis = _road_axes(net, edges)
    rel = xy - mean[road]
    t = (rel * axis[road]).sum(1)
    side = (axis[road, 0] * rel[:, 1] - axis[road, 1] * rel[:, 0] < 0).astype(int)
    order = np.lexsort([t, side, road])
    key = road[order] * 2 + side[order]
    start = np.r_[0, np.nonzero(np.diff(key))[0] + 1]
    rank = np.arange(len(order)) - np.repeat(start, np.diff(np.r_[start, len(order)]))
    num = np.empty(len(xy), dtype=np.int64)
    num[order] = 2 * rank + 1 + side[order]
    return road, num


def numbers_appended(net: Network, xy: np.ndarray, late: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``numbers`` where the points ``late`` (indices) were added after the others were numbered:
    the others keep their numbers, each late point takes the next free number on its road side."""
    keep = np.setdiff1d(np.arange(len(xy)), late)
    road, num = np.empty(len(xy), dtype=np.int64), np.empty(len(xy), dtype=np.int64)
    road[keep], num[keep] = numbers(net, xy[keep])
    if len(late):
        road[late], num[late] = numbers(net, xy[late])
    for i in late:
        same = np.setdiff1d(np.flatnonzero((road == road[i]) & (num % 2 == num[i] % 2)), [i])
        same = same[np.isin(same, keep) | (same < i)]
        if len(same):
            num[i] = num[same].max() + 2
    return road, num


def building_numbers(estate: np.ndarray) -> np.ndarray:
    """Building (栋) number of each residence within its estate (1, 2, ...; 0 outside estates)."""
    order = np.lexsort([np.arange(len(estate)), estate])
    e = estate[order]
    start = np.r_[0, np.nonzero(np.diff(e))[0] + 1]
    rank = np.arange(len(e)) - np.repeat(start, np.diff(np.r_[start, len(e)]))
    out = np.zeros(len(estate), dtype=np.int64)
    out[order] = rank + 1
    return np.where(estate >= 0, out, 0)
