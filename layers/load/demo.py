"""Load the fictional demo district (data.demo) into PostGIS, replacing the layers' contents.

One transaction: either every layer is replaced or nothing changes. Users are kept (their grid
link is cleared); coverage results and scenarios computed on the old data are removed.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.demo.placenames import history_rows
from layers import ids
from layers.db import set_actor
from layers.load.bulk import copy_frame, indexes_deferred, record_import
from layers.load.reference import read_facility_types, upsert_facility_types
from layers.placenames import fill_pinyin, sign_columns

AREA_COLS = [
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
]
EDGE_COLS = [
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
]
RESIDENCE_COLS = [
    "residence_id",
    "address",
    "area_id",
    "households",
    "population",
    "elderly",
    "children",
    "estimated",
    "source",
]
FACILITY_COLS = [
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
]
PLACE_NAME_COLS = [
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
]
WATER_COLS = ["water_id", "kind", "name"]
LOADED = (
    "areas",
    "network_nodes",
    "network_edges",
    "water",
    "buildings",
    "residences",
    "facilities",
    "place_names",
    "place_name_history",
)
"""The tables the loader fills (their secondary indexes and foreign keys are made after the rows)."""
BUILDING_COLS = ["building_id", "kind", "levels", "source"]


def clear_layers(s: Session) -> None:
    """Empty every data layer (not users, not facility types), with the events, key households and
    visits that refer to its areas and homes."""
    s.execute(
        text(
            "TRUNCATE coverage_runs, coverage_run_types, coverage_area_rows, coverage_area_circle_rows, "
            "coverage_residence_packed, coverage_facility_rows, coverage_gaps_rows, coverage_target, "
            "coverage_presence, coverage_composite, "
            "facility_isochrone_sources, facility_isochrone_rows, scenarios, place_name_reviews, "
            "place_name_history, place_names, "
            "facilities, visits, key_households, event_photos, event_history, events, residences, "
            "network_edges, network_nodes, water, buildings"
        )
    )
    s.execute(text("UPDATE users SET area_id = NULL WHERE area_id IS NOT NULL"))
    s.execute(text("DELETE FROM areas"))


def load_district(
    s: Session, district, *, actor: str = "demo-loader", progress: Callable[[str], None] | None = None
) -> dict:
    """Replace all layers with ``district`` (a ``data.demo.DemoDistrict``); returns row counts."""
    step = progress or (lambda _label: None)
    # 10^5 generated rows: the summary row says what was loaded
    set_actor(s, actor, bulk=True, audit_rows=False)
    step("参考表 facility types")
    upsert_facility_types(s, read_facility_types())
    step("清空旧数据 clearing old layers")
    clear_layers(s)
    with indexes_deferred(s, LOADED):
        counts = _copy_district(s, district, actor=actor, step=step)
    step("统计 analyse")
    record_import(s, actor=actor, layer="demo", summary=counts)
    return counts


def _copy_district(s: Session, district, *, actor: str, step: Callable[[str], None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    step("行政区划与网格 areas")
    areas = district.areas.sort_values(["area_id"])
    counts["areas"] = copy_frame(
        s, "areas", areas, columns=AREA_COLS, geometry={"geometry": "geom"}, binary=True, multi=True
    )
    step("路网 network")
    nodes = district.nodes.copy()

    nodes["geometry"] = shapely.points(nodes["lon"].to_numpy(), nodes["lat"].to_numpy())
    counts["network_nodes"] = copy_frame(
        s, "network_nodes", nodes, columns=["node_id"], geometry={"geometry": "geom"}, binary=True
    )
    counts["network_edges"] = copy_frame(
        s, "network_edges", district.edges, columns=EDGE_COLS, geometry={"geometry": "geom"}, binary=True
    )
    step("水系 water")
    counts["water"] = copy_frame(
        s, "water", district.water, columns=WATER_COLS, geometry={"geometry": "geom"}, binary=True, multi=True
    )
    step("建筑 buildings")
    counts["buildings"] = copy_frame(
        s, "buildings", district.buildings, columns=BUILDING_COLS, geometry={"geometry": "geom"}, binary=True
    )
    step("住户点 residences")
    counts["residences"] = copy_frame(
        s,
        "residences",
        district.residences,
        columns=RESIDENCE_COLS,
        geometry={"geometry": "geom"},
        binary=True,
    )
    step("服务设施 facilities")
    counts["facilities"] = copy_frame(
        s,
        "facilities",
        district.facilities,
        columns=FACILITY_COLS,
        geometry={"geometry": "geom"},
        binary=True,
    )
    step("地名 place names")
    names = district.place_names
    # the sign text (proper and generic parts, pinyin) written with the rows, as fill_pinyin would
    sign = pd.DataFrame(sign_columns(names["name"].tolist(), names["category"].tolist()), index=names.index)
    counts["place_names"] = copy_frame(
        s,
        "place_names",
        names.drop(columns=["proper", "generic"]).join(sign),
        columns=[*PLACE_NAME_COLS, "pinyin"],
        geometry={"geometry": "geom"},
        binary=True,
    )

    history = history_rows(names)
    s.execute(
        text(
            "INSERT INTO place_name_history (name_id, action, old_name, new_name, approval, changed_by, "
            "changed_at, after) SELECT h.name_id, h.action, h.old_name, h.new_name, h.approval, :a, "
            "coalesce(h.changed_at::timestamptz, now()), jsonb_build_object('name', h.new_name, 'status', "
            "CASE WHEN h.action = 'retire' THEN 'historical' WHEN p.status = 'historical' THEN 'standard' "
            "ELSE p.status END) FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS h(name_id bigint, "
            "action text, old_name text, new_name text, approval text, changed_at text) "
            "JOIN place_names p USING (name_id)"
        ),
        {"a": actor, "rows": history.to_json(orient="records", force_ascii=False)},
    )

    fill_pinyin(s)  # sign text (proper/generic/pinyin) for every name
    ids.advance(s, *ids.KEYS)  # the district's own keys: later creates and imports take keys after them
    return counts
