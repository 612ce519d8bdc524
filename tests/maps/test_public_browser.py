"""The public map's resident questions in headless Chromium on the demo district: the nearest services
(against an independent networkx Dijkstra), one search box for facilities and places, no staff links
for anonymous visitors. Server, browser and ``Visit`` are in conftest.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "geo"))  # tests/geo/demo_truth.py

PHONE = {"width": 390, "height": 844, "mobile": True}


def _sample_street_points(truth, n: int, seed: int) -> list[tuple[float, float]]:
    """``n`` (lat, lon) a few metres off public streets, spread over the district."""
    edges, nodes = truth["edges"], truth["nodes"].set_index("node_id")
    public = edges[edges["access"].isna() & edges["highway"].isin(["primary", "secondary", "tertiary",
                                                                   "residential", "unclassified"])]
    rng = np.random.default_rng(seed)
    rows = public.iloc[rng.choice(len(public), size=n, replace=False)]
    a, b = nodes.loc[rows["u"]], nodes.loc[rows["v"]]
    t = rng.uniform(0.2, 0.8, size=n)
    lat = a["lat"].to_numpy() * (1 - t) + b["lat"].to_numpy() * t + 0.00005
    lon = a["lon"].to_numpy() * (1 - t) + b["lon"].to_numpy() * t
    return list(zip(lat.tolist(), lon.tolist(), strict=True))


def _nearest_listed(v) -> list[dict]:
    return v.js("""() => [...document.querySelectorAll('#mq-nearest-result li[data-fid]')].map(li => ({
        fid: Number(li.dataset.fid), type: li.dataset.type, walk: li.dataset.walk === 'null' ? null : Number(li.dataset.walk),
        ebike: li.dataset.ebike === 'null' ? null : Number(li.dataset.ebike), text: li.innerText}))""")


def test_nearest_services_equal_networkx(visit, truth, demo_db):
    """From sampled points: per facility type the listed facility is the nearest on foot by an independent
    networkx Dijkstra (no cut-off), with its walking and e-bike times to 0.1 s; every type reachable
    is listed; minutes shown are the seconds rounded up."""
    from demo_truth import DemoTruth, read_profiles

    from layers import lookup
    from layers.db import session

    with session(demo_db) as s:  # exact positions (the page's are rounded to 1e-6 degrees)
        fac = lookup.facility_points(s)
    where = {int(f.facility_id): (f.lon, f.lat) for f in fac.itertuples()}
    type_of = dict(zip(fac["facility_id"].astype(int), fac["type_code"], strict=True))
    v = visit()
    v.open("/")
    compared = 0
    for k, (lat, lon) in enumerate(_sample_street_points(truth, 3, seed=18)):
        v.js("([a, b]) => { window.minqing.state.nearest = null; window.minqing.state.computeIsochrone(a, b); }",
             [lat, lon])
        v.page.wait_for_function("() => window.minqing.state.nearest", timeout=60_000)
        state = v.js("() => window.minqing.state.nearest")
        assert "error" not in state, state
        o = state["origin"]
        listed = _nearest_listed(v)
        times = {}
        for profile in ("walk", "ebike"):
            net = DemoTruth(truth["nodes"], truth["edges"], read_profiles()[profile], origins={"o": (o["lon"], o["lat"])},
                            destinations=where)
            times[profile] = net.times_from("o", np.inf)
        reachable_types = {type_of[f] for p in times.values() for f in p}
        assert {r["type"] for r in listed} == reachable_types
        for r in listed:
            of_type = [f for f in where if type_of[f] == r["type"]]
            best = min((times["walk"][f] for f in of_type if f in times["walk"]), default=None)
            if best is None:
                assert r["walk"] is None
                continue
            assert r["walk"] == pytest.approx(times["walk"][r["fid"]], abs=0.051)
            assert r["walk"] == pytest.approx(best, abs=0.051), (r, best)
            if r["fid"] in times["ebike"]:
                assert r["ebike"] == pytest.approx(times["ebike"][r["fid"]], abs=0.051)
            else:
                assert r["ebike"] is None
            assert f"步行 {max(1, int(np.ceil(r['walk'] / 60 - 1e-9)))} 分钟" in r["text"]
            compared += 1
        if k == 0:
            v.shot("public-nearest")
    assert compared >= 30
    v.assert_clean()


def test_elderly_walking_reaches_less_than_walking(visit, truth):
    """The 老年人步行 option recomputes the isochrone from the same point with the walk_elderly profile."""
    lat, lon = _sample_street_points(truth, 1, seed=5)[0]
    v = visit()
    v.open("/")
    v.js("([a, b]) => { window.minqing.state.computeIsochrone(a, b); }", [lat, lon])
    v.page.wait_for_function("() => window.minqing.state.isochrone && window.minqing.state.isochrone.profile === 'walk'")
    walk = v.js("() => window.minqing.state.isochrone")
    v.page.check("input[name='mq-iso-profile'][value='walk_elderly']")
    v.page.wait_for_function("() => (window.minqing.state.isochrone || {}).profile === 'walk_elderly'")
    elderly = v.js("() => window.minqing.state.isochrone")
    assert "error" not in walk and "error" not in elderly
    assert elderly["facilities"] <= walk["facilities"]
    assert "老年人步行" in v.page.inner_text("#mq-iso-result")
    v.assert_clean()


def _search(v, query: str) -> list[dict]:
    v.page.fill("#mq-search-input", "")
    v.page.type("#mq-search-input", query, delay=15)
    v.page.wait_for_function("(q) => { const l = document.getElementById('mq-search-results');"
                             " return !l.hidden && l.dataset.q === q; }", arg=query)
    return v.js("() => [...document.querySelectorAll('#mq-search-results li[data-i]')].map(li => li.innerText)")


def test_search_finds_facilities_by_name_type_pinyin_and_initials(visit, truth):
    from pypinyin import lazy_pinyin

    fac = truth["facilities"][truth["facilities"]["status"] == "open"]
    v = visit()
    v.open("/")
    # A facility's own name: it comes first, and choosing it opens its popup.
    one = fac[~fac["name"].duplicated(keep=False)].iloc[len(fac) // 3]
    shown = _search(v, one["name"])
    assert shown and shown[0].startswith(one["name"]), shown
    v.page.click("#mq-search-results li[data-i='0']")
    v.page.wait_for_selector(".leaflet-popup .mq-pop")
    assert v.page.inner_text(".leaflet-popup h3") == one["name"]
    # Types, in Chinese, full pinyin and initials: the facilities of that type come first.
    for type_name in ("幼儿园", "卫生服务站", "养老"):
        for query in (type_name, "".join(lazy_pinyin(type_name)), "".join(s[0] for s in lazy_pinyin(type_name))):
            shown = _search(v, query)
            assert shown, query
            assert sum(type_name in s for s in shown[:5]) >= 3, (query, shown)
    v.assert_clean()


@pytest.mark.parametrize("size", [{}, PHONE], ids=["desktop", "phone"])
def test_no_staff_links_for_anonymous_visitors(visit, size):
    v = visit(**size)
    v.open("/")
    if size:
        v.page.click(".mq-menu-btn")
    links = v.js("() => [...document.querySelectorAll('a')].map(a => a.getAttribute('href'))")
    assert "/" in links and "/login" in links
    assert not {"/planner", "/placenames"} & set(links), links
    assert "规划分析" not in v.page.inner_text("header") and "地名管理" not in v.page.inner_text("header")
    v.assert_clean()
