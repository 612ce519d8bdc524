"""The task queue's tasks (``pipeline.queue``): what a worker runs.

Coverage runs, siting jobs and sign sheets compute their row (``pipeline.jobs``), saved scenarios are
evaluated, file imports import their upload (``pipeline.file_imports``); periodic tasks escalate
overdue 民情事件 every five minutes, send the jobs of stopped workers back to the queue every minute,
purge expired rate-limit counts hourly and the queue's week-old finished jobs nightly.
"""

from __future__ import annotations

import logging

from procrastinate import JobContext, builtin_tasks

from layers import ratelimits
from layers.db import session
from pipeline import events, file_imports, jobs, scenarios, siting
from pipeline.queue import RETRY, TASKS, app, recover

log = logging.getLogger("minqing.tasks")

ESCALATE_CRON = "*/5 * * * *"
RECOVER_CRON = "* * * * *"
PURGE_CRON = "17 * * * *"
CLEAN_CRON = "42 3 * * *"
KEEP_HOURS = 7 * 24


def _url(context: JobContext) -> str:
    return context.additional_context["database_url"]


def _may_retry(context: JobContext) -> bool:
    """Whether the queue will try this job again after a transient error."""
    return context.job.attempts + 1 < (RETRY.max_attempts or 0)


@app.task(name="coverage_run", retry=RETRY, pass_context=True, **TASKS["coverage_run"])
def coverage_run(context: JobContext, run_id: int) -> None:
    """Compute queued base run ``run_id`` (``POST /coverage/runs``)."""
    jobs.run_coverage_job(_url(context), run_id, may_retry=_may_retry(context))


@app.task(name="scenario_evaluate", retry=RETRY, pass_context=True, **TASKS["scenario_evaluate"])
def scenario_evaluate(context: JobContext, scenario_id: int, actor: str) -> None:
    """Evaluate saved scenario ``scenario_id`` as ``actor`` (``minqing demo load`` of a large demo
    queues its scenarios' evaluations here)."""
    with session(_url(context), actor=actor) as s:
        scenarios.evaluate(s, scenario_id, actor=actor)


@app.task(name="siting", retry=RETRY, pass_context=True, **TASKS["siting"])
def siting_job(context: JobContext, job_id: int, actor: str) -> None:
    """Compute queued siting job ``job_id`` (``POST /siting``)."""
    jobs.run_job(
        _url(context), job_id, "siting", siting.run_request, actor=actor, may_retry=_may_retry(context)
    )


@app.task(name="sign_sheets", retry=RETRY, pass_context=True, **TASKS["sign_sheets"])
def sign_sheets_job(context: JobContext, job_id: int, actor: str) -> None:
    """Draw queued sign-sheet job ``job_id`` (``POST /placenames/signs/jobs``)."""
    jobs.run_sign_sheets_job(_url(context), job_id, actor=actor, may_retry=_may_retry(context))


@app.task(name="import", retry=RETRY, pass_context=True, **TASKS["import"])
def import_job(context: JobContext, job_id: int, actor: str) -> None:
    """Import the upload of queued import job ``job_id`` as ``actor`` (``POST /imports/{layer}``)."""
    file_imports.run_import_job(_url(context), job_id, actor=actor, may_retry=_may_retry(context))


@app.periodic(cron=ESCALATE_CRON, periodic_id="escalate_overdue")
@app.task(name="escalate_overdue", pass_context=True, **TASKS["escalate_overdue"])
def escalate_overdue(context: JobContext, timestamp: int) -> None:
    """超时升级 of every open event past its deadline (as ``minqing events escalate``)."""
    with session(_url(context), actor="system:escalate") as s:
        done = events.escalate_overdue(s, events.EventSettings())
    if done:
        log.info("超时升级 %d 件: %s", len(done), [d["event_id"] for d in done])


@app.periodic(cron=PURGE_CRON, periodic_id="purge_rate_limits")
@app.task(name="purge_rate_limits", pass_context=True, **TASKS["purge_rate_limits"])
def purge_rate_limits(context: JobContext, timestamp: int) -> None:
    """Expired rate-limit counters go (``layers.ratelimits``)."""
    ratelimits.purge(_url(context))


@app.periodic(cron=CLEAN_CRON, periodic_id="remove_old_jobs")
@app.task(name="remove_old_jobs", pass_context=True, **TASKS["remove_old_jobs"])
async def remove_old_jobs(context: JobContext, timestamp: int) -> None:
    """The queue's finished jobs older than a week go (their runs and siting jobs stay in our tables)."""
    await builtin_tasks.remove_old_jobs(
        context, max_hours=KEEP_HOURS, remove_failed=True, remove_cancelled=True, remove_aborted=True
    )


@app.periodic(cron=RECOVER_CRON, periodic_id="recover_stalled")
@app.task(name="recover_stalled", pass_context=True, **TASKS["recover_stalled"])
async def recover_stalled(context: JobContext, timestamp: int) -> list[int]:
    """Jobs of workers that stopped beating go back to the queue."""
    return await recover(context.app.job_manager)
