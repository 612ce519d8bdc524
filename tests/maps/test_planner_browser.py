"""The planner map in headless Chromium against the demo district.

Coverage is computed once per session and the demo's scenarios are saved and evaluated the way
``minqing demo load`` does it (fixtures in conftest.py). What the page draws is compared with the planner
API's own answers, fetched independently of the page over HTTP.
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
    v.page.wait_for_function(
        f"() => {{ const l = window.minqing.state.loaded; return l && !l.error && {cond}; }}", timeout=60_000
    )
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
    assert (
        loaded["type"] == "elderly_daycare"
        and loaded["level"] == "community"
        and loaded["measure"] == "presence"
    )
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
            return {areas: s.coverage.getLayers().length, gaps: s.gapList.length,
                    facilities: Object.keys(s.facilityMarkers).length,
                    catchments: s.catchments.getLayers().length,
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
        assert f"只统计{'城市' if cls == 'urban' else '农村'}社区的居民" in v.page.inner_text(
            "#mq-circle-note"
        )
        v.shot(f"planner-circle-{cls}")
    # A mixed town: its urban and rural residents add up to all of them.
    whole = {
        f["properties"]["area_id"]: f["properties"]
        for f in _features(api, base, type="elderly_daycare", level="town")
    }
    parts = [
        {
            f["properties"]["area_id"]: f["properties"]
            for f in _features(api, base, type="elderly_daycare", level="town", circle=c)
        }
        for c in ("urban", "rural")
    ]
    for area_id, row in whole.items():
        for key in ("population", "population_covered"):
            assert parts[0][area_id][key] + parts[1][area_id][key] == row[key]
    v.page.select_option("#mq-circle", "all")
    loaded = _wait_loaded(v, level="community", circle=None)
    assert loaded["greyed"] == 0
    v.assert_clean()


def _overloaded_type(api: httpx.Client, run: int) -> tuple[str, dict]:
    for t in ("primary_school", "nursing_home", "kindergarten", "elderly_complex", "rural_elderly_home"):
        over = [
            f
            for f in _features(api, f"/coverage/runs/{run}/facilities", type=t)
            if (f["properties"]["load"] or 0) > 1
        ]
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
    loads = {
        f["properties"]["facility_id"]: f["properties"]["load"]
        for f in _features(api, f"/coverage/runs/{coverage_run}/facilities", type=t)
    }
    marks = v.js("""() => Object.entries(window.minqing.state.facilityMarkers).map(([id, m]) =>
        [Number(id), m.options.fillColor, m.options.fillOpacity, m.options.dashArray || null,
         m instanceof L.CircleMarker])""")
    assert {m[0] for m in marks} == set(loads)
    for fid, fill, opacity, dash, circle in marks:
        assert circle and dash is None and opacity >= 0.9  # a solid dot, not a faint dashed ring
        assert fill == ("#c62828" if (loads[fid] or 0) > 1 else "#1e6fd9"), (fid, loads[fid], fill)
    polys = v.js("""() => window.minqing.state.catchments.getLayers().map(l => l.feature.geometry.type)""")
    assert len(polys) == len(catchments) and set(polys) <= {"Polygon", "MultiPolygon"}
    v.js(
        """(id) => { const s = window.minqing.state, m = s.facilityMarkers[id];
        s.map.setView(m.getLatLng(), 15, {animate: false}); m.openPopup(); }""",
        over["properties"]["facility_id"],
    )
    text = v.page.inner_text(".leaflet-popup")
    assert over["properties"]["name"] in text and "超负荷" in text and "负荷率 = 服务范围内" in text
    load = re.search(r"负荷率\s+(\S+)", text).group(1)
    assert re.fullmatch(r"\d{1,3}%|\d+(\.\d)? 倍", load.replace("（超负荷）", "")), load
    v.shot("planner-catchments")
    v.assert_clean()


def test_compliance_per_community_and_district_targets(planner, api, coverage_run):
    v = planner
    v.page.wait_for_function(
        "() => window.minqing.state.compliance && window.minqing.state.compliance.polygons >= 0"
    )
    body = api.get("/compliance", params={"run_id": coverage_run}).json()
    rows = body["communities"]
    state = v.js("() => window.minqing.state.compliance")
    assert state == {"communities": len(rows), "polygons": len(rows)} and rows
    passed = v.js("() => window.minqing.state.complianceLayer.getLayers().filter(l => l.mqPass).length")
    assert passed == sum(r["pass"] for r in rows)
    # The overlay is off at first; turned on it shows every community.
    v.page.locator(".leaflet-control-layers-overlays label", has_text="社区配置达标").locator("input").check()
    failing = next(r for r in rows if not r["pass"] and any(t["missing_codes"] for t in r["tiers"]))
    v.page.locator(
        "#mq-compliance tr[data-area] a", has_text=re.compile(f"^{failing['name']}$")
    ).first.click()
    v.page.wait_for_selector(".leaflet-popup .mq-pop-tiers")
    v.idle()
    text = v.page.inner_text(".leaflet-popup")
    for tier in failing["tiers"]:
        assert tier["tier_label"] in text
        assert f"{tier['within']}/{tier['required']}" in text
        for code in tier["missing_codes"]:  # each missing type under the word that says what is wrong
            assert failing["status"][code] in {"未设置", "步行可达不足", "可达不足", "容量不足"}
            assert failing["status"][code] in text
    assert "每百户" in text and "30 m²" in text
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
    for name, kinds, grows in (
        ("规划新增日间照料中心", {"新"}, True),
        ("日间照料中心调整与幼儿园扩容（示例）", {"关", "迁", "改"}, False),
    ):
        sid = demo_scenarios[name]
        v.page.select_option("#mq-scenario", str(sid))
        v.page.wait_for_function(
            f"() => window.minqing.state.scenario && window.minqing.state.scenario.id == {sid}"
            " && window.minqing.state.scenario.evaluated"
        )
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
            {"add": "新", "open": "新", "close": "关", "move": "迁", "change": "改"}[c["op"]]
            for c in detail["changes"]
        )
        outlines = v.js("""() => { const out = {gain: 0, loss: 0};
            window.minqing.state.layers.scenario.eachLayer(g =>
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


def test_gaps_are_hatched_and_their_labels_never_overlap(planner, api, coverage_run):
    v = planner
    _wait_loaded(v, type="elderly_daycare")
    fills = v.js("""() => [...document.querySelectorAll('.leaflet-mq-p-gaps-pane path.mq-gap')]
        .map(p => [p.getAttribute('fill'), p.getAttribute('stroke')])""")
    assert fills and all(f == "url(#mq-hatch-gap)" and s.lower() not in SHARE_COLOURS for f, s in fills)
    assert v.js("() => !!document.getElementById('mq-hatch-gap')")
    # The district view names a few of the largest gaps by place, never over one another.
    places = {
        p["rank"]: p["place"]
        for p in (
            f["properties"]
            for f in _features(api, f"/coverage/runs/{coverage_run}/gaps", type="elderly_daycare")
        )
    }
    first = v.page.locator(".mq-gap-label span").all_inner_texts()
    assert 0 < len(first) == v.js("() => window.minqing.state.gapLabels") <= 5
    assert set(first) <= {places[r] for r in sorted(places)[:5]} and all(first)
    _no_overlap(v)
    v.js("""() => { const s = window.minqing.state, g = s.gapList.find(l => l.mqRank === 1);
        s.map.setView(g.getBounds().getCenter(), 15, {animate: false}); }""")
    v.idle()
    _no_overlap(v)
    # The shapes come from the gaps' vector tiles; the list opens a gap's popup, named as the API names it.
    assert v.js("() => [...document.querySelectorAll('.leaflet-mq-p-gaps-pane svg')].length") > 0
    v.page.click('#mq-gaps tr[data-rank="1"] a')
    v.page.wait_for_selector(".leaflet-popup-content h3")
    assert v.page.inner_text(".leaflet-popup-content h3") == places[1]
    v.shot("planner-gaps")
    v.assert_clean()


def _no_overlap(v) -> None:
    boxes = v.js("""() => [...document.querySelectorAll('.mq-gap-label span')].map(e => {
        const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    assert boxes and len(boxes) == v.js("() => window.minqing.state.gapLabels")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


# ---------------------------------------------------------------- measures, words, siting, editing


def _measure_table() -> dict[str, dict[str, str]]:
    """data/measures.csv read with the csv module (not the page builder's reader)."""
    import csv
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data" / "measures.csv"
    with path.open(encoding="utf-8") as f:
        return {r["code"]: r for r in csv.DictReader(f)}


def test_measure_switch_names_the_legend_and_popups(planner):
    v = planner
    measures = _measure_table()
    _wait_loaded(v, level="community")
    for code in ("presence", "radius", "network"):
        m = measures[code]
        v.page.select_option("#mq-measure", code)
        v.page.wait_for_function(f"() => window.minqing.state.loaded.measure === {json.dumps(code)}")
        title = v.page.inner_text("#mq-legend-title")
        names = [m["name_zh"]] + ([m["name_rural_zh"]] if m["name_rural_zh"] != m["name_zh"] else [])
        assert title == "图例：" + " / ".join(names), title
        assert v.page.get_attribute("#mq-legend-title .mq-measure", "title") == m["definition_zh"]
        assert v.page.inner_text("#mq-measure-def") == m["definition_zh"]
        assert names[0] in v.page.inner_text("#mq-summary .mq-kpis")
    # The rural circle names the network measure by its rural name (半小时可达覆盖率).
    v.page.select_option("#mq-circle", "village")
    _wait_loaded(v, circle="rural", level="community")
    assert v.page.inner_text("#mq-legend-title") == "图例：" + measures["network"]["name_rural_zh"]
    # A community's popup names every measure it shows, each with its definition as a tooltip.
    v.page.select_option("#mq-circle", "all")
    _wait_loaded(v, circle=None, level="community")
    v.js("""() => { const s = window.minqing.state, l = s.coverage.getLayers().find(l => !l.mqGreyed);
        s.map.setView(l.getBounds().getCenter(), 14, {animate: false}); l.openPopup(); }""")
    heads = v.js("""() => [...document.querySelectorAll('.leaflet-popup .mq-measure')]
        .map(e => [e.textContent, e.getAttribute('title')])""")
    by_name = {m["name_zh"]: m["definition_zh"] for m in measures.values()}
    by_name.update({m["name_rural_zh"]: m["definition_zh"] for m in measures.values()})
    shown = {name for name, _ in heads}
    assert shown >= {
        measures[c][k] for c in ("presence", "radius", "network") for k in ("name_zh",)
    } or shown >= {measures[c][k] for c in ("presence", "radius", "network") for k in ("name_rural_zh",)}, (
        shown
    )
    for name, tip in heads:
        if name in by_name:
            assert tip == by_name[name]
    v.assert_clean()


def test_words_say_what_is_wrong_in_popups_and_compliance(planner, api, coverage_run):
    v = planner
    t = "elderly_daycare"
    _wait_loaded(v, level="community", type=t)
    v.page.wait_for_function("() => window.minqing.state.complianceById")
    areas = {
        f["properties"]["area_id"]: f["properties"]
        for f in _features(api, f"/coverage/runs/{coverage_run}/areas", type=t, level="community")
    }
    rows = {
        r["area_id"]: r for r in api.get("/compliance", params={"run_id": coverage_run}).json()["communities"]
    }
    canonical = {"可达不足": "步行可达不足"}
    expected: dict[str, int] = {}
    word_of = {}
    for area_id, p in areas.items():
        w = (rows.get(area_id, {}).get("status") or {}).get(t) or p.get("status")
        assert w in {"达标", "未设置", "步行可达不足", "可达不足", "容量不足"}, (area_id, w)
        word_of[area_id] = w
        expected[canonical.get(w, w)] = expected.get(canonical.get(w, w), 0) + 1
    v.page.select_option("#mq-measure", "status")
    v.page.wait_for_function("() => window.minqing.state.loaded.measure === 'status'")
    assert v.js("() => window.minqing.state.words") == expected
    assert set(expected) - {"达标"}, "the demo keeps deliberate gaps: some community must show a problem"
    legend = v.page.inner_text("#mq-legend-measure")
    for w in ("未设置", "步行可达不足", "容量不足", "达标"):
        assert w in legend
    bad = next(a for a, w in word_of.items() if w != "达标")
    v.js(
        """(id) => { const s = window.minqing.state;
        const l = s.coverage.getLayers().find(l => l.feature.properties.area_id === id);
        s.map.setView(l.getBounds().getCenter(), 14, {animate: false}); l.openPopup(); }""",
        bad,
    )
    text = v.page.inner_text(".leaflet-popup")
    assert areas[bad]["name"] in text and word_of[bad] in text
    # The compliance table groups each community's failing types by their word.
    failing = next(r for r in rows.values() if any(w != "达标" for w in (r.get("status") or {}).values()))
    row = v.page.inner_text(f"#mq-compliance tr[data-area='{failing['area_id']}']")
    for w in failing["status"].values():
        if w != "达标":
            assert w in row
    v.assert_clean()


def test_siting_from_the_map_draws_named_sites_and_saves_a_scenario(planner, api):
    v = planner
    t = "elderly_daycare"
    _wait_loaded(v, type=t)
    v.page.select_option("#mq-site-type", t)
    v.page.select_option("#mq-site-mode", "k")
    v.page.fill("#mq-site-k", "2")
    v.page.select_option("#mq-site-cand", "intersections")
    v.page.click("#mq-site-run")
    v.page.wait_for_function(
        "() => { const s = window.minqing.state.siting; return s && (s.sites !== undefined || s.error); }",
        timeout=180_000,
    )
    state = v.js("() => window.minqing.state.siting")
    assert "error" not in state, state
    job = api.get(f"/siting/jobs/{state['job']}").json()
    assert job["status"] == "done" and job["params"]["k"] == 2 and job["params"]["type_code"] == t
    plan = job["result"]["maximal_covering"]
    places = [f["properties"]["place"] for f in plan["sites"]["features"]]
    assert places and all(places)
    assert state["sites"] == state["markers"] == len(places) and state["names"] == places
    labels = v.page.locator(".leaflet-tooltip.mq-site-label").all_inner_texts()
    assert sorted(labels) == sorted(places)
    panel = v.page.inner_text("#mq-site-result")
    for place in places:
        assert place in panel
    assert f"{plan['users']['before']:,.0f} → {plan['users']['after']:,.0f}" in panel
    v.shot("planner-siting")
    v.page.click("#mq-site-save")
    v.page.wait_for_function(
        "() => { const s = window.minqing.state; return s.siting.saved && s.scenario"
        " && s.scenario.id == s.siting.saved && s.scenario.evaluated; }",
        timeout=180_000,
    )
    sid = v.js("() => window.minqing.state.siting.saved")
    detail = api.get(f"/scenarios/{sid}", params={"type": t, "level": "community"}).json()
    assert [c["op"] for c in detail["changes"]] == ["add"] * len(places)
    assert v.js("() => window.minqing.state.scenario.changes") == len(places)
    assert v.page.input_value("#mq-scenario") == str(sid)
    v.assert_clean()


def test_siting_on_an_uploaded_parcel_list(planner, api, coverage_run):
    v = planner
    _wait_loaded(v, type="elderly_daycare")
    # Two candidate places: where two community service centres stand (inside the district).
    spots = [
        f["geometry"]["coordinates"]
        for f in _features(api, f"/coverage/runs/{coverage_run}/facilities", type="community_complex")[:2]
    ]
    assert len(spots) == 2
    csv = "名称,经度,纬度\n" + "".join(f"候选地块{i},{lon},{lat}\n" for i, (lon, lat) in enumerate(spots, 1))
    v.page.select_option("#mq-site-type", "elderly_daycare")
    v.page.fill("#mq-site-k", "1")
    v.page.select_option("#mq-site-cand", "upload")
    v.page.set_input_files(
        "#mq-site-file", files=[{"name": "地块.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    v.page.click("#mq-site-run")
    v.page.wait_for_function(
        "() => { const s = window.minqing.state.siting; return s && (s.sites !== undefined || s.error); }",
        timeout=180_000,
    )
    state = v.js("() => window.minqing.state.siting")
    assert "error" not in state, state
    job = api.get(f"/siting/jobs/{state['job']}").json()
    assert job["params"]["candidates"]["kind"] == "upload" and job["result"]["candidates"]["count"] == 2
    site = job["result"]["maximal_covering"]["sites"]["features"][0]["properties"]
    assert site["name"] in ("候选地块1", "候选地块2") and site["place"]
    assert state["names"] == [f"{site['name']}（{site['place']}）"]
    assert v.page.locator(".leaflet-tooltip.mq-site-label").all_inner_texts() == state["names"]
    v.assert_clean()


def _click_at(v, x_share: float, y_share: float) -> dict:
    """Click the map at a share of its width/height, once it stands still; the point's latitude/longitude."""
    v.idle()
    box = v.page.locator(".leaflet-container").first.bounding_box()
    x, y = round(box["width"] * x_share), round(box["height"] * y_share)  # mouse events land on whole pixels
    at = v.js(
        "([x, y]) => { const ll = window.minqing.state.map.containerPointToLatLng([x, y]);"
        " return {lat: ll.lat, lon: ll.lng}; }",
        [x, y],
    )
    v.page.mouse.click(box["x"] + x, box["y"] + y)
    return at


def _click_facility(v, facility_id: int, action: str) -> None:
    """Centre a facility right of the panel, click its dot, then the popup's button ``action``."""
    v.js(
        """(id) => { const s = window.minqing.state, m = s.map, W = m.getSize().x;
        m.setView(s.facilityMarkers[id].getLatLng(), 16, {animate: false});
        m.panBy([-W * 0.25, 0], {animate: false}); }""",
        facility_id,
    )
    v.idle()
    point = v.js(
        """(id) => { const s = window.minqing.state; const p = s.map.latLngToContainerPoint(
        s.facilityMarkers[id].getLatLng()); return [p.x, p.y]; }""",
        facility_id,
    )
    box = v.page.locator(".leaflet-container").first.bounding_box()
    v.page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    v.page.wait_for_selector(f".leaflet-popup button[data-edit={action}]")


def test_scenario_created_by_clicking_and_evaluated(planner, api, coverage_run):
    v = planner
    t = "elderly_daycare"
    _wait_loaded(v, type=t)
    gaps = _features(api, f"/coverage/runs/{coverage_run}/gaps", type=t)
    facilities = [
        f["properties"] for f in _features(api, f"/coverage/runs/{coverage_run}/facilities", type=t)
    ]
    assert len(facilities) >= 3
    v.page.click("#mq-edit-start")
    # Add: a click in the largest gap, to the right of the panel; then dragged 40 px east.
    v.js(
        """(c) => { const m = window.minqing.state.map, W = m.getSize().x;
        m.setView([c[1], c[0]], 16, {animate: false}); m.panBy([-W * 0.25, 0], {animate: false}); }""",
        _centre(gaps[0]["geometry"]),
    )
    v.idle()
    _click_at(v, 0.75, 0.5)
    v.page.wait_for_selector(".leaflet-popup #mq-add-ok")
    v.page.fill(".leaflet-popup #mq-add-name", "拟建日间照料中心（测试）")
    v.page.fill(".leaflet-popup #mq-add-cap", "40")
    v.page.click(".leaflet-popup #mq-add-ok")
    v.idle()
    dropped = v.js("""() => { const s = window.minqing.state, c = s.draft[0];
        const ll = s.map.containerPointToLatLng(s.map.latLngToContainerPoint([c.lat, c.lon]).add([40, 0]));
        return {lat: ll.lat, lon: ll.lng}; }""")  # where the marker lands when dragged 40 px east
    mark = v.page.locator(".leaflet-marker-pane .mq-draft").first.bounding_box()
    x, y = mark["x"] + mark["width"] / 2, mark["y"] + mark["height"] / 2
    v.page.mouse.move(x, y)
    v.page.mouse.down()
    v.page.mouse.move(x + 20, y, steps=4)
    v.page.mouse.move(x + 40, y, steps=4)
    v.page.mouse.up()
    # Close one facility, change another's capacity, move a third by clicking its new place.
    closed, resized, moved = facilities[0], facilities[1], facilities[2]
    _click_facility(v, closed["facility_id"], "close")
    v.page.click(".leaflet-popup button[data-edit=close]")
    _click_facility(v, resized["facility_id"], "change")
    v.page.fill(".leaflet-popup #mq-chg-cap", "55")
    v.page.click(".leaflet-popup button[data-edit=change]")
    _click_facility(v, moved["facility_id"], "move")
    v.page.click(".leaflet-popup button[data-edit=move]")
    to = _click_at(v, 0.75, 0.3)
    draft = v.js("() => window.minqing.state.draft")
    assert [c["op"] for c in draft] == ["add", "close", "change", "move"]
    assert abs(draft[0]["lat"] - dropped["lat"]) < 2e-5 and abs(draft[0]["lon"] - dropped["lon"]) < 2e-5
    assert draft[1] == {"op": "close", "facility_id": closed["facility_id"]}
    assert draft[2] == {"op": "change", "facility_id": resized["facility_id"], "capacity": 55}
    assert draft[3]["facility_id"] == moved["facility_id"]
    assert abs(draft[3]["lat"] - to["lat"]) < 1e-5 and abs(draft[3]["lon"] - to["lon"]) < 1e-5
    assert len(v.page.locator("#mq-edit-list li").all()) == 4
    v.page.fill("#mq-edit-name", "地图上编辑的方案（测试）")
    v.page.click("#mq-edit-save")
    v.page.wait_for_function(
        "() => { const s = window.minqing.state; return s.edited && s.scenario"
        " && s.scenario.id == s.edited.scenario && s.scenario.evaluated; }",
        timeout=180_000,
    )
    sid = v.js("() => window.minqing.state.edited.scenario")
    detail = api.get(f"/scenarios/{sid}", params={"type": t, "level": "community"}).json()
    assert detail["name"] == "地图上编辑的方案（测试）"
    ops = {c["op"]: c for c in detail["changes"]}
    assert set(ops) == {"add", "close", "change", "move"}
    assert (
        ops["close"]["facility_id"] == closed["facility_id"]
        and ops["move"]["facility_id"] == moved["facility_id"]
    )
    assert ops["add"]["capacity"] == 40 and ops["add"]["type_code"] == t and ops["change"]["capacity"] == 55
    summary = next(r for r in detail["result"]["summary"] if r["type_code"] == t)
    state = v.js("() => window.minqing.state.scenario")
    assert (
        state["before"] == summary["before_population_covered"]
        and state["after"] == summary["after_population_covered"]
    )
    assert sorted(v.page.locator(".leaflet-marker-pane .mq-change").all_inner_texts()) == [
        "关",
        "改",
        "新",
        "迁",
    ]
    v.shot("planner-edited-scenario")
    v.assert_clean()


def _centre(geometry: dict) -> list[float]:
    from shapely.geometry import shape

    p = shape(geometry).representative_point()
    return [p.x, p.y]
