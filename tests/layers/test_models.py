"""Models round-trip through a real PostGIS; migrations upgrade and downgrade; audit triggers work."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely
from geoalchemy2.shape import from_shape, to_shape
from psycopg.errors import ForeignKeyViolation
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from layers import migrate
from layers.db import session, set_actor
from layers.load.bulk import copy_frame
from layers.models import (
    Area,
    AuditLog,
    Division,
    Facility,
    FacilityType,
    NetworkEdge,
    NetworkNode,
    PlaceName,
    PlaceNameHistory,
    Residence,
    Water,
)

# Tables that are not ours or are the log itself: no timestamps and no audit trigger expected.
UNAUDITED = {"audit_log", "alembic_version", "spatial_ref_sys"}
# Tables people edit or load: a row trigger records every row with before/after. Other tables may
# instead be audited per statement (recomputable results such as coverage_residence, 10^5 rows
# per run: migration 0006).
ROW_AUDITED = {
    "areas",
    "facility_types",
    "facilities",
    "residences",
    "place_names",
    "place_name_history",
    "events",
    "event_history",
    "event_photos",
    "network_nodes",
    "network_edges",
    "water",
    "divisions",
    "scenarios",
    "users",
    "coverage_runs",
}


@pytest.fixture(scope="module")
def models_db(fresh_db):
    return fresh_db("models")


@pytest.fixture()
def clean(models_db):
    yield models_db
    with session(models_db) as s:
        s.execute(
            text(
                "TRUNCATE place_name_history, place_names, facilities, residences, network_edges, "
                "network_nodes, water, divisions, coverage_area_rows, coverage_runs CASCADE"
            )
        )
        s.execute(text("DELETE FROM areas; DELETE FROM facility_types WHERE code LIKE 'test_%'"))
        s.execute(text("TRUNCATE audit_log RESTART IDENTITY"))


def _audit(url, layer: str) -> list[AuditLog]:
    with session(url) as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.layer == layer).order_by(AuditLog.audit_id)))


def test_area_facility_place_name_round_trip(clean):
    square = shapely.MultiPolygon([shapely.box(115.9, 21.6, 115.91, 21.61)])
    with session(clean, actor="tester") as s:
        s.add(
            Area(
                area_id=1,
                level="district",
                code="441599000000",
                name="测试区",
                urban=True,
                geom=from_shape(square, srid=4326),
            )
        )
        s.add(FacilityType(code="test_kg", name_zh="测试幼儿园", category="education", required=True))
        s.flush()
        s.add(
            Facility(
                facility_id=7,
                type_code="test_kg",
                name="海景幼儿园",
                capacity=180,
                geom=from_shape(shapely.Point(115.905, 21.605), srid=4326),
            )
        )
        s.add(
            PlaceName(
                name_id=3,
                name="人民路",
                category="road",
                area_id=1,
                pinyin="Renmin Lu",
                geom=from_shape(shapely.LineString([(115.901, 21.601), (115.909, 21.602)]), srid=4326),
            )
        )
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
        rows = s.scalars(
            select(AuditLog).where(AuditLog.layer == "facility_types").order_by(AuditLog.audit_id)
        ).all()
    assert [(r.actor, r.action) for r in rows] == [("alice", "insert"), ("bob", "update")]
    assert rows[1].before["name_zh"] == "测试" and rows[1].after["name_zh"] == "测试二"
    assert rows[1].object_id == "test_ds"


def test_network_round_trip_and_updated_at_trigger(clean):
    with session(clean) as s:
        s.add_all(
            [
                NetworkNode(node_id=i, geom=from_shape(shapely.Point(115.9 + i / 1000, 21.6), srid=4326))
                for i in (1, 2)
            ]
        )
        s.flush()
        s.add(
            NetworkEdge(
                edge_id=1,
                u=1,
                v=2,
                length_m=103.6,
                highway="residential",
                oneway=True,
                access="private",
                geom=from_shape(shapely.LineString([(115.901, 21.6), (115.902, 21.6)]), srid=4326),
            )
        )
    with session(clean) as s:
        e = s.get(NetworkEdge, 1)
        assert (e.u, e.v, e.oneway, e.access, e.bridge) == (1, 2, True, "private", False)
        versions = dict(s.execute(text("SELECT layer, version FROM data_versions")).all())
    assert versions["network_edges"] >= 1 and versions["network_nodes"] >= 1


def test_residence_with_footprint_round_trip(clean):
    home = shapely.Point(115.905, 21.605)
    footprint = shapely.box(115.9049, 21.6049, 115.9051, 21.6051)
    with session(clean) as s:
        s.add(
            Residence(
                residence_id=11,
                address="澄湾区测试路1号",
                households=12,
                population=31,
                elderly=6,
                children=4,
                estimated=True,
                source="test",
                geom=from_shape(home, srid=4326),
                footprint=from_shape(footprint, srid=4326),
            )
        )
    with session(clean) as s:
        r = s.get(Residence, 11)
        assert (r.address, r.households, r.population, r.elderly, r.children, r.estimated) == (
            "澄湾区测试路1号",
            12,
            31,
            6,
            4,
            True,
        )
        assert to_shape(r.geom).equals(home) and to_shape(r.footprint).equals(footprint)
        assert r.area_id is None and r.created_at is not None


def test_place_name_history_round_trip(clean):
    with session(clean, actor="officer") as s:
        s.add(
            PlaceName(
                name_id=5,
                name="旧街",
                category="road",
                geom=from_shape(shapely.Point(115.9, 21.6), srid=4326),
            )
        )
        s.flush()
        s.add(
            PlaceNameHistory(
                name_id=5,
                action="rename",
                old_name="旧街",
                new_name="新街",
                approval="澄府〔2026〕1号",
                changed_by="officer",
                before={"name": "旧街"},
                after={"name": "新街", "status": "standard"},
            )
        )
    with session(clean) as s:
        [h] = s.scalars(select(PlaceNameHistory).where(PlaceNameHistory.name_id == 5)).all()
        assert (h.action, h.old_name, h.new_name, h.approval, h.changed_by) == (
            "rename",
            "旧街",
            "新街",
            "澄府〔2026〕1号",
            "officer",
        )
        assert h.before == {"name": "旧街"} and h.after == {"name": "新街", "status": "standard"}
        assert h.history_id >= 1 and h.changed_at is not None and h.created_at is not None


def test_water_round_trip_and_updated_at(clean):
    lake = shapely.MultiPolygon(
        [shapely.box(115.9, 21.6, 115.91, 21.61), shapely.box(115.92, 21.6, 115.93, 21.61)]
    )
    with session(clean) as s:
        s.add(Water(water_id=2, kind="lake", name="澄湖", geom=from_shape(lake, srid=4326)))
    with session(clean) as s:
        w = s.get(Water, 2)
        assert (w.kind, w.name) == ("lake", "澄湖") and to_shape(w.geom).equals(lake)
        created = w.created_at
        assert w.updated_at == created
        w.name = "澄湖水库"
    with session(clean) as s:
        w = s.get(Water, 2)
        assert w.name == "澄湖水库" and w.created_at == created and w.updated_at > created


def test_division_round_trip_and_audit(clean):
    with session(clean, actor="importer") as s:
        s.add(
            Division(
                code="441502000000",
                name="城区",
                level="county",
                parent_code="441500000000",
                city_code="441500000000",
                city_name="汕尾市",
                source="test",
            )
        )
    with session(clean) as s:
        d = s.get(Division, "441502000000")
        assert (d.name, d.level, d.city_name, d.town_code) == ("城区", "county", "汕尾市", None)
    [row] = _audit(clean, "divisions")
    assert (row.actor, row.action, row.object_id, row.before) == ("importer", "insert", "441502000000", None)
    assert row.after["name"] == "城区"


def test_network_edits_are_audited_with_before_and_after(clean):
    with session(clean, actor="editor") as s:
        s.add_all(
            [
                NetworkNode(node_id=i, geom=from_shape(shapely.Point(115.9 + i / 1000, 21.6), srid=4326))
                for i in (1, 2)
            ]
        )
        s.flush()
        s.add(
            NetworkEdge(
                edge_id=9,
                u=1,
                v=2,
                length_m=103.6,
                highway="residential",
                geom=from_shape(shapely.LineString([(115.901, 21.6), (115.902, 21.6)]), srid=4326),
            )
        )
    with session(clean, actor="editor") as s:
        s.get(NetworkEdge, 9).oneway = True
    nodes, edges = _audit(clean, "network_nodes"), _audit(clean, "network_edges")
    assert [(r.action, r.object_id) for r in nodes] == [("insert", "1"), ("insert", "2")]
    assert [(r.actor, r.action, r.object_id) for r in edges] == [
        ("editor", "insert", "9"),
        ("editor", "update", "9"),
    ]
    assert edges[1].before["oneway"] is False and edges[1].after["oneway"] is True
    assert edges[1].after["updated_at"] >= edges[1].before["updated_at"]


def test_bulk_writes_record_one_row_per_statement(clean):
    nodes = pd.DataFrame({"node_id": range(100, 400)})
    nodes["geometry"] = shapely.points(115.9 + nodes["node_id"] / 1e5, 21.6)
    with session(clean, actor="loader") as s:
        set_actor(s, "loader", bulk=True)
        assert (
            copy_frame(s, "network_nodes", nodes, columns=["node_id"], geometry={"geometry": "geom"}) == 300
        )
        s.execute(text("UPDATE network_nodes SET geom = geom WHERE node_id < 200"))
    rows = _audit(clean, "network_nodes")
    assert [(r.actor, r.action, r.object_id, r.after) for r in rows] == [
        ("loader", "insert", None, {"statement": True, "bulk": True}),
        ("loader", "update", None, {"statement": True, "bulk": True}),
    ]


def test_derived_results_are_audited_per_statement_and_truncate_is_recorded(clean):
    with session(clean, actor="engine") as s:
        s.add(
            Area(
                area_id=1,
                level="district",
                code="441599000000",
                name="测试区",
                geom=from_shape(shapely.MultiPolygon([shapely.box(115.9, 21.6, 115.91, 21.61)]), srid=4326),
            )
        )
        run = s.execute(text("INSERT INTO coverage_runs DEFAULT VALUES RETURNING run_id")).scalar_one()
        s.execute(
            text(
                "INSERT INTO coverage_area_rows (run_id, area_id, type_code) "
                "VALUES (:r, 1, 'a'), (:r, 1, 'b')"
            ),
            {"r": run},
        )
    with session(clean, actor="cleaner") as s:
        s.execute(text("TRUNCATE coverage_area_rows"))
    runs, results = _audit(clean, "coverage_runs"), _audit(clean, "coverage_area_rows")
    assert [(r.action, r.object_id) for r in runs] == [("insert", str(run))]
    assert [(r.actor, r.action, r.object_id, r.after) for r in results] == [
        ("engine", "insert", None, {"statement": True, "bulk": False}),
        ("cleaner", "truncate", None, {"statement": True, "bulk": False}),
    ]
    assert _audit(clean, "data_versions") == []  # counters bumped by triggers are not logged again


def _tables(con) -> list[str]:
    return list(
        con.execute(
            text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE' ORDER BY 1"
            )
        ).scalars()
    )


def test_a_run_holds_reused_results_by_reference_and_runs_delete_together(clean):
    with session(clean, actor="engine") as s:
        s.add(
            Area(
                area_id=1,
                level="district",
                code="441599000000",
                name="测试区",
                geom=from_shape(shapely.MultiPolygon([shapely.box(115.9, 21.6, 115.91, 21.61)]), srid=4326),
            )
        )
        first, second = (
            s.execute(text("INSERT INTO coverage_runs DEFAULT VALUES RETURNING run_id")).scalar_one()
            for _ in range(2)
        )
        for run, code, population in ((first, "a", 10), (first, "b", 20), (second, "b", 30)):
            s.execute(
                text(
                    "INSERT INTO coverage_area_rows (run_id, area_id, type_code, population) "
                    "VALUES (:r, 1, :t, :p)"
                ),
                {"r": run, "t": code, "p": population},
            )
        # the second run computed b again and reuses a from the first
        s.execute(
            text(
                "INSERT INTO coverage_run_types (run_id, type_code, source_run_id) "
                "VALUES (:f, 'a', :f), (:f, 'b', :f), (:s, 'a', :f), (:s, 'b', :s)"
            ),
            {"f": first, "s": second},
        )
    with session(clean) as s:
        seen = s.execute(
            text("SELECT run_id, type_code, population FROM coverage_area ORDER BY run_id, type_code")
        ).all()
    assert [tuple(r) for r in seen] == [
        (first, "a", 10),
        (first, "b", 20),
        (second, "a", 10),
        (second, "b", 30),
    ]
    with pytest.raises(IntegrityError), session(clean) as s:  # the second run still uses the first's rows
        s.execute(text("DELETE FROM coverage_runs WHERE run_id = :f"), {"f": first})
    with session(clean) as s:
        s.execute(text("DELETE FROM coverage_runs"))
    with session(clean) as s:
        left = [
            s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("coverage_run_types", "coverage_area_rows")
        ]
    assert left == [0, 0]


def _counts(s, tables: tuple[str, ...], where: str = "TRUE") -> dict[str, int]:
    return {t: s.execute(text(f"SELECT count(*) FROM {t} WHERE {where}")).scalar_one() for t in tables}


def test_result_rows_name_a_real_run_and_area_and_go_with_them(clean):
    """Result rows' run and area are checked per statement (migration 0036), as the foreign keys did."""
    square = from_shape(shapely.MultiPolygon([shapely.box(115.9, 21.6, 115.91, 21.61)]), srid=4326)
    tables = (
        "coverage_area_rows",
        "coverage_area_circle_rows",
        "coverage_presence",
        "coverage_facility_rows",
    )
    with session(clean) as s:
        for area_id in (1, 2):
            s.add(
                Area(
                    area_id=area_id,
                    level="district",
                    code=f"44159900000{area_id}",
                    name="测试区",
                    geom=square,
                )
            )
        s.flush()
        first, second = (
            s.execute(text("INSERT INTO coverage_runs DEFAULT VALUES RETURNING run_id")).scalar_one()
            for _ in range(2)
        )
        for run in (first, second):
            copy_frame(
                s,
                "coverage_area_rows",
                pd.DataFrame({"run_id": [run, run], "area_id": [1, 2], "type_code": ["a", "a"]}),
                columns=["run_id", "area_id", "type_code"],
            )
            for area_id in (1, 2):
                s.execute(
                    text(
                        "INSERT INTO coverage_area_circle_rows VALUES "
                        "(:r, 'a', 'urban', :a, 1, 1, 1, 1, 0, 0, 0, 0)"
                    ),
                    {"r": run, "a": area_id},
                )
                s.execute(
                    text(
                        "INSERT INTO coverage_presence (run_id, area_id, type_code, present) "
                        "VALUES (:r, :a, 'a', true)"
                    ),
                    {"r": run, "a": area_id},
                )
            s.execute(
                text(
                    "INSERT INTO coverage_facility_rows (run_id, facility_id, type_code) VALUES (:r, 7, 'a')"
                ),
                {"r": run},
            )
    bad = [
        (
            "coverage_area_rows",
            {"run_id": [first, first], "area_id": [1, 99], "type_code": ["b", "b"]},
            "area 99",
        ),
        (
            "coverage_area_rows",
            {"run_id": [first, 12345], "area_id": [1, 1], "type_code": ["c", "d"]},
            "run 12345",
        ),
        (
            "coverage_presence",
            {"run_id": [first], "area_id": [98], "type_code": ["b"], "present": [True]},
            "area 98",
        ),
        ("coverage_facility_rows", {"run_id": [54321], "facility_id": [1], "type_code": ["a"]}, "run 54321"),
    ]
    for table, rows, named in bad:  # one bad row fails the whole statement, and it names the bad key
        with pytest.raises(ForeignKeyViolation, match=named), session(clean) as s:
            copy_frame(s, table, pd.DataFrame(rows), columns=list(rows))
    with session(clean) as s:
        assert _counts(s, tables) == {t: 2 if t == "coverage_facility_rows" else 4 for t in tables}
        s.execute(text("DELETE FROM areas WHERE area_id = 2"))
        assert _counts(s, tables) == {
            "coverage_area_rows": 2,
            "coverage_area_circle_rows": 2,
            "coverage_presence": 2,
            "coverage_facility_rows": 2,
        }
        s.execute(text("DELETE FROM coverage_runs WHERE run_id = :r"), {"r": first})
        assert _counts(s, tables) == {t: 1 for t in tables}
        assert _counts(s, tables, f"run_id = {second}") == {t: 1 for t in tables}
    with session(clean) as s:
        s.execute(text("TRUNCATE coverage_runs CASCADE"))  # the tables with foreign keys, and ours
        assert _counts(s, tables) == {t: 0 for t in tables}


def _audit_coverage(con) -> dict[str, set[tuple[str, str]]]:
    """Per table: the (event, level) pairs covered by an audit trigger (function minqing_audit*)."""
    rows = con.execute(
        text(
            "SELECT c.relname, t.tgtype::int, p.proname FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal"
        )
    )
    out: dict[str, set[tuple[str, str]]] = {}
    bits = {"insert": 4, "delete": 8, "update": 16, "truncate": 32}
    for table, tgtype, fn in rows:
        if fn not in ("minqing_audit", "minqing_audit_statement"):
            continue
        level = "row" if tgtype & 1 else "statement"
        out.setdefault(table, set()).update((ev, level) for ev, bit in bits.items() if tgtype & bit)
    return out


def _check_every_table_timestamped_and_audited(url) -> list[str]:
    eng = create_engine(url)
    try:
        with eng.connect() as con:
            tables = _tables(con)
            cols = con.execute(
                text(
                    "SELECT table_name, column_name, data_type, is_nullable, column_default "
                    "FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND column_name IN ('created_at', 'updated_at')"
                )
            ).all()
            touch = set(
                con.execute(
                    text(
                        "SELECT event_object_table FROM information_schema.triggers "
                        "WHERE trigger_schema = 'public' AND action_timing = 'BEFORE' "
                        "AND event_manipulation = 'UPDATE' AND action_statement LIKE '%minqing_touch()%'"
                    )
                ).scalars()
            )
            audited = _audit_coverage(con)
    finally:
        eng.dispose()
    stamps = {
        (t, c)
        for t, c, typ, null, default in cols
        if typ == "timestamp with time zone" and null == "NO" and "now()" in (default or "")
    }
    ours = [t for t in tables if t not in UNAUDITED]
    for table in ours:
        assert {(table, "created_at"), (table, "updated_at")} <= stamps, table
        assert table in touch, f"{table}: no BEFORE UPDATE trigger keeping updated_at"
        have = audited.get(table, set())
        levels = ("row",) if table in ROW_AUDITED else ("row", "statement")
        for event in ("insert", "update", "delete"):
            assert any((event, level) in have for level in levels), f"{table}: no {event} audit ({have})"
        assert ("truncate", "statement") in have, f"{table}: TRUNCATE not audited"
    return ours


def test_every_table_has_timestamps_and_an_audit_trigger(db_url):
    ours = _check_every_table_timestamped_and_audited(db_url)
    assert {
        "areas",
        "water",
        "network_nodes",
        "network_edges",
        "divisions",
        "coverage_residence_packed",
        "data_versions",
        "users",
    } <= set(ours)


def test_models_match_the_migrations(db_url):
    assert migrate.drift(db_url) == []


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
        assert {
            "areas",
            "facilities",
            "residences",
            "place_names",
            "network_edges",
            "audit_log",
            "coverage_runs",
        } <= tables
        eng.dispose()
        migrate.downgrade(scratch, "base")
        eng = create_engine(scratch)
        assert set(inspect(eng).get_table_names()) <= {"alembic_version", "spatial_ref_sys"}
        with eng.connect() as con:
            functions = (
                con.execute(
                    text(
                        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                        "LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e' "
                        "WHERE n.nspname = 'public' AND d.objid IS NULL"
                    )
                )
                .scalars()
                .all()
            )
            triggers = (
                con.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars().all()
            )
            sequences = (
                con.execute(
                    text(
                        "SELECT sequence_name FROM information_schema.sequences "
                        "WHERE sequence_schema = 'public'"
                    )
                )
                .scalars()
                .all()
            )
        assert (functions, triggers, sequences) == ([], [], [])  # nothing of ours left (PostGIS's are)
        eng.dispose()
        migrate.upgrade(scratch)
        assert migrate.current(scratch) is not None
        _check_every_table_timestamped_and_audited(scratch)
        assert migrate.drift(scratch) == []
    finally:
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{url.database}_mig" WITH (FORCE)'))
        admin.dispose()


RESULT_TABLES = {
    "coverage_area_rows",
    "coverage_area_circle_rows",
    "coverage_target",
    "coverage_presence",
    "coverage_composite",
}
"""Per-run results: their rows go with their run (an index on the area would slow every run's writes)."""


def test_every_foreign_key_has_an_index_to_find_the_rows_referring(db_url):
    """Deleting a referenced row (an event, an area, a user) looks up the rows referring to it: without
    an index led by the key's columns that is a scan of the referring table for every deleted row."""
    eng = create_engine(db_url)
    try:
        with eng.connect() as con:
            bare = con.execute(
                text("""
                SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid) FROM pg_constraint c
                WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace AND NOT EXISTS (
                    SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid
                    AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                    AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)""")
            ).all()
    finally:
        eng.dispose()
    assert [(t, d) for t, d in bare if t not in RESULT_TABLES] == []
