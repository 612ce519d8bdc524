"""OSM ways/features → network, facilities, place names and estimated residences (pure geo.osm)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geo import osm
from geo.errors import GeoError

DATA = Path(__file__).resolve().parents[2] / "data"
GEOD = Geod(ellps="WGS84")
LON0, LAT0 = 113.0, 22.0


def at(x_m: float, y_m: float) -> tuple[float, float]:
    """Lon/lat of a point x metres east and y metres north of (113, 22) (small distances)."""
    _, lat, _ = GEOD.fwd(LON0, LAT0, 0.0, y_m)
    lon, _, _ = GEOD.fwd(LON0, lat, 90.0, x_m)
    return lon, lat


def coords(points: dict[int, tuple[float, float]]) -> pd.DataFrame:
    rows = [(n, *at(x, y)) for n, (x, y) in points.items()]
    return pd.DataFrame(rows, columns=["node_id", "lon", "lat"])


def ways(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def geodesic_length(frame: pd.DataFrame, nodes: list[int]) -> float:
    c = frame.set_index("node_id").loc[nodes]
    return float(GEOD.line_length(c["lon"].to_numpy(), c["lat"].to_numpy()))


# a plus sign: A runs west→east through node 2, B south→north through node 2, C dangles from 3
PLUS = {1: (0, 0), 2: (100, 0), 3: (200, 0), 4: (100, -100), 5: (100, 100), 6: (300, 0), 7: (250, 50)}


def plus_ways(**tags_c) -> pd.DataFrame:
    return ways(
        [
            {"way_id": 10, "nodes": [1, 2, 3], "highway": "residential", "name": "人民路"},
            {"way_id": 11, "nodes": [4, 2, 5], "highway": "footway"},
            {"way_id": 12, "nodes": [3, 7, 6], "highway": "service", **tags_c},
        ]
    )


def test_ways_are_split_at_shared_nodes_with_geodesic_lengths():
    c = coords(PLUS)
    nodes, edges = osm.network(plus_ways(), c, min_component_m=0)
    pairs = sorted(zip(edges["u"], edges["v"], strict=True))
    assert pairs == [(1, 2), (2, 3), (2, 5), (3, 6), (4, 2)]
    assert sorted(nodes["node_id"]) == [1, 2, 3, 4, 5, 6]  # 7 is inside an edge, not a node
    by_pair = edges.set_index(["u", "v"])
    assert by_pair.loc[(3, 6), "length_m"] == pytest.approx(geodesic_length(c, [3, 7, 6]), rel=1e-9)
    assert by_pair.loc[(3, 6)].geometry.coords[1] == pytest.approx(tuple(c.set_index("node_id").loc[7]))
    assert edges["length_m"].sum() == pytest.approx(
        geodesic_length(c, [1, 2, 3]) + geodesic_length(c, [4, 2, 5]) + geodesic_length(c, [3, 7, 6])
    )
    assert by_pair.loc[(1, 2), "name"] == "人民路" and by_pair.loc[(1, 2), "highway"] == "residential"
    assert edges["edge_id"].is_unique


def test_network_matches_networkx_shortest_paths():
    """Ground truth: a networkx graph of the raw node-to-node segments gives the same distances."""
    c = coords(PLUS)
    nodes, edges = osm.network(plus_ways(), c, min_component_m=0)
    ours = nx.Graph()
    ours.add_weighted_edges_from(zip(edges["u"], edges["v"], edges["length_m"], strict=True))
    raw = nx.Graph()
    for way in plus_ways().itertuples():
        for a, b in zip(way.nodes[:-1], way.nodes[1:], strict=True):
            raw.add_edge(a, b, weight=geodesic_length(c, [a, b]))
    for target in nodes["node_id"]:
        assert nx.dijkstra_path_length(ours, 1, target) == pytest.approx(
            nx.dijkstra_path_length(raw, 1, target)
        )


@pytest.mark.parametrize(
    ("tags", "oneway", "u", "v"),
    [
        ({"oneway": "yes"}, True, 3, 6),
        ({"oneway": "true"}, True, 3, 6),
        ({"oneway": "1"}, True, 3, 6),
        ({"oneway": "-1"}, True, 6, 3),
        ({"oneway": "reverse"}, True, 6, 3),
        ({"oneway": "no"}, False, 3, 6),
        ({"junction": "roundabout"}, True, 3, 6),
        ({}, False, 3, 6),
    ],
)
def test_oneway_values(tags, oneway, u, v):
    c = coords(PLUS)
    _, edges = osm.network(plus_ways(**tags), c, min_component_m=0)
    row = edges[edges["highway"] == "service"].iloc[0]
    assert (bool(row.oneway), row.u, row.v) == (oneway, u, v)
    start = tuple(c.set_index("node_id").loc[u])
    assert row.geometry.coords[0] == pytest.approx(start)  # geometry runs u → v


def test_access_foot_bicycle_bridge_kept_as_tagged():
    _, edges = osm.network(
        plus_ways(access="private", foot="yes", bicycle="no", bridge="yes"), coords(PLUS), min_component_m=0
    )
    row = edges[edges["highway"] == "service"].iloc[0]
    assert (row.access, row.foot, row.bicycle, bool(row.bridge)) == ("private", "yes", "no", True)
    other = edges[edges["highway"] == "residential"].iloc[0]
    assert pd.isna(other.access) and not other.bridge


def test_network_types_filter_ways(ebike):
    w = pd.concat(
        [
            plus_ways(),
            ways(
                [
                    {"way_id": 13, "nodes": [5, 6], "highway": "motorway"},
                    {"way_id": 14, "nodes": [1, 4], "highway": "construction"},
                    {"way_id": 15, "nodes": [1, 5], "highway": "residential", "foot": "no"},
                ]
            ),
        ],
        ignore_index=True,
    )
    c = coords(PLUS)
    highways = {
        n: set(osm.network(w, c, network=n, bike=ebike, min_component_m=0)[1]["highway"])
        for n in osm.NETWORK_TYPES
    }
    assert highways["all"] == {"residential", "footway", "service", "motorway"}
    assert highways["walk"] == {"residential", "footway", "service"}
    assert highways["bike"] == {"residential", "footway", "service"}
    assert highways["drive"] == {"residential", "service", "motorway"}
    walk = osm.network(w, c, network="walk", min_component_m=0)[1]
    assert (1, 5) not in set(zip(walk["u"], walk["v"], strict=True))  # foot=no
    with pytest.raises(GeoError, match="unknown network type 'boat'"):
        osm.network(w, c, network="boat")
    with pytest.raises(GeoError, match="follows a bicycle profile"):
        osm.network(w, c, network="bike")  # the rules come from data/profiles.csv, not from a copy here


@pytest.fixture(scope="module")
def ebike():
    from geo.profiles import load_profiles

    return load_profiles(DATA / "profiles.csv")["ebike"]


BIKE_CASES = [  # (tags of the way from node 3 to 6, kept in the bike network, expected oneway for bikes)
    ({"highway": "motorway"}, False, None),
    ({"highway": "motorway", "bicycle": "yes"}, True, False),
    ({"highway": "motorway_link", "bicycle": "designated"}, True, False),
    ({"highway": "residential", "bicycle": "no"}, False, None),
    ({"highway": "service", "access": "no"}, False, None),
    ({"highway": "service", "access": "no", "bicycle": "permissive"}, True, False),
    ({"highway": "trunk"}, True, False),  # the e-bike profile rides trunk roads (20 km/h)
    ({"highway": "footway"}, True, False),  # ... and walks the bike along footways (6 km/h)
    ({"highway": "steps"}, True, False),  # ... and carries it up steps (2 km/h)
    ({"highway": "pedestrian"}, True, False),
    ({"highway": "cycleway"}, True, False),
    ({"highway": "residential", "oneway": "yes"}, True, True),
    ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, True, False),
    ({"highway": "residential", "oneway": "yes", "cycleway": "opposite_lane"}, True, False),
    ({"highway": "residential", "oneway:bicycle": "yes"}, True, True),
    ({"highway": "construction"}, False, None),
]


@pytest.mark.parametrize(("tags", "kept", "oneway"), BIKE_CASES)
def test_bike_network_follows_the_ebike_profile(ebike, tags, kept, oneway):
    from geo.profiles import edge_rules

    w = ways(
        [
            {"way_id": 10, "nodes": [1, 2, 3], "highway": "residential"},
            {"way_id": 12, "nodes": [3, 7, 6], **tags},
        ]
    )
    _, edges = osm.network(w, coords(PLUS), network="bike", bike=ebike, min_component_m=0)
    piece = edges[(edges["u"].isin([3, 6])) & (edges["v"].isin([3, 6]))]
    assert len(piece) == (1 if kept else 0)
    if kept:
        assert bool(piece["oneway"].iloc[0]) is oneway
    # the same way in an 'all' import: the e-bike profile may use it exactly when the bike import keeps it
    _, every = osm.network(w, coords(PLUS), network="all", min_component_m=0)
    same = ((every["u"].isin([3, 6])) & (every["v"].isin([3, 6]))).to_numpy()
    assert bool(edge_rules(ebike, every).usable[same].any()) is kept


def test_bike_oneway_bicycle_against_the_way():
    w = ways(
        [
            {"way_id": 1, "nodes": [1, 2], "highway": "residential", "oneway:bicycle": "-1"},
            {"way_id": 2, "nodes": [2, 3], "highway": "residential", "oneway": "-1", "oneway:bicycle": "no"},
        ]
    )
    assert osm.oneway_direction(w, network="bike").tolist() == [-1, 0]
    assert osm.oneway_direction(w).tolist() == [0, -1]  # cars: oneway:bicycle does not apply


def test_osmnx_graph_bike_contraflow_is_two_way():
    graph = nx.MultiDiGraph()
    for n, (x, y) in {1: (0, 0), 2: (100, 0)}.items():
        lon, lat = at(x, y)
        graph.add_node(n, x=lon, y=lat)
    graph.add_edge(1, 2, 0, highway="residential", oneway=True, **{"oneway:bicycle": "no"})
    assert osm.frames_from_graph(graph, network="bike")[1]["oneway"].tolist() == [False]
    assert osm.frames_from_graph(graph)[1]["oneway"].tolist() == [True]


def test_missing_nodes_split_a_way_and_small_fragments_are_dropped():
    points = {i: (i * 50.0, 0.0) for i in range(1, 31)}
    c = coords(points)
    # 99 unknown
    w = ways(
        [
            {"way_id": 1, "nodes": list(range(1, 26)), "highway": "residential"},
            {"way_id": 2, "nodes": [27, 28, 99, 29, 30], "highway": "residential"},
        ]
    )
    _, edges = osm.network(w, c, min_component_m=0)
    assert sorted(zip(edges["u"], edges["v"], strict=True)) == [(1, 25), (27, 28), (29, 30)]
    _, kept = osm.network(w, c, min_component_m=60)
    assert list(zip(kept["u"], kept["v"], strict=True)) == [(1, 25)]


def test_clip_keeps_the_inside():
    c = coords(PLUS)
    extract = osm.OsmExtract(coords=c, ways=plus_ways())
    lon3, lat3 = at(150, 0)
    inside = osm.clip(extract, (LON0 - 0.01, LAT0 - 0.01, lon3, LAT0 + 0.01))
    _, edges = osm.network(inside.ways, inside.coords, min_component_m=0)
    assert sorted(zip(edges["u"], edges["v"], strict=True)) == [(1, 2), (2, 5), (4, 2)]


def feature_frame(rows: list[dict]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows)
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=list(frame["geometry"]), crs=4326)


def square(x: float, y: float, side_m: float) -> shapely.Polygon:
    return shapely.Polygon([at(x, y), at(x + side_m, y), at(x + side_m, y + side_m), at(x, y + side_m)])


def point(x: float, y: float) -> shapely.Point:
    return shapely.Point(at(x, y))


@pytest.fixture(scope="module")
def facility_mapping() -> pd.DataFrame:
    return osm.read_facility_mapping(DATA / "osm_facility_mapping.csv")


def test_facilities_are_mapped_through_the_editable_table(facility_mapping):
    feats = feature_frame(
        [
            {
                "osm_type": "node",
                "osm_id": 1,
                "amenity": "kindergarten",
                "name": "阳光幼儿园",
                "geometry": point(0, 0),
            },
            {
                "osm_type": "node",
                "osm_id": 2,
                "amenity": "kindergarten",
                "name": "小树苗托儿所",
                "geometry": point(500, 0),
            },
            {
                "osm_type": "node",
                "osm_id": 3,
                "amenity": "school",
                "name": "城关第一中学",
                "geometry": point(0, 500),
            },
            {
                "osm_type": "node",
                "osm_id": 4,
                "amenity": "school",
                "name": "城关高级中学",
                "geometry": point(0, 900),
            },
            {
                "osm_type": "node",
                "osm_id": 5,
                "amenity": "school",
                "name": "人民路小学",
                "geometry": point(900, 0),
            },
            {"osm_type": "node", "osm_id": 6, "amenity": "toilets", "fee": "no", "geometry": point(900, 900)},
            {
                "osm_type": "node",
                "osm_id": 7,
                "amenity": "restaurant",
                "name": "饭店",
                "geometry": point(50, 50),
            },
            {
                "osm_type": "way",
                "osm_id": 8,
                "amenity": "kindergarten",
                "name": "阳光幼儿园",
                "geometry": square(10, 10, 40),
            },
            {
                "osm_type": "node",
                "osm_id": 9,
                "social_facility": "nursing_home",
                "amenity": "social_facility",
                "name": "颐年养老院",
                "phone": "0660-1234567",
                "addr:street": "人民路",
                "addr:housenumber": "8号",
                "charge": "床位费 1800元/月起",
                "geometry": point(1500, 0),
            },
        ]
    )
    result = osm.facilities(feats, facility_mapping, type_names={"public_toilet": "公共厕所"})
    got = dict(zip(result["source"], result["type_code"], strict=True))
    assert got == {
        "osm:node/1": "kindergarten",
        "osm:node/2": "nursery",
        "osm:node/3": "middle_school",
        "osm:node/5": "primary_school",
        "osm:node/6": "public_toilet",
        "osm:node/9": "nursing_home",
    }
    # the kindergarten polygon 8 repeats node 1 (same type and name, ~40 m away): one facility
    named = result.set_index("source")
    assert named.loc["osm:node/6", "name"] == "公共厕所（未命名）"
    assert (
        named.loc["osm:node/9", "address"] == "人民路8号"
        and named.loc["osm:node/9", "phone"] == "0660-1234567"
    )
    assert named.loc["osm:node/9", "fees"] == "床位费 1800元/月起" and pd.isna(
        named.loc["osm:node/1", "fees"]
    )
    assert named.loc["osm:node/6", "fees"] == "免费"
    assert (result["status"] == "open").all() and result["facility_id"].tolist() == list(range(1, 7))


def test_an_edited_mapping_changes_the_result(facility_mapping):
    feats = feature_frame(
        [{"osm_type": "node", "osm_id": 1, "amenity": "library", "name": "图书馆", "geometry": point(0, 0)}]
    )
    assert osm.facilities(feats, facility_mapping)["type_code"].tolist() == ["culture_station"]
    edited = pd.concat(
        [
            pd.DataFrame(
                [
                    {
                        "key": "amenity",
                        "value": "library",
                        "name_contains": "",
                        "type_code": "culture_center",
                        "note": "",
                    }
                ]
            ),
            facility_mapping,
        ]
    )
    assert osm.facilities(feats, edited)["type_code"].tolist() == ["culture_center"]


def test_polygon_facilities_get_a_point_inside(facility_mapping):
    feats = feature_frame(
        [
            {
                "osm_type": "way",
                "osm_id": 5,
                "amenity": "marketplace",
                "name": "东门菜市场",
                "geometry": square(0, 0, 80),
            }
        ]
    )
    row = osm.facilities(feats, facility_mapping).iloc[0]
    assert square(0, 0, 80).contains(shapely.Point(row.lon, row.lat))


def test_place_names_from_places_features_and_streets():
    mapping = osm.read_placename_mapping(DATA / "osm_placename_mapping.csv")
    feats = feature_frame(
        [
            {"osm_type": "node", "osm_id": 1, "place": "village", "name": "东坑村", "geometry": point(0, 0)},
            {"osm_type": "node", "osm_id": 2, "place": "hamlet", "name": "下围", "geometry": point(100, 0)},
            {
                "osm_type": "way",
                "osm_id": 3,
                "leisure": "park",
                "name": "人民公园",
                "geometry": square(0, 0, 50),
            },
            {"osm_type": "node", "osm_id": 4, "place": "village", "geometry": point(0, 100)},  # unnamed
        ]
    )
    c = coords(PLUS)
    w = ways(
        [
            {"way_id": 10, "nodes": [1, 2], "highway": "residential", "name": "人民路"},
            {"way_id": 11, "nodes": [2, 3], "highway": "residential", "name": "人民路"},
            {"way_id": 12, "nodes": [4, 2, 5], "highway": "primary", "name": "海滨大道"},
        ]
    )
    _, edges = osm.network(w, c, min_component_m=0)
    names = osm.place_names(feats, edges, mapping)
    got = dict(zip(names["name"], names["category"], strict=True))
    assert got == {
        "东坑村": "village",
        "下围": "natural_village",
        "人民公园": "park",
        "人民路": "road",
        "海滨大道": "trunk_road",
    }
    road = names.set_index("name").loc["人民路"].geometry
    assert road.geom_type == "LineString" and road.length == pytest.approx(
        shapely.length(edges[edges["name"] == "人民路"].geometry.to_numpy()).sum()
    )


@pytest.fixture(scope="module")
def household_params() -> osm.HouseholdParameters:
    return osm.read_household_parameters(DATA / "household_estimate.csv")


def test_households_from_footprint_and_storeys(household_params):
    p = household_params
    # implausible storeys → default
    feats = feature_frame(
        [
            {
                "osm_type": "way",
                "osm_id": 1,
                "building": "apartments",
                "building:levels": "5",
                "geometry": square(0, 0, 20),
            },
            {
                "osm_type": "way",
                "osm_id": 2,
                "building": "yes",
                "height": "30 m",
                "geometry": square(100, 0, 30),
            },
            {"osm_type": "way", "osm_id": 3, "building": "house", "geometry": square(200, 0, 10)},
            {"osm_type": "way", "osm_id": 4, "building": "commercial", "geometry": square(300, 0, 40)},
            {"osm_type": "way", "osm_id": 5, "building": "house", "geometry": square(400, 0, 4)},  # a shed
            {"osm_type": "node", "osm_id": 6, "building": "yes", "geometry": point(500, 0)},
            {
                "osm_type": "way",
                "osm_id": 7,
                "building": "residential",
                "building:levels": "500",
                "geometry": square(600, 0, 20),
            },
        ]
    )
    homes = osm.residences(feats, p).set_index("source")
    area = {
        i: abs(GEOD.geometry_area_perimeter(g)[0])
        for i, g in zip(feats["osm_id"], feats.geometry, strict=True)
    }
    expected = {
        "osm:way/1": round(area[1] * 5 * 1.0 / p.m2_per_household),
        "osm:way/2": round(area[2] * 10 * p.residential_share["yes"] / p.m2_per_household),
        "osm:way/3": round(area[3] * p.default_levels["house"] / p.m2_per_household),
        "osm:way/7": round(area[7] * p.default_levels["residential"] / p.m2_per_household),
    }
    assert homes["households"].to_dict() == expected
    one = homes.loc["osm:way/1"]
    assert one.population == round(one.households * p.persons_per_household)
    assert one.elderly == round(one.population * p.elderly_share)
    assert one.children == round(one.population * p.children_share)
    assert homes["estimated"].all()
    assert one.footprint.equals(feats.geometry.iloc[0]) and one.footprint.contains(one.geometry)


def test_way_geometries_polygons_and_lines():
    c = coords({1: (0, 0), 2: (10, 0), 3: (10, 10), 4: (0, 10)})
    w = ways(
        [
            {"way_id": 1, "nodes": [1, 2, 3, 4, 1]},
            {"way_id": 2, "nodes": [1, 2, 3, 4, 1]},
            {"way_id": 3, "nodes": [1, 2]},
            {"way_id": 4, "nodes": [1, 77]},
        ]
    )
    geoms = osm.way_geometries(w, c, polygon=np.array([True, False, True, True]))
    assert [None if g is None else g.geom_type for g in geoms] == [
        "Polygon",
        "LineString",
        "LineString",
        None,
    ]


def test_frames_from_an_osmnx_graph():
    graph = nx.MultiDiGraph()
    for n, (x, y) in {1: (0, 0), 2: (100, 0), 3: (100, 100)}.items():
        lon, lat = at(x, y)
        graph.add_node(n, x=lon, y=lat)
    graph.add_edge(1, 2, 0, highway="residential", oneway=False, reversed=False, name=["人民路", "人民路"])
    graph.add_edge(2, 1, 0, highway="residential", oneway=False, reversed=True, name=["人民路", "人民路"])
    graph.add_edge(2, 3, 0, highway=["service", "track"], oneway=True, reversed=False, bridge="yes")
    nodes, edges = osm.frames_from_graph(graph)
    assert sorted(zip(edges["u"], edges["v"], edges["oneway"], strict=True)) == [(1, 2, False), (2, 3, True)]
    row = edges.set_index("u").loc[2]
    assert (row.highway, bool(row.bridge)) == ("service", True)
    assert edges.set_index("u").loc[1, "name"] == "人民路"
    assert edges["length_m"].sum() == pytest.approx(200, abs=0.5)
    assert sorted(nodes["node_id"]) == [1, 2, 3]


def test_multipolygons_join_split_rings_and_cut_holes():
    c = coords(
        {
            1: (0, 0),
            2: (100, 0),
            3: (100, 100),
            4: (0, 100),
            5: (40, 40),
            6: (60, 40),
            7: (60, 60),
            8: (40, 60),
        }
    )
    way_nodes = {1: [1, 2, 3], 2: [3, 4, 1], 3: [5, 6, 7, 8, 5], 4: [1, 2, 99]}  # node 99 is unknown
    relations = pd.DataFrame(
        {
            "relation_id": [10, 11],
            "members": [[(1, "outer"), (2, ""), (3, "inner")], [(4, "outer")]],
            "building": ["yes", "yes"],
        }
    )
    feats, incomplete = osm.multipolygons(relations, way_nodes, c)
    assert (
        incomplete == [11] and feats["osm_id"].tolist() == [10] and feats["osm_type"].tolist() == ["relation"]
    )
    geom = feats.geometry.iloc[0]
    area = abs(GEOD.geometry_area_perimeter(geom)[0])
    assert len(geom.interiors) == 1 and area == pytest.approx(100 * 100 - 20 * 20, rel=1e-3)
