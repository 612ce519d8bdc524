"""The task queue: background jobs on procrastinate, in the project's own PostgreSQL.

Why procrastinate (3.x) rather than pgqueuer: a job is deferred on the request's own connection, so
it is committed or rolled back with the row it computes (``configure(connection=...)``); a task
names a lock, so one coverage run computes at a time in the whole service whatever the number of
workers; retries follow a strategy; periodic tasks are cron lines; workers write heartbeats and the
jobs of a worker that stopped can be found and taken up again; its schema is plain SQL that our
Alembic migration 0020 installs (schema ``procrastinate``); synchronous tasks (all of ours) run in
threads of the worker. pgqueuer is async-only, newer, and has no per-task lock.

``defer`` queues a job in the caller's transaction; ``work`` runs a worker (``minqing worker``, or
in-process in the tests); ``recover`` sends the jobs of stopped workers back to the queue. The tasks
themselves are in ``pipeline.tasks``.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import procrastinate
from procrastinate.manager import JobManager
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from layers.db import database_url
from settings import job_settings

log = logging.getLogger("minqing.queue")

SCHEMA = "procrastinate"
TASKS: dict[str, dict[str, Any]] = {
    "coverage_run": {"queue": "coverage", "lock": "coverage"},
    "scenario_evaluate": {"queue": "coverage", "lock": "coverage"},
    "siting": {"queue": "siting", "lock": "siting"},
    "sign_sheets": {"queue": "placenames", "lock": "sign_sheets"},
    "import": {"queue": "imports", "lock": "imports"},
    "escalate_overdue": {"queue": "events", "lock": "escalate"},
    "recover_stalled": {"queue": "maintenance", "lock": "recover"},
    "purge_rate_limits": {"queue": "maintenance", "lock": "purge"},
    "remove_old_jobs": {"queue": "maintenance", "lock": "remove_old_jobs"},
}
"""Each task's queue and lock (one job of a lock runs at a time across every worker)."""
RETRY = procrastinate.RetryStrategy(max_attempts=3, exponential_wait=5)
"""Jobs hit by a transient error (the database went away) are tried again: after 5 s, 25 s, 125 s."""

app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=["pipeline.tasks"])
"""The queue's app; ``work`` gives it a connector to the database it serves."""

_in_transaction = JobManager(procrastinate.SyncPsycopgConnector())
"""Defers on a connection handed to it (never opens a pool of its own)."""


def conninfo(url: str | None = None) -> str:
    """A libpq connection string for ``url`` (a SQLAlchemy URL; default: DATABASE_URL)."""
    return make_url(url or database_url()).set(drivername="postgresql").render_as_string(hide_password=False)


def defer(s: Session, task: str, **kwargs: Any) -> int:
    """Queue ``task(**kwargs)`` in the transaction of ``s``: the job exists once ``s`` commits, and
    not at all if it rolls back. Returns the queue's job id."""
    connection = s.connection().connection.driver_connection
    path = s.execute(text("SELECT current_setting('search_path')")).scalar_one()
    s.execute(text("SELECT set_config('search_path', :p, true)"), {"p": f"{SCHEMA}, {path}"})
    try:
        deferrer = app.configure_task(task, allow_unknown=True, connection=connection, **TASKS[task])
        deferrer.job_manager = _in_transaction
        return deferrer.defer(**kwargs)
    finally:
        s.execute(text("SELECT set_config('search_path', :p, true)"), {"p": path})


def connector(url: str | None = None) -> procrastinate.PsycopgConnector:
    """A connector of the worker to ``url``, its connections looking in the queue's schema first."""
    return procrastinate.PsycopgConnector(
        conninfo=conninfo(url), kwargs={"options": f"-c search_path={SCHEMA},public"}
    )


def work(
    url: str | None = None,
    *,
    wait: bool = True,
    concurrency: int = 2,
    queues: list[str] | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Run a worker on ``url``'s queue until it is stopped (SIGINT/SIGTERM: it finishes the jobs it
    has), or, ``wait=False``, until nothing is left to do. Jobs of stopped workers go back to the
    queue first. Its heartbeat is written every quarter of MINQING_JOB_STALE_SECONDS."""
    url = url or database_url()
    stale = job_settings().job_stale_seconds
    recover_now(url)
    with app.replace_connector(connector(url)):
        app.run_worker(
            wait=wait,
            concurrency=concurrency,
            queues=queues,
            listen_notify=wait,
            install_signal_handlers=install_signal_handlers,
            update_heartbeat_interval=stale / 4,
            stalled_worker_timeout=stale,
            additional_context={"database_url": url},
            name="minqing-worker",
        )


async def recover(manager: JobManager, *, stale_after_s: float | None = None) -> list[int]:
    """Send back to the queue every job being done by a worker that has not beaten for
    ``stale_after_s`` (default MINQING_JOB_STALE_SECONDS): its process stopped. Their ids."""
    stale = job_settings().job_stale_seconds if stale_after_s is None else stale_after_s
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=stale))
    for job in stalled:
        await manager.retry_job(job)
    if stalled:
        log.warning("jobs of stopped workers sent back to the queue: %s", [j.id for j in stalled])
    return [j.id for j in stalled if j.id is not None]


def recover_now(url: str | None = None, *, stale_after_s: float | None = None) -> list[int]:
    """``recover`` on ``url``'s queue, from synchronous code (a worker starting, the tests)."""

    async def run() -> list[int]:
        with app.replace_connector(connector(url)):
            async with app.open_async():
                return await recover(app.job_manager, stale_after_s=stale_after_s)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    # called from a thread whose event loop is running (e.g. under Playwright's sync API): its own thread
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()
