"""Long planner computations as background jobs: coverage runs and siting.

``POST /coverage/runs`` and ``POST /siting`` queue a job in the request's transaction and answer
202 at once; the job runs after the response in a worker thread of the same server process
(FastAPI background task) and records running → done / failed (with the error text). Each kind
runs one at a time across every server process (``layers.jobs.exclusive``: an advisory lock
held while computing); a coverage run asked for while one is queued or running is refused (409
naming it), siting jobs queue up to ``MAX_SITING_QUEUE``.

A running job's worker writes a heartbeat every quarter of ``MINQING_JOB_STALE_SECONDS`` (a thread
of its own, ``heartbeat``). ``reap`` marks failed, with a reason in Chinese, every running job whose
heartbeat is older than that: a job left behind by a server process that died. It runs at start-up,
when a run or siting job is started and whenever one is looked at; it also fails jobs running, or
queued past a grace, while no worker holds their kind's lock (``lock_free``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from api.settings import job_settings
from layers import audit, jobs, store
from layers.db import session
from pipeline.errors import AlreadyRunning, Busy, PipelineError

log = logging.getLogger("minqing.jobs")

MAX_SITING_QUEUE = 4
LOST = ("任务已中断: 运行它的服务进程已停止 — the server process running this job stopped before it finished: "
        "start it again "
        "(POST /coverage/runs, POST /siting)")


def reaped_reason(stale_after_s: float) -> str:
    """What a planner reads on a job whose worker died."""
    return (f"任务已中断: 运行它的服务进程已停止 (超过 {stale_after_s:g} 秒没有心跳), 请重新发起 — the server "
            f"process running this job stopped (no heartbeat for over {stale_after_s:g} s): start it again "
            "(POST /coverage/runs, POST /siting)")


def reap(s: Session, *, stale_after_s: float | None = None) -> dict[str, list[int]]:
    """Mark failed every running job without a heartbeat for ``stale_after_s`` (default: the setting
    MINQING_JOB_STALE_SECONDS); per table, the ids marked."""
    limit = job_settings().job_stale_seconds if stale_after_s is None else stale_after_s
    reaped = jobs.reap(s, stale_after_s=limit, reason=reaped_reason(limit))
    # and, whatever the heartbeats say, jobs running (or queued past the grace) while no worker
    # holds their kind's lock: their process is gone
    _live_runs(s)
    _live_jobs(s, "siting")
    if any(reaped.values()):
        log.warning("jobs left behind by a stopped process marked failed: %s", reaped)
    return reaped


def reap_at_startup(url: str | None) -> None:
    """``reap`` once when the service starts (a database not reachable yet is only logged)."""
    try:
        with session(url, actor="job-reaper") as s:
            reap(s)
    except Exception as e:  # the service must start even when the database is not up yet
        log.warning("could not check for jobs left behind at start-up: %r", e)


@contextmanager
def heartbeat(url: str | None, table: str, job_id: int, *, every_s: float | None = None) -> Iterator[None]:
    """While the block runs, write the job's heartbeat every ``every_s`` seconds (default: a quarter
    of MINQING_JOB_STALE_SECONDS) from a thread of its own, each in a transaction of its own; the
    heartbeat row is dropped when the block ends."""
    every = every_s if every_s is not None else job_settings().job_stale_seconds / 4
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                with session(url, actor="job-heartbeat") as s:
                    jobs.beat(s, table, job_id)
            except Exception as e:  # a missed beat is retried at the next one
                log.warning("heartbeat of %s %s not written: %r", table, job_id, e)

    thread = threading.Thread(target=loop, name=f"minqing-heartbeat-{table}-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        try:
            with session(url, actor="job-heartbeat") as s:
                jobs.forget_beat(s, table, job_id)
        except Exception as e:
            log.warning("heartbeat of %s %s not dropped: %r", table, job_id, e)


class RunInProgress(AlreadyRunning):
    """A coverage run is already queued or running."""


# --- coverage runs --------------------------------------------------------------------------------


def queue_coverage_run(s: Session, *, types: list[str] | None, full: bool, actor: str,
                       snap_max_m: float | None = None) -> dict[str, Any]:
    """Queue a base coverage run (recorded in the audit log as ``start``); its row.

    Raises ``RunInProgress`` naming the run already queued or running.
    """
    jobs.serialise_queue(s)
    reap(s)
    active = _live_runs(s)
    if active:
        run_id = active[0]["run_id"]
        raise RunInProgress(f"coverage run {run_id} is {active[0]['status']}: one run at a time",
                            fix=f"wait for it (GET /coverage/runs/{run_id}) and start another if the data "
                                "changed since", details={"run_id": run_id}, see=_run_url(run_id))
    params = {"types": types, "full": full, "actor": actor, "snap_max_m": snap_max_m}
    run_id = jobs.queue_run(s, params=params)
    audit.record(s, actor=actor, action="start", layer="coverage_runs", object_id=run_id, after=params)
    row = store.run(s, run_id)
    assert row is not None
    return row


def _live_jobs(s: Session, kind: str) -> list[dict[str, Any]]:
    """Queued/running jobs of ``kind``, after failing those whose worker is gone (lock free)."""
    active = jobs.active_jobs(s, kind)
    if active and jobs.lock_free(s, kind):
        lost = [j["job_id"] for j in active if j["status"] == "running" or j["waited"]]
        jobs.fail_jobs(s, lost, LOST)
        active = [j for j in active if j["job_id"] not in lost]
    return active


def _live_runs(s: Session) -> list[dict[str, Any]]:
    """Queued/running base runs, after failing those whose worker is gone."""
    active = jobs.active_runs(s)
    if active and jobs.lock_free(s, "coverage"):
        lost = [r["run_id"] for r in active if r["status"] == "running" or r["waited"]]
        jobs.fail_runs(s, lost, LOST)
        active = [r for r in active if r["run_id"] not in lost]
    return active


def run_coverage_job(url: str | None, run_id: int, *,
                     compute: Callable[[Session, int, dict[str, Any]], Any] | None = None) -> None:
    """Claim and compute queued run ``run_id`` (one computing worker at a time, any process).

    ``compute(session, run_id, params)`` stores the results and marks the run done (default: the
    coverage service); any exception marks the run failed with its message.
    """
    compute = compute or _compute_run
    with jobs.exclusive(url, "coverage"):
        with session(url, actor="coverage-job") as s:
            params = jobs.claim_run(s, run_id)
        if params is None:
            return  # not queued any more (failed as lost, or taken)
        with heartbeat(url, "coverage_runs", run_id):
            try:
                with session(url, actor=params.get("actor") or "coverage-job") as s:
                    compute(s, run_id, params)
            except Exception as e:  # the job's failure is data for the planner, not a crash of the server
                log.exception("coverage run %s failed", run_id)
                with session(url, actor="coverage-job") as s:
                    jobs.fail_runs(s, [run_id], error_text(e))


def _compute_run(s: Session, run_id: int, params: dict[str, Any]) -> None:
    from pipeline.coverage import RunConfig, run_and_store

    config = RunConfig.from_settings(snap_max_m=params.get("snap_max_m"))
    run_and_store(s, types=params.get("types"), incremental=not params.get("full"),
                  actor=params.get("actor") or "coverage-job", config=config, run_id=run_id)


def _run_url(run_id: int) -> str:
    return f"/coverage/runs/{run_id}"


# --- siting ---------------------------------------------------------------------------------------


def queue_siting(s: Session, *, params: dict[str, Any], actor: str) -> dict[str, Any]:
    """Queue a siting job (audited as ``start``); its row. ``Busy`` when too many are waiting."""
    jobs.serialise_queue(s)
    reap(s)
    active = _live_jobs(s, "siting")
    if len(active) >= MAX_SITING_QUEUE:
        raise Busy(f"{len(active)} siting jobs are queued or running", fix="retry when one has finished "
                   f"(GET /siting/jobs/{active[0]['job_id']})", retry_after_s=10)
    job_id = jobs.create_job(s, kind="siting", params=params, actor=actor)
    audit.record(s, actor=actor, action="start", layer="jobs", object_id=job_id, after={"kind": "siting", **params})
    row = jobs.job(s, job_id, kind="siting")
    assert row is not None
    return row


def run_job(url: str | None, job_id: int, kind: str, compute: Callable[[Session, dict[str, Any]], dict[str, Any]],
            *, actor: str) -> None:
    """Claim and run queued job ``job_id``: ``compute(session, params)`` returns the result JSON."""
    with jobs.exclusive(url, kind):
        with session(url, actor=actor) as s:
            params = jobs.claim_job(s, job_id)
        if params is None:
            return
        with heartbeat(url, "jobs", job_id):
            try:
                with session(url, actor=actor) as s:
                    result = compute(s, params)
                    jobs.finish_job(s, job_id, result)
            except Exception as e:
                log.exception("%s job %s failed", kind, job_id)
                with session(url, actor=actor) as s:
                    jobs.fail_jobs(s, [job_id], error_text(e))


def error_text(exc: BaseException) -> str:
    """What a planner reads about a failed job: our own errors say what to fix; others only their kind
    (the details go to the server log, never SQL or a stack trace to the client)."""
    from geo.errors import GeoError
    from layers.errors import LayersError

    if isinstance(exc, PipelineError | GeoError | LayersError):
        fix = getattr(exc, "fix", None)
        return f"{exc}" + (f" — {fix}" if fix else "")
    return f"internal error ({type(exc).__name__}); the server log has the details"
