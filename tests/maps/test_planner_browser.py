"""The planner map in headless Chromium against the demo district (coverage computed once per session)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.browser

PLANNER = "maps_planner"


@pytest.fixture(scope="session")
def coverage_run(demo_db) -> int:
    """The demo district's coverage, computed once for the planner tests (the run the page shows)."""
    from api.services import coverage as service
    from layers import store
    from layers.db import session

    with session(demo_db, actor="pytest") as s:
        run = store.latest_run(s)
        if run is None or store.is_stale(s, run):
            service.run_and_store(s, incremental=False)
            run = store.latest_run(s)
        return int(run["run_id"])


def test_planner_refuses_anonymous_users(server):
    for path in ("/planner", "/placenames"):
        r = httpx.get(server + path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}"


def test_planner_login_then_map(visit, users, coverage_run):
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
    assert state["types"] > 5 and state["levels"] == 5 and state["user"] == PLANNER
    loaded = state["loaded"]
    assert loaded and "error" not in loaded, loaded
    assert loaded["type"] == "elderly_daycare" and loaded["areas"] > 0 and loaded["facilities"] > 0
    v.shot("planner")
    v.assert_clean()
