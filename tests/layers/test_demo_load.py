"""The demo district in PostGIS: loading twice leaves the same data; its area tree is clean."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from data.demo import generate
from geo.topology import check_topology
from layers import queries
from layers.db import session
from layers.load.demo import load_district

LOADED = {
    "areas": "area_id",
    "network_nodes": "node_id",
    "network_edges": "edge_id",
    "water": "water_id",
    "residences": "residence_id",
    "facilities": "facility_id",
    "place_names": "name_id",
    "place_name_history": "name_id, action, new_name",
    "facility_types": "code",
}
"""Every table the demo loader writes → an order that is unique and independent of load order."""
VOLATILE = {"created_at", "updated_at", "history_id", "changed_at"}
"""Columns that differ between two loads of the same data by design (time of writing, serial ids)."""


def _checksums_in(s) -> dict[str, tuple[int, str]]:
    """Per table: row count and md5 of every row's every column (but VOLATILE) in a fixed order."""
    out = {}
    for table, order in LOADED.items():
        cols = (
            s.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND table_name = :t ORDER BY ordinal_position"
                ),
                {"t": table},
            )
            .scalars()
            .all()
        )
        row = " || '|' || ".join(f"quote_nullable({c}::text)" for c in cols if c not in VOLATILE)
        out[table] = tuple(
            s.execute(
                text(
                    f"SELECT count(*), md5(coalesce(string_agg({row}, E'\\n' "
                    f"ORDER BY {order}), '')) FROM {table}"
                )
            ).one()
        )
    return out


def _checksums(url) -> dict[str, tuple[int, str]]:
    with session(url) as s:
        return _checksums_in(s)


@pytest.fixture(scope="module")
def demo_db(fresh_db, demo_district):
    """The demo loaded into a database of this module's own: loading it again here would empty the
    coverage runs (and their stored isochrones) that later files compute on the session's demo
    database, and make them compute everything again."""
    url = fresh_db("demo_load")
    with session(url, actor="pytest") as s:
        load_district(s, demo_district)
    return url


def test_loading_twice_leaves_the_same_data(demo_db, demo_district):
    with session(demo_db, actor="pytest") as s:  # loaded over the demo already there
        load_district(s, demo_district)
    first = _checksums(demo_db)
    with session(demo_db, actor="pytest") as s:
        load_district(s, generate(scale=1.0))  # generated again: the same seed gives the same district
    second = _checksums(demo_db)
    assert first == second
    assert first["residences"][0] == len(demo_district.residences)
    assert first["network_nodes"][0] == len(demo_district.nodes)
    assert first["water"][0] == len(demo_district.water) and first["place_name_history"][0] > 0
    with session(demo_db) as s:
        assert queries.counts(s)["network_edges"] == len(demo_district.edges)


def test_the_checksum_sees_a_change_in_any_column(demo_db):
    """The checksums cover every column: a one-character change in a column not compared before is seen."""
    before = _checksums(demo_db)
    for table, column, key in (
        ("network_edges", "bicycle", "edge_id"),
        ("water", "name", "water_id"),
        ("place_name_history", "approval", "history_id"),
        ("network_nodes", "geom", "node_id"),
    ):
        change = "ST_Translate(geom, 1e-9, 0)" if column == "geom" else f"coalesce({column}, '') || 'x'"
        with pytest.raises(_Undo), session(demo_db) as s:
            s.execute(
                text(f"UPDATE {table} SET {column} = {change} WHERE {key} = (SELECT min({key}) FROM {table})")
            )
            after = _checksums_in(s)
            assert after[table] != before[table], table
            assert all(after[t] == before[t] for t in LOADED if t != table), table
            raise _Undo  # roll the change back
    assert _checksums(demo_db) == before


class _Undo(Exception):
    """Rolls a test change back (raised inside the session's transaction)."""


def test_every_residence_lies_in_its_small_grid_in_postgis(demo_db):
    with session(demo_db) as s:
        wrong = s.execute(
            text(
                "SELECT count(*) FROM residences r JOIN areas a ON a.area_id = r.area_id "
                "WHERE a.level <> 'grid_small' OR NOT ST_Intersects(a.geom, r.geom)"
            )
        ).scalar_one()
        multiple = s.execute(
            text(
                "SELECT count(*) FROM (SELECT r.residence_id FROM residences r JOIN areas a "
                "ON a.level = 'grid_small' AND ST_Contains(a.geom, r.geom) GROUP BY 1 HAVING count(*) > 1) x"
            )
        ).scalar_one()
    assert wrong == 0 and multiple == 0


def test_the_loaded_area_tree_has_no_topology_problems(demo_db):
    with session(demo_db) as s:
        problems = check_topology(queries.areas(s), min_area_m2=1.0)
    assert problems.empty, problems[["kind", "area_id", "other_id", "area_m2"]].head().to_string()


def test_a_failed_load_changes_nothing(demo_db, demo_district):
    before = _checksums(demo_db)
    broken = type(demo_district)(**{**demo_district.__dict__})
    broken.facilities = demo_district.facilities.assign(type_code="no_such_type")
    try:
        with session(demo_db, actor="pytest") as s:
            load_district(s, broken)
    except Exception as e:  # the foreign key on facilities.type_code refuses the rows
        assert "type_code" in str(e) or "foreign key" in str(e).lower()
    else:
        raise AssertionError("loading unknown facility types must fail")
    after = _checksums(demo_db)
    assert before == after
