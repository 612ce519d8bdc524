"""Tests of the fictional demo district generator (data.demo): sizes, invariants, determinism."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from data.demo import SOURCE, DemoDistrict, generate, summary
from geo.network import build_network
from geo.profiles import edge_rules, load_profiles
from geo.snapping import entries, exits, snap_points

DATA = Path(__file__).resolve().parents[2] / "data"
PARENT_LEVEL = {
    "town": "district",
    "grid_large": "town",
    "community": "town",
    "grid_middle": "community",
    "grid_small": "grid_middle",
}
COLUMNS = {
    "areas": [
        "area_id",
        "parent_id",
        "level",
        "code",
        "name",
        "urban",
        "urban_rural_code",
        "worker_name",
        "worker_phone",
        "households",
        "source",
        "geometry",
    ],
    "nodes": ["node_id", "lon", "lat"],
    "edges": [
        "edge_id",
        "u",
        "v",
        "length_m",
        "highway",
        "oneway",
        "access",
        "foot",
        "bicycle",
        "bridge",
        "name",
        "geometry",
    ],
    "residences": [
        "residence_id",
        "address",
        "area_id",
        "households",
        "population",
        "elderly",
        "children",
        "estimated",
        "source",
        "geometry",
    ],
    "facilities": [
        "facility_id",
        "type_code",
        "name",
        "address",
        "floor_area_m2",
        "capacity",
        "opening_hours",
        "fees",
        "phone",
        "operator",
        "status",
        "source",
        "geometry",
    ],
    "place_names": [
        "name_id",
        "name",
        "category",
        "area_id",
        "proper",
        "generic",
        "status",
        "heritage",
        "sign_present",
        "approval",
        "meaning",
        "geometry",
    ],
    "water": ["water_id", "kind", "name", "geometry"],
    "buildings": ["building_id", "kind", "levels", "source", "geometry"],
}
ID = {
    "areas": "area_id",
    "nodes": "node_id",
    "edges": "edge_id",
    "residences": "residence_id",
    "facilities": "facility_id",
    "place_names": "name_id",
    "water": "water_id",
    "buildings": "building_id",
}


@pytest.fixture(scope="module")
def d(demo_district) -> DemoDistrict:
    """The session's demo district (tests/conftest.py: ``generate(scale=1.0)``, made once per process);
    test_deterministic compares it with a district generated afresh."""
    return demo_district


def _csv_codes(path: Path, col: str) -> set[str]:
    with path.open(encoding="utf-8") as f:
        return {row[col] for row in csv.DictReader(f)}


def _components(d: DemoDistrict) -> tuple[int, np.ndarray, pd.Index]:
    idx = pd.Index(d.nodes["node_id"])
    u, v = idx.get_indexer(d.edges["u"]), idx.get_indexer(d.edges["v"])
    g = coo_matrix((np.ones(len(u)), (u, v)), shape=(len(idx), len(idx)))
    n, lab = connected_components(g, directed=False)
    return n, lab, idx


def _planted(d: DemoDistrict, case: str) -> pd.DataFrame:
    return d.planted[d.planted["case"] == case]


# --- shape of the output ------------------------------------------------------------------------


def test_columns_ids_crs_and_source(d):
    for name, cols in COLUMNS.items():
        frame = getattr(d, name)
        assert list(frame.columns) == cols, name
        assert frame[ID[name]].dtype == np.int64 and frame[ID[name]].is_unique, name
        if "geometry" in cols:
            assert frame.crs.to_epsg() == 4326, name
        if "source" in cols:
            assert (frame["source"] == SOURCE).all(), name
    assert d.areas["parent_id"].dtype == "Int64"
    assert d.areas.geom_type.eq("MultiPolygon").all() and d.water.geom_type.eq("MultiPolygon").all()
    assert d.residences.geom_type.eq("Point").all() and d.facilities.geom_type.eq("Point").all()
    assert set(d.place_names.geom_type) <= {"Point", "LineString", "Polygon"}


def test_sizes_at_scale_one(d):
    s = summary(d)
    assert 30_000 <= s["nodes"] <= 50_000
    assert 0.85 * 60_000 <= s["households"] <= 1.15 * 60_000
    assert 0.85 * 180_000 <= s["residents"] <= 1.15 * 180_000
    assert 0.8 * 300 <= s["small_grids"] <= 1.2 * 300
    assert 32 <= s["communities"] <= 48 and s["towns"] == 3 and s["districts"] == 1
    assert 450 <= s["facilities"] <= 620
    assert 1_700 <= s["place_names"] <= 2_300


def test_deterministic(d):
    again = generate(scale=1.0)
    for name in COLUMNS:
        a, b = getattr(d, name), getattr(again, name)
        if isinstance(a, gpd.GeoDataFrame):
            assert_geodataframe_equal(a, b, check_less_precise=False)
            assert shapely.equals_exact(a.geometry.values, b.geometry.values, tolerance=0).all()
        else:
            pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(d.planted, again.planted)


def test_other_seed_and_small_scale():
    small = generate(scale=0.2, seed=7)
    other = generate(scale=0.2, seed=8)
    assert len(small.nodes) != len(other.nodes) or not small.nodes.equals(other.nodes)
    assert 0.1 * 30_000 < len(small.nodes) < 0.3 * 50_000
    assert set(small.facilities["type_code"]) == _csv_codes(DATA / "facility_types.csv", "code")


# --- placement ------------------------------------------------------------------------------------


def test_offshore(d):
    """Open sea only: the Guangdong coast east of the Pearl River lies north of lat 22.5 for lon
    115-116.5 (Shanwei: 22.65-22.85); 22.2 leaves > 30 km margin. Dongsha (Pratas) sits at
    lat 20.6-20.8, lon 116.6-116.9; Hainan and Taiwan are far west/east."""
    for name in ("areas", "edges", "residences", "facilities", "place_names"):
        minx, miny, maxx, maxy = getattr(d, name).total_bounds
        assert minx >= 115.5 and maxx <= 117.0 and miny >= 20.9 and maxy < 22.2, name
    coast = shapely.box(115.0, 22.2, 116.5, 23.5)
    pratas = shapely.box(116.6, 20.6, 116.9, 20.8)
    land = d.areas.loc[d.areas["level"] == "district"].union_all()
    assert not land.intersects(coast) and not land.intersects(pratas)
    sea = d.water.loc[d.water["kind"] == "sea"].union_all()
    assert land.intersection(sea).area < 1e-6 * land.area


# --- areas ------------------------------------------------------------------------------------------


def test_area_tree_and_codes(d):
    a = d.areas.set_index("area_id")
    for level, parent in PARENT_LEVEL.items():
        rows = a[a["level"] == level]
        assert (a.loc[rows["parent_id"].astype("int64"), "level"].to_numpy() == parent).all(), level
    assert a["code"].is_unique
    lengths = a["code"].str.len()
    assert (lengths[a["level"].isin(["district", "town", "community"])] == 12).all()
    assert (lengths[a["level"].str.startswith("grid")] == 20).all()
    assert a["code"].str.fullmatch(r"\d+").all()
    com = a[a["level"] == "community"]
    suffix = com["code"].str[-3:].astype(int)
    assert (
        (suffix[com["name"].str.endswith("社区")] >= 1) & (suffix[com["name"].str.endswith("社区")] <= 199)
    ).all()
    assert (
        (suffix[com["name"].str.endswith("村")] >= 200) & (suffix[com["name"].str.endswith("村")] <= 399)
    ).all()
    assert set(com["urban_rural_code"]) <= {"111", "112", "121", "122", "123", "210", "220"}
    assert (com["urban"] == com["urban_rural_code"].str.startswith("1")).all()
    grids = a[a["level"].isin(["grid_middle", "grid_small"])]
    comm_of = grids["parent_id"].astype("int64")
    comm_of = comm_of.where(
        grids["level"] == "grid_middle", a.loc[comm_of, "parent_id"].astype("int64").to_numpy()
    )
    assert (grids["urban_rural_code"].to_numpy() == a.loc[comm_of, "urban_rural_code"].to_numpy()).all()
    grid_codes = grids["code"].str[12:18].to_numpy()
    assert (grid_codes == a.loc[comm_of, "code"].str[6:12].to_numpy()).all()


def test_small_grids_have_fictional_workers_and_others_roles(d):
    """A small grid's worker is a (made-up) person with a work phone; larger areas name an office or role."""
    from data.demo.names import WORKER_GIVEN, WORKER_SURNAMES

    small = d.areas["level"] == "grid_small"
    person = f"[{WORKER_SURNAMES}][{WORKER_GIVEN}]{{1,2}}"
    assert d.areas.loc[small, "worker_name"].str.fullmatch(person).all()
    assert d.areas.loc[small, "worker_name"].nunique() > small.sum() / 3  # not one name for everyone
    roles = ("网格长", "网格指导员", "办公室", "值班室")
    assert d.areas.loc[~small, "worker_name"].map(lambda s: s.endswith(roles)).all()
    assert d.areas["worker_phone"].str.fullmatch(r"0660-0\d{6}").all()


def test_children_tile_parents(d):
    """Children of one (parent, level) tile the parent: no gaps, no overlaps, inside it."""
    a = d.areas.set_index("area_id")
    geom = a.geometry
    for (pid, level), kids in a[a["parent_id"].notna()].groupby(["parent_id", "level"]):
        parent = geom[int(pid)]
        g = kids.geometry.values
        union = shapely.union_all(g)
        total = shapely.area(g).sum()
        assert abs(union.area - parent.area) <= 1e-6 * parent.area, (pid, level)
        assert abs(total - union.area) <= 1e-6 * parent.area, (pid, level)  # pairwise overlaps ~ 0
        outside = shapely.area(shapely.difference(g, parent))
        assert (outside <= 1e-6 * shapely.area(g)).all(), (pid, level)


@pytest.fixture(scope="module")
def street_belt(d):
    """The metric CRS of the areas, and the land within 8 m of a public street or road or of the river
    (one union for the tests that measure boundaries against it)."""
    from data.demo.network import BOUNDARY_CLASSES
    from geo.crs import to_metric

    crs = to_metric(d.areas.geometry).crs
    streets = d.edges[d.edges["highway"].isin(list(BOUNDARY_CLASSES)) & d.edges["access"].isna()]
    near = shapely.union_all(to_metric(streets.geometry, crs=crs).buffer(8.0).to_numpy())
    river = to_metric(d.water[d.water["kind"] == "river"].geometry, crs=crs).buffer(8.0).union_all()
    return crs, shapely.union(near, river)


def _along_streets(d, belt, level: str, outer: str, *, urban: bool | None = None) -> float:
    """Share of the length of the ``level`` boundaries inside their ``outer`` parents (the parents'
    outlines left out) that runs within 8 m of a public street or road or of the river (``belt``)."""
    from geo.crs import to_metric

    crs, near = belt
    a = d.areas.set_index("area_id")
    metric = to_metric(a.geometry, crs=crs)
    outlines = shapely.union_all(shapely.boundary(metric[a["level"] == outer].to_numpy())).buffer(1.0)
    sel = (a["level"] == level) & ((a["urban"] == urban) if urban is not None else True)
    inner = shapely.difference(shapely.union_all(shapely.boundary(metric[sel].to_numpy())), outlines)
    return shapely.intersection(inner, near).length / inner.length


def test_grids_follow_streets_and_the_river(d, street_belt):
    """Grid lines inside a community run along the public streets, roads and the river (straight
    cuts through blocks would put about 5 % of them there)."""
    shares = {
        urban: _along_streets(d, street_belt, "grid_small", "community", urban=urban)
        for urban in (True, False)
    }
    assert shares[True] >= 0.5 and shares[False] >= 0.3, shares


def test_communities_follow_streets_and_the_river(d, street_belt):
    """Community lines inside a town run along the public streets, roads and the river where one runs
    near the planned line (the planned warped Voronoi lines alone put 18 % of them there); only open
    country, where no road runs near, keeps planned lines."""
    assert _along_streets(d, street_belt, "community", "town") >= 0.45


def test_buildings_stand_beside_the_streets_apart(d):
    """Footprints: most residence points have one; none overlaps another or comes within 3 m of a street
    centreline (a facility's smallest room 1 m: it never crosses one), none stands in the water (brute
    force over the metric geometry); form and height only."""
    from data.demo.buildings import STREET_CLEARANCE_M, TIGHT_CLEARANCE_M
    from geo.crs import to_metric

    b = d.buildings
    assert set(b.columns) == {"building_id", "kind", "levels", "source", "geometry"}  # no household figure
    assert b.geom_type.eq("Polygon").all() and set(b["kind"]) == {
        "residential",
        "commercial",
        "public",
        "grounds",
    }
    homes = b["kind"].isin(["residential", "commercial"]).to_numpy()
    assert 0.7 * len(d.residences) <= homes.sum() <= len(d.residences)
    assert b["levels"][homes].between(1, 32).all() and b["levels"].max() >= 18
    assert (b["levels"][b["kind"] == "grounds"] == 0).all() and b["levels"][b["kind"] == "public"].between(
        1, 5
    ).all()
    crs = to_metric(b.geometry.iloc[:1]).crs
    feet = to_metric(b.geometry, crs=crs).to_numpy()
    a, c = shapely.STRtree(feet).query(feet, predicate="intersects")
    assert (a == c).all()  # each footprint meets itself only
    streets = shapely.STRtree(to_metric(d.edges.geometry, crs=crs).to_numpy())
    assert streets.query(feet[homes], predicate="dwithin", distance=STREET_CLEARANCE_M - 0.01).shape[1] == 0
    assert streets.query(feet[~homes], predicate="dwithin", distance=TIGHT_CLEARANCE_M - 0.01).shape[1] == 0
    water = to_metric(d.water.geometry, crs=crs).to_numpy()
    assert shapely.STRtree(water).query(feet[~homes], predicate="intersects").shape[1] == 0


def test_every_built_facility_stands_in_a_building_of_its_size(d):
    """Every open or closed facility lies in a public footprint or within 4 m of one (a few in the
    densest village lanes within 10 m); schools stand in large buildings, 卫生服务站 in small ones;
    sports grounds are open grounds; facilities sharing a building share one footprint."""
    from data.demo.buildings import FAR_M, SHARE_M
    from geo.crs import to_metric

    b, f = d.buildings, d.facilities
    crs = to_metric(b.geometry.iloc[:1]).crs
    public = b[b["kind"].isin(["public", "grounds"])]
    feet = to_metric(public.geometry, crs=crs).to_numpy()
    points = to_metric(f.geometry, crs=crs).to_numpy()
    idx, dist = shapely.STRtree(feet).query_nearest(points, return_distance=True, all_matches=False)
    assert (idx[0] == np.arange(len(f))).all()
    built = f["status"].isin(["open", "closed"]).to_numpy()
    assert (dist[built] <= FAR_M).all() and (dist[built] <= SHARE_M).mean() >= 0.98
    assert (dist[built] == 0).mean() >= 0.5
    area = pd.Series(shapely.area(feet[idx[1]]), index=f.index)
    kind = pd.Series(public["kind"].to_numpy()[idx[1]], index=f.index)
    med = area[built].groupby(f["type_code"][built]).median()
    assert med["primary_school"] >= 1000 and med["middle_school"] >= 2000
    assert med["health_station"] <= 300 and med["primary_school"] >= 5 * med["health_station"]
    assert (kind[built & f["type_code"].str.startswith("sports_ground").to_numpy()] == "grounds").all()
    # facilities sharing one building share one footprint: no facility point stands in a second one
    assert shapely.STRtree(feet).query(points, predicate="intersects").shape[1] == (dist == 0).sum()


def test_households_add_up(d):
    a = d.areas.set_index("area_id")
    small = d.residences.groupby("area_id")["households"].sum()
    grids = a[a["level"] == "grid_small"]
    assert (grids["households"] == small.reindex(grids.index, fill_value=0)).all()
    assert a.loc[a["level"] == "district", "households"].sum() == d.residences["households"].sum()
    urban = grids[grids["urban"]]["households"]
    assert urban.median() > 300 and urban.quantile(0.9) < 550


# --- residences ---------------------------------------------------------------------------------


def test_every_residence_in_exactly_one_small_grid(d):
    small = d.areas[d.areas["level"] == "grid_small"]
    tree = shapely.STRtree(small.geometry.values)
    pi, gi = tree.query(d.residences.geometry.values, predicate="intersects")
    assert (np.bincount(pi, minlength=len(d.residences)) == 1).all()
    assert (small["area_id"].to_numpy()[gi] == d.residences["area_id"].to_numpy()[pi]).all()


def test_residence_people(d):
    r = d.residences
    assert (r["households"] >= 1).all() and (r["population"] >= r["households"]).all()
    assert (r["elderly"] + r["children"] <= r["population"]).all()
    assert not r["estimated"].any()
    assert r["address"].str.startswith("澄湾区").all() and r["address"].str.contains(r"\d+号").all()
    rural = r["area_id"].isin(d.areas.loc[~d.areas["urban"], "area_id"])
    share = r.groupby(rural)[["elderly", "population"]].sum()
    assert (
        share.loc[True, "elderly"] / share.loc[True, "population"]
        > share.loc[False, "elderly"] / share.loc[False, "population"]
    )
    assert r["households"].max() >= 100 and (r["households"] <= 5).sum() > 1000


# --- network --------------------------------------------------------------------------------------


def test_edges_reference_nodes_and_lengths(d):
    e, nodes = d.edges, d.nodes.set_index("node_id")
    assert e["u"].isin(nodes.index).all() and e["v"].isin(nodes.index).all()
    start = shapely.get_coordinates(shapely.get_point(e.geometry.values, 0))
    assert np.allclose(start, nodes.loc[e["u"], ["lon", "lat"]].to_numpy())
    metric = e.to_crs(32650).length.to_numpy()
    assert np.allclose(e["length_m"], metric, rtol=1e-3)
    assert (e["length_m"] > 0).all()
    assert set(e["highway"]) >= {
        "motorway",
        "motorway_link",
        "primary",
        "secondary",
        "tertiary",
        "residential",
        "living_street",
        "service",
        "footway",
        "path",
        "track",
        "unclassified",
    }


def test_connected_except_islet(d):
    n, lab, idx = _components(d)
    assert n == 2
    islet = _planted(d, "islet_component")["object_id"]
    assert len(islet) == 1
    islet_label = lab[idx.get_indexer(islet)[0]]
    assert (lab == islet_label).sum() < 0.01 * len(lab)


# Directed connectivity per travel profile, with the profile's own rules (geo.profiles.edge_rules:
# usable classes, access/foot/bicycle tags, one-way for vehicles). Intended exceptions, exactly:
# (1) the islet is its own component (ferry only, ``islet_component``); (2) the private roads of
# gated compounds are not part of the public graph: a trip enters a compound through a gate and
# leaves it through a gate (geo.network's P/S layers), checked in the layered graph below.


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(DATA / "profiles.csv")


def _public_digraph(d: DemoDistrict, profile) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Strong component label per node of the public graph of ``profile``, and which nodes it uses."""
    rules = edge_rules(profile, d.edges)
    public = rules.usable & ~rules.private
    idx = pd.Index(d.nodes["node_id"])
    u, v = idx.get_indexer(d.edges["u"])[public], idx.get_indexer(d.edges["v"])[public]
    one = rules.oneway[public]
    tails, heads = np.r_[u, v[~one]], np.r_[v, u[~one]]
    g = coo_matrix((np.ones(len(tails)), (tails, heads)), shape=(len(idx),) * 2)
    _, lab = connected_components(g, directed=True, connection="strong")
    used = np.zeros(len(idx), dtype=bool)
    used[u] = used[v] = True
    return lab, used, idx


@pytest.mark.parametrize("name", ["car", "ebike", "walk", "walk_elderly"])
def test_public_network_is_strongly_connected_except_the_islet(d, profiles, name):
    lab, used, idx = _public_digraph(d, profiles[name])
    islet = lab[idx.get_indexer(_planted(d, "islet_component")["object_id"])[0]]
    labels = pd.Series(lab[used]).value_counts()
    assert set(labels.index) == {labels.index[0], islet} and labels.index[0] != islet, labels.head()
    assert labels[islet] < 0.01 * used.sum()


def test_no_oneway_dead_end_for_cars(d, profiles):
    """A car can leave every node it can drive into, and the reverse (no pure sinks or sources)."""
    rules = edge_rules(profiles["car"], d.edges)
    e = d.edges[rules.usable & ~rules.private]
    one = rules.oneway[rules.usable & ~rules.private]
    tails = np.r_[e["u"].to_numpy(), e["v"].to_numpy()[~one]]
    heads = np.r_[e["v"].to_numpy(), e["u"].to_numpy()[~one]]
    assert set(heads) == set(tails)
    assert one.sum() > 50  # one-way streets remain: in loops and couplets, not into dead ends


def _reached(graph, start: int) -> np.ndarray:
    out = np.zeros(graph.shape[0], dtype=bool)
    out[breadth_first_order(graph, start, directed=True, return_predecessors=False)] = True
    return out


@pytest.mark.parametrize("name", ["car", "walk"])
def test_layered_network_every_place_can_be_left_and_reached(d, profiles, name):
    """In geo.network's routing graph (compounds through their gates) every node on the main island
    is reachable from every other, except by design: a compound's P copies can only be left (they
    reach the streets) and its S copies only entered; every open facility can be left and reached."""
    net = build_network(d.nodes, d.edges, profiles[name], contract=False)
    islet_node = int(np.searchsorted(net.node_ids, _planted(d, "islet_component")["object_id"].iloc[0]))
    start = int(net.edge_u[np.argmax(net.edge_compound < 0)])
    forward, backward = _reached(net.forward, start), _reached(net.reverse, start)
    m_nodes = np.unique(np.r_[net.edge_u[net.edge_compound < 0], net.edge_v[net.edge_compound < 0]])
    _, islet_lab = connected_components(net.forward, directed=False)
    on_islet = islet_lab == islet_lab[islet_node]
    main = m_nodes[~on_islet[m_nodes]]
    assert forward[main].all() and backward[main].all()
    private = np.flatnonzero(net.s_copy >= 0)
    assert len(private) and forward[net.s_copy[private]].all() and backward[net.p_copy[private]].all()
    open_ = d.facilities[d.facilities["status"] == "open"]
    snap = snap_points(net, open_.geometry.x.to_numpy(), open_.geometry.y.to_numpy())
    assert snap.reachable.all()
    out_nodes, out_cost = exits(net, snap)
    in_nodes, in_cost = entries(net, snap)
    leaves = (np.isfinite(out_cost) & backward[np.maximum(out_nodes, 0)] & (out_nodes >= 0)).any(axis=1)
    arrives = (np.isfinite(in_cost) & forward[np.maximum(in_nodes, 0)] & (in_nodes >= 0)).any(axis=1)
    assert leaves.all() and arrives.all(), open_.loc[~(leaves & arrives), "facility_id"].tolist()


def test_compounds_are_connected_inside(d, profiles):
    """Each compound's private roads are connected for cars and on foot and include its gates."""
    gates = set(_planted(d, "gate")["object_id"])
    for name in ("car", "walk"):
        rules = edge_rules(profiles[name], d.edges)
        pe = d.edges[rules.usable & rules.private]
        idx = pd.Index(pd.unique(pe[["u", "v"]].to_numpy().ravel()))
        u, v = idx.get_indexer(pe["u"]), idx.get_indexer(pe["v"])
        n, lab = connected_components(
            coo_matrix((np.ones(len(u)), (u, v)), shape=(len(idx),) * 2), directed=False
        )
        assert n == 9 * (d.areas["level"] == "district").sum(), name
        with_gate = set(lab[idx.get_indexer([g for g in gates if g in idx])])
        assert with_gate == set(range(n)), name


def test_private_roads_touch_public_only_at_gates(d):
    e = d.edges
    private = e["access"] == "private"
    assert private.any()
    priv_nodes = set(e.loc[private, "u"]) | set(e.loc[private, "v"])
    pub_nodes = set(e.loc[~private, "u"]) | set(e.loc[~private, "v"])
    gates = set(_planted(d, "gate")["object_id"])
    assert priv_nodes & pub_nodes <= gates and gates <= priv_nodes & pub_nodes
    # per compound (component of private edges): 1-3 gates, one compound with a single gate
    pe = e[private]
    idx = pd.Index(sorted(priv_nodes))
    u, v = idx.get_indexer(pe["u"]), idx.get_indexer(pe["v"])
    _, lab = connected_components(
        coo_matrix((np.ones(len(u)), (u, v)), shape=(len(idx),) * 2), directed=False
    )
    per = pd.Series(lab[idx.get_indexer(sorted(gates))]).value_counts()
    assert per.between(1, 3).all() and (per == 1).any() and len(per) == lab.max() + 1


def test_oneway_bridges_and_motorway(d):
    e = d.edges
    assert e["oneway"].sum() > 50
    bridges = e[e["bridge"]]
    idx = pd.Index(pd.unique(bridges[["u", "v"]].to_numpy().ravel()))
    u, v = idx.get_indexer(bridges["u"]), idx.get_indexer(bridges["v"])
    n, _ = connected_components(coo_matrix((np.ones(len(u)), (u, v)), shape=(len(idx),) * 2), directed=False)
    districts = (d.areas["level"] == "district").sum()
    assert 3 * districts <= n <= 6 * districts  # few bridges per district
    mw = e["highway"] == "motorway"
    assert (e.loc[mw, "foot"] == "no").all()
    mw_nodes = set(e.loc[mw, "u"]) | set(e.loc[mw, "v"])
    other = e[~e["highway"].isin(["motorway", "motorway_link"])]
    assert not mw_nodes & (set(other["u"]) | set(other["v"]))


def test_river_crossed_only_by_bridges(d):
    river = d.water.loc[d.water["kind"] == "river"].union_all()
    crossing = shapely.intersects(d.edges.geometry.values, river)
    assert crossing.any()
    assert d.edges.loc[crossing, "bridge"].all()


# --- facilities -------------------------------------------------------------------------------


def test_facility_types_and_status(d):
    f = d.facilities
    assert set(f["type_code"]) == _csv_codes(DATA / "facility_types.csv", "code")
    assert set(f["status"]) == {"open", "planned", "closed"}
    assert (f["status"] == "open").mean() > 0.9
    joined = gpd.sjoin(
        f[["type_code", "geometry"]], d.areas[d.areas["level"] == "town"][["name", "geometry"]]
    )
    assert joined.loc[joined["type_code"] == "rural_elderly_home", "name"].str.endswith("镇").all()


def test_fees_where_the_type_charges(d):
    """Types that charge publish a fee in yuan (养老院 beds, 托育 places, 日间照料 and canteen meals); free
    public ones say 免费; the rest publish none. The same name always gets the same fee."""
    f = d.facilities.set_index("facility_id")
    charging = {
        "nursing_home",
        "nursery",
        "infant_care",
        "kindergarten",
        "elderly_daycare",
        "elderly_canteen",
    }
    for code in charging:
        fees = f.loc[f["type_code"] == code, "fees"]
        assert len(fees) and fees.str.contains(r"\d+元/(?:月|天|餐)").all(), (code, fees.head())
    assert (f.loc[f["type_code"] == "public_toilet", "fees"] == "免费").all()
    assert (
        f.loc[f["type_code"].isin(["police_station", "primary_school", "food_market"]), "fees"].isna().all()
    )
    assert f["fees"].dropna().str.len().max() <= 200
    daycare = f[f["type_code"] == "elderly_daycare"]
    assert daycare["fees"].nunique() > 3  # drawn per facility, not one text for all


def test_one_office_per_town(d):
    towns = d.areas[d.areas["level"] == "town"][["area_id", "name", "geometry"]]
    office = d.facilities[d.facilities["type_code"] == "subdistrict_office"]
    joined = gpd.sjoin(office[["name", "geometry"]], towns, rsuffix="town")
    assert sorted(joined["area_id"]) == sorted(towns["area_id"])
    expected = joined["name_town"].map(lambda t: f"{t}办事处" if t.endswith("街道") else f"{t}人民政府")
    assert (joined["name_left"] == expected).all()


def _facilities_in(d, area_ids, type_code):
    f = d.facilities[(d.facilities["type_code"] == type_code) & (d.facilities["status"] == "open")]
    areas = d.areas[d.areas["area_id"].isin(area_ids)]
    return gpd.sjoin(f, areas[["area_id", "geometry"]])


def test_planted_gaps(d):
    no_dc = _planted(d, "no_daycare")["object_id"]
    assert len(no_dc) == 3 and _facilities_in(d, no_dc, "elderly_daycare").empty
    estates = _planted(d, "new_estate")["object_id"]
    assert (
        len(estates) == 2 and set(estates) <= set(no_dc) and _facilities_in(d, estates, "kindergarten").empty
    )
    east = _planted(d, "east_bank")["object_id"]
    assert len(east) >= 2 and set(estates) <= set(east)
    for code in ("middle_school", "health_center"):
        assert _facilities_in(d, east, code).empty, code
    for code in ("food_market", "primary_school", "culture_center"):  # the east bank has the other services
        assert not _facilities_in(d, east, code).empty, code
    remote = _planted(d, "remote_village")["object_id"]
    assert len(remote) == 1
    for code in ("health_station", "elderly_daycare"):
        assert _facilities_in(d, remote, code).empty, code
    planned = d.facilities.set_index("facility_id").loc[_planted(d, "planned_daycare")["object_id"]]
    assert (planned["status"] == "planned").all()
    gap_polys = d.areas[d.areas["area_id"].isin(no_dc)].geometry
    assert all(
        gap_polys.contains(p).any() for p in d.facilities.set_index("facility_id").geometry[planned.index]
    )
    rural_town = _planted(d, "regional_centre")["object_id"]
    assert _facilities_in(d, rural_town, "nursing_home").empty
    assert not _facilities_in(d, rural_town, "regional_elderly_center").empty


# --- place names --------------------------------------------------------------------------------


def test_place_names(d):
    p = d.place_names
    assert set(p["category"]) <= _csv_codes(DATA / "placenames" / "categories.csv", "category")
    assert set(p["status"]) == {"standard", "irregular", "historical"}
    assert p["area_id"].isin(d.areas["area_id"]).all()
    assert p["heritage"].any() and (~p["sign_present"]).any()
    names = set(p["name"])
    for planted in (
        "威尼斯花园",
        "维也纳小区",
        "皇庭御府",
        "EE新城",
        "東湖路",
        "新桦路",
        "康凝街",
        "㘭背",
        "世界城",
        "中央公馆",
        "环球中心",
    ):
        assert planted in names, planted
    assert (p["name"] == "新华路").sum() == 2 and (p["name"] == "翠苑").sum() == 2
    irregular = set(p.loc[p["status"] == "irregular", "name"])
    assert {"威尼斯花园", "皇庭御府", "東湖路"} <= irregular and "湴田" not in irregular
    roads = set(d.edges["name"].dropna())
    assert (
        p.loc[p["category"].isin(["road", "trunk_road", "lane"]), "name"].isin(roads)
        | p.loc[p["category"].isin(["road", "trunk_road", "lane"]), "status"].eq("historical")
    ).all()


def test_planted_ids_resolve(d):
    layers = {
        "areas": d.areas["area_id"],
        "facilities": d.facilities["facility_id"],
        "place_names": d.place_names["name_id"],
        "nodes": d.nodes["node_id"],
        "edges": d.edges["edge_id"],
        "residences": d.residences["residence_id"],
    }
    for layer, rows in d.planted.groupby("layer"):
        assert rows["object_id"].isin(layers[layer]).all(), layer


def test_homes_far_from_every_road(d):
    """The planted watch houses lie farther than the default snapping distance (500 m) from every
    road or path: coverage must report them unreachable. Every other home is near a road."""
    far = _planted(d, "far_from_road")["object_id"]
    assert len(far) == 2
    homes = d.residences.to_crs(32650)
    tree = shapely.STRtree(d.edges.to_crs(32650).geometry.values)
    (which, _), dist = tree.query_nearest(homes.geometry.values, return_distance=True, all_matches=False)
    gap = pd.Series(dist, index=homes["residence_id"].to_numpy()[which])
    assert (gap.loc[far] > 600).all()
    assert (gap.drop(far) < 100).all()
    assert (d.residences.set_index("residence_id").loc[far, "households"] == 1).all()


@pytest.mark.slow
def test_scale_two_doubles(d):
    one = summary(d)
    two_d = generate(scale=2.0)
    two = summary(two_d)
    for name in ID:
        assert getattr(two_d, name)[ID[name]].is_unique, name
    for k in ("nodes", "households", "residents", "small_grids", "facilities", "place_names"):
        assert 1.8 * one[k] <= two[k] <= 2.2 * one[k], k
    assert two["districts"] == 2
    n, _, _ = _components(two_d)
    assert n == 4
