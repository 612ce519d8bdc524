"""Long computations as background jobs on the task queue: coverage runs, siting and sign sheets (PDF).

``POST /coverage/runs`` and ``POST /siting`` write the job's row (status queued) and its task-queue
job in the request's transaction and answer 202 at once; a worker of the queue (``minqing worker``,
``pipeline.tasks``) claims the row (running), computes, and marks it done, or failed with the error
text. Each kind computes one at a time across every worker (the task's lock); a coverage run asked
for while one is queued or running is refused (409 naming it), siting jobs queue up to
``MAX_SITING_QUEUE``.

Jobs survive restarts: a queued job waits in the database until a worker takes it; a job whose
worker stopped goes back to the queue (``pipeline.queue.recover``) and is computed again. Only a
transient database error is retried; any other failure is the job's outcome. ``reap`` marks failed,
with a reason in Chinese, a row whose queue job ended without finishing it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from geo.errors import GeoError
from layers import audit, jobs, queries, store
from layers.db import session
from layers.errors import LayersError, NotFound
from pipeline import queue
from pipeline.coverage import RunConfig, run_and_store, store_run_isochrones
from pipeline.errors import AlreadyRunning, Busy, Invalid, PipelineError
from pipeline.signsheets import sign_sheets
from settings import job_settings

log = logging.getLogger("minqing.jobs")

MAX_SITING_QUEUE = 4
LOST = (
    "任务已中断: 后台任务未能完成它, 请重新发起 — the task queue gave up on this job before it finished: "
    "start it again (POST /coverage/runs, POST /siting, POST /placenames/signs/jobs, POST /imports/{layer})"
)
TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, psycopg.OperationalError)
"""Errors of the connection, not of the job: the queue tries the job again."""


def reap(s: Session) -> dict[str, list[int]]:
    """Mark failed every queued or running row whose queue job will not finish it; per table, the
    ids marked."""
    reaped = jobs.reap(s, reason=LOST)
    if any(reaped.values()):
        log.warning("jobs the queue will not finish marked failed: %s", reaped)
    return reaped


def reap_at_startup(url: str | None) -> None:
    """``reap`` once when the service starts (a database not reachable yet is only logged)."""
    try:
        with session(url, actor="job-reaper") as s:
            reap(s)
    except Exception as e:  # the service must start even when the database is not up yet
        log.warning("could not check for jobs left behind at start-up: %r", e)


class RunInProgress(AlreadyRunning):
    """A coverage run is already queued or running."""


# --- coverage runs --------------------------------------------------------------------------------


def queue_coverage_run(
    s: Session, *, types: list[str] | None, full: bool, actor: str, snap_max_m: float | None = None
) -> dict[str, Any]:
    """Queue a base coverage run (recorded in the audit log as ``start``) with its queue job; its row.

    Raises ``RunInProgress`` naming the run already queued or running.
    """
    jobs.serialise_queue(s)
    reap(s)
    active = jobs.active_runs(s)
    if active:
        run_id = active[0]["run_id"]
        raise RunInProgress(
            f"coverage run {run_id} is {active[0]['status']}: one run at a time",
            fix=f"wait for it (GET /coverage/runs/{run_id}) and start another if the data changed since",
            details={"run_id": run_id},
            see=_run_url(run_id),
        )
    params = {"types": types, "full": full, "actor": actor, "snap_max_m": snap_max_m}
    run_id = jobs.queue_run(s, params=params)
    jobs.set_queue_job(s, "coverage_runs", run_id, queue.defer(s, "coverage_run", run_id=run_id))
    audit.record(s, actor=actor, action="start", layer="coverage_runs", object_id=run_id, after=params)
    row = store.run(s, run_id)
    assert row is not None
    return row


def queue_scenario_evaluation(s: Session, scenario_id: int, *, actor: str) -> int:
    """Queue the evaluation of saved scenario ``scenario_id`` as ``actor`` in the transaction of ``s``
    (a worker of the queue evaluates it, one coverage computation at a time); the queue's job id."""
    return queue.defer(s, "scenario_evaluate", scenario_id=scenario_id, actor=actor)


def live_workers(s: Session) -> int:
    """How many workers of the queue are alive (their heartbeat is recent)."""
    return jobs.live_workers(s, stale_after_s=job_settings().job_stale_seconds)


def run_coverage_job(
    url: str | None,
    run_id: int,
    *,
    compute: Callable[[Session, int, dict[str, Any]], Any] | None = None,
    may_retry: bool = False,
) -> None:
    """Claim and compute queued run ``run_id`` (a worker of the queue does, one at a time).

    ``compute(session, run_id, params)`` stores the results and marks the run done (default: the
    coverage service); an exception marks the run failed with its message, except a transient one
    while ``may_retry``: the run waits again and the exception goes to the queue, which retries.
    """
    late_isochrones = compute is None
    compute = compute or _compute_run
    with session(url, actor="coverage-job") as s:
        params = jobs.claim_run(s, run_id)
    if params is None:
        return  # not queued any more (failed as lost)
    actor = params.get("actor") or "coverage-job"
    try:
        with session(url, actor=actor) as s:
            compute(s, run_id, params)
    except Exception as e:  # the job's failure is data for the planner, not a crash of the worker
        record_failure(url, "coverage_runs", run_id, e, may_retry=may_retry)
        return
    if late_isochrones:  # the run is done and shown; its facility isochrones follow
        try:
            with session(url, actor=actor) as s:
                store_run_isochrones(s, run_id, config=_run_config(params))
        except Exception:  # noqa: BLE001 - the run stands; the isochrone route computes meanwhile
            log.exception(
                "覆盖分析 %s 的设施等时圈未能存储 storing run %s's isochrones failed", run_id, run_id
            )


def _run_config(params: dict[str, Any]) -> RunConfig:
    return RunConfig.from_settings(snap_max_m=params.get("snap_max_m"))


def _compute_run(s: Session, run_id: int, params: dict[str, Any]) -> None:
    run_and_store(
        s,
        types=params.get("types"),
        incremental=not params.get("full"),
        actor=params.get("actor") or "coverage-job",
        config=_run_config(params),
        run_id=run_id,
        isochrones=False,
    )


def _run_url(run_id: int) -> str:
    return f"/coverage/runs/{run_id}"


# --- siting ---------------------------------------------------------------------------------------


def queue_siting(s: Session, *, params: dict[str, Any], actor: str) -> dict[str, Any]:
    """Queue a siting job (audited as ``start``) with its queue job; its row. ``Busy`` when too many
    are waiting."""
    jobs.serialise_queue(s)
    reap(s)
    active = jobs.active_jobs(s, "siting")
    if len(active) >= MAX_SITING_QUEUE:
        raise Busy(
            f"{len(active)} siting jobs are queued or running",
            fix=f"retry when one has finished (GET /siting/jobs/{active[0]['job_id']})",
            retry_after_s=10,
        )
    job_id = jobs.create_job(s, kind="siting", params=params, actor=actor)
    jobs.set_queue_job(s, "jobs", job_id, queue.defer(s, "siting", job_id=job_id, actor=actor))
    audit.record(
        s, actor=actor, action="start", layer="jobs", object_id=job_id, after={"kind": "siting", **params}
    )
    row = jobs.job(s, job_id, kind="siting")
    assert row is not None
    return row


def run_job(
    url: str | None,
    job_id: int,
    kind: str,
    compute: Callable[[Session, dict[str, Any]], dict[str, Any] | tuple[dict[str, Any], bytes]],
    *,
    actor: str,
    may_retry: bool = False,
) -> None:
    """Claim and run queued job ``job_id``: ``compute(session, params)`` returns the result JSON, or the
    result JSON and the file the job made (failures as ``run_coverage_job``)."""
    with session(url, actor=actor) as s:
        params = jobs.claim_job(s, job_id)
    if params is None:
        return
    try:
        with session(url, actor=actor) as s:
            result = compute(s, params)
            result, output = result if isinstance(result, tuple) else (result, None)
            jobs.finish_job(s, job_id, result, output=output)
    except Exception as e:
        record_failure(url, "jobs", job_id, e, may_retry=may_retry)


# --- sign sheets (地名标志工作单, PDF) ----------------------------------------------------------------

SIGN_SHEETS = "sign_sheets"
KEEP_SHEETS_HOURS = 24
"""A finished job's PDF can be downloaded for a day."""


def queue_sign_sheets(s: Session, *, town: str | None, sign_status: str | None, actor: str) -> dict[str, Any]:
    """Queue the sign sheets of ``town`` / ``sign_status`` as a job (audited as ``start``); its row.

    The same sheets already queued or running are that job (a second click starts nothing), so the work
    waiting is bounded by the district's towns × sign statuses; an unknown ``town`` is ``Invalid``.
    """
    if town is not None:
        towns = sorted(queries.areas(s, levels=("town",), with_geometry=False)["name"])
        if town not in towns:
            raise Invalid(
                f"town {town!r} is not a 镇街 of this district",
                fix=f"use one of {'、'.join(towns) or '(none yet)'}, or none for the whole district",
            )
    jobs.serialise_queue(s)
    reap(s)
    jobs.drop_old_outputs(s, SIGN_SHEETS, older_than_hours=KEEP_SHEETS_HOURS)
    params = {"town": town, "sign_status": sign_status}
    same = jobs.same_active_job(s, SIGN_SHEETS, params)
    if same is not None:
        return same
    job_id = jobs.create_job(s, kind=SIGN_SHEETS, params=params, actor=actor)
    jobs.set_queue_job(s, "jobs", job_id, queue.defer(s, SIGN_SHEETS, job_id=job_id, actor=actor))
    audit.record(
        s, actor=actor, action="start", layer="jobs", object_id=job_id, after={"kind": SIGN_SHEETS, **params}
    )
    row = jobs.job(s, job_id, kind=SIGN_SHEETS)
    assert row is not None
    return row


class SheetsNotReady(AlreadyRunning):
    """A sign-sheet job is still queued or running: its PDF is not there yet."""


def sign_sheets_job(s: Session, job_id: int) -> dict[str, Any]:
    """Sign-sheet job ``job_id`` (``NotFound`` when there is none)."""
    row = jobs.job(s, job_id, kind=SIGN_SHEETS)
    if row is None:
        raise NotFound(f"sign-sheet job {job_id} does not exist: POST /placenames/signs/jobs starts one")
    return row


def sign_sheets_pdf(s: Session, job_id: int) -> bytes:
    """The PDF of finished sign-sheet job ``job_id``: ``SheetsNotReady`` (409) while it is drawn, ``Invalid``
    when it failed, ``NotFound`` when unknown or its PDF is older than ``KEEP_SHEETS_HOURS``."""
    row = sign_sheets_job(s, job_id)
    if row["status"] in jobs.ACTIVE:
        raise SheetsNotReady(
            f"sign-sheet job {job_id} is {row['status']}: its PDF is not drawn yet",
            fix=f"wait until GET /placenames/signs/jobs/{job_id} says done",
        )
    if row["status"] != "done":
        raise Invalid(
            f"sign-sheet job {job_id} failed: {row['error'] or 'no reason recorded'}",
            fix="start the sheets again (POST /placenames/signs/jobs)",
        )
    body = jobs.job_output(s, job_id, kind=SIGN_SHEETS)
    if body is None:
        raise NotFound(
            f"the PDF of sign-sheet job {job_id} is no longer kept (only for {KEEP_SHEETS_HOURS} "
            "hours): start the sheets again (POST /placenames/signs/jobs)"
        )
    return body


def run_sign_sheets_job(url: str | None, job_id: int, *, actor: str, may_retry: bool = False) -> None:
    """Draw queued sign-sheet job ``job_id``; its progress (pages done / total) is written page by page,
    each in a short transaction of its own so that the job's URL shows it while drawing goes on."""

    def progress(done: int, total: int) -> None:
        with session(url, actor=actor) as s:
            jobs.set_progress(s, job_id, {"done": done, "total": total, "unit": "页"})

    def compute(s: Session, params: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        body = sign_sheets(
            s, town=params.get("town"), sign_status=params.get("sign_status"), progress=progress
        )
        return {
            "bytes": len(body),
            "town": params.get("town"),
            "sign_status": params.get("sign_status"),
        }, body

    run_job(url, job_id, SIGN_SHEETS, compute, actor=actor, may_retry=may_retry)


def record_failure(
    url: str | None,
    table: str,
    key: int,
    e: Exception,
    *,
    may_retry: bool,
    describe: Callable[[BaseException], str] | None = None,
) -> None:
    """Record a job's failure: retried (the row waits again, the error goes to the queue) when
    transient and the queue will try again; else failed with ``describe(e)`` (default ``error_text``)."""
    with session(url, actor="job-runner") as s:
        if may_retry and isinstance(e, TRANSIENT):
            log.warning("%s %s: transient error, the queue tries again: %r", table, key, e)
            jobs.requeue(s, table, key)
        else:
            log.exception("%s %s failed", table, key, exc_info=e)
            (jobs.fail_runs if table == "coverage_runs" else jobs.fail_jobs)(
                s, [key], (describe or error_text)(e)
            )
            return
    raise e


def error_text(exc: BaseException) -> str:
    """What a planner reads about a failed job: our own errors say what to fix; others only their kind
    (the details go to the server log, never SQL or a stack trace to the client)."""

    if isinstance(exc, PipelineError | GeoError | LayersError):
        fix = getattr(exc, "fix", None)
        return f"{exc}" + (f" — {fix}" if fix else "")
    return f"internal error ({type(exc).__name__}); the server log has the details"
