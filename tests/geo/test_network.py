"""geo.profiles and geo.network against hand-worked rules and an independent networkx graph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from geo_cases import PROFILES_CSV, curvy_network, make_network, random_grid, truth_graph
from scipy.sparse.csgraph import dijkstra

from geo.errors import MissingColumnsError, NetworkError, ProfileError, UnknownProfileError
from geo.network import build_network
from geo.profiles import edge_rules, get_profile, load_profiles


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(PROFILES_CSV)


def test_profile_speeds_follow_the_table(profiles):
    assert profiles["walk"].speeds_kmh["*"] == 4
    assert profiles["walk_elderly"].speeds_kmh["*"] == 3
    assert profiles["ebike"].speeds_kmh["*"] == 18
    assert profiles["car"].speeds_kmh["*"] == 30
    assert profiles["car"].access_speed_kmh == 4  # walk to the car
    assert profiles["walk_elderly"].access_speed_kmh == 3  # own speed for foot profiles
    assert not profiles["walk"].respect_oneway and profiles["car"].respect_oneway


def test_bikes_pushed_on_footways_are_no_faster_than_walking(profiles):
    """Where an e-bike is walked or carried (footway, pedestrian, steps) it moves at most at the
    speed of its access (walking) profile on that class."""
    walk = profiles["walk"]
    for hw in ("footway", "pedestrian", "steps"):
        pushed = profiles["ebike"].speeds_kmh.get(hw, profiles["ebike"].speeds_kmh["*"])
        assert pushed <= walk.speeds_kmh.get(hw, walk.speeds_kmh["*"]), hw
    assert profiles["ebike"].speeds_kmh["footway"] == 4


def test_profile_table_errors(tmp_path, profiles):
    bad = tmp_path / "p.csv"
    bad.write_text(
        "profile,label_zh,highway,speed_kmh,usable,respect_oneway,mode,access_profile\n"
        "walk,w,residential,4,1,0,foot,\n"
    )
    with pytest.raises(ProfileError, match="'\\*' default row"):
        load_profiles(bad)
    with pytest.raises(UnknownProfileError, match="bus"):
        get_profile(profiles, "bus")


def test_access_rules(profiles):
    edges = pd.DataFrame(
        {
            "highway": [
                "motorway",
                "motorway",
                "footway",
                "residential",
                "residential",
                "residential",
                "cycleway",
            ],
            "oneway": [True, False, False, True, False, False, False],
            "access": [None, None, None, None, "no", "private", None],
            "foot": [None, "yes", None, None, None, None, "no"],
            "bicycle": [None, None, None, None, None, None, None],
        }
    )
    walk = edge_rules(profiles["walk"], edges)
    car = edge_rules(profiles["car"], edges)
    ebike = edge_rules(profiles["ebike"], edges)
    assert walk.usable.tolist() == [False, True, True, True, False, True, False]
    assert car.usable.tolist() == [True, True, False, True, False, True, False]
    assert ebike.usable.tolist() == [False, False, True, True, False, True, True]
    assert not walk.oneway.any() and car.oneway.tolist() == [True, False, False, True, False, False, False]
    assert walk.private.tolist() == [False] * 5 + [True, False]
    assert car.speed_mps[0] == pytest.approx(90 / 3.6)


@pytest.mark.parametrize("name", ["walk", "car", "ebike"])
def test_arcs_equal_networkx_graph(profiles, name):
    nodes, edges = random_grid(20, seed=3)
    net = build_network(nodes, edges, profiles[name], contract=False)
    g = truth_graph(nodes, edges, name)
    coo = net.forward.tocoo()
    got = {
        (int(net.node_ids[a]), int(net.node_ids[b])): w
        for a, b, w in zip(coo.row, coo.col, coo.data, strict=True)
    }
    want = {(a, b): d["weight"] for a, b, d in g.edges(data=True)}
    assert got.keys() == want.keys()
    assert max(abs(got[k] - want[k]) for k in want) < 1e-9


def test_build_is_deterministic_and_order_free(profiles):
    nodes, edges = random_grid(12, seed=5)
    a = build_network(nodes, edges, profiles["car"])
    b = build_network(
        nodes.sample(frac=1, random_state=1), edges.sample(frac=1, random_state=2), profiles["car"]
    )
    for field in ("node_ids", "edge_id", "edge_u", "edge_v", "edge_time_s", "node_xy"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert (a.forward != b.forward).nnz == 0


def test_compound_layers_block_through_traffic(profiles):
    # public street 1-2-3-4 bends far around; compound 10-11 with gates 1 and 4 is a shortcut
    coords = {1: (0, 0), 2: (0, 500), 3: (300, 500), 4: (300, 0), 10: (100, 0), 11: (200, 0)}
    links = [
        (1, 2, "residential"),
        (2, 3, "residential"),
        (3, 4, "residential"),
        (1, 10, "service", False, "private"),
        (10, 11, "service", False, "private"),
        (11, 4, "service", False, "private"),
    ]
    nodes, edges = make_network(coords, links)
    net = build_network(nodes, edges, profiles["walk"], contract=False)
    assert net.edge_compound.tolist() == [-1, -1, -1, 0, 0, 0]
    m = dict(zip(net.node_ids.tolist(), range(net.n_nodes), strict=True))
    dist = dijkstra(net.forward, indices=m[1])
    assert dist[m[4]] == pytest.approx(1300 / (4 / 3.6))  # around, not through
    # from inside the compound (P copy of 10) the gates are reachable inside
    from_inside = dijkstra(net.forward, indices=net.p_copy[m[10]])
    assert from_inside[m[4]] == pytest.approx(200 / (4 / 3.6))
    # entering from gate 1 reaches 11 inside (S layer) but cannot leave by gate 4
    assert dist[net.s_copy[m[11]]] == pytest.approx(200 / (4 / 3.6))


def test_bad_frames_raise(profiles):
    nodes, edges = make_network({1: (0, 0), 2: (100, 0)}, [(1, 2, "residential")])
    with pytest.raises(NetworkError, match="missing from the nodes"):
        build_network(nodes[nodes.node_id == 1], edges, profiles["walk"])
    with pytest.raises(MissingColumnsError, match="length_m"):
        build_network(nodes, edges.drop(columns="length_m"), profiles["walk"])
    with pytest.raises(NetworkError, match="duplicate edge_id"):
        build_network(nodes, pd.concat([edges, edges]), profiles["walk"])


@pytest.mark.parametrize("name", ["walk", "car"])
def test_contraction_keeps_every_distance(profiles, name):
    nodes, edges = curvy_network(8, seed=2)
    full = build_network(nodes, edges, profiles[name], contract=False)
    small = build_network(nodes, edges, profiles[name])
    assert small.forward.nnz < full.forward.nnz / 2  # most nodes were routed through
    kept = np.flatnonzero(
        np.diff(small.forward.indptr)[: small.n_nodes] + np.diff(small.reverse.indptr)[: small.n_nodes]
    )
    d_full = dijkstra(full.forward, indices=kept)[:, kept]
    d_small = dijkstra(small.forward, indices=kept)[:, kept]
    np.testing.assert_allclose(d_small, d_full, rtol=0, atol=1e-6)
    # every edge sits inside its chain, chains tile their edges without overlap
    ends = small.edge_offset_s + small.edge_time_s
    assert (ends <= small.chain_time_s[small.edge_chain] + 1e-9).all()
    per_chain = np.bincount(small.edge_chain, weights=small.edge_time_s)
    np.testing.assert_allclose(per_chain, small.chain_time_s, atol=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_walking_the_chains_gives_the_shortest_path_positions(seed):
    """Positions along the chains equal a multi-source Dijkstra from their starts (the former way)."""
    import scipy.sparse as sp

    from geo.network import _contractible, _pure_cycles, _split_components, _walk_chains

    rng = np.random.default_rng(seed)
    n = 400
    # long paths of degree-2 nodes, some joined into junctions, some closed into rings, a few oneway
    u = np.arange(n - 1)
    v = u + 1
    cut = rng.choice(n - 1, 40, replace=False)
    extra_u, extra_v = rng.integers(0, n, 30), rng.integers(0, n, 30)
    u = np.concatenate([np.delete(u, cut), extra_u, [0, 50]])
    v = np.concatenate([np.delete(v, cut), extra_v, [20, 60]])
    keep = u != v
    u, v = u[keep], v[keep]
    time = rng.uniform(0.1, 30.0, len(u))
    oneway = rng.random(len(u)) < 0.1
    compound = np.full(len(u), -1)
    through = _contractible(n, u, v, oneway, compound)
    uvert, vvert, label = _split_components(n, u, v, through)
    loops = _pure_cycles(n, u, uvert, vvert, label, through)
    through[loops] = False
    uvert, vvert, label = _split_components(n, u, v, through)
    m = len(u)
    ends = np.unique(np.concatenate([uvert[uvert >= n], vvert[vvert >= n]]))
    starts = np.array([ends[label[ends] == c].min() for c in np.unique(label[ends])])
    pos, aligned = _walk_chains(n, uvert, vvert, time, starts)
    size = n + 2 * m
    graph = sp.csr_matrix(
        (np.concatenate([time, time]), (np.concatenate([uvert, vvert]), np.concatenate([vvert, uvert]))),
        shape=(size, size),
    )
    truth, pred = dijkstra(graph, indices=starts, min_only=True, return_predecessors=True)[:2]
    used = np.unique(np.concatenate([uvert, vvert]))
    assert np.array_equal(pos[used], truth[used])  # the same sums in the same order: bit for bit
    assert np.array_equal(aligned, pred[vvert] == uvert)
    assert through.any() and len(starts) > 10


def test_class_rules_follow_the_table_per_edge_unknown_and_missing_classes_take_the_default():
    profiles = load_profiles(PROFILES_CSV)
    walk = get_profile(profiles, "walk")
    highway = pd.Series(["residential", None, "no_such_class", "footway", "residential", "motorway"])
    speed, usable = walk.class_rules(highway)
    for hw, got_speed, got_usable in zip(highway, speed, usable, strict=True):
        cls = hw if hw in walk.speeds_kmh else "*"  # hand rule: unknown or missing → the '*' row
        assert got_speed == pytest.approx(walk.speeds_kmh[cls] / 3.6)
        assert got_usable == walk.usable[cls]
    assert class_rules_empty(walk)


def class_rules_empty(profile) -> bool:
    speed, usable = profile.class_rules(pd.Series([], dtype=object))
    return len(speed) == 0 and len(usable) == 0
