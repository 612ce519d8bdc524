"""Vehicle circulation of one copy: every drivable street can be reached and left by car and e-bike.

The lattices, lanes and village plans are drawn independently, so after noding some things do
not work for vehicles: a one-way lane ending in a dead end or in a pocket of other one-way lanes
(a car that enters cannot leave), or a village service lane that meets the road network only
through a footway lane. Two repairs follow noding; they change edge attributes only, never nodes
or geometry, so sizes and ids stay as drawn:

1. ``connect_drivable`` — village (and old-town) footway lane groups that are the only link
   between a piece of drivable road and the rest become service lanes (living streets in the old
   town); a piece still cut off after that (a farm track reached only over a hill path) becomes a
   path.
2. ``untrap_oneways`` — for each vehicle that obeys one-way streets (car, e-bike), a one-way edge
   whose ends lie in different strongly connected components of that vehicle's graph is a trap
   and is made two-way. Every other edge between two components is already two-way, so after one
   pass each connected piece is strongly connected; one-way streets that form loops and couplets
   keep their direction.

Vehicle rules follow data/profiles.csv (car: no footway, pedestrian, path, steps, cycleway; e-bike:
no motorway or ramps); private compound roads are left out, compounds are entered and left
through their gates (see ``geo.network``). Intended exceptions: each island is its own component
(the islet has no road link).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:
    from .network import Network

NOT_FOR_CARS = ("footway", "pedestrian", "path", "steps", "cycleway")
NOT_FOR_EBIKES = ("motorway", "motorway_link")
_UPGRADE = {"village": "service", "lane": "living_street"}


def _labels(n: int, u: np.ndarray, v: np.ndarray, *, strong: bool = False) -> np.ndarray:
    g = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    return connected_components(g, directed=strong, connection="strong")[1]


def _edge_highway(net: Network) -> np.ndarray:
    return np.array([r.highway for r in net.roads], dtype=object)[net.road]


def _public(net: Network) -> np.ndarray:
    return np.array([r.access != "private" for r in net.roads])[net.road]


def car_edges(net: Network) -> np.ndarray:
    """Edges a car may use outside compounds (bool per edge)."""
    return _public(net) & ~np.isin(_edge_highway(net), NOT_FOR_CARS)


def ebike_edges(net: Network) -> np.ndarray:
    """Edges an e-bike may use outside compounds (bool per edge)."""
    return _public(net) & ~np.isin(_edge_highway(net), NOT_FOR_EBIKES)


def _cut_off(net: Network, car: np.ndarray) -> np.ndarray:
    """Nodes of drivable pieces other than the largest one of their connected part of the network."""
    n = len(net.xy)
    whole = _labels(n, net.u, net.v)
    lab = _labels(n, net.u[car], net.v[car])
    part, piece = whole[net.u[car]], lab[net.u[car]]
    key, count = np.unique(part.astype(np.int64) * n + piece, return_counts=True)
    order = np.lexsort((-count, key // n))
    first = np.r_[True, np.diff((key // n)[order]) != 0]
    main = key[order][first] % n
    on_car = np.zeros(n, dtype=bool)
    on_car[net.u[car]] = on_car[net.v[car]] = True
    return on_car & ~np.isin(lab, main)


def connect_drivable(net: Network) -> None:
    """Upgrade footway lane groups that cut drivable pieces off; make what stays cut off a path."""
    while True:
        car = car_edges(net)
        piece = _cut_off(net, car)
        touch = (piece[net.u] | piece[net.v]) & ~car & _public(net)
        groups = [
            int(r)
            for r in np.unique(net.road[touch])
            if net.roads[r].kind in _UPGRADE and net.roads[r].highway == "footway"
        ]
        if not groups:
            break
        for r in groups:
            net.roads[r].highway = _UPGRADE[net.roads[r].kind]
    stranded = np.flatnonzero(car & piece[net.u])
    for r in np.unique(net.road[stranded]):
        net.roads.append(replace(net.roads[r], highway="path", oneway=False))
        net.road[stranded[net.road[stranded] == r]] = len(net.roads) - 1
    net.oneway[stranded] = False


def untrap_oneways(net: Network) -> int:
    """Make two-way every one-way edge that joins two strongly connected components; returns how many."""
    n, changed = len(net.xy), 0
    for usable in (car_edges, ebike_edges):
        use = usable(net)
        u, v, one = net.u[use], net.v[use], net.oneway[use]
        lab = _labels(n, np.r_[u, v[~one]], np.r_[v, u[~one]], strong=True)
        trap = np.flatnonzero(use)[one & (lab[u] != lab[v])]
        net.oneway[trap] = False
        changed += len(trap)
    return changed
