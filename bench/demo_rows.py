"""md5 over all rows of every table `minqing demo load` writes, to check that a faster code stores
the very rows of the code before it.

    .venv/bin/minqing demo load --scale 1 && .venv/bin/python bench/demo_rows.py > before.txt
    (the other code) ... && .venv/bin/python bench/demo_rows.py > after.txt && diff before.txt after.txt

Uses ``DATABASE_URL``. Ids drawn from sequences are written as offsets from the table's first (the
sequences are not reset), and load timestamps (created_at, updated_at, changed_at set to now()) are
left out; the scenarios' results (run ids, seconds) too. Run both loads the same day: the 民情 ends at
today's midnight.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EVENT = "(SELECT min(event_id) FROM events)"
HOUSEHOLD = "(SELECT min(household_id) FROM key_households)"
QUERIES = {
    "areas": "SELECT area_id, parent_id, level, code, name, urban, urban_rural_code, worker_name, "
    "worker_phone, households, source, version, ST_AsEWKB(geom) FROM areas ORDER BY area_id",
    "network_nodes": "SELECT node_id, ST_AsEWKB(geom) FROM network_nodes ORDER BY node_id",
    "network_edges": "SELECT edge_id, u, v, length_m, highway, oneway, access, foot, bicycle, bridge, name, "
    "ST_AsEWKB(geom) FROM network_edges ORDER BY edge_id",
    "water": "SELECT water_id, kind, name, ST_AsEWKB(geom) FROM water ORDER BY water_id",
    "buildings": "SELECT building_id, kind, levels, source, ST_AsEWKB(geom) FROM buildings "
    "ORDER BY building_id",
    "residences": "SELECT residence_id, address, area_id, households, population, elderly, children, "
    "estimated, source, ST_AsEWKB(geom), ST_AsEWKB(footprint), households_estimated FROM residences "
    "ORDER BY residence_id",
    "facilities": "SELECT facility_id, type_code, name, address, floor_area_m2, capacity, opening_hours, "
    "phone, operator, status, source, version, ST_AsEWKB(geom), fees FROM facilities ORDER BY facility_id",
    "place_names": "SELECT name_id, name, category, area_id, proper, generic, pinyin, status, heritage, "
    "sign_present, approval, meaning, version, ST_AsEWKB(geom) FROM place_names ORDER BY name_id",
    "place_name_history": "SELECT history_id - (SELECT min(history_id) FROM place_name_history), name_id, "
    "action, old_name, new_name, approval, changed_by, CASE WHEN changed_at > now() - interval '1 day' "
    "THEN NULL ELSE changed_at END, before, after FROM place_name_history ORDER BY history_id",
    "events": f"SELECT event_id - {EVENT}, tracking_code, category, description, status, level, source, "
    "grid_id, community_id, town_id, worker_id, department, address, reporter_phone, reported_by, "
    "reported_at, due_at, overdue, escalations, resolved_at, result_note, satisfaction, duplicate_of, "
    "version, ST_AsEWKB(geom), external_ref FROM events ORDER BY event_id",
    "event_history": "SELECT history_id - (SELECT min(history_id) FROM event_history), "
    f"event_id - {EVENT}, action, from_status, to_status, actor, at, note, department FROM event_history "
    "ORDER BY history_id",
    "key_households": f"SELECT household_id - {HOUSEHOLD}, residence_id, groups, head_name, address, note, "
    "grid_id, community_id, town_id, registered_at, active, version FROM key_households "
    "ORDER BY household_id",
    "visits": f"SELECT visit_id - (SELECT min(visit_id) FROM visits), household_id - {HOUSEHOLD}, worker, "
    f"visited_at, distance_m, notes, needs, event_id - {EVENT}, ST_AsEWKB(geom), client_id FROM visits "
    "ORDER BY visit_id",
    "scenarios": "SELECT scenario_id - (SELECT min(scenario_id) FROM scenarios), name, description, "
    "changes, created_by FROM scenarios ORDER BY scenario_id",
}


def main() -> None:
    import psycopg

    from layers.db import database_url

    url = database_url().replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url) as con:
        for table, query in QUERIES.items():
            row = con.execute(
                "SELECT count(*), md5(string_agg(r.t, '|' ORDER BY r.i)) FROM (SELECT x::text AS t, "
                f"row_number() OVER () AS i FROM ({query}) x) r"
            ).fetchone()
            assert row is not None
            print(f"{table:20s} {row[0]:8d} {row[1]}")


if __name__ == "__main__":
    main()
