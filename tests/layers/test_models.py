"""Models round-trip through a real PostGIS; migrations upgrade and downgrade; audit triggers work."""

from __future__ import annotations

import pytest
import shapely
from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from layers import migrate
from layers.db import session
from layers.models import Area, AuditLog, Facility, FacilityType, NetworkEdge, NetworkNode, PlaceName


@pytest.fixture(scope="module")
def models_db(fresh_db):
    return fresh_db("models")


@pytest.fixture()
def clean(models_db):
    yield models_db
    with session(models_db) as s:
        s.execute(text("TRUNCATE place_name_history, place_names, facilities, network_edges, network_nodes"))
        s.execute(text("DELETE FROM areas; DELETE FROM facility_types WHERE code LIKE 'test_%'"))
        s.execute(text("TRUNCATE audit_log RESTART IDENTITY"))


def test_area_facility_place_name_round_trip(clean):
    square = shapely.MultiPolygon([shapely.box(115.9, 21.6, 115.91, 21.61)])
    with session(clean, actor="tester") as s:
        s.add(Area(area_id=1, level="district", code="441599000000", name="测试区", urban=True,
                   geom=from_shape(square, srid=4326)))
        s.add(FacilityType(code="test_kg", name_zh="测试幼儿园", category="education", required=True))
        s.flush()
        s.add(Facility(facility_id=7, type_code="test_kg", name="海景幼儿园", capacity=180,
                       geom=from_shape(shapely.Point(115.905, 21.605), srid=4326)))
        s.add(PlaceName(name_id=3, name="人民路", category="road", area_id=1, pinyin="Renmin Lu",
                        geom=from_shape(shapely.LineString([(115.901, 21.601), (115.909, 21.602)]),
                                        srid=4326)))
    with session(clean) as s:
        area = s.get(Area, 1)
        fac = s.get(Facility, 7)
        name = s.get(PlaceName, 3)
        assert to_shape(area.geom).equals(square)
        assert area.version == 1 and area.urban is True
        assert (fac.status, fac.capacity, fac.version) == ("open", 180, 1)
        assert to_shape(fac.geom).equals(shapely.Point(115.905, 21.605))
        assert name.status == "standard" and name.sign_present is False
        assert to_shape(name.geom).geom_type == "LineString"
        assert area.created_at is not None and fac.updated_at is not None


def test_every_write_is_audited_with_before_and_after(clean):
    with session(clean, actor="alice") as s:
        s.add(FacilityType(code="test_ds", name_zh="测试", category="admin"))
    with session(clean, actor="bob") as s:
        ft = s.get(FacilityType, "test_ds")
        ft.name_zh = "测试二"
    with session(clean) as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.layer == "facility_types")
                         .order_by(AuditLog.audit_id)).all()
    assert [(r.actor, r.action) for r in rows] == [("alice", "insert"), ("bob", "update")]
    assert rows[1].before["name_zh"] == "测试" and rows[1].after["name_zh"] == "测试二"
    assert rows[1].object_id == "test_ds"


def test_network_round_trip_and_updated_at_trigger(clean):
    with session(clean) as s:
        s.add_all([NetworkNode(node_id=i, geom=from_shape(shapely.Point(115.9 + i / 1000, 21.6), srid=4326))
                   for i in (1, 2)])
        s.flush()
        s.add(NetworkEdge(edge_id=1, u=1, v=2, length_m=103.6, highway="residential", oneway=True,
                          access="private", geom=from_shape(shapely.LineString([(115.901, 21.6), (115.902, 21.6)]),
                                                            srid=4326)))
    with session(clean) as s:
        e = s.get(NetworkEdge, 1)
        assert (e.u, e.v, e.oneway, e.access, e.bridge) == (1, 2, True, "private", False)
        versions = dict(s.execute(text("SELECT layer, version FROM data_versions")).all())
    assert versions["network_edges"] >= 1 and versions["network_nodes"] >= 1


def test_migrations_downgrade_and_upgrade(db_url):
    url = make_url(db_url)
    scratch = url.set(database=f"{url.database}_mig").render_as_string(hide_password=False)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(text(f'DROP DATABASE IF EXISTS "{url.database}_mig" WITH (FORCE)'))
        con.execute(text(f'CREATE DATABASE "{url.database}_mig"'))
    try:
        migrate.upgrade(scratch)
        eng = create_engine(scratch)
        tables = set(inspect(eng).get_table_names())
        assert {"areas", "facilities", "residences", "place_names", "network_edges", "audit_log",
                "coverage_runs"} <= tables
        eng.dispose()
        migrate.downgrade(scratch, "base")
        eng = create_engine(scratch)
        assert set(inspect(eng).get_table_names()) <= {"alembic_version", "spatial_ref_sys"}
        eng.dispose()
        migrate.upgrade(scratch)
        assert migrate.current(scratch) is not None
    finally:
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{url.database}_mig" WITH (FORCE)'))
        admin.dispose()
