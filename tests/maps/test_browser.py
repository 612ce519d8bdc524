"""The maps in headless Chromium against the demo district: one server and one browser per session.

Every page must load with zero console errors and zero requests to any host but the app; the
expected layers must be on the map. Screenshots go to tests/_artifacts/maps/ for a person to look at.
The browser, the server and ``Visit`` are in conftest.py; the planner and place-name maps have files
of their own.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

def _street_point_among_facilities(truth) -> tuple[float, float]:
    """A node on a public street next to the middle of the facilities (the town centre)."""
    import numpy as np

    edges, nodes, fac = truth["edges"], truth["nodes"].set_index("node_id"), truth["facilities"]
    public = edges[edges["access"].isna() & edges["highway"].isin(["primary", "secondary", "tertiary",
                                                                   "residential", "unclassified"])]
    cand = nodes.loc[np.unique(public[["u", "v"]].to_numpy())]
    lon0, lat0 = fac["lon"].median(), fac["lat"].median()
    best = int(np.argmin(np.hypot((cand["lon"] - lon0).to_numpy(), (cand["lat"] - lat0).to_numpy())))
    return float(cand["lat"].iloc[best]), float(cand["lon"].iloc[best])


# ---------------------------------------------------------------- public map

def test_public_map_offline_with_all_layers(visit, truth):
    v = visit()
    response = v.open("/")
    assert response.status == 200
    state = v.js("""() => {
        const s = window.minqing.state, b = s.basemap;
        let roads = 0; Object.values(b.roads).forEach(p => roads += p.fill.getLayers().length);
        return {markers: Object.keys(s.markers).length, grids: s.grids.getLayers().length,
                water: b.water.getLayers().length, roads: roads,
                onMap: document.querySelectorAll('.mq-pin, .mq-cluster').length,
                demo: document.querySelector('.mq-demo').textContent,
                title: document.title, lang: document.documentElement.lang};
    }""")
    assert state["markers"] == len(truth["facilities"])
    assert state["grids"] == len(truth["grids"])
    assert state["roads"] > 0 and state["water"] > 0
    assert state["onMap"] > 0, "no facility marker or cluster drawn"
    assert state["demo"] == "演示数据(虚构)"
    assert state["lang"] == "zh-CN" and "民情地图" in state["title"]
    # Only our own app was asked for anything: the page, its assets, nothing else.
    assert all(urlsplit(u).path == "/" or urlsplit(u).path.startswith("/assets/") for u in v.requests), v.requests
    v.shot("public")
    v.assert_clean()


def test_public_popups_are_chinese_and_public(visit, truth):
    v = visit()
    v.open("/")
    fac = truth["facilities"].dropna(subset=["phone"]).iloc[0]
    html = v.js("""(id) => { const m = window.minqing.state.markers[id];
        window.minqing.state.map.setView(m.getLatLng(), 18, {animate: false});
        m.openPopup(); return m.getPopup().getElement().innerText; }""", int(fac["facility_id"]))
    assert fac["name"] in html and "开放时间" in html and "联系电话" in html and "地址" in html
    v.page.wait_for_timeout(300)  # the popup's auto-pan
    v.shot("public-popup")
    grid = v.js("""() => { const g = window.minqing.state.grids.getLayers()[0];
        g.openPopup(g.getBounds().getCenter()); return g.getPopup().getElement().innerText; }""")
    assert "网格员" in grid and "工作电话" in grid
    v.page.wait_for_timeout(300)
    v.shot("public-grid-popup")
    v.assert_clean()


def test_public_map_on_a_phone(visit):
    v = visit(width=390, height=844, mobile=True)
    v.open("/")
    layout = v.js("""() => { const p = document.getElementById('mq-panel').getBoundingClientRect();
        return {panelBottom: p.bottom, panelWidth: p.width, vw: window.innerWidth,
                search: document.getElementById('mq-search-input').getBoundingClientRect().width}; }""")
    assert layout["panelWidth"] == layout["vw"] and layout["panelBottom"] >= 840  # a bottom sheet
    assert layout["search"] > 300
    v.shot("public-phone")
    v.page.click("#mq-panel-toggle")
    v.shot("public-phone-panel")
    v.assert_clean()


def test_pinyin_search_finds_a_demo_road(app, visit, truth):
    from pypinyin import lazy_pinyin

    names = truth["names"]
    road = names[names["category"].isin(["road", "trunk_road"])].iloc[0]["name"]
    full = "".join(lazy_pinyin(road))
    initials = "".join(s[0] for s in lazy_pinyin(road))
    v = visit()
    v.open("/")
    for query in (full, initials, road):
        v.page.fill("#mq-search-input", "")
        v.page.type("#mq-search-input", query, delay=20)
        v.page.wait_for_selector("#mq-search-results li[data-i]", timeout=10_000)
        assert road in v.page.inner_text("#mq-search-results"), query
    v.page.click("#mq-search-results li[data-i]")
    v.page.wait_for_function("() => !!window.minqing.state.searchMarker")
    v.page.wait_for_timeout(700)  # the zoom animation to the place
    v.shot("public-search")
    v.assert_clean()


def test_click_draws_isochrones_and_lists_facilities(app, visit, truth):
    lat, lon = _street_point_among_facilities(truth)
    v = visit()
    v.open("/")
    v.js("([lat, lon]) => { window.minqing.state.map.setView([lat, lon], 17, {animate: false}); }", [lat, lon])
    v.page.wait_for_timeout(500)  # the marker clusters split with a short animation
    v.page.click("#mq-iso-pick")
    box = v.page.locator(".folium-map").bounding_box()
    v.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    v.page.wait_for_function("() => window.minqing.state.isochrone", timeout=20_000)
    iso = v.js("() => window.minqing.state.isochrone")
    assert "error" not in iso, iso
    assert iso["features"] == 3
    drawn = v.js("() => window.minqing.state.layers.isochrones.getLayers().length")
    assert drawn == 4  # three polygons and the 起点 marker
    listed = v.page.locator("#mq-iso-result li[data-fid]").count()
    v.shot("public-isochrone")
    assert listed == iso["facilities"] > 0, (lat, lon, v.page.inner_text("#mq-iso-status"))  # the town centre has services within 15 minutes on foot
    v.shot("public-isochrone")
    v.assert_clean()
