"""The demo district in PostGIS: loading twice leaves the same data; its area tree is clean."""

from __future__ import annotations

from sqlalchemy import text

from geo.topology import check_topology
from layers import queries
from layers.db import session
from layers.load.demo import load_district

CHECKSUMS = {
    "areas": "SELECT md5(string_agg(area_id || level || code || name || ST_AsEWKB(geom)::text, ',' ORDER BY area_id)) FROM areas",
    "network_edges": "SELECT md5(string_agg(edge_id || '-' || u || '-' || v || highway || ST_AsEWKB(geom)::text, ',' ORDER BY edge_id)) FROM network_edges",
    "residences": "SELECT md5(string_agg(residence_id || '-' || households || '-' || population || ST_AsEWKB(geom)::text, ',' ORDER BY residence_id)) FROM residences",
    "facilities": "SELECT md5(string_agg(facility_id || type_code || name || status || ST_AsEWKB(geom)::text, ',' ORDER BY facility_id)) FROM facilities",
    "place_names": "SELECT md5(string_agg(name_id || name || coalesce(pinyin, '') || ST_AsEWKB(geom)::text, ',' ORDER BY name_id)) FROM place_names",
}


def _checksums(url):
    with session(url) as s:
        return {k: s.execute(text(q)).scalar_one() for k, q in CHECKSUMS.items()}, queries.counts(s)


def test_loading_twice_leaves_the_same_data(demo_db, demo_district):
    first, counts = _checksums(demo_db)
    with session(demo_db, actor="pytest") as s:
        load_district(s, demo_district)
    second, counts2 = _checksums(demo_db)
    assert first == second and counts == counts2
    assert counts["residences"] == len(demo_district.residences)
    assert counts["network_nodes"] == len(demo_district.nodes)


def test_every_residence_lies_in_its_small_grid_in_postgis(demo_db):
    with session(demo_db) as s:
        wrong = s.execute(text(
            "SELECT count(*) FROM residences r JOIN areas a ON a.area_id = r.area_id "
            "WHERE a.level <> 'grid_small' OR NOT ST_Intersects(a.geom, r.geom)")).scalar_one()
        multiple = s.execute(text(
            "SELECT count(*) FROM (SELECT r.residence_id FROM residences r JOIN areas a "
            "ON a.level = 'grid_small' AND ST_Contains(a.geom, r.geom) GROUP BY 1 HAVING count(*) > 1) x")).scalar_one()
    assert wrong == 0 and multiple == 0


def test_the_loaded_area_tree_has_no_topology_problems(demo_db):
    with session(demo_db) as s:
        problems = check_topology(queries.areas(s), min_area_m2=1.0)
    assert problems.empty, problems[["kind", "area_id", "other_id", "area_m2"]].head().to_string()


def test_a_failed_load_changes_nothing(demo_db, demo_district):
    before, _ = _checksums(demo_db)
    broken = type(demo_district)(**{**demo_district.__dict__})
    broken.facilities = demo_district.facilities.assign(type_code="no_such_type")
    try:
        with session(demo_db, actor="pytest") as s:
            load_district(s, broken)
    except Exception as e:  # the foreign key on facilities.type_code refuses the rows
        assert "type_code" in str(e) or "foreign key" in str(e).lower()
    else:
        raise AssertionError("loading unknown facility types must fail")
    after, _ = _checksums(demo_db)
    assert before == after
