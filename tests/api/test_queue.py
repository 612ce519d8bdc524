"""The task queue (procrastinate) under the jobs: deferred with the request's transaction, jobs that
survive a restart of server and worker, jobs of a stopped worker taken up again, retries of
transient errors only, and the periodic 超时升级 of overdue 民情事件.

Every worker here is real: ``minqing worker`` as a process of its own, or procrastinate's worker in
this process (``drain``), on the test PostGIS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from api_fixture import (
    PASSWORD,
    asgi_client,
    drain,
    fresh_database,
    load_fixture_district,
    make_settings,
    worker_process,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url

from layers.db import session
from pipeline import events, jobs, queue, tasks


@pytest.fixture(scope="module")
def queue_db(db_url) -> str:
    url = fresh_database(db_url, make_url(db_url).database + "_queue")
    load_fixture_district(url)
    return url


@pytest.fixture(autouse=True)
def nothing_active(queue_db):
    yield
    with session(queue_db) as s:
        s.execute(text("UPDATE coverage_runs SET status = 'failed' WHERE status IN ('queued', 'running')"))
        s.execute(text("UPDATE jobs SET status = 'failed' WHERE status IN ('queued', 'running')"))
        s.execute(text("DELETE FROM procrastinate.procrastinate_jobs WHERE status IN ('todo', 'doing')"))


def _one(url: str, sql: str, **params):
    with session(url) as s:
        return s.execute(text(sql), params).one()


def _queue_run(url: str) -> int:
    with session(url, actor="planner") as s:
        return jobs.queue_coverage_run(s, types=["kindergarten"], full=False, actor="planner")["run_id"]


def _poll(url: str, run_id: int, *, until: str, seconds: float = 120) -> str:
    import time

    deadline = time.monotonic() + seconds
    while True:
        status = _one(url, "SELECT status FROM coverage_runs WHERE run_id = :r", r=run_id).status
        if status == until or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_a_job_is_deferred_with_the_request_and_rolled_back_with_it(queue_db):
    before = _one(queue_db, "SELECT count(*) AS n FROM procrastinate.procrastinate_jobs").n
    with pytest.raises(RuntimeError), session(queue_db, actor="planner") as s:
        jobs.queue_coverage_run(s, types=None, full=False, actor="planner")
        raise RuntimeError("the request fails after queueing")
    assert _one(queue_db, "SELECT count(*) AS n FROM procrastinate.procrastinate_jobs").n == before
    run_id = _queue_run(queue_db)
    row = _one(
        queue_db,
        "SELECT q.status, q.queue_name, q.lock, q.task_name, q.args FROM coverage_runs r "
        "JOIN procrastinate.procrastinate_jobs q ON q.id = r.queue_job_id WHERE r.run_id = :r",
        r=run_id,
    )
    assert (row.status, row.queue_name, row.lock, row.task_name) == (
        "todo",
        "coverage",
        "coverage",
        "coverage_run",
    )
    assert row.args == {"run_id": run_id}


def test_a_job_queued_while_no_worker_runs_survives_a_restart_and_is_done_by_a_worker_process(queue_db):
    from api.main import create_app

    with asgi_client(create_app(make_settings(), database_url=queue_db)) as c:
        token = c.post("/auth/token", data={"username": "planner", "password": PASSWORD}).json()[
            "access_token"
        ]
        r = c.post(
            "/coverage/runs", json={"types": ["kindergarten"]}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]  # the server has stopped; no worker has run
    with asgi_client(create_app(make_settings(), database_url=queue_db)) as c:
        # a new server process starts (and checks for lost jobs): the run still waits, and the
        # health check says no worker is there to take it
        assert c.get("/healthz").json()["workers"] == 0
        assert (
            _one(queue_db, "SELECT status FROM coverage_runs WHERE run_id = :r", r=run_id).status == "queued"
        )
        with worker_process(queue_db) as proc:
            status = _poll(queue_db, run_id, until="done")
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert c.get("/healthz").json()["workers"] == 1
        assert c.get("/healthz").json()["workers"] == 0  # stopped with SIGTERM: it signed off
    assert status == "done"
    assert (
        _one(
            queue_db,
            "SELECT q.status FROM coverage_runs r JOIN procrastinate.procrastinate_jobs q "
            "ON q.id = r.queue_job_id WHERE r.run_id = :r",
            r=run_id,
        ).status
        == "succeeded"
    )


def test_the_job_of_a_worker_that_stopped_is_taken_up_again(queue_db):
    """A worker took the job (running, queue job doing) and died: no heartbeat since."""
    run_id = _queue_run(queue_db)
    with session(queue_db) as s:
        dead = s.execute(
            text(
                "INSERT INTO procrastinate.procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '1 hour') RETURNING id"
            )
        ).scalar_one()
        s.execute(
            text(
                "UPDATE procrastinate.procrastinate_jobs SET status = 'doing', worker_id = :w "
                "WHERE id = (SELECT queue_job_id FROM coverage_runs WHERE run_id = :r)"
            ),
            {"w": dead, "r": run_id},
        )
        s.execute(text("UPDATE coverage_runs SET status = 'running' WHERE run_id = :r"), {"r": run_id})
    with session(queue_db) as s:
        assert jobs.reap(s)["coverage_runs"] == []  # its queue job is not over: not lost
    queue_job = _one(
        queue_db, "SELECT queue_job_id FROM coverage_runs WHERE run_id = :r", r=run_id
    ).queue_job_id
    assert queue.recover_now(queue_db, stale_after_s=4000) == []  # its worker beat within that: alive
    # what the periodic task does every minute, and a worker when it starts
    assert queue.recover_now(queue_db, stale_after_s=60) == [queue_job]
    assert (
        _one(
            queue_db, "SELECT status FROM procrastinate.procrastinate_jobs WHERE id = :q", q=queue_job
        ).status
        == "todo"
    )
    drain(queue_db)
    assert _one(queue_db, "SELECT status FROM coverage_runs WHERE run_id = :r", r=run_id).status == "done"


def test_transient_errors_are_retried_and_others_are_the_jobs_outcome(queue_db):
    run_id = _queue_run(queue_db)

    def connection_lost(s, rid, params):
        raise sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    with pytest.raises(sa_exc.OperationalError):
        jobs.run_coverage_job(queue_db, run_id, compute=connection_lost, may_retry=True)
    assert _one(queue_db, "SELECT status FROM coverage_runs WHERE run_id = :r", r=run_id).status == "queued"
    jobs.run_coverage_job(queue_db, run_id, compute=connection_lost, may_retry=False)  # the last attempt
    row = _one(queue_db, "SELECT status, error FROM coverage_runs WHERE run_id = :r", r=run_id)
    assert row.status == "failed" and "OperationalError" in row.error and "server closed" not in row.error

    other = _queue_run(queue_db)

    def bad_data(s, rid, params):
        raise ValueError("no homes")

    jobs.run_coverage_job(queue_db, other, compute=bad_data, may_retry=True)  # not transient: no retry
    assert _one(queue_db, "SELECT status FROM coverage_runs WHERE run_id = :r", r=other).status == "failed"
    assert tasks.RETRY.max_attempts == 3


def test_overdue_events_are_escalated_by_the_periodic_task(queue_db):
    settings = events.EventSettings()
    reported = datetime.now(UTC) - timedelta(days=30)
    with session(queue_db, actor="pytest") as s:
        event, _ = events.create(
            s,
            settings,
            category="other",
            description="路灯坏了很久",
            lon=113.21,
            lat=22.54,
            address=None,
            phone=None,
            source="staff",
            reported_by="pytest",
            now=reported,
        )
    before = _one(
        queue_db, "SELECT level, overdue, escalations FROM events WHERE event_id = :e", e=event["event_id"]
    )
    assert before.overdue is False and before.escalations == 0
    periodic = {p.task.name: p for p in tasks.app.periodic_registry.periodic_tasks.values()}
    assert periodic["escalate_overdue"].cron == tasks.ESCALATE_CRON == "*/5 * * * *"
    with session(queue_db) as s:  # what the periodic deferrer of a worker queues every five minutes
        queue.defer(s, "escalate_overdue", timestamp=int(datetime.now(UTC).timestamp()))
    drain(queue_db)
    after = _one(
        queue_db, "SELECT level, overdue, escalations FROM events WHERE event_id = :e", e=event["event_id"]
    )
    assert after.overdue is True and after.escalations == 1 and after.level != before.level


def test_maintenance_tasks_drop_week_old_queue_jobs_and_expired_rate_limit_counts(queue_db):
    old = _queue_run(queue_db)
    drain(queue_db)
    recent = _queue_run(queue_db)
    drain(queue_db)
    jobs_of = {
        r: _one(queue_db, "SELECT queue_job_id FROM coverage_runs WHERE run_id = :r", r=r).queue_job_id
        for r in (old, recent)
    }
    with session(queue_db) as s:
        s.execute(
            text(
                "UPDATE procrastinate.procrastinate_events SET at = now() - interval '8 days' "
                "WHERE job_id = :q"
            ),
            {"q": jobs_of[old]},
        )
        s.execute(
            text(
                "INSERT INTO ratelimit.counters (key, hits, expires_at) VALUES "
                "('gone', 3, now() - interval '1 second'), ('kept', 3, now() + interval '1 hour')"
            )
        )
        now = int(datetime.now(UTC).timestamp())
        queue.defer(s, "remove_old_jobs", timestamp=now)  # what the worker's periodic deferrer queues
        queue.defer(s, "purge_rate_limits", timestamp=now)
    drain(queue_db)
    left = _one(
        queue_db,
        "SELECT array_agg(id) AS ids FROM procrastinate.procrastinate_jobs WHERE id = ANY(:q)",
        q=list(jobs_of.values()),
    ).ids
    assert left == [jobs_of[recent]]
    # ours stay
    assert _one(queue_db, "SELECT status FROM coverage_runs WHERE run_id = :r", r=old).status == "done"
    assert _one(
        queue_db, "SELECT array_agg(key) AS k FROM ratelimit.counters WHERE key IN ('gone', 'kept')"
    ).k == ["kept"]
