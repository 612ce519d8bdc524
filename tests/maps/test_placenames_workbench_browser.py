"""The place-name officer's workbench on /placenames, in headless Chromium, on a demo database of its own
(the actions change names: the shared demo database stays as the other map tests expect it).

Every action is done as a person would (list view or a marker's popup, typing into the form) and then
checked through the API (GET /placenames/{id}, /placenames/checks, /placenames/signs) and the audit log
(GET /audit as admin), never through the page's own state alone.
"""

from __future__ import annotations

import subprocess

import httpx
import pytest

pytestmark = pytest.mark.browser

ROLES = {
    "wb_officer": "placename_officer",
    "wb_admin": "admin",
    "wb_planner": "planner",
    "wb_worker": "grid_worker",
    "wb_dispatcher": "dispatcher",
    "wb_department": "department",
}
PASSWORD = "workbench-test-password"


@pytest.fixture(scope="module")
def wb_base(fresh_db, demo_district, serve_database):
    """The service on a database of its own with the demo district and one account per role."""
    from api.security import hash_password
    from layers import users as accounts
    from layers.db import session
    from layers.load.demo import load_district

    url = fresh_db("workbench")
    with session(url, actor="pytest") as s:
        load_district(s, demo_district)
        for name, role in ROLES.items():
            accounts.create(
                s,
                username=name,
                password_hash=hash_password(PASSWORD, rounds=4),
                role=role,
                department="民政局" if role == "department" else None,
            )
    with serve_database(url) as base:
        _warm(base)
        yield base


def _warm(base: str) -> None:
    """Build the page for the current data (a change rebuilds it) before a browser waits for it."""
    with httpx.Client(base_url=base, timeout=600) as c:
        c.post("/auth/login", data={"username": "wb_officer", "password": PASSWORD, "next": "/"})
        assert c.get("/placenames").status_code == 200


@pytest.fixture
def api(wb_base):
    opened: list[httpx.Client] = []

    def make(username: str) -> httpx.Client:
        c = httpx.Client(base_url=wb_base, timeout=180)
        r = c.post("/auth/login", data={"username": username, "password": PASSWORD, "next": "/"})
        assert r.status_code in (200, 303), r.text
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def officer(visit_at, wb_base):
    _warm(wb_base)
    v = visit_at(wb_base)
    v.signed_in("/placenames", "wb_officer", PASSWORD)
    return v


def _choose(v, name_id: int, status: str = "", flag: str = "") -> None:
    """Pick a name in the work list (filtered) and wait for its form in the panel."""
    v.page.select_option("#mq-work-status", status)
    v.page.select_option("#mq-work-flag", flag)
    for _ in range(100):
        if v.page.locator(f"#mq-work li[data-id='{name_id}']").count() or not v.page.is_visible(
            "#mq-work-more"
        ):
            break
        v.page.click("#mq-work-more")
    v.page.click(f"#mq-work li[data-id='{name_id}']")
    v.page.wait_for_selector("#mq-work-detail [data-wb] form[data-act]", state="attached")


def _submit(v, scope: str, act: str, values: dict[str, str]) -> str:
    """Open the action, fill it in, submit, and return the message the page shows once it is done."""
    box = f"{scope} form[data-act={act}]"
    v.page.click(f"{scope} details:has(form[data-act={act}]) summary")
    for name, value in values.items():
        field = v.page.locator(f"{box} [name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    before = v.js("() => [window.minqing.state.done || 0, window.minqing.state.conflicts || 0]")
    v.page.click(f"{box} button[type=submit]")
    v.page.wait_for_function(
        """(b) => { const s = window.minqing.state;
        return (s.done || 0) > b[0] || (s.conflicts || 0) > b[1]
            || !!document.querySelector('.mq-wb-msg.mq-wb-error'); }""",
        arg=before,
    )
    v.page.wait_for_function(
        """(s) => { const e = document.querySelector(s + ' .mq-wb-msg');
        return e && e.textContent && !/正在提交/.test(e.textContent); }""",
        arg=scope,
    )
    return v.page.inner_text(f"{scope} .mq-wb-msg")


def _legend(v, result: str) -> int:
    """The count the legend shows for a check result."""
    return int(v.page.inner_text(f"#mq-results [data-count={result}]"))


def _audit(api, name_id: int, layer: str = "place_names") -> list[dict]:
    r = api("wb_admin").get("/audit", params={"layer": layer, "object_id": str(name_id), "limit": 50})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_controls_only_for_roles_that_may_change_names(visit_at, wb_base):
    for user, role in ROLES.items():
        v = visit_at(wb_base)
        v.open("/login?next=/placenames", ready=False)
        v.login(user, PASSWORD)
        if role in ("placename_officer", "admin"):
            v.page.wait_for_function(v.READY, timeout=60_000)
            assert v.page.is_visible("#mq-workbench"), role
            assert v.js("() => window.minqing.state.canEdit") is True
            assert v.js("() => window.minqing.state.work.total") > 0
            _sign_sheet_links(v)
        else:
            assert "无权访问" in v.page.inner_text("h1"), role
            assert v.page.locator("#mq-workbench, form[data-act]").count() == 0, role
            v.errors = [e for e in v.errors if "status of 403" not in e]  # the 403 page itself
        v.assert_clean()
    anonymous = httpx.get(wb_base + "/placenames", follow_redirects=False)
    assert anonymous.status_code == 303 and "mq-workbench" not in anonymous.text


def _sign_sheet_links(v) -> None:
    """The sign sheets of the chosen 镇街 download from the workbench (XLSX fetched; the PDF's own test reads
    the PDF back)."""
    towns = v.js(
        "() => [...document.querySelectorAll('#mq-work-town option')].map(o => o.value).filter(Boolean)"
    )
    v.page.select_option("#mq-work-town", towns[0])
    href = v.page.get_attribute("#mq-work-pdf", "href")
    assert href.startswith("/placenames/signs?format=pdf&town=") and "全区" not in v.page.inner_text(
        "#mq-work-scope"
    )
    xlsx = v.page.request.get(v.base + v.page.get_attribute("#mq-work-xlsx", "href"))
    assert xlsx.ok and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    from io import BytesIO

    from openpyxl import load_workbook

    assert load_workbook(BytesIO(xlsx.body())).sheetnames == [towns[0]]
    v.page.select_option("#mq-work-town", "")


def test_approve_a_pending_name_from_the_list(officer, api):
    created = api("wb_officer").post(
        "/placenames",
        json={
            "name": "新港路",
            "category": "road",
            "geometry": {
                "type": "Point",
                "coordinates": officer.js(
                    "() => { const n = window.minqing.state.data.find(n => n.category === 'road'); "
                    "return [n.lon, n.lat]; }"
                ),
            },
        },
    )
    assert created.status_code == 201, created.text
    name_id = created.json()["name_id"]
    assert created.json()["approval"] == "待审批"
    v = officer
    _warm(v.base)
    v.page.reload()
    v.page.wait_for_function(v.READY, timeout=60_000)
    _choose(v, name_id, status="pending")
    assert v.js("() => window.minqing.state.work.total") >= 1
    pending = int(v.page.inner_text("[data-count=pending]"))
    assert pending >= 1
    message = _submit(v, "#mq-work-detail", "approve", {"approval": "澄府地〔2026〕31号 2026-06-01"})
    assert "已批准" in message, message
    # The legend's count of names awaiting approval follows at once, without reloading the page.
    assert int(v.page.inner_text("[data-count=pending]")) == pending - 1
    record = api("wb_officer").get(f"/placenames/{name_id}").json()
    assert record["approval"] == "澄府地〔2026〕31号 2026-06-01" and record["status"] == "standard"
    changes = [e for e in _audit(api, name_id) if e["action"] == "update"]
    assert any(
        e["actor"] == "wb_officer" and e["after"]["approval"] == record["approval"] for e in changes
    ), changes
    # The list no longer holds it under 待审批.
    v.page.select_option("#mq-work-status", "pending")
    assert v.page.locator(f"#mq-work li[data-id='{name_id}']").count() == 0
    v.assert_clean()


def test_a_stale_edit_is_refused_in_chinese_and_the_record_reloaded(officer, api):
    v = officer
    name_id = v.js("""() => window.minqing.state.data.find(n => n.status === 'standard' && !n.heritage
        && n.sign_present && n.category === 'road').id""")
    _choose(v, name_id)
    etag = v.js("(i) => window.minqing.state.names[i].mqName.etag", name_id)
    # Someone else changes the name after the page read it.
    other = api("wb_admin").patch(
        f"/placenames/{name_id}", json={"meaning": "他人同时修改"}, headers={"If-Match": etag}
    )
    assert other.status_code == 200, other.text
    message = _submit(v, "#mq-work-detail", "sign", {"sign_present": "false"})
    assert "已被他人修改" in message and "重新读取" in message, message
    assert v.js("(i) => window.minqing.state.names[i].mqName.etag", name_id) == other.headers["ETag"]
    assert api("wb_officer").get(f"/placenames/{name_id}").json()["sign_present"] is True  # nothing written
    # With the reloaded version the same change goes through.
    message = _submit(v, "#mq-work-detail", "sign", {"sign_present": "false"})
    assert "已保存" in message, message
    assert api("wb_officer").get(f"/placenames/{name_id}").json()["sign_present"] is False
    signs = api("wb_officer").get("/placenames/signs", params={"status": "待设置"}).json()
    assert name_id in {s["name_id"] for s in signs}
    v.errors = [e for e in v.errors if "status of 412" not in e]  # the refused request, logged by the browser
    v.assert_clean()


def test_review_decision_from_the_list_clears_the_flag(officer, api):
    v = officer
    flagged = api("wb_officer").get("/placenames/checks").json()
    target = next(
        c
        for c in flagged
        if any(f["code"] != "duplicate" for f in c["findings"])
        and c["status"] != "historical"
        and len(c["findings"]) == 1
    )
    name_id = target["name_id"]
    _choose(v, name_id, flag="any")
    was = v.js("(i) => window.minqing.state.names[i].mqName.result", name_id)
    before = {k: _legend(v, k) for k in (was, "ok", "missing_sign")}
    message = _submit(v, "#mq-work-detail", "review", {"decision": "豁免", "note": "经核实为传统地名"})
    assert "已记录审核决定" in message, message
    # The legend moves the name from its old result to its new one (no reload).
    now = v.js("(i) => window.minqing.state.names[i].mqName.result", name_id)
    assert now in ("ok", "missing_sign") and now != was
    assert _legend(v, was) == before[was] - 1 and _legend(v, now) == before[now] + 1
    label = v.page.inner_text(f"#mq-review-filter option[value={was}]")
    assert label.endswith(f"（{before[was] - 1}）"), label
    after = {c["name_id"] for c in api("wb_officer").get("/placenames/checks").json()}
    assert name_id not in after
    reviews = _audit(api, name_id, layer="place_name_reviews")
    assert any(e["actor"] == "wb_officer" and e["after"]["decision"] == "豁免" for e in reviews), reviews
    # The page shows it as reviewed: no longer among the names with findings.
    v.page.select_option("#mq-work-flag", "any")
    assert v.page.locator(f"#mq-work li[data-id='{name_id}']").count() == 0
    v.assert_clean()


def test_heritage_rename_is_flagged_and_needs_the_assessment(officer, api):
    v = officer
    name_id = v.js("() => window.minqing.state.data.find(n => n.heritage && n.status !== 'historical').id")
    old = api("wb_officer").get(f"/placenames/{name_id}").json()["name"]
    # From the marker's popup, as on the map.
    v.js("(i) => { const s = window.minqing.state; s.openName(s.names[i]); }", name_id)
    v.page.wait_for_selector(".leaflet-popup [data-wb] form[data-act=rename]", state="attached")
    assert "地名文化遗产" in v.page.inner_text(".leaflet-popup .mq-wb-heritage")
    assert v.page.locator(".leaflet-popup form[data-act=rename] [name=heritage_review]").count() == 1
    message = _submit(
        v,
        ".leaflet-popup",
        "rename",
        {
            "new_name": old + "新",
            "approval": "澄府地〔2026〕32号",
            "heritage_review": "澄地遗论〔2026〕3号 2026-05-20",
        },
    )
    assert "已更名" in message, message
    record = api("wb_officer").get(f"/placenames/{name_id}").json()
    assert record["name"] == old + "新" and "地名文化遗产论证" in record["approval"]
    renames = [e for e in _audit(api, name_id) if e["action"] == "update" and e["actor"] == "wb_officer"]
    assert any(e["before"]["name"] == old and e["after"]["name"] == old + "新" for e in renames), renames
    v.assert_clean()


def test_retire_from_the_popup_puts_the_sign_on_the_work_list(officer, api):
    v = officer
    name_id = v.js("""() => window.minqing.state.data.find(n => n.status === 'standard' && !n.heritage
        && n.sign_present && n.category === 'lane').id""")
    v.js("(i) => { const s = window.minqing.state; s.openName(s.names[i]); }", name_id)
    v.page.wait_for_selector(".leaflet-popup [data-wb] form[data-act=retire]", state="attached")
    message = _submit(v, ".leaflet-popup", "retire", {"approval": "澄府地〔2026〕33号 2026-06-02"})
    assert "已销名" in message, message
    assert api("wb_officer").get(f"/placenames/{name_id}").json()["status"] == "historical"
    signs = api("wb_officer").get("/placenames/signs", params={"status": "待拆除"}).json()
    assert name_id in {s["name_id"] for s in signs}
    assert v.js("(i) => window.minqing.state.names[i].mqName.result", name_id) == "historical"
    assert any(
        e["actor"] == "wb_officer" and e["after"]["status"] == "historical" for e in _audit(api, name_id)
    )
    v.assert_clean()


def test_sign_sheets_pdf_is_drawn_in_the_background_with_progress(officer, api):
    """The workbench's PDF link starts a job on the task queue, shows its progress and downloads the PDF."""
    v = officer
    plan = api("wb_officer").get("/placenames/signs").json()
    towns: dict[str, int] = {}
    for row in plan:
        if row["town"]:
            towns[row["town"]] = towns.get(row["town"], 0) + 1
    town = min(towns, key=towns.get)  # the fewest pages
    v.page.select_option("#mq-work-town", town)
    seen: list[dict] = []
    v.page.expose_function("__mqSheets", lambda s: seen.append(s))
    v.js("""() => { let last = null; setInterval(() => { const s = window.minqing.state.sheets;
        const key = JSON.stringify(s || null);
        if (key !== last) { last = key; window.__mqSheets(s); } }, 50); }""")
    with v.page.expect_download(timeout=300_000) as download:
        v.page.click("#mq-work-pdf")
        v.page.wait_for_selector("#mq-work-pdf-job progress", state="visible")
    path = download.value.path()
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    pages = -(-towns[town] // 18)  # 18 signs a page
    assert len(text.rstrip("\f").split("\f")) == pages
    assert f"{town} 地名标志工作单" in text
    v.page.wait_for_function("() => /已生成/.test(document.querySelector('#mq-work-pdf-job').textContent)")
    assert v.js(
        "() => [document.querySelector('#mq-work-pdf-job progress').value, "
        "document.querySelector('#mq-work-pdf-job progress').max]"
    ) == [1, 1]
    done = [s for s in seen if s and s.get("status") == "done"]
    assert done and done[-1]["progress"] == {"done": pages, "total": pages, "unit": "页"}, seen
    # The job it ran is the one the API lists as done, for this town.
    assert "已生成" in v.page.inner_text("#mq-work-pdf-job") and town in v.page.inner_text("#mq-work-pdf-job")
    v.assert_clean()
