"""geo.snapping against brute-force nearest-segment search and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from geo_cases import PROFILES_CSV, brute_snap, make_network, points, random_grid

from geo.network import build_network
from geo.profiles import load_profiles
from geo.snapping import entries, exits, snap_points

WALK_MPS = 4 / 3.6


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(PROFILES_CSV)


@pytest.mark.parametrize("name", ["walk", "car"])
def test_snaps_equal_brute_force(profiles, name):
    nodes, edges = random_grid(15, seed=11)
    rng = np.random.default_rng(2)
    pts = points([tuple(p) for p in rng.uniform(-250, 1350, size=(150, 2))])
    net = build_network(nodes, edges, profiles[name])
    snap = snap_points(net, pts.lon, pts.lat, max_distance_m=60)
    truth = brute_snap(nodes, edges, name, pts, max_distance_m=60)
    for i, want in enumerate(truth):
        if want is None:
            assert snap.edge[i] == -1
            continue
        assert net.edge_id[snap.edge[i]] == want[0]
        assert snap.fraction[i] == pytest.approx(want[1], abs=1e-7)
        assert snap.distance_m[i] == pytest.approx(want[2], abs=1e-6)
        assert snap.access_s[i] == pytest.approx(want[2] / WALK_MPS, abs=1e-6)
    assert (snap.edge == -1).sum() > 0  # some points beyond 60 m of the grid


def test_far_point_is_unreachable(profiles):
    nodes, edges = make_network({1: (0, 0), 2: (100, 0)}, [(1, 2, "residential")])
    net = build_network(nodes, edges, profiles["walk"])
    pts = points([(50, 499), (50, 501)])
    snap = snap_points(net, pts.lon, pts.lat)
    assert snap.edge.tolist() == [0, -1]
    assert np.isnan(snap.fraction[1]) and np.isnan(snap.access_s[1])
    nodes_, cost = exits(net, snap)
    assert (nodes_[1] == -1).all() and np.isinf(cost[1]).all()


def test_snaps_to_edge_interior_not_node(profiles):
    nodes, edges = make_network({1: (0, 0), 2: (1000, 0)}, [(1, 2, "residential")])
    net = build_network(nodes, edges, profiles["walk"])
    pts = points([(250, 30)])
    snap = snap_points(net, pts.lon, pts.lat)
    assert snap.fraction[0] == pytest.approx(0.25, abs=1e-9)
    assert snap.distance_m[0] == pytest.approx(30, abs=1e-6)


def test_equidistant_edges_go_to_lowest_edge_id(profiles):
    nodes, edges = make_network(
        {1: (0, 0), 2: (100, 0), 3: (0, 100), 4: (100, 100)}, [(3, 4, "residential"), (1, 2, "residential")]
    )
    net = build_network(nodes, edges, profiles["walk"])
    pts = points([(50, 50)])
    snap = snap_points(net, pts.lon, pts.lat)
    assert net.edge_id[snap.edge[0]] == 1


def test_outside_point_never_snaps_into_compound(profiles):
    # compound: gate 10 on the public street 1-2, private drive 10-11 and a private loop 11-12-13-14
    coords = {
        1: (0, 0),
        2: (400, 0),
        10: (200, 0),
        11: (200, 50),
        12: (200, 150),
        13: (300, 150),
        14: (300, 50),
    }
    private = [(10, 11), (11, 12), (12, 13), (13, 14), (14, 11)]
    links = [(1, 10, "residential"), (10, 2, "residential")] + [
        (a, b, "service", False, "private") for a, b in private
    ]
    nodes, edges = make_network(coords, links)
    net = build_network(nodes, edges, profiles["walk"])
    # (a) outside the compound, 20 m from private edge 13-14 but 100 m from the street; (b) inside
    pts = points([(320, 100), (280, 100)])
    snap = snap_points(net, pts.lon, pts.lat)
    inside = [False, True]
    truth = brute_snap(
        nodes, edges, "walk", pts, allowed=lambda i, e: (e.access != "private").to_numpy() | inside[i]
    )
    assert [int(net.edge_id[r]) for r in snap.edge] == [t[0] for t in truth] == [2, 6]
    assert snap.distance_m[0] == pytest.approx(100, abs=1e-6)
    assert net.edge_compound[snap.edge[1]] == 0
    # a 30 m margin around the inner roads' hull takes the first point in as well
    wide = build_network(nodes, edges, profiles["walk"], compound_margin_m=30)
    assert [int(wide.edge_id[r]) for r in snap_points(wide, pts.lon, pts.lat).edge] == [6, 6]


def test_exits_and_entries_respect_oneway(profiles):
    nodes, edges = make_network({1: (0, 0), 2: (100, 0)}, [(1, 2, "residential", True)])
    pts = points([(25, 0)])
    car = build_network(nodes, edges, profiles["car"])
    walk = build_network(nodes, edges, profiles["walk"])
    t_car = 100 / (25 / 3.6)
    snap = snap_points(car, pts.lon, pts.lat)
    n_out, c_out = exits(car, snap)
    n_in, c_in = entries(car, snap)
    assert np.isinf(c_out[0, 0]) and c_out[0, 1] == pytest.approx(0.75 * t_car)
    assert c_in[0, 0] == pytest.approx(0.25 * t_car) and np.isinf(c_in[0, 1])
    _, c_walk = exits(walk, snap_points(walk, pts.lon, pts.lat))
    assert c_walk[0, :2] == pytest.approx([0.25 * 100 / WALK_MPS, 0.75 * 100 / WALK_MPS])
