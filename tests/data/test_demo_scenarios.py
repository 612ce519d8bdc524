"""The demo's what-if scenarios are built from its planted cases and apply to its facilities."""

from __future__ import annotations

import pandas as pd
import shapely

from data.demo.scenarios import demo_scenarios
from geo.scenario import apply_changes


def test_demo_scenarios_cover_every_kind_of_change(demo_district):
    d = demo_district
    scenarios = {sc["name"]: sc for sc in demo_scenarios(d)}
    assert list(scenarios) == ["规划新增日间照料中心", "日间照料中心调整与幼儿园扩容（示例）"]
    ops = {name: [c["op"] for c in sc["changes"]] for name, sc in scenarios.items()}
    assert ops["规划新增日间照料中心"] == ["open", "add", "add"]
    assert ops["日间照料中心调整与幼儿园扩容（示例）"] == ["close", "move", "change"]
    planted = d.planted.set_index("case")
    opened = scenarios["规划新增日间照料中心"]["changes"][0]["facility_id"]
    assert opened == int(planted.loc["planned_daycare", "object_id"])
    fac = pd.DataFrame(d.facilities.drop(columns="geometry")).assign(
        lon=d.facilities.geometry.x, lat=d.facilities.geometry.y
    )
    for sc in scenarios.values():
        after, log = apply_changes(fac, sc["changes"], type_codes=fac.type_code.unique())
        assert len(log) == len(sc["changes"])
    # Proposed sites lie in the no_daycare communities they are named after, on land of the district.
    areas = d.areas.set_index("area_id")
    gaps = planted[planted.index == "no_daycare"]
    for change in scenarios["规划新增日间照料中心"]["changes"][1:]:
        where = shapely.Point(change["lon"], change["lat"])
        inside = [
            areas.at[a, "name"]
            for a in gaps.object_id
            if areas.at[a, "geometry"].buffer(1e-5).contains(where)
        ]
        assert inside and change["name"].startswith(inside[0])
    # The gated day-care centre moves out to a public street, a few dozen metres at most.
    move = scenarios["日间照料中心调整与幼儿园扩容（示例）"]["changes"][1]
    before = d.facilities.set_index("facility_id").geometry[move["facility_id"]]
    assert 0 < before.distance(shapely.Point(move["lon"], move["lat"])) * 111_000 < 300
