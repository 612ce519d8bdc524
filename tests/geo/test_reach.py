"""geo.reach: nearest-facility times equal an independent networkx Dijkstra on subdivided edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from geo_cases import (
    BANNED,
    PROFILES_CSV,
    SPEED_KMH,
    curvy_network,
    make_network,
    metres,
    points,
    random_grid,
    truth_times,
)

from geo.network import build_network
from geo.profiles import load_profiles
from geo.reach import facility_times, nearest_facility, node_times, read_points
from geo.snapping import snap_points

WALK = 4 / 3.6
CAR_RESIDENTIAL = 25 / 3.6


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(PROFILES_CSV)


def run(profiles, name, nodes, edges, fac: pd.DataFrame, res: pd.DataFrame, *, limit_s=7200.0, contract=True):
    net = build_network(nodes, edges, profiles[name], contract=contract)
    fsnap = snap_points(net, fac.lon, fac.lat)
    rsnap = snap_points(net, res.lon, res.lat)
    return facility_times(net, fac.facility_id.to_numpy(), fsnap, rsnap, limit_s=limit_s)


def facilities(xy, ids):
    return points(xy).assign(facility_id=ids)


@pytest.fixture(scope="module")
def grid():
    nodes, edges = random_grid(45, seed=7)  # 2025 nodes, ~3800 edges
    rng = np.random.default_rng(4)
    fac = facilities(
        [tuple(p) for p in rng.uniform(0, 3500, size=(12, 2))], rng.permutation(np.arange(100, 112))
    )
    res = points([tuple(p) for p in rng.uniform(-50, 3550, size=(200, 2))])
    return nodes, edges, fac, res


@pytest.mark.parametrize("name", ["walk", "car", "ebike"])
def test_random_grid_equals_networkx(profiles, grid, name):
    nodes, edges, fac, res = grid
    time, fid = run(profiles, name, nodes, edges, fac, res)
    want_time, want_id = truth_times(nodes, edges, name, fac, res)
    reached = np.isfinite(want_time)
    assert reached.sum() > 150
    np.testing.assert_array_equal(np.isfinite(time), reached)
    assert np.abs(time[reached] - want_time[reached]).max() < 1e-6
    np.testing.assert_array_equal(fid[reached], want_id[reached])


@pytest.mark.parametrize("name", ["walk", "car"])
@pytest.mark.parametrize("contract", [True, False])
def test_chains_of_curvy_streets_equal_networkx(profiles, name, contract):
    # many points share a chain with a facility: direct trips along chains must be exact
    nodes, edges = curvy_network(8, seed=5)
    rng = np.random.default_rng(9)
    fac = facilities([tuple(p) for p in rng.uniform(-100, 1200, size=(40, 2))], np.arange(500, 540))
    res = points([tuple(p) for p in rng.uniform(-450, 1200, size=(250, 2))])
    time, fid = run(profiles, name, nodes, edges, fac, res, contract=contract)
    want_time, want_id = truth_times(nodes, edges, name, fac, res)
    reached = np.isfinite(want_time)
    assert reached.sum() > 200
    np.testing.assert_array_equal(np.isfinite(time), reached)
    assert np.abs(time[reached] - want_time[reached]).max() < 1e-6
    np.testing.assert_array_equal(fid[reached], want_id[reached])


def test_every_node_gets_its_nearest_facility(profiles):
    nodes, edges = curvy_network(6, seed=4)
    rng = np.random.default_rng(2)
    fac = facilities([tuple(p) for p in rng.uniform(0, 700, size=(8, 2))], np.arange(300, 308))
    net = build_network(nodes, edges, profiles["car"])
    reach = nearest_facility(
        net, fac.facility_id.to_numpy(), snap_points(net, fac.lon, fac.lat), limit_s=7200
    )
    time, fid = node_times(net, reach)
    at_nodes = nodes[["lon", "lat"]].reset_index(drop=True)
    want, want_id = truth_times(nodes, edges, "car", fac, at_nodes)
    # nodes touching no car road are not on the car network at all
    drivable = edges[~edges.highway.isin(BANNED["car"])]
    on_network = nodes.node_id.isin(np.r_[drivable.u, drivable.v]).to_numpy()
    want[~on_network] = np.inf
    reached = np.isfinite(want)
    assert reached.sum() > 0.7 * len(nodes)
    np.testing.assert_array_equal(np.isfinite(time), reached)
    assert np.abs(time[reached] - want[reached]).max() < 1e-6
    np.testing.assert_array_equal(fid[reached], want_id[reached])


def test_bounded_search_matches_within_limit(profiles, grid):
    nodes, edges, fac, res = grid
    time, fid = run(profiles, "walk", nodes, edges, fac, res, limit_s=600.0)
    want_time, want_id = truth_times(nodes, edges, "walk", fac, res)
    inside = want_time <= 600.0
    assert 0 < inside.sum() < len(res)
    assert np.abs(time[inside] - want_time[inside]).max() < 1e-6
    np.testing.assert_array_equal(fid[inside], want_id[inside])
    assert np.isinf(time[~inside]).all() and (fid[~inside] == -1).all()


def test_repeated_runs_are_identical(profiles, grid):
    nodes, edges, fac, res = grid
    a = run(profiles, "car", nodes, edges, fac, res)
    b = run(profiles, "car", nodes, edges, fac, res)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def river_district():
    """Two street grids on either bank of a 120 m wide river (x = -60..60), one bridge at y = 800.

    West bank: streets x = -400..-100 and y = 0..800 every 100 m; east bank the same for x = 100..400;
    the bridge joins (-100, 800) and (100, 800). Returns nodes, edges, the river polygon (metres).
    """
    coords, links, nid = {}, [], {}
    for xs in ((-400, -300, -200, -100), (100, 200, 300, 400)):
        for x in xs:
            for y in range(0, 801, 100):
                nid[(x, y)] = len(coords) + 1
                coords[nid[(x, y)]] = (x, y)
        for x in xs:
            links += [(nid[(x, y)], nid[(x, y + 100)], "residential") for y in range(0, 800, 100)]
        for a, b in zip(xs[:-1], xs[1:], strict=True):
            links += [(nid[(a, y)], nid[(b, y)], "tertiary") for y in range(0, 801, 100)]
    links.append((nid[(-100, 800)], nid[(100, 800)], "tertiary"))
    nodes, edges = make_network(coords, links)
    edges["bridge"] = edges.edge_id == len(links)
    return nodes, edges, shapely.box(-60, -200, 60, 1000)


@pytest.mark.parametrize("name", ["walk", "car"])
def test_river_with_one_bridge_equals_networkx(profiles, name):
    nodes, edges, river = river_district()
    xy = dict(zip(nodes.node_id, zip(*metres(nodes.lon, nodes.lat), strict=True), strict=True))
    lines = shapely.linestrings([[xy[u], xy[v]] for u, v in zip(edges.u, edges.v, strict=True)])
    assert (shapely.intersects(lines, river) == edges.bridge.to_numpy()).all()  # only the bridge crosses
    fac = facilities([(-110, 10), (-390, 790)], [7, 3])  # west bank: by the river (south), far north-west
    homes = [(110, 10), (130, 420), (390, 50), (250, 795), (-130, 60), (-250, 430), (-70, 500), (70, 300)]
    res = points(homes)
    time, fid = run(profiles, name, nodes, edges, fac, res)
    want, want_id = truth_times(nodes, edges, name, fac, res)
    assert np.abs(time - want).max() < 1e-6
    np.testing.assert_array_equal(fid, want_id)
    # east-bank homes can only cross by the bridge: never faster than walking/driving the straight
    # legs to and from its ends at the profile's best speed
    east = np.array([x > 0 for x, _ in homes])
    fast = max(SPEED_KMH[name].values()) / 3.6
    ends = np.array([[100.0, 800.0], [-100.0, 800.0]])
    fxy = np.array([(-110, 10), (-390, 790)], dtype=float)
    for k in np.flatnonzero(east):
        to_bridge = np.hypot(*(np.array(homes[k]) - ends[0])) + 200.0
        bound = min(to_bridge + np.hypot(*(ends[1] - f)) for f in fxy) / fast
        assert time[k] >= bound - 1e-6
    # right across the river from facility 7, yet the far facility 3 is nearer through the bridge
    assert fid[0] == 3 and time[0] > 3 * time[4]


def test_one_way_street_binds_car_not_walker(profiles):
    # square A(1)-B(2)-C(3)-D(4); A→B is one-way for vehicles
    coords = {1: (0, 0), 2: (200, 0), 3: (200, 200), 4: (0, 200)}
    links = [(1, 2, "residential", True), (2, 3, "residential"), (3, 4, "residential"), (4, 1, "residential")]
    nodes, edges = make_network(coords, links)
    near_a, near_b = (20, 0), (180, 0)
    # resident near B, facility near A: the car goes round B→C→D→A; the walker goes straight back
    fac, res = facilities([near_a], [1]), points([near_b])
    car, _ = run(profiles, "car", nodes, edges, fac, res)
    walk, _ = run(profiles, "walk", nodes, edges, fac, res)
    assert car[0] == pytest.approx(
        20 / CAR_RESIDENTIAL + 600 / CAR_RESIDENTIAL + 20 / CAR_RESIDENTIAL, abs=1e-6
    )
    assert walk[0] == pytest.approx(160 / WALK, abs=1e-6)
    # the other way round the car may follow the one-way street
    car_ab, _ = run(profiles, "car", nodes, edges, facilities([near_b], [1]), points([near_a]))
    assert car_ab[0] == pytest.approx(160 / CAR_RESIDENTIAL, abs=1e-6)
    for name in ("walk", "car"):
        want, _ = truth_times(nodes, edges, name, fac, res)
        got, _ = run(profiles, name, nodes, edges, fac, res)
        assert got[0] == pytest.approx(want[0], abs=1e-6)


def compound_case():
    """Public U-shaped street 1-2-3-4 (1300 m) and a straight private compound 1-10-11-4 (300 m).

    Gates are nodes 1 and 4; the compound also has an inner cul-de-sac 10-12.
    """
    coords = {
        1: (0, 0),
        2: (0, 500),
        3: (300, 500),
        4: (300, 0),
        10: (100, 0),
        11: (200, 0),
        12: (100, -100),
        20: (-200, 0),
        21: (500, 0),
    }
    links = [
        (1, 2, "residential"),
        (2, 3, "residential"),
        (3, 4, "residential"),
        (20, 1, "residential"),
        (4, 21, "residential"),
        (1, 10, "service", False, "private"),
        (10, 11, "service", False, "private"),
        (11, 4, "service", False, "private"),
        (10, 12, "service", False, "private"),
    ]
    return make_network(coords, links)


def test_outsiders_cannot_shortcut_through_compound(profiles):
    nodes, edges = compound_case()
    fac, res = facilities([(500, 10)], [1]), points([(-200, 10)])
    time, _ = run(profiles, "walk", nodes, edges, fac, res)
    legs = 10 + 10
    assert time[0] == pytest.approx((200 + 1300 + 200 + legs) / WALK, abs=1e-6)
    want, _ = truth_times(nodes, edges, "walk", fac, res, private_ok=lambda e: False)
    assert time[0] == pytest.approx(want[0], abs=1e-6)


def test_residents_inside_leave_by_a_gate(profiles):
    nodes, edges = compound_case()
    fac = facilities([(500, 10)], [1])
    res = points([(90, -60), (150, -5)])  # on the cul-de-sac 10-12 and on 10-11, both inside
    time, _ = run(profiles, "walk", nodes, edges, fac, res)
    # 60 m down the cul-de-sac back to 10, 200 m to gate 4, 200 m to the facility
    assert time[0] == pytest.approx((10 + 60 + 200 + 200 + 10) / WALK, abs=1e-6)
    assert time[1] == pytest.approx((5 + 150 + 200 + 10) / WALK, abs=1e-6)
    want, _ = truth_times(nodes, edges, "walk", fac, res)  # insiders may use every private edge
    assert np.abs(time - want).max() < 1e-6


def test_facility_inside_compound_reached_through_gate(profiles):
    nodes, edges = compound_case()
    fac = facilities([(150, -5)], [1])  # inside, on 10-11
    res = points([(-200, 10), (300, 490)])  # outside west; outside on the public street near 3
    time, _ = run(profiles, "walk", nodes, edges, fac, res)
    assert time[0] == pytest.approx((10 + 200 + 150 + 5) / WALK, abs=1e-6)
    # from the far public corner: down to gate 4, then 150 m inside
    assert time[1] == pytest.approx((0 + 490 + 150 + 5) / WALK, abs=1e-6)


def test_facility_on_same_edge(profiles):
    coords = {1: (0, 0), 2: (1000, 0), 3: (1000, 1000), 4: (0, 1000)}
    links = [(1, 2, "residential", True), (2, 3, "residential"), (3, 4, "residential"), (4, 1, "residential")]
    nodes, edges = make_network(coords, links)
    res = points([(500, 10)])
    behind, ahead = facilities([(300, 0)], [1]), facilities([(700, 0)], [2])
    walk, _ = run(profiles, "walk", nodes, edges, behind, res)
    assert walk[0] == pytest.approx((10 + 200) / WALK, abs=1e-6)
    car_ahead, _ = run(profiles, "car", nodes, edges, ahead, res)
    assert car_ahead[0] == pytest.approx(10 / WALK + 200 / CAR_RESIDENTIAL, abs=1e-6)
    car_behind, _ = run(profiles, "car", nodes, edges, behind, res)  # must go round the block
    assert car_behind[0] == pytest.approx(10 / WALK + (500 + 3000 + 300) / CAR_RESIDENTIAL, abs=1e-6)
    for name, fac in (("walk", behind), ("car", ahead), ("car", behind)):
        want, _ = truth_times(nodes, edges, name, fac, res)
        got, _ = run(profiles, name, nodes, edges, fac, res)
        assert got[0] == pytest.approx(want[0], abs=1e-6)


@pytest.mark.parametrize("ids", [(3, 7), (7, 3)])
def test_equal_times_go_to_lowest_facility_id(profiles, ids):
    # two facilities 200 m from junction J(1); residents beyond J on 1-2, and exactly between them
    coords = {1: (0, 0), 2: (400, 0), 3: (-200, 0), 4: (0, -200)}
    nodes, edges = make_network(coords, [(1, 2, "residential"), (3, 1, "residential"), (4, 1, "residential")])
    fac = facilities([(-200, 0), (0, -200)], list(ids))
    res = points([(300, 0), (0, 0)])
    time, fid = run(profiles, "walk", nodes, edges, fac, res)
    assert time == pytest.approx([500 / WALK, 200 / WALK], abs=1e-6)
    assert fid.tolist() == [3, 3]
    net = build_network(nodes, edges, profiles["walk"])
    reach = nearest_facility(
        net, fac.facility_id.to_numpy(), snap_points(net, fac.lon, fac.lat), limit_s=3600
    )
    assert set(reach.facility_ids[reach.source[[0, 1]]]) == {3}  # J and the far node


def test_unreachable_points_and_no_facilities(profiles):
    nodes, edges = make_network({1: (0, 0), 2: (100, 0)}, [(1, 2, "residential")])
    net = build_network(nodes, edges, profiles["walk"])
    res = points([(50, 0), (50, 900)])
    rsnap = snap_points(net, res.lon, res.lat)
    fac = facilities([(0, 0)], [5])
    time, fid = facility_times(net, np.array([5]), snap_points(net, fac.lon, fac.lat), rsnap, limit_s=3600)
    assert np.isfinite(time[0]) and np.isinf(time[1]) and fid.tolist() == [5, -1]
    empty = snap_points(net, [], [])
    reach = nearest_facility(net, np.array([], dtype=np.int64), empty, limit_s=600)
    t, f = read_points(net, reach, rsnap)
    assert np.isinf(t).all() and (f == -1).all()
