"""The planner map in headless Chromium against the demo district.

Coverage is computed once per session and the demo's scenarios are saved and evaluated the way
``minqing demo load`` does it (fixtures in conftest.py). What the page draws is compared with the planner API's own answers,
fetched independently of the page over HTTP.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

pytestmark = pytest.mark.browser

PLANNER = "maps_planner"
LEVELS = ["grid_small", "grid_middle", "grid_large", "community", "town"]
SHARE_COLOURS = {"#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"}


@pytest.fixture
def api(api_as) -> httpx.Client:
    return api_as(PLANNER)


@pytest.fixture
def planner(visit, users, coverage_run, demo_scenarios):
    v = visit()
    v.signed_in("/planner", PLANNER, users[PLANNER])
    return v


def _features(api: httpx.Client, path: str, **params) -> list[dict]:
    r = api.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()["features"]


def _wait_loaded(v, **want) -> dict:
    cond = " && ".join(f"l.{k} === {json.dumps(v_)}" for k, v_ in want.items())
    v.page.wait_for_function(f"() => {{ const l = window.minqing.state.loaded; return l && !l.error && {cond}; }}",
                             timeout=60_000)
    return v.js("() => window.minqing.state.loaded")


def test_planner_refuses_anonymous_users(server):
    for path in ("/planner", "/placenames"):
        r = httpx.get(server + path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}"


def test_planner_login_then_map(visit, users, coverage_run, demo_scenarios):
    v = visit()
    v.open("/planner", ready=False)
    assert v.page.url.endswith("/login?next=/planner")
    assert "工作人员登录" in v.page.inner_text("h1")
    v.shot("login")
    v.login(PLANNER, users[PLANNER])
    assert v.page.url.endswith("/planner")
    v.page.wait_for_function(v.READY, timeout=60_000)
    state = v.js("""() => ({types: document.querySelectorAll('#mq-type option').length,
                           levels: document.querySelectorAll('#mq-level option').length,
                           user: document.querySelector('.mq-user').textContent,
                           loaded: window.minqing.state.loaded || null})""")
    assert state["types"] > 5 and state["levels"] == len(LEVELS) and state["user"] == PLANNER
    loaded = state["loaded"]
    assert loaded and "error" not in loaded, loaded
    assert loaded["type"] == "elderly_daycare" and loaded["level"] == "grid_small"
    assert loaded["areas"] > 0 and loaded["facilities"] > 0 and loaded["gaps"] > 0
    v.shot("planner")
    v.assert_clean()


def test_coverage_layers_match_the_api_at_every_level(planner, api, coverage_run):
    v = planner
    base = f"/coverage/runs/{coverage_run}"
    t = "elderly_daycare"
    gaps = _features(api, f"{base}/gaps", type=t)
    facilities = _features(api, f"{base}/facilities", type=t)
    catchments = _features(api, f"{base}/catchments", type=t)
    assert gaps and facilities and catchments
    for level in LEVELS:
        v.page.select_option("#mq-level", level)
        loaded = _wait_loaded(v, level=level, type=t)
        areas = _features(api, f"{base}/areas", type=t, level=level)
        drawn = v.js("""() => { const s = window.minqing.state;
            return {areas: s.coverage.getLayers().length, gaps: s.gaps.getLayers().length,
                    facilities: Object.keys(s.facilityMarkers).length, catchments: s.catchments.getLayers().length,
                    fills: [...new Set(s.coverage.getLayers().map(l => l.options.fillColor))]}; }""")
        assert loaded["areas"] == drawn["areas"] == len(areas), level
        assert loaded["gaps"] == drawn["gaps"] == len(gaps)
        assert loaded["facilities"] == drawn["facilities"] == len(facilities)
        assert loaded["catchments"] == drawn["catchments"] == len(catchments)
        shares = {f["properties"]["share"] is None for f in areas}
        assert set(drawn["fills"]) <= SHARE_COLOURS | {"#d9d9d9"} and (drawn["fills"] or not areas)
        if not areas:  # a level without residents says so instead of showing an empty map
            assert "暂无统计结果" in v.page.inner_text("#mq-plan-status")
        else:
            assert False in shares
        if level == "community":
            v.shot("planner-coverage")
    v.assert_clean()


def test_life_circle_choice_greys_the_other_class(planner, api, coverage_run, demo_db):
    from layers import queries
    from layers.db import session

    with session(demo_db) as s:
        communities = queries.areas(s, levels=("community",), with_geometry=False)
    urban = int(communities["urban"].sum())
    rural = len(communities) - urban
    assert urban and rural
    v = planner
    v.page.select_option("#mq-level", "community")
    _wait_loaded(v, level="community")
    base = f"/coverage/runs/{coverage_run}/areas"
    for circle, cls, coloured, grey in (("village", "rural", rural, urban), ("5min", "urban", urban, rural)):
        v.page.select_option("#mq-circle", circle)
        loaded = _wait_loaded(v, circle=cls, level="community")
        t = loaded["type"]
        assert loaded["inCircle"] == coloured and loaded["greyed"] == grey
        styles = v.js("""() => window.minqing.state.coverage.getLayers().map(l =>
            [l.feature.properties.urban, l.mqGreyed, l.options.fillColor])""")
        for is_urban, greyed, fill in styles:
            assert greyed == ((cls == "urban") != bool(is_urban))
            assert (fill == "#e0e0e0") == greyed
        api_rows = _features(api, base, type=t, level="community", circle=cls)
        assert sum(f["properties"]["in_circle"] for f in api_rows) == coloured
        assert f"只统计{'城市' if cls == 'urban' else '农村'}社区的居民" in v.page.inner_text("#mq-circle-note")
        v.shot(f"planner-circle-{cls}")
    # A mixed town: its urban and rural residents add up to all of them.
    whole = {f["properties"]["area_id"]: f["properties"] for f in _features(api, base, type="elderly_daycare",
                                                                            level="town")}
    parts = [{f["properties"]["area_id"]: f["properties"] for f in _features(api, base, type="elderly_daycare",
                                                                             level="town", circle=c)}
             for c in ("urban", "rural")]
    for area_id, row in whole.items():
        for key in ("population", "population_covered"):
            assert parts[0][area_id][key] + parts[1][area_id][key] == row[key]
    v.page.select_option("#mq-circle", "all")
    loaded = _wait_loaded(v, level="community", circle=None)
    assert loaded["greyed"] == 0
    v.assert_clean()


def _overloaded_type(api: httpx.Client, run: int) -> tuple[str, dict]:
    for t in ("primary_school", "nursing_home", "kindergarten", "elderly_complex", "rural_elderly_home"):
        over = [f for f in _features(api, f"/coverage/runs/{run}/facilities", type=t)
                if (f["properties"]["load"] or 0) > 1]
        if over:
            return t, over[0]
    raise AssertionError("the demo plants overloaded facilities; none found")


def test_catchments_drawn_and_overloaded_facility_red(planner, api, coverage_run):
    v = planner
    t, over = _overloaded_type(api, coverage_run)
    catchments = _features(api, f"/coverage/runs/{coverage_run}/catchments", type=t)
    assert catchments and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in catchments)
    v.page.select_option("#mq-type", t)
    loaded = _wait_loaded(v, type=t)
    assert loaded["catchments"] == len(catchments) and loaded["overloaded"] >= 1
    loads = {f["properties"]["facility_id"]: f["properties"]["load"]
             for f in _features(api, f"/coverage/runs/{coverage_run}/facilities", type=t)}
    marks = v.js("""() => Object.entries(window.minqing.state.facilityMarkers).map(([id, m]) =>
        [Number(id), m.options.fillColor, m.options.fillOpacity, m.options.dashArray || null,
         m instanceof L.CircleMarker])""")
    assert {m[0] for m in marks} == set(loads)
    for fid, fill, opacity, dash, circle in marks:
        assert circle and dash is None and opacity >= 0.9  # a solid dot, not a faint dashed ring
        assert fill == ("#c62828" if (loads[fid] or 0) > 1 else "#1e6fd9"), (fid, loads[fid], fill)
    polys = v.js("""() => window.minqing.state.catchments.getLayers().map(l => l.feature.geometry.type)""")
    assert len(polys) == len(catchments) and set(polys) <= {"Polygon", "MultiPolygon"}
    v.js("""(id) => { const s = window.minqing.state, m = s.facilityMarkers[id];
        s.map.setView(m.getLatLng(), 15, {animate: false}); m.openPopup(); }""", over["properties"]["facility_id"])
    text = v.page.inner_text(".leaflet-popup")
    assert over["properties"]["name"] in text and "超负荷" in text and "负荷率 = 服务范围内" in text
    load = re.search(r"负荷率\s+(\S+)", text).group(1)
    assert re.fullmatch(r"\d{1,3}%|\d+(\.\d)? 倍", load.replace("（超负荷）", "")), load
    v.shot("planner-catchments")
    v.assert_clean()


def test_compliance_per_community_and_district_targets(planner, api, coverage_run):
    v = planner
    v.page.wait_for_function("() => window.minqing.state.compliance && window.minqing.state.compliance.polygons >= 0")
    body = api.get("/compliance", params={"run_id": coverage_run}).json()
    rows = body["communities"]
    state = v.js("() => window.minqing.state.compliance")
    assert state == {"communities": len(rows), "polygons": len(rows)} and rows
    passed = v.js("() => window.minqing.state.complianceLayer.getLayers().filter(l => l.mqPass).length")
    assert passed == sum(r["pass"] for r in rows)
    # The overlay is off at first; turned on it shows every community.
    v.page.locator(".leaflet-control-layers-overlays label", has_text="社区配置达标").locator("input").check()
    failing = next(r for r in rows if not r["pass"] and any(t["missing_codes"] for t in r["tiers"]))
    v.page.locator("#mq-compliance tr[data-area] a", has_text=re.compile(f"^{failing['name']}$")).first.click()
    v.page.wait_for_selector(".leaflet-popup .mq-pop-tiers")
    v.idle()
    text = v.page.inner_text(".leaflet-popup")
    for tier in failing["tiers"]:
        assert tier["tier_label"] in text
        assert f"{tier['within']}/{tier['required']}" in text
    assert "缺少" in text and "每百户" in text and "30 m²" in text
    fa = failing["floor_area"]
    assert f"{fa['households']:,} 户" in text
    targets = v.page.locator("#mq-targets li").all_inner_texts()
    assert len(targets) == len(body["targets"])
    for shown, t in zip(targets, body["targets"], strict=True):
        assert t["label_zh"] in shown and shown.startswith("✔" if t["pass"] else "✘")
    v.shot("planner-compliance")
    v.assert_clean()


def test_demo_scenario_overlay(planner, api, demo_scenarios):
    v = planner
    assert set(demo_scenarios) == {"规划新增日间照料中心", "日间照料中心调整与幼儿园扩容（示例）"}
    listed = api.get("/scenarios").json()["scenarios"]
    assert {s["name"] for s in listed} >= set(demo_scenarios) and all(s["evaluated_at"] for s in listed)
    v.page.select_option("#mq-level", "community")
    _wait_loaded(v, level="community", type="elderly_daycare")
    for name, kinds, grows in (("规划新增日间照料中心", {"新"}, True),
                               ("日间照料中心调整与幼儿园扩容（示例）", {"关", "迁", "改"}, False)):
        sid = demo_scenarios[name]
        v.page.select_option("#mq-scenario", str(sid))
        v.page.wait_for_function(f"() => window.minqing.state.scenario && window.minqing.state.scenario.id == {sid}"
                                 " && window.minqing.state.scenario.evaluated")
        state = v.js("() => window.minqing.state.scenario")
        detail = api.get(f"/scenarios/{sid}", params={"type": "elderly_daycare", "level": "community"}).json()
        summary = next(r for r in detail["result"]["summary"] if r["type_code"] == "elderly_daycare")
        assert state["before"] == summary["before_population_covered"]
        assert state["after"] == summary["after_population_covered"]
        assert state["gained"] == summary["population_gained"] and state["lost"] == summary["population_lost"]
        ups = [r for r in detail["result"]["areas"] if r["after_share"] > r["before_share"]]
        downs = [r for r in detail["result"]["areas"] if r["after_share"] < r["before_share"]]
        assert state["gains"] == len(ups) and state["losses"] == len(downs)
        assert (state["gains"] > 0) if grows else (state["losses"] > 0)
        assert set(state["kinds"]) == kinds and state["changes"] == len(detail["changes"])
        markers = v.page.locator(".leaflet-marker-pane .mq-change").all_inner_texts()
        assert sorted(markers) == sorted(
            {"add": "新", "open": "新", "close": "关", "move": "迁", "change": "改"}[c["op"]] for c in detail["changes"])
        outlines = v.js("""() => { const out = {gain: 0, loss: 0}; window.minqing.state.layers.scenario.eachLayer(g =>
            g.eachLayer && g.eachLayer(l => { if (l.mqScenario) out[l.mqScenario]++; })); return out; }""")
        assert outlines == {"gain": len(ups), "loss": len(downs)}
        kpis = v.page.inner_text("#mq-scenario-result .mq-kpis")
        assert f"{summary['before_population_covered']:,} → {summary['after_population_covered']:,}" in kpis
        assert "新增覆盖人口" in kpis and "失去覆盖人口" in kpis
        v.js("""() => { const s = window.minqing.state; s.map.fitBounds(s.layers.scenario.getBounds(),
            {paddingTopLeft: [420, 60], paddingBottomRight: [60, 60], animate: false});
            document.getElementById('mq-scenario-result').scrollIntoView(); }""")
        v.shot("planner-scenario" + ("" if grows else "-mixed"))
    v.assert_clean()


def test_gaps_are_hatched_and_their_labels_never_overlap(planner):
    v = planner
    _wait_loaded(v, type="elderly_daycare")
    fills = v.js("""() => [...document.querySelectorAll('.leaflet-mq-p-gaps-pane path.mq-gap')]
        .map(p => [p.getAttribute('fill'), p.getAttribute('stroke')])""")
    assert fills and all(f == "url(#mq-hatch-gap)" and s.lower() not in SHARE_COLOURS for f, s in fills)
    assert v.js("() => !!document.getElementById('mq-hatch-gap')")
    assert v.js("() => window.minqing.state.gapLabels") == 0  # none at the district view
    v.js("""() => { const s = window.minqing.state, g = s.gaps.getLayers().find(l => l.mqRank === 1);
        s.map.setView(g.getBounds().getCenter(), 15, {animate: false}); }""")
    v.idle()
    boxes = v.js("""() => [...document.querySelectorAll('.mq-gap-label span')].map(e => {
        const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    assert boxes and len(boxes) == v.js("() => window.minqing.state.gapLabels")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    v.shot("planner-gaps")
    v.assert_clean()
