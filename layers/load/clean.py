"""Starting over: an empty database for a city's own data, or the demo district taken out.

Both run in one transaction and are audited with a summary row (what was removed, counts).
Accounts, the facility-type table and the division gazetteer are kept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from data.demo.geography import SAFE_BOX as DEMO_BOX
from layers import audit
from layers.db import cursor_result
from layers.load.demo import clear_layers
from layers.load.reference import read_facility_types, upsert_facility_types
from layers.planning import DEMO_MARK

# Every layer holding a city's data, counted before and after (results and scenarios included).
LAYERS = (
    "areas",
    "network_nodes",
    "network_edges",
    "water",
    "buildings",
    "residences",
    "facilities",
    "place_names",
    "coverage_runs",
    "scenarios",
)
# The fictional demo lies in open sea only (DEMO_BOX): nothing real is there, so whatever lies inside
# it, or is marked as demo data (DEMO_MARK), is the demo's.


def counts(s: Session) -> dict[str, int]:
    """Rows per layer (``LAYERS``)."""
    return {t: int(s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in LAYERS}


def start_empty(s: Session, *, actor: str) -> dict[str, int]:
    """Remove every layer's rows (areas, network, water, homes, facilities, place names, coverage
    results, scenarios); keep accounts (their area link cleared), the division gazetteer and the
    facility types (reloaded from data/facility_types.csv). Returns the rows removed per layer."""
    before = counts(s)
    clear_layers(s)
    upsert_facility_types(s, read_facility_types())
    audit.record(s, actor=actor, action="empty", layer="database", after={"removed": before})
    return before


def remove_demo(s: Session, *, actor: str) -> dict[str, int]:
    """Remove only what the demo loader loaded: rows marked as fictional demo data and everything
    inside the demo's open-sea box (its events, key households and visits too), with the coverage
    runs and scenarios computed on them.
    Returns the rows removed per layer."""
    params = {"m": DEMO_MARK, "x0": DEMO_BOX[0], "y0": DEMO_BOX[1], "x1": DEMO_BOX[2], "y1": DEMO_BOX[3]}
    inside = "ST_CoveredBy(geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))"
    removed: dict[str, int] = {}
    demo_areas = f"SELECT area_id FROM areas WHERE source LIKE :m OR {inside}"
    # results and scenarios were computed with the demo's layers: none stays meaningful
    removed["coverage_runs"] = cursor_result(s.execute(text("DELETE FROM coverage_runs"))).rowcount
    removed["scenarios"] = cursor_result(s.execute(text("DELETE FROM scenarios"))).rowcount
    s.execute(
        text(
            f"DELETE FROM place_name_history WHERE name_id IN (SELECT name_id FROM place_names "
            f"WHERE {inside} OR area_id IN ({demo_areas}))"
        ),
        params,
    )
    removed["place_names"] = cursor_result(
        s.execute(text(f"DELETE FROM place_names WHERE {inside} OR area_id IN ({demo_areas})"), params)
    ).rowcount
    # the demo's 民情 (its events lie in its box and name its areas; key households go with their homes)
    demo_events = (
        f"SELECT event_id FROM events WHERE {inside} OR grid_id IN ({demo_areas}) "
        f"OR community_id IN ({demo_areas}) OR town_id IN ({demo_areas})"
    )
    s.execute(text(f"UPDATE events SET duplicate_of = NULL WHERE duplicate_of IN ({demo_events})"), params)
    removed["events"] = cursor_result(
        s.execute(text(f"DELETE FROM events WHERE event_id IN ({demo_events})"), params)
    ).rowcount
    for table in ("facilities", "residences"):
        removed[table] = cursor_result(
            s.execute(text(f"DELETE FROM {table} WHERE source LIKE :m OR {inside}"), params)
        ).rowcount
    removed["network_edges"] = cursor_result(
        s.execute(text(f"DELETE FROM network_edges WHERE {inside}"), params)
    ).rowcount
    removed["network_nodes"] = cursor_result(
        s.execute(
            text(
                f"DELETE FROM network_nodes n WHERE {inside} AND NOT EXISTS (SELECT 1 FROM network_edges e "
                "WHERE e.u = n.node_id OR e.v = n.node_id)"
            ),
            params,
        )
    ).rowcount
    removed["water"] = cursor_result(s.execute(text(f"DELETE FROM water WHERE {inside}"), params)).rowcount
    removed["buildings"] = cursor_result(
        s.execute(text(f"DELETE FROM buildings WHERE source LIKE :m OR {inside}"), params)
    ).rowcount
    s.execute(text(f"UPDATE users SET area_id = NULL WHERE area_id IN ({demo_areas})"), params)
    removed["areas"] = cursor_result(
        s.execute(text(f"DELETE FROM areas WHERE area_id IN ({demo_areas})"), params)
    ).rowcount
    audit.record(s, actor=actor, action="demo_remove", layer="database", after={"removed": removed})
    return removed


def checklist(s: Session) -> list[dict[str, Any]]:
    """What is loaded (with counts) and what is still missing before coverage can run, each missing
    step with the command that loads it, in the order that works best (any order is accepted)."""
    n = counts(s)
    level: dict[str, int] = dict(s.execute(text("SELECT level, count(*) FROM areas GROUP BY level")).all())
    homeless = s.execute(text("SELECT count(*) FROM residences WHERE area_id IS NULL")).scalar_one()
    runs = s.execute(text("SELECT count(*) FROM coverage_runs WHERE status = 'done'")).scalar_one()
    grids = int(level.get("grid_small", 0) + level.get("grid_middle", 0))
    items = [
        (
            "district",
            "区县边界与镇街、村社区 district, towns, communities",
            level.get("district", 0) and level.get("community", 0),
            f"{level.get('district', 0)} 区县, {level.get('town', 0)} 镇街, "
            f"{level.get('community', 0)} 村社区",
            "minqing import grids areas.geojson   (or: minqing import divisions, then grids)",
            True,
        ),
        (
            "grids",
            "网格 grids",
            grids,
            f"{grids} 网格",
            "minqing import grids grids.geojson   (template: data/templates/网格.csv)",
            False,
        ),
        (
            "network",
            "路网 street network",
            n["network_edges"],
            f"{n['network_edges']} 路段",
            "minqing import osm --file city.osm.pbf   (or --place / --bbox online)",
            True,
        ),
        (
            "facilities",
            "公共服务设施 facilities",
            n["facilities"],
            f"{n['facilities']} 处",
            "minqing import facilities 设施.xlsx   (template: data/templates/设施.csv)",
            True,
        ),
        (
            "residences",
            "住户点（一标三实地址或建筑估算）homes",
            n["residences"] and not homeless,
            f"{n['residences']} 处" + (f"，其中 {homeless} 处未归属网格" if homeless else ""),
            "minqing import addresses 地址.xlsx   (template: data/templates/地址.csv; "
            "or import osm --buildings)",
            True,
        ),
        (
            "place_names",
            "地名 place names",
            n["place_names"],
            f"{n['place_names']} 条",
            "minqing import place-names 地名.csv   (template: data/templates/地名.csv)",
            False,
        ),
        ("coverage", "生活圈覆盖分析 coverage run", runs, f"{runs} 次", "minqing coverage run", False),
    ]
    return [
        {
            "key": key,
            "label": label,
            "done": bool(done),
            "count": count,
            "command": command,
            "needed_for_coverage": needed,
        }
        for key, label, done, count, command, needed in items
    ]


def emptied_on_purpose(s: Session) -> bool:
    """Whether the data was emptied (``start_empty``) or the demo removed after the last demo load:
    then ``minqing demo load --if-empty`` (run by ``make demo``) must not bring the demo back."""
    return bool(
        s.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM audit_log e WHERE e.action IN ('empty', 'demo_remove') "
                "AND e.layer = 'database' AND NOT EXISTS (SELECT 1 FROM audit_log d "
                "WHERE d.action = 'import' AND d.layer = 'demo' AND d.audit_id > e.audit_id))"
            )
        ).scalar()
    )
