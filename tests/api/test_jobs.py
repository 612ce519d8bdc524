"""Coverage runs and siting as background jobs on the task queue: 202 + Location, queued → running →
done | failed, one coverage run at a time (409), lost jobs, and their audit.

A job started over HTTP waits in the queue until a real worker (``drain``: procrastinate's worker in
this process, on the test database) has done it; the in-between states are observed by calling the
job runner with a spy as its computation, from a second connection.
"""

from __future__ import annotations

import pytest
from api_fixture import PASSWORD, asgi_client, drain, fresh_database, load_fixture_district, make_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from geo.siting import SitingError
from layers import jobs as job_table
from layers.db import session
from pipeline import jobs

POINTS = {"kind": "points", "points": [[113.22, 22.55], [113.27, 22.55]]}


@pytest.fixture(scope="module")
def jobs_db(db_url) -> str:
    url = fresh_database(db_url, make_url(db_url).database + "_jobs")
    load_fixture_district(url)
    return url


@pytest.fixture(scope="module")
def client(jobs_db):
    from api.main import create_app

    with asgi_client(create_app(make_settings(), database_url=jobs_db)) as c:
        yield c


@pytest.fixture(scope="module")
def planner(client) -> dict[str, str]:
    token = client.post("/auth/token", data={"username": "planner", "password": PASSWORD}).json()[
        "access_token"
    ]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def other(jobs_db):
    """A second connection (what another request or server process would see)."""
    engine = create_engine(jobs_db)

    def scalar(sql: str, **params):
        with engine.connect() as con:
            return con.execute(text(sql), params).scalar_one()

    yield scalar
    engine.dispose()


@pytest.fixture(autouse=True)
def no_active_runs(jobs_db):
    """Each test starts without queued or running runs and jobs."""
    yield
    with session(jobs_db) as s:
        s.execute(text("UPDATE coverage_runs SET status = 'failed' WHERE status IN ('queued', 'running')"))
        s.execute(text("UPDATE jobs SET status = 'failed' WHERE status IN ('queued', 'running')"))


def _queue(url: str, **params) -> int:
    with session(url, actor="planner") as s:
        return jobs.queue_coverage_run(
            s, types=params.get("types"), full=params.get("full", False), actor="planner"
        )["run_id"]


# --- coverage runs -----------------------------------------------------------------------------------


def test_post_answers_202_and_the_run_finishes_in_the_background(jobs_db, client, planner):
    r = client.post("/coverage/runs", json={"types": ["kindergarten"]}, headers=planner)
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    assert r.json()["status"] == "queued" and r.headers["location"] == f"/coverage/runs/{run_id}"
    assert client.get(r.headers["location"], headers=planner).json()["status"] == "queued"  # no worker yet
    drain(jobs_db)
    done = client.get(r.headers["location"], headers=planner).json()
    assert done["status"] == "done" and done["error"] is None and done["finished_at"]
    assert done["summary"]["types"]["kindergarten"]["population"] == 1100 + 820 + 800 + 7


def test_states_queued_running_done(jobs_db, other):
    run_id = _queue(jobs_db, types=["kindergarten"])
    assert other("SELECT status FROM coverage_runs WHERE run_id = :r", r=run_id) == "queued"
    seen = []

    def spy(s, rid, params):
        seen.append(other("SELECT status FROM coverage_runs WHERE run_id = :r", r=rid))
        jobs._compute_run(s, rid, params)

    jobs.run_coverage_job(jobs_db, run_id, compute=spy)
    assert seen == ["running"]
    assert other("SELECT status FROM coverage_runs WHERE run_id = :r", r=run_id) == "done"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (SitingError("facility type 'x' has no service circle"), "facility type 'x' has no service circle"),
        (ZeroDivisionError("secret SQL detail"), "internal error (ZeroDivisionError)"),
    ],
)
def test_a_failing_run_is_failed_with_its_error(jobs_db, client, planner, error, shown):
    run_id = _queue(jobs_db)

    def boom(s, rid, params):
        raise error

    jobs.run_coverage_job(jobs_db, run_id, compute=boom)
    row = client.get(f"/coverage/runs/{run_id}", headers=planner).json()
    assert row["status"] == "failed" and shown in row["error"]
    assert "secret SQL detail" not in row["error"]
    # the failed one blocks nothing
    assert client.post("/coverage/runs", json={}, headers=planner).status_code == 202


def test_a_second_start_while_one_is_queued_is_409_naming_it(jobs_db, client, planner):
    run_id = _queue(jobs_db)
    r = client.post("/coverage/runs", json={}, headers=planner)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["details"] == {"run_id": run_id} and f"coverage run {run_id} is queued" in err["message"]
    assert r.headers["location"] == f"/coverage/runs/{run_id}"
    drain(jobs_db)
    assert client.get(f"/coverage/runs/{run_id}", headers=planner).json()["status"] == "done"
    assert client.post("/coverage/runs", json={}, headers=planner).status_code == 202


def test_a_run_computing_in_a_worker_is_409(jobs_db, client, planner):
    """A worker computes: its run says running."""
    run_id = _queue(jobs_db)
    with session(jobs_db) as s:
        assert job_table.claim_run(s, run_id) is not None
    r = client.post("/coverage/runs", json={}, headers=planner)
    assert r.status_code == 409 and r.json()["error"]["details"] == {"run_id": run_id}


def test_a_run_the_queue_gave_up_on_is_failed_and_replaced(jobs_db, client, planner, other):
    run_id = _queue(jobs_db)
    with session(jobs_db) as s:
        job_table.claim_run(s, run_id)
    queue_job = other("SELECT queue_job_id FROM coverage_runs WHERE run_id = :r", r=run_id)
    with session(jobs_db) as s:  # the queue's worker failed it for good (its retries used up)
        s.execute(
            text("UPDATE procrastinate.procrastinate_jobs SET status = 'failed' WHERE id = :q"),
            {"q": queue_job},
        )
    r = client.post("/coverage/runs", json={}, headers=planner)
    assert r.status_code == 202, r.text
    lost = client.get(f"/coverage/runs/{run_id}", headers=planner).json()
    assert lost["status"] == "failed" and "任务已中断" in lost["error"] and "gave up" in lost["error"]


def test_starting_a_run_is_audited(jobs_db, client, planner):
    run_id = client.post("/coverage/runs", json={"full": True}, headers=planner).json()["run_id"]
    token = client.post("/auth/token", data={"username": "admin", "password": PASSWORD}).json()[
        "access_token"
    ]
    audit = client.get(
        "/audit",
        params={"layer": "coverage_runs", "action": "start", "object_id": str(run_id)},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    [entry] = audit["items"]
    assert entry["actor"] == "planner" and entry["after"]["full"] is True
    drain(jobs_db)


def test_scenario_creation_and_evaluation_are_audited(client, planner):
    body = {"name": "审计情景", "changes": [{"op": "close", "facility_id": 1}], "evaluate": True}
    r = client.post("/scenarios", json=body, headers=planner)
    assert r.status_code == 201, r.text
    scenario_id = str(r.json()["scenario_id"])
    token = client.post("/auth/token", data={"username": "admin", "password": PASSWORD}).json()[
        "access_token"
    ]
    items = client.get(
        "/audit",
        params={"layer": "scenarios", "object_id": scenario_id},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["items"]
    actions = {e["action"]: e for e in items}
    assert actions["insert"]["actor"] == "planner" and actions["insert"]["after"]["name"] == "审计情景"
    assert actions["evaluate"]["actor"] == "planner"
    assert actions["evaluate"]["after"]["run_id"] == r.json()["result"]["run_id"]


# --- siting ------------------------------------------------------------------------------------------


def test_siting_is_a_job(jobs_db, client, planner):
    r = client.post(
        "/siting", json={"type_code": "kindergarten", "k": 1, "candidates": POINTS}, headers=planner
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued" and r.headers["location"] == f"/siting/jobs/{r.json()['job_id']}"
    drain(jobs_db)
    job = client.get(r.headers["location"], headers=planner).json()
    assert job["status"] == "done", job
    plan = job["result"]["maximal_covering"]
    assert plan["k"] == 1 and plan["gap"] == 0 and plan["sites"]["type"] == "FeatureCollection"
    assert job["params"]["candidates"]["points"] == POINTS["points"]


def test_siting_checks_the_request_before_queueing(client, planner, other):
    before = other("SELECT count(*) FROM jobs")
    outside = {"kind": "points", "points": [[113.22, 22.55], [120.0, 30.0]]}
    r = client.post(
        "/siting", json={"type_code": "kindergarten", "k": 1, "candidates": outside}, headers=planner
    )
    assert r.status_code == 422
    assert "outside the district" in r.json()["error"]["message"] and "#2" in r.json()["error"]["message"]
    r = client.post("/siting", json={"type_code": "nope", "k": 1}, headers=planner)
    assert r.status_code == 422 and "kindergarten" in r.json()["error"]["message"]
    assert other("SELECT count(*) FROM jobs") == before
    assert client.get("/siting/jobs/999999", headers=planner).status_code == 404


def test_a_failing_siting_job_reports_its_error(jobs_db, client, planner):
    with session(jobs_db) as s:
        job_id = jobs.queue_siting(s, params={"type_code": "kindergarten"}, actor="planner")["job_id"]

    def boom(s, params):
        raise SitingError("no candidate sites (gaps): send points or parcels, or lower spacing_m")

    jobs.run_job(jobs_db, job_id, "siting", boom, actor="planner")
    job = client.get(f"/siting/jobs/{job_id}", headers=planner).json()
    assert job["status"] == "failed" and "no candidate sites" in job["error"] and job["result"] is None


def test_too_many_waiting_siting_jobs_is_503(jobs_db, client, planner):
    with session(jobs_db) as s:
        for _ in range(jobs.MAX_SITING_QUEUE):
            jobs.queue_siting(s, params={}, actor="planner")
    r = client.post(
        "/siting", json={"type_code": "kindergarten", "k": 1, "candidates": POINTS}, headers=planner
    )
    assert r.status_code == 503 and r.headers["retry-after"] == "10"
