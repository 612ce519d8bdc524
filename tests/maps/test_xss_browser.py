"""Stored XSS: markup in every user-editable field that reaches a page stays text, in real Chromium.

A database of its own holds the demo district with script payloads written into every text field the
pages show (area and grid names, grid workers, facility names/addresses/hours/phones, road and water
names, place names with their pinyin, approval, meaning and history, a scenario with its description
and change, two usernames from before usernames were checked). The grid worker's phone is left out:
the database accepts work numbers only. A second server runs on it. Each page is opened as its users open it;
every popup, tooltip and marker icon the page's layers carry is rendered into the page too. Nothing may
run: the flag the payloads set stays unset, no dialog opens, the browser reports no CSP violation
(the policy would block a payload that escaping let through) and no console error, no element the
payloads would create exists; and the payloads read as text where the page shows them.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

pytestmark = pytest.mark.browser

SCRIPT = "</title><script>window.__xss=1</script>"
IMG = '"><img src=x onerror=window.__xss=2>'
JS_URL = "javascript:window.__xss=3"
SVG = "<svg onload=window.__xss=4>"
PASSWORD = "xss-test-password"

HOSTILE = {
    "district": "澄湾区" + SCRIPT,
    "town": "街道" + SVG + IMG,
    "community": "社区" + IMG + SCRIPT,
    "grid": "网格" + SCRIPT,
    "grid_code": "<b>g1</b>",
    "worker_name": IMG,
    "facility": "日照" + IMG + SCRIPT,
    "address": SCRIPT + SVG,
    "hours": SVG,
    "fees": IMG + "元/月",
    "phone": JS_URL,
    "road": "路" + IMG,
    "water": SCRIPT + "江",
    "place_name": "地名" + IMG,
    "approval": SCRIPT + "号",
    "pinyin": SVG,
    "meaning": JS_URL + SCRIPT,
    "scenario": "方案" + SCRIPT + IMG,
    "description": IMG + SVG + JS_URL,
    "change": "拟建" + IMG,
    # Accounts from before usernames were checked (lower case: logins fold the name).
    "admin": "<img src=x onerror=window.__xss=5>",
    "worker_user": "<script>window.__xss=6</script>",
}

# Recorded from the first script on: CSP violations (a payload the policy had to stop).
WATCH = """window.__mqViolations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__mqViolations.push(e.effectiveDirective + ' ' + (e.sample || e.blockedURI)));"""

# Every popup, tooltip and DivIcon of the page's layers (also those not on the map: other cluster
# members, hidden groups) rendered into one box in the page, as Leaflet would render them.
RENDER_ALL = """() => {
    const s = window.minqing.state, seen = new Set();
    const walk = l => { if (!l || seen.has(l)) return; seen.add(l); if (l.eachLayer) l.eachLayer(walk); };
    s.map.eachLayer(walk);
    [s.layers, s.markers, s.names].forEach(o => Object.values(o || {}).forEach(walk));
    const box = document.createElement('div');
    box.id = 'mq-xss-box';
    document.body.appendChild(box);
    let n = 0;
    const add = c => {
        if (typeof c === 'string') {
            const d = document.createElement('div'); d.innerHTML = c; box.appendChild(d); n++; }
        else if (c && c.nodeType) { box.appendChild(c.cloneNode(true)); n++; }
    };
    seen.forEach(l => {
        [l.getPopup && l.getPopup(), l.getTooltip && l.getTooltip()].forEach(p => {
            if (p) add(typeof p._content === 'function' ? p._content(l) : p._content);
        });
        const icon = l.options && l.options.icon && l.options.icon.options;
        if (icon && typeof icon.html === 'string') add(icon.html);
    });
    return n;
}"""

INJECTED = """() => ({
    flag: window.__xss === undefined ? null : window.__xss,
    violations: window.__mqViolations || [],
    elements: [...document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload], [onclick]')]
        .map(e => e.outerHTML.slice(0, 120)),
    links: [...document.querySelectorAll('a[href]')].filter(a =>
        /^\\s*javascript:/i.test(a.getAttribute('href')))
        .map(a => a.outerHTML.slice(0, 120)),
    scripts: [...document.scripts].filter(s =>
        /^\\s*window\\.__xss=/.test(s.textContent)).length,  // a payload's own
})"""


def _plant(url: str, demo_district) -> dict[str, int]:
    """Write the payloads into the layers (directly: the pages must hold whatever input checks let in)."""
    from geoalchemy2.shape import to_shape
    from sqlalchemy import select

    from api.security import hash_password
    from layers import placenames
    from layers.db import session
    from layers.load.demo import load_district
    from layers.models import Area, Facility, NetworkEdge, PlaceName, User, Water
    from pipeline import coverage
    from pipeline import scenarios as scenario_service

    with session(url, actor="pytest") as s:
        load_district(s, demo_district)
    with session(url, actor="pytest") as s:

        def first(model, *where):
            return s.scalars(
                select(model).where(*where).order_by(model.__table__.primary_key.columns[0])
            ).first()

        first(Area, Area.level == "district").name = HOSTILE["district"]
        first(Area, Area.level == "town").name = HOSTILE["town"]
        community = first(Area, Area.level == "community")
        community.name = HOSTILE["community"]
        grid = first(Area, Area.level == "grid_small")
        grid.name, grid.code = HOSTILE["grid"], HOSTILE["grid_code"]
        grid.worker_name = HOSTILE["worker_name"]  # worker_phone: the database takes work numbers only
        facility = first(Facility, Facility.type_code == "elderly_daycare", Facility.status == "open")
        facility.name, facility.address = HOSTILE["facility"], HOSTILE["address"]
        facility.opening_hours, facility.phone = HOSTILE["hours"], HOSTILE["phone"]
        facility.fees = HOSTILE["fees"]
        road = first(
            NetworkEdge, NetworkEdge.name.is_not(None), NetworkEdge.highway.in_(["primary", "secondary"])
        )
        for edge in s.scalars(select(NetworkEdge).where(NetworkEdge.name == road.name)):
            edge.name = HOSTILE["road"]
        first(Water, Water.name.is_not(None)).name = HOSTILE["water"]
        name = first(PlaceName, PlaceName.status == "standard", PlaceName.category == "natural_village")
        s.flush()
        placenames.rename(s, name.name_id, HOSTILE["place_name"], approval=HOSTILE["approval"])
        s.flush()
        s.refresh(name)
        name.pinyin, name.meaning = HOSTILE["pinyin"], HOSTILE["meaning"]
        for username, role in ((HOSTILE["admin"], "admin"), (HOSTILE["worker_user"], "grid_worker")):
            s.add(User(username=username, password_hash=hash_password(PASSWORD, rounds=4), role=role))
        where = to_shape(facility.geom)
        ids = {"facility": int(facility.facility_id), "grid": int(grid.area_id), "name": int(name.name_id)}
    with session(url, actor="pytest") as s:
        coverage.run_and_store(s, incremental=False)
        row = scenario_service.create(
            s,
            name=HOSTILE["scenario"],
            description=HOSTILE["description"],
            changes=[
                {
                    "op": "add",
                    "type_code": "elderly_daycare",
                    "lon": where.x + 0.001,
                    "lat": where.y,
                    "name": HOSTILE["change"],
                    "capacity": 30,
                }
            ],
            actor="pytest",
        )
        scenario_service.evaluate(s, row["scenario_id"], actor="pytest")
        ids["scenario"] = int(row["scenario_id"])
    return ids


@pytest.fixture(scope="module")
def hostile(fresh_db, demo_district, serve_database):
    url = fresh_db("xss")
    ids = _plant(url, demo_district)
    with serve_database(url) as base:
        yield base, ids


@pytest.fixture
def open_as(visit_at, hostile):
    base, _ = hostile

    def make(path: str, username: str | None = None, *, ready: bool = True):
        v = visit_at(base)
        v.dialogs = []
        v.page.on("dialog", lambda d: (v.dialogs.append(d.message), d.dismiss()))
        v.context.add_init_script(WATCH)
        if username is None:
            v.open(path, ready=ready)
        else:
            v.open(f"/login?next={quote(path, safe='/')}", ready=False)
            v.login(username, PASSWORD)
            if ready:
                v.page.wait_for_function(v.READY, timeout=60_000)
        return v

    return make


def _assert_inert(v, *texts: str, status: int = 200) -> None:
    """Nothing ran or was created, and each of ``texts`` reads as text on the page (answered ``status``)."""
    found = v.js(INJECTED)
    assert v.dialogs == []
    assert found == {"flag": None, "violations": [], "elements": [], "links": [], "scripts": 0}, found
    shown = v.js("() => document.body.innerText")
    for text in texts:
        assert text in shown, f"{text!r} is not shown as text"
    if status != 200:  # Chromium reports the page's own status as a console error
        v.errors.remove(
            f"console.error: Failed to load resource: the server responded with a status of {status} "
            "(Forbidden)"
        )
    v.assert_clean()


def _render_all(v) -> None:
    assert v.js(RENDER_ALL) > 0
    v.page.wait_for_timeout(300)  # image errors (and the handlers a payload would add) fire after loading


def test_public_map_for_anonymous_visitors(open_as, hostile):
    _, ids = hostile
    v = open_as("/")
    assert v.js("() => document.title") == f"民情地图 · {HOSTILE['district']} · 公共服务地图"
    # The hostile grid's popup, opened by a click inside it: its properties come from its vector tile.
    lat, lon = v.js(
        """(id) => fetch('/collections/grids/items/' + id).then(r => r.json()).then(f => {
        const b = L.geoJSON(f).getBounds().getCenter();
        window.minqing.state.map.setView(b, 17, {animate: false});
        return [b.lat, b.lng]; })""",
        ids["grid"],
    )
    v.idle()
    x, y = v.js(
        """([lat, lon]) => { const m = window.minqing.state.map, p = m.latLngToContainerPoint([lat, lon]),
        r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""",
        [lat, lon],
    )
    v.page.mouse.click(x, y)
    v.page.wait_for_selector(".leaflet-popup .mq-pop")
    grid_popup = v.page.inner_text(".leaflet-popup")
    v.js(
        """(id) => window.minqing.state.openFacility(id).then(() => true)""",
        ids["facility"],
    )
    v.page.wait_for_selector(".leaflet-popup .mq-pop")
    # read now: the isochrone below moves the map, and the pin (with its popup) is drawn again
    facility_popup = v.page.inner_text(".leaflet-popup")
    # The one search box lists facilities (name, address, type) as well as place names.
    v.page.fill("#mq-search-input", "日照")
    v.page.wait_for_selector("#mq-search-results li.mq-hit-facility")
    assert HOSTILE["facility"] in v.page.inner_text("#mq-search-results")
    # 离我最近的… from the facility itself: its name is listed, as text.
    v.js(
        """(id) => { const f = window.minqing.state.facilities[id];
        window.minqing.state.computeIsochrone(f.lat, f.lon); }""",
        ids["facility"],
    )
    v.page.wait_for_function("() => window.minqing.state.nearest")
    assert "error" not in v.js("() => window.minqing.state.nearest")
    assert HOSTILE["facility"] in v.page.inner_text("#mq-nearest-result")
    v.page.fill("#mq-search-input", "地名")
    v.page.wait_for_function(
        "() => { const l = document.getElementById('mq-search-results');"
        " return !l.hidden && l.dataset.q === '地名'; }"
    )
    _render_all(v)
    for text in (HOSTILE["grid"], HOSTILE["worker_name"], HOSTILE["town"], HOSTILE["community"]):
        assert text in grid_popup, grid_popup  # the grid's popup showed them as text
    for text in (HOSTILE["facility"], HOSTILE["address"], HOSTILE["hours"], HOSTILE["phone"]):
        assert text in facility_popup, facility_popup  # and the facility's popup
    _assert_inert(v, HOSTILE["district"], HOSTILE["place_name"], HOSTILE["pinyin"], HOSTILE["facility"])
    assert v.js("() => document.querySelector('.mq-district').textContent") == HOSTILE["district"]


def test_planner_map(open_as, hostile):
    _, ids = hostile
    v = open_as("/planner", HOSTILE["admin"])
    assert v.js("() => document.title") == f"民情地图 · {HOSTILE['district']} · 生活圈规划分析"
    assert v.js("() => document.querySelector('.mq-user').textContent") == HOSTILE["admin"]
    v.page.select_option("#mq-level", "grid_small")  # the grids' names (the map opens on communities)
    v.page.wait_for_function(
        "() => { const l = window.minqing.state.loaded; return l && l.level === 'grid_small'; }",
        timeout=60_000,
    )
    v.page.select_option("#mq-scenario", str(ids["scenario"]))
    v.page.wait_for_function(
        "(id) => { const s = window.minqing.state.scenario; return s && s.id == id && s.evaluated; }",
        arg=ids["scenario"],
        timeout=60_000,
    )
    _render_all(v)
    _assert_inert(
        v,
        HOSTILE["admin"],
        HOSTILE["description"],
        HOSTILE["change"],
        HOSTILE["facility"],
        HOSTILE["grid"],
        HOSTILE["community"],
    )
    options = v.js("() => [...document.querySelectorAll('#mq-scenario option')].map(o => o.textContent)")
    assert any(o.startswith(HOSTILE["scenario"]) for o in options), options


def test_planner_siting_and_scenario_editor(open_as, hostile):
    """A facility named and a scenario named on the map, and siting's place labels, stay text."""
    v = open_as("/planner", HOSTILE["admin"])
    v.page.click("#mq-edit-start")
    box = v.page.locator(".leaflet-container").first.bounding_box()
    v.js("""() => { const s = window.minqing.state, g = s.gapList[0], m = s.map;
        m.setView(g.getBounds().getCenter(), 16, {animate: false});
        m.panBy([-m.getSize().x * 0.25, 0], {animate: false}); }""")
    v.idle()
    v.page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.5)
    v.page.wait_for_selector(".leaflet-popup #mq-add-ok")
    typed = "新" + SVG + IMG
    v.page.fill(".leaflet-popup #mq-add-name", typed)
    v.page.click(".leaflet-popup #mq-add-ok")
    v.page.fill("#mq-edit-name", HOSTILE["scenario"] + "2")
    v.page.click("#mq-edit-save")
    v.page.wait_for_function(
        "() => { const s = window.minqing.state; return s.edited && s.scenario"
        " && s.scenario.id == s.edited.scenario && s.scenario.evaluated; }",
        timeout=180_000,
    )
    v.page.fill("#mq-site-k", "2")
    v.page.click("#mq-site-run")
    v.page.wait_for_function(
        "() => { const s = window.minqing.state.siting; return s && (s.sites !== undefined || s.error); }",
        timeout=180_000,
    )
    names = v.js("() => window.minqing.state.siting.names")
    assert names, v.js("() => window.minqing.state.siting")
    _render_all(v)
    _assert_inert(v, typed, *names)
    options = v.js("() => [...document.querySelectorAll('#mq-scenario option')].map(o => o.textContent)")
    assert HOSTILE["scenario"] + "2" in options, options


def test_placenames_map(open_as, hostile):
    _, ids = hostile
    v = open_as("/placenames", HOSTILE["admin"])
    assert v.js("() => document.title") == f"民情地图 · {HOSTILE['district']} · 地名管理"
    # the names' rows arrive after the first clustered tiles; openName goes to the name and opens its popup
    v.page.wait_for_function("(id) => window.minqing.state.names[id]", arg=ids["name"])
    v.js("(id) => window.minqing.state.openName(id)", ids["name"])
    v.page.wait_for_selector(".leaflet-popup ol.mq-history-list li", timeout=30_000)
    v.page.select_option("#mq-review-filter", "")
    _render_all(v)
    _assert_inert(
        v,
        HOSTILE["admin"],
        HOSTILE["place_name"],
        HOSTILE["approval"],
        HOSTILE["meaning"],
        HOSTILE["district"],
    )


def test_forbidden_and_login_pages(open_as):
    v = open_as("/planner", HOSTILE["worker_user"], ready=False)
    assert "无权访问" in v.js("() => document.title")
    _assert_inert(v, HOSTILE["worker_user"], status=403)
    evil = '/"><script>window.__xss=7</script>'
    v = open_as("/login?next=" + quote(evil, safe=""), ready=False)
    assert v.js("() => document.querySelector('input[name=next]').value") == evil
    _assert_inert(v)
