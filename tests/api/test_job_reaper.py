"""Issue 14.10: a job whose server process died does not show "running" for ever.

A dead runner is simulated by a row that says running with an old heartbeat (its process would
have refreshed it every quarter of the limit). The reaper marks it failed with a Chinese reason at
start-up, when a run or siting job is started and when one is looked at; live jobs (fresh
heartbeat, or their row locked by the computing transaction) are left alone.
"""

from __future__ import annotations

import threading

import pytest
from api_fixture import PASSWORD, asgi_client, fresh_database, load_fixture_district, make_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.settings import job_settings
from layers import jobs as job_table
from layers.db import session
from pipeline import jobs

LIMIT = job_settings().job_stale_seconds


@pytest.fixture(scope="module")
def reaper_db(db_url) -> str:
    url = fresh_database(db_url, make_url(db_url).database + "_reaper")
    load_fixture_district(url)
    return url


@pytest.fixture(scope="module")
def app(reaper_db):
    from api.main import create_app

    return create_app(make_settings(), database_url=reaper_db)


@pytest.fixture(scope="module")
def client(app):
    with asgi_client(app) as c:
        yield c


@pytest.fixture(scope="module")
def planner(client) -> dict[str, str]:
    token = client.post("/auth/token", data={"username": "planner", "password": PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def nothing_active(reaper_db):
    yield
    with session(reaper_db) as s:
        s.execute(text("UPDATE coverage_runs SET status = 'failed' WHERE status IN ('queued', 'running')"))
        s.execute(text("UPDATE jobs SET status = 'failed' WHERE status IN ('queued', 'running')"))
        s.execute(text("DELETE FROM job_heartbeats"))


def _running_run(url: str, *, beat_seconds_ago: float | None) -> int:
    """A base run that says running, claimed by a runner that last beat that long ago (None: now)."""
    with session(url, actor="planner") as s:
        run_id = jobs.queue_coverage_run(s, types=None, full=False, actor="planner")["run_id"]
        assert job_table.claim_run(s, run_id) is not None
        if beat_seconds_ago is not None:
            _age(s, "coverage_runs", run_id, beat_seconds_ago)
    return run_id


def _running_siting(url: str, *, beat_seconds_ago: float | None) -> int:
    with session(url, actor="planner") as s:
        job_id = jobs.queue_siting(s, params={}, actor="planner")["job_id"]
        assert job_table.claim_job(s, job_id) is not None
        if beat_seconds_ago is not None:
            _age(s, "jobs", job_id, beat_seconds_ago)
    return job_id


def _age(s, table: str, job_id: int, seconds: float) -> None:
    key = job_table.JOB_TABLES[table]
    s.execute(text("UPDATE job_heartbeats SET beat_at = now() - make_interval(secs => :a) "
                   "WHERE job_table = :t AND job_id = :j"), {"a": seconds, "t": table, "j": job_id})
    s.execute(text(f"UPDATE {table} SET started_at = now() - make_interval(secs => :a) WHERE {key} = :j"),
              {"a": seconds + 60, "j": job_id})


def _status(url: str, table: str, job_id: int) -> tuple[str, str | None]:
    key = job_table.JOB_TABLES[table]
    with session(url) as s:
        row = s.execute(text(f"SELECT status, error FROM {table} WHERE {key} = :j"), {"j": job_id}).one()
    return row.status, row.error


def test_looking_at_a_run_whose_runner_died_shows_it_failed_in_chinese(reaper_db, client, planner):
    dead = _running_run(reaper_db, beat_seconds_ago=LIMIT + 30)
    r = client.get(f"/coverage/runs/{dead}", headers=planner)
    assert r.status_code == 200, r.text
    row = r.json()
    assert row["status"] == "failed" and row["finished_at"]
    assert "任务已中断" in row["error"] and "心跳" in row["error"] and f"{LIMIT:g}" in row["error"]
    with session(reaper_db) as s:
        assert job_table.last_beat(s, "coverage_runs", dead) is None  # its heartbeat row is gone


def test_a_run_with_a_fresh_heartbeat_stays_running(reaper_db, client, planner):
    alive = _running_run(reaper_db, beat_seconds_ago=LIMIT / 2)  # late, but within the limit
    with job_table.exclusive(reaper_db, "coverage"):  # its runner, computing in another process
        assert client.get(f"/coverage/runs/{alive}", headers=planner).json()["status"] == "running"
        r = client.post("/coverage/runs", json={}, headers=planner)
        assert r.status_code == 409 and r.json()["error"]["details"] == {"run_id": alive}


def test_starting_a_run_reaps_the_dead_one_first(reaper_db):
    dead = _running_run(reaper_db, beat_seconds_ago=LIMIT * 3)
    with job_table.exclusive(reaper_db, "coverage"), session(reaper_db, actor="planner") as s:
        # another process holds the coverage lock (so the lock-based check cannot tell the run is
        # lost); the heartbeat can: the dead run is failed and the new one queued, not refused
        queued = jobs.queue_coverage_run(s, types=None, full=False, actor="planner")
    assert queued["status"] == "queued"
    assert _status(reaper_db, "coverage_runs", dead)[0] == "failed"
    assert "心跳" in _status(reaper_db, "coverage_runs", dead)[1]


def test_a_siting_job_whose_runner_died_is_failed_when_looked_at(reaper_db, client, planner):
    dead = _running_siting(reaper_db, beat_seconds_ago=LIMIT + 1)
    job = client.get(f"/siting/jobs/{dead}", headers=planner).json()
    assert job["status"] == "failed" and "任务已中断" in job["error"]


def test_the_service_reaps_at_start_up(reaper_db):
    from api.main import create_app

    with job_table.exclusive(reaper_db, "coverage"), job_table.exclusive(reaper_db, "siting"):
        # (queueing reaps: their workers hold the locks while both are made, then they die)
        dead_run = _running_run(reaper_db, beat_seconds_ago=None)
        dead_job = _running_siting(reaper_db, beat_seconds_ago=None)
    with session(reaper_db) as s:
        _age(s, "coverage_runs", dead_run, LIMIT + 5)
        _age(s, "jobs", dead_job, LIMIT + 5)
    assert _status(reaper_db, "coverage_runs", dead_run)[0] == "running"
    with asgi_client(create_app(make_settings(), database_url=reaper_db)):
        pass  # start-up and shut-down only: no request
    assert _status(reaper_db, "coverage_runs", dead_run)[0] == "failed"
    assert _status(reaper_db, "jobs", dead_job)[0] == "failed"


def test_a_row_locked_by_its_computing_transaction_is_never_reaped_nor_waited_for(reaper_db):
    """The computation holds its run's row (store.start_run): alive, whatever the heartbeat says."""
    run_id = _running_run(reaper_db, beat_seconds_ago=LIMIT + 60)
    engine = create_engine(reaper_db)
    try:
        with job_table.exclusive(reaper_db, "coverage"), engine.connect() as computing:  # its worker: alive
            computing.execute(text("SELECT 1 FROM coverage_runs WHERE run_id = :r FOR UPDATE"), {"r": run_id})
            with session(reaper_db) as s:
                s.execute(text("SET LOCAL lock_timeout = '5s'"))  # a wait would fail the test, not hang it
                assert run_id not in jobs.reap(s)["coverage_runs"]
            computing.rollback()
    finally:
        engine.dispose()
    with session(reaper_db) as s:
        assert jobs.reap(s)["coverage_runs"] == [run_id]  # released: now it is reaped


def test_the_reaper_uses_the_configured_limit(reaper_db):
    run_id = _running_run(reaper_db, beat_seconds_ago=100)
    with job_table.exclusive(reaper_db, "coverage"), session(reaper_db) as s:  # (a worker holds the lock)
        assert jobs.reap(s, stale_after_s=200)["coverage_runs"] == []
        assert jobs.reap(s, stale_after_s=50)["coverage_runs"] == [run_id]
    status, error = _status(reaper_db, "coverage_runs", run_id)
    assert status == "failed" and "超过 50 秒没有心跳" in error


def test_a_running_job_beats_and_drops_its_heartbeat_when_done(reaper_db):
    run_id = _running_run(reaper_db, beat_seconds_ago=LIMIT + 100)  # as if claimed long ago
    beats = []
    changed = threading.Event()

    def watch():
        for _ in range(400):
            with session(reaper_db) as s:
                beat = job_table.last_beat(s, "coverage_runs", run_id)
            if beats and beat != beats[-1]:
                beats.append(beat)
                changed.set()
                return
            beats.append(beat)
            changed.wait(0.05)

    with jobs.heartbeat(reaper_db, "coverage_runs", run_id, every_s=0.05):
        watcher = threading.Thread(target=watch)
        watcher.start()
        watcher.join(timeout=60)
        assert changed.is_set(), "the heartbeat never moved"
        with session(reaper_db) as s:
            assert jobs.reap(s)["coverage_runs"] == []  # fresh now: alive
    assert beats[-1] > beats[0]
    with session(reaper_db) as s:
        assert job_table.last_beat(s, "coverage_runs", run_id) is None


def test_the_job_runner_beats_while_it_computes(reaper_db):
    with session(reaper_db, actor="planner") as s:
        run_id = jobs.queue_coverage_run(s, types=["kindergarten"], full=False, actor="planner")["run_id"]
    seen = []

    def spy(s, rid, params):
        with session(reaper_db) as other:
            seen.append(job_table.last_beat(other, "coverage_runs", rid))
        jobs._compute_run(s, rid, params)

    jobs.run_coverage_job(reaper_db, run_id, compute=spy)
    assert seen and seen[0] is not None  # claimed with a heartbeat
    assert _status(reaper_db, "coverage_runs", run_id)[0] == "done"
    with session(reaper_db) as s:
        assert job_table.last_beat(s, "coverage_runs", run_id) is None


def test_a_run_left_queued_or_running_without_a_worker_is_failed_when_looked_at(reaper_db, client, planner):
    """No heartbeat needed when nobody holds the kind's lock: the run's process is gone."""
    run_id = _running_run(reaper_db, beat_seconds_ago=None)  # a fresh heartbeat, but no worker
    row = client.get(f"/coverage/runs/{run_id}", headers=planner).json()
    assert row["status"] == "failed" and "任务已中断" in row["error"] and "stopped before it finished" in row["error"]
