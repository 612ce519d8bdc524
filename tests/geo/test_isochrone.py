"""geo.isochrone: reachable sets equal networkx, polygons follow the streets."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from geo_cases import (
    PROFILES_CSV,
    attach,
    brute_snap,
    compound_rule,
    curvy_network,
    make_network,
    points,
    random_grid,
    same_edge_arcs,
    truth_graph,
)

from geo.errors import UnreachablePointError
from geo.isochrone import isochrones, substrings
from geo.network import build_network
from geo.profiles import load_profiles

WALK = 4 / 3.6


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(PROFILES_CSV)


@pytest.fixture(scope="module")
def grid():
    return random_grid(30, seed=13)  # 900 nodes, 2.4 km square


def truth(nodes, edges, profile, origin, pts, *, direction="from"):
    """networkx times between the origin and every node / point (direction as in isochrones)."""
    g = truth_graph(nodes, edges, profile)
    snaps = {
        ("o", 0): brute_snap(nodes, edges, profile, origin, allowed=compound_rule(nodes, edges, origin))[0]
    }
    rule = compound_rule(nodes, edges, pts)
    snaps.update({("p", i): s for i, s in enumerate(brute_snap(nodes, edges, profile, pts, allowed=rule))})
    for name, s in snaps.items():
        if s is not None:
            attach(g, edges, profile, name, s, as_origin=(name[0] == "o") == (direction == "from"))
    same_edge_arcs(g, edges, profile, snaps)
    if direction == "to":
        g = g.reverse(copy=True)
    dist = nx.single_source_dijkstra_path_length(g, ("pt", ("o", 0)))
    node_t = {n: t for n, t in dist.items() if not isinstance(n, tuple)}
    point_t = np.array([dist.get(("pt", ("p", i)), np.inf) for i in range(len(pts))])
    return node_t, point_t


@pytest.mark.parametrize(("name", "direction"), [("walk", "from"), ("car", "from"), ("car", "to")])
def test_reachable_nodes_and_points_equal_networkx(profiles, grid, name, direction):
    nodes, edges = grid
    net = build_network(nodes, edges, profiles[name])
    origin = points([(1100, 1250)])
    rng = np.random.default_rng(1)
    pts = points([tuple(p) for p in rng.uniform(0, 2300, size=(120, 2))])
    minutes = (1.5, 2.5) if name == "car" else (5, 10)
    iso = isochrones(net, origin.lon[0], origin.lat[0], minutes=minutes, direction=direction, points=pts)
    node_t, point_t = truth(nodes, edges, name, origin, pts, direction=direction)
    limit = minutes[-1] * 60
    want = {n: t for n, t in node_t.items() if t <= limit}
    got = dict(zip(iso.nodes.node_id, iso.nodes.time_s, strict=True))
    assert 20 < len(want) < len(nodes) and got.keys() == want.keys()
    assert max(abs(got[n] - want[n]) for n in want) < 1e-6
    inside = point_t <= limit
    assert 0 < inside.sum() < len(pts)
    assert np.abs(iso.points.time_s.to_numpy()[inside] - point_t[inside]).max() < 1e-6
    assert iso.points.time_s[~inside].isna().all()
    # every reachable node lies inside its budget's polygon
    xy = nodes.set_index("node_id").loc[list(want)]
    for budget, polygon in zip(iso.polygons.minutes, iso.polygons.geometry, strict=True):
        within = np.array([want[n] <= budget * 60 for n in xy.index])
        assert shapely.is_valid(polygon) and polygon.geom_type in ("Polygon", "MultiPolygon")
        assert shapely.contains_xy(polygon, xy.lon.to_numpy()[within], xy.lat.to_numpy()[within]).all()


@pytest.mark.parametrize("direction", ["from", "to"])
def test_curvy_streets_isochrone_equals_networkx(profiles, direction):
    nodes, edges = curvy_network(8, seed=5)
    net = build_network(nodes, edges, profiles["car"])
    origin = points([(500, 520)])
    rng = np.random.default_rng(3)
    pts = points([tuple(p) for p in rng.uniform(-100, 1100, size=(150, 2))])
    iso = isochrones(net, origin.lon[0], origin.lat[0], minutes=(2.0,), direction=direction, points=pts)
    node_t, point_t = truth(nodes, edges, "car", origin, pts, direction=direction)
    want = {n: t for n, t in node_t.items() if t <= 120}
    got = dict(zip(iso.nodes.node_id, iso.nodes.time_s, strict=True))
    assert 20 < len(want) < len(nodes) and got.keys() == want.keys()
    assert max(abs(got[n] - want[n]) for n in want) < 1e-6
    inside = point_t <= 120
    assert 0 < inside.sum() < len(pts)
    assert np.abs(iso.points.time_s.to_numpy()[inside] - point_t[inside]).max() < 1e-6
    polygon = iso.polygons.geometry[0]
    xy = nodes.set_index("node_id").loc[list(want)]
    assert shapely.contains_xy(polygon, xy.lon.to_numpy(), xy.lat.to_numpy()).all()


def test_polygon_follows_streets_not_a_hull(profiles):
    # river between x=0 and x=100; the only bridge 2 km north; origin on the west street
    coords = {1: (0, -500), 2: (0, 2000), 3: (100, 2000), 4: (100, -500)}
    nodes, edges = make_network(coords, [(1, 2, "residential"), (2, 3, "residential"), (3, 4, "residential")])
    net = build_network(nodes, edges, profiles["walk"])
    origin = points([(0, 0)])
    iso = isochrones(net, origin.lon[0], origin.lat[0], minutes=(10,), buffer_m=30)
    polygon = iso.polygons.geometry[0]
    across, along = points([(100, 0)]), points([(0, 600)])
    assert not shapely.contains_xy(polygon, across.lon, across.lat).any()
    assert shapely.contains_xy(polygon, along.lon, along.lat).all()


def test_partial_edge_is_cut_at_the_budget(profiles):
    nodes, edges = make_network({1: (0, 0), 2: (1000, 0)}, [(1, 2, "residential")])
    net = build_network(nodes, edges, profiles["walk"])
    origin = points([(0, 0)])
    iso = isochrones(net, origin.lon[0], origin.lat[0], minutes=(5,), buffer_m=20)
    reach_m = 300 * WALK  # 333 m
    polygon = iso.polygons.geometry[0]
    near, far = points([(reach_m - 10, 0)]), points([(reach_m + 30, 0)])
    assert shapely.contains_xy(polygon, near.lon, near.lat).all()
    assert not shapely.contains_xy(polygon, far.lon, far.lat).any()
    assert iso.nodes.node_id.tolist() == [1]


def test_substrings_match_shapely_ops():
    from shapely.ops import substring

    lines = np.array([shapely.LineString([(0, 0), (10, 0), (10, 10)]), shapely.LineString([(0, 0), (0, 4)])])
    got = substrings(lines, np.array([0.25, 0.0]), np.array([0.75, 0.5]))
    for g, line, a, b in zip(got, lines, [0.25, 0.0], [0.75, 0.5], strict=True):
        want = substring(line, a, b, normalized=True)
        assert g.equals(want)


def test_unreachable_origin_raises(profiles):
    nodes, edges = make_network({1: (0, 0), 2: (100, 0)}, [(1, 2, "residential")])
    net = build_network(nodes, edges, profiles["walk"])
    far = points([(0, 2000)])
    with pytest.raises(UnreachablePointError, match="max_distance_m"):
        isochrones(net, far.lon[0], far.lat[0])


def test_repeated_isochrones_identical(profiles, grid):
    nodes, edges = grid
    net = build_network(nodes, edges, profiles["walk"])
    origin = points([(700, 900)])
    a = isochrones(net, origin.lon[0], origin.lat[0], minutes=(5, 15))
    b = isochrones(net, origin.lon[0], origin.lat[0], minutes=(5, 15))
    assert all(x.equals_exact(y, 0) for x, y in zip(a.polygons.geometry, b.polygons.geometry, strict=True))
    assert a.nodes.equals(b.nodes)


def inside(polygon, pts) -> np.ndarray:
    return shapely.contains_xy(polygon, pts.lon.to_numpy(), pts.lat.to_numpy())


def river_case():
    """West street x=0 and east street x=100 along a river, one bridge at y=2000 (1 → 2 → 3 → 4)."""
    coords = {1: (0, -500), 2: (0, 2000), 3: (100, 2000), 4: (100, -500)}
    nodes, edges = make_network(coords, [(1, 2, "residential"), (2, 3, "residential"), (3, 4, "residential")])
    edges.loc[edges.edge_id == 2, "bridge"] = True
    return nodes, edges


def test_polygon_holds_exactly_the_reachable_points_by_a_river(profiles):
    nodes, edges = river_case()
    net = build_network(nodes, edges, profiles["walk"])
    origin = points([(0, 0)])
    pts = points(
        [
            (55, 0),  # nearer the east street (45 m) than the west one (55 m): only via the far bridge
            (30, 100),  # west bank, 30 m from the street: reachable
            (-250, 0),  # 250 m walk to the west street: reachable, far outside the street band
            (0, 700),  # on the west street beyond the 10-minute reach (667 m): inside the band, not reachable
            (10, 640),  # 640 m along and 10 m off: 585 s, reachable
            (-30, 1000),
        ]
    )
    iso = isochrones(net, origin.lon[0], origin.lat[0], minutes=(10,), points=pts)
    _, want = truth(nodes, edges, "walk", origin, pts)
    got = iso.points.time_s.fillna(np.inf).to_numpy()
    np.testing.assert_allclose(got, np.where(want <= 600, want, np.inf), atol=1e-6)
    polygon = iso.polygons.geometry[0]
    assert shapely.is_valid(polygon)
    np.testing.assert_array_equal(inside(polygon, pts), want <= 600)
    assert inside(polygon, pts).tolist() == [False, True, True, False, True, False]
    # the plain street band (no points given) gets three of them wrong
    band = isochrones(net, origin.lon[0], origin.lat[0], minutes=(10,)).polygons.geometry[0]
    assert (inside(band, pts) != (want <= 600)).sum() == 3


@pytest.mark.parametrize(
    ("name", "direction", "minutes"),
    [("walk", "from", (3, 6)), ("car", "from", (1.0, 2.0)), ("car", "to", (1.0, 2.0))],
)
def test_polygons_hold_exactly_the_points_reachable_by_networkx(profiles, grid, name, direction, minutes):
    nodes, edges = grid
    net = build_network(nodes, edges, profiles[name])
    origin = points([(1100, 1250)])
    rng = np.random.default_rng(6)
    pts = points([tuple(p) for p in rng.uniform(500, 1700, size=(400, 2))])
    iso = isochrones(net, origin.lon[0], origin.lat[0], minutes=minutes, direction=direction, points=pts)
    band = isochrones(net, origin.lon[0], origin.lat[0], minutes=minutes, direction=direction)
    _, want = truth(nodes, edges, name, origin, pts, direction=direction)
    wrong_band = 0
    for budget, polygon, plain in zip(minutes, iso.polygons.geometry, band.polygons.geometry, strict=True):
        reach = want <= budget * 60
        assert shapely.is_valid(polygon) and 0 < reach.sum() < len(pts)
        np.testing.assert_array_equal(inside(polygon, pts), reach)  # both ways: inside iff reachable
        wrong_band += (inside(plain, pts) != reach).sum()
    assert wrong_band > 0  # the street band alone is not exact for these points


@pytest.mark.slow
def test_demo_isochrones_hold_exactly_the_reachable_homes(demo_district):
    """Every home of the demo is inside the isochrone iff its time is within the budget (walk and car,
    from sampled facilities); sampled times equal the independent networkx truth."""
    from demo_truth import DemoTruth, read_profiles

    d = demo_district
    homes = pd.DataFrame({"lon": d.residences.geometry.x, "lat": d.residences.geometry.y})
    fac = d.facilities[d.facilities.status == "open"]
    origins = fac.iloc[[40, 160, 300]]
    profiles = load_profiles(PROFILES_CSV)
    sample = np.random.default_rng(2).choice(len(homes), size=150, replace=False)
    for name, minutes in (("walk", (5, 15)), ("car", (4, 10))):
        net = build_network(d.nodes, d.edges, profiles[name])
        for k, o in enumerate(origins.geometry):
            iso = isochrones(net, o.x, o.y, minutes=minutes, points=homes)
            time = iso.points.time_s.fillna(np.inf).to_numpy()
            for budget, polygon in zip(minutes, iso.polygons.geometry, strict=True):
                assert shapely.is_valid(polygon)
                reach = time <= budget * 60 + 1e-7
                assert 0 < reach.sum() < len(homes)
                np.testing.assert_array_equal(inside(polygon, homes), reach)
            if k == 0:
                truth_of = DemoTruth(
                    d.nodes,
                    d.edges,
                    read_profiles()[name],
                    origins={"o": (o.x, o.y)},
                    destinations={int(i): tuple(homes.iloc[i]) for i in sample},
                )
                want = truth_of.times_from("o", minutes[-1] * 60 + 1)
                got = {int(i): time[i] for i in sample if np.isfinite(time[i])}
                assert got.keys() == {i for i, t in want.items() if t <= minutes[-1] * 60}
                assert max(abs(got[i] - want[i]) for i in got) < 1e-6
