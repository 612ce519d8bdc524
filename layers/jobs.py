"""Background jobs in the database (SQL only): queued coverage runs and the ``jobs`` table, each
tied to the task-queue job that computes it (``queue_job_id``, the queue's table
``procrastinate.procrastinate_jobs``: migration 0020).

A job is queued by a request: its row and its queue job are committed with the request, together.
A worker of the task queue (``minqing worker``) claims it (running), computes, and marks it done or
failed. A row whose queue job has ended without finishing it, or has none, is marked failed by
``reap``. Rows locked by a live transaction (a computation) are never touched nor waited for.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import cursor_result

LOCK_CLASS = 0x6D71  # 'mq': the first key of every advisory lock of this project
LOCKS = {"queue": 3}
ACTIVE = ("queued", "running")
JOB_TABLES = {"coverage_runs": "run_id", "jobs": "job_id"}
"""The tables holding jobs (and their key)."""
QUEUE_JOBS = "procrastinate.procrastinate_jobs"
LIVE_QUEUE_STATES = ("todo", "doing")
"""A queue job in one of these states will still run (or is running) its row's computation."""


def serialise_queue(s: Session) -> None:
    """Take the queue lock for the rest of the transaction: one request queues at a time."""
    s.execute(text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": LOCK_CLASS, "k": LOCKS["queue"]})


def set_queue_job(s: Session, table: str, key: int, queue_job_id: int) -> None:
    """Record which queue job computes row ``key`` of ``table``."""
    s.execute(
        text(f"UPDATE {table} SET queue_job_id = :q WHERE {JOB_TABLES[table]} = :k"),
        {"q": queue_job_id, "k": key},
    )


def requeue(s: Session, table: str, key: int) -> None:
    """Row ``key`` of ``table`` waits again (its queue job will be retried)."""
    s.execute(
        text(f"UPDATE {table} SET status = 'queued' WHERE {JOB_TABLES[table]} = :k AND status = 'running'"),
        {"k": key},
    )


# --- coverage runs --------------------------------------------------------------------------------


def queue_run(s: Session, *, params: dict[str, Any]) -> int:
    """A base coverage run in status 'queued'; returns its id."""
    return s.execute(
        text(
            "INSERT INTO coverage_runs (status, params) VALUES ('queued', CAST(:p AS jsonb)) RETURNING run_id"
        ),
        {"p": json.dumps(params, ensure_ascii=False)},
    ).scalar_one()


def active_runs(s: Session) -> list[dict[str, Any]]:
    """Base runs queued or running, oldest first."""
    rows = s.execute(
        text(
            "SELECT run_id, status, started_at FROM coverage_runs WHERE status IN ('queued', 'running') "
            "AND scenario_id IS NULL ORDER BY run_id"
        )
    ).mappings()
    return [dict(r) for r in rows]


def claim_run(s: Session, run_id: int) -> dict[str, Any] | None:
    """Mark a queued run running (now); its params, or None when it is not queued any more. A run
    still marked running is taken again: its worker stopped and the queue retries its job."""
    return s.execute(
        text(
            "UPDATE coverage_runs SET status = 'running', started_at = now(), error = NULL "
            "WHERE run_id = :r AND status IN ('queued', 'running') RETURNING params"
        ),
        {"r": run_id},
    ).scalar_one_or_none()


def fail_runs(s: Session, run_ids: list[int], error: str) -> None:
    s.execute(
        text(
            "UPDATE coverage_runs SET status = 'failed', finished_at = now(), error = :e "
            "WHERE run_id = ANY(:ids) AND status IN ('queued', 'running')"
        ),
        {"e": error[:2000], "ids": run_ids},
    )


# --- the jobs table -------------------------------------------------------------------------------


JOB_COLUMNS = (
    "job_id, kind, status, params, result, progress, error, actor, created_at, started_at, finished_at"
)
"""Every column of a job but its file (``output``: ``job_output``)."""


def create_job(
    s: Session, *, kind: str, params: dict[str, Any], actor: str, upload: bytes | None = None
) -> int:
    """A queued job; ``upload``: the file it works on (an import's), kept until it ends. Its id."""
    return s.execute(
        text(
            "INSERT INTO jobs (kind, params, actor, upload) VALUES (:k, CAST(:p AS jsonb), :a, :u) "
            "RETURNING job_id"
        ),
        {"k": kind, "p": json.dumps(params, ensure_ascii=False), "a": actor, "u": upload},
    ).scalar_one()


def job(s: Session, job_id: int, *, kind: str) -> dict[str, Any] | None:
    row = (
        s.execute(
            text(f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = :j AND kind = :k"), {"j": job_id, "k": kind}
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def active_jobs(s: Session, kind: str) -> list[dict[str, Any]]:
    rows = s.execute(
        text(
            "SELECT job_id, status FROM jobs WHERE kind = :k AND status IN ('queued', 'running') "
            "ORDER BY job_id"
        ),
        {"k": kind},
    )
    return [dict(r) for r in rows.mappings()]


def claim_job(s: Session, job_id: int) -> dict[str, Any] | None:
    """Mark a queued job running; its params, or None when it is not queued any more (a job still
    marked running is taken again, as ``claim_run``)."""
    return s.execute(
        text(
            "UPDATE jobs SET status = 'running', started_at = now(), error = NULL "
            "WHERE job_id = :j AND status IN ('queued', 'running') RETURNING params"
        ),
        {"j": job_id},
    ).scalar_one_or_none()


def finish_job(
    s: Session,
    job_id: int,
    result: dict[str, Any],
    *,
    output: bytes | None = None,
    error: str | None = None,
) -> bool:
    """Mark running job ``job_id`` done with its result JSON and, for a job that makes a file, the
    file; or, with ``error``, failed with its result (an import's report of the rows refused). The
    file it worked on goes. False when the job was not running (another attempt ended it)."""
    result_ = s.execute(
        text(
            "UPDATE jobs SET status = :st, finished_at = now(), result = CAST(:r AS jsonb), output = :o, "
            "error = :e, upload = NULL WHERE job_id = :j AND status = 'running'"
        ),
        {
            "st": "failed" if error else "done",
            "r": json.dumps(result, ensure_ascii=False),
            "o": output,
            "e": error[:2000] if error else None,
            "j": job_id,
        },
    )
    return cursor_result(result_).rowcount == 1


def job_upload(s: Session, job_id: int) -> bytes | None:
    """The file queued or running job ``job_id`` works on (None when it has none, or it ended)."""
    return s.execute(
        text("SELECT upload FROM jobs WHERE job_id = :j AND status IN ('queued', 'running')"), {"j": job_id}
    ).scalar_one_or_none()


def set_progress(s: Session, job_id: int, progress: dict[str, Any]) -> None:
    """How far running job ``job_id`` is (its own short transaction: pollers see it at once)."""
    s.execute(
        text("UPDATE jobs SET progress = CAST(:p AS jsonb) WHERE job_id = :j AND status = 'running'"),
        {"p": json.dumps(progress, ensure_ascii=False), "j": job_id},
    )


def job_output(s: Session, job_id: int, *, kind: str) -> bytes | None:
    """The file a finished job made (None when it has none, or it was dropped)."""
    return s.execute(
        text("SELECT output FROM jobs WHERE job_id = :j AND kind = :k AND status = 'done'"),
        {"j": job_id, "k": kind},
    ).scalar_one_or_none()


def drop_old_outputs(s: Session, kind: str, *, older_than_hours: float) -> int:
    """Forget the files of ``kind`` jobs finished more than ``older_than_hours`` ago; how many."""
    result = s.execute(
        text(
            "UPDATE jobs SET output = NULL WHERE kind = :k AND output IS NOT NULL "
            "AND finished_at < now() - make_interval(secs => :s)"
        ),
        {"k": kind, "s": older_than_hours * 3600},
    )
    return cursor_result(result).rowcount


def same_active_job(s: Session, kind: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """A queued or running ``kind`` job asked with exactly ``params`` (the oldest), else None."""
    row = (
        s.execute(
            text(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE kind = :k AND status IN ('queued', 'running') "
                "AND params = CAST(:p AS jsonb) ORDER BY job_id LIMIT 1"
            ),
            {"k": kind, "p": json.dumps(params, ensure_ascii=False)},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def fail_jobs(s: Session, job_ids: list[int], error: str) -> None:
    s.execute(
        text(
            "UPDATE jobs SET status = 'failed', finished_at = now(), error = :e, upload = NULL "
            "WHERE job_id = ANY(:ids) AND status IN ('queued', 'running')"
        ),
        {"e": error[:2000], "ids": job_ids},
    )


# --- rows left behind ------------------------------------------------------------------------------


def reap(s: Session, *, reason: str) -> dict[str, list[int]]:
    """Mark failed (with ``reason``) every queued or running row whose queue job will not compute it
    (none, or one that ended: failed, cancelled, aborted, or finished without marking it); per table,
    the ids marked. Rows locked by a live transaction are skipped, never waited for."""
    out: dict[str, list[int]] = {}
    for table, key in JOB_TABLES.items():
        only_base = "AND r.scenario_id IS NULL " if table == "coverage_runs" else ""
        drop_upload = ", upload = NULL" if table == "jobs" else ""
        ids = (
            s.execute(
                text(
                    f"WITH lost AS (SELECT r.{key} FROM {table} r WHERE r.status IN ('queued', 'running') "
                    f"{only_base}AND NOT EXISTS (SELECT 1 FROM {QUEUE_JOBS} q WHERE q.id = r.queue_job_id "
                    "AND q.status::text = ANY(:live)) FOR UPDATE OF r SKIP LOCKED) "
                    f"UPDATE {table} SET status = 'failed', finished_at = now(), error = :e{drop_upload} "
                    f"WHERE {key} IN (SELECT {key} FROM lost) RETURNING {key}"
                ),
                {"live": list(LIVE_QUEUE_STATES), "e": reason[:2000]},
            )
            .scalars()
            .all()
        )
        out[table] = sorted(ids)
    return out


def live_workers(s: Session, *, stale_after_s: float) -> int:
    """Task-queue workers that wrote their heartbeat within ``stale_after_s`` seconds."""
    return s.execute(
        text(
            "SELECT count(*) FROM procrastinate.procrastinate_workers "
            "WHERE last_heartbeat > now() - make_interval(secs => :s)"
        ),
        {"s": float(stale_after_s)},
    ).scalar_one()


def siting_after_run(s: Session, run_id: int) -> list[dict[str, Any]]:
    """Finished siting jobs computed on the data of base run ``run_id``: created after it finished
    and before the next base run started (job_id, params, result, finished_at), newest first."""
    rows = s.execute(
        text(
            "SELECT j.job_id, j.params, j.result, j.finished_at FROM jobs j JOIN coverage_runs r "
            "ON r.run_id = :r WHERE j.kind = 'siting' AND j.status = 'done' AND j.result IS NOT NULL "
            "AND r.finished_at IS NOT NULL AND j.created_at >= r.finished_at "
            "AND NOT EXISTS (SELECT 1 FROM coverage_runs n WHERE n.run_id > r.run_id "
            "AND n.scenario_id IS NULL AND n.started_at <= j.created_at) ORDER BY j.job_id DESC"
        ),
        {"r": run_id},
    )
    return [dict(r) for r in rows.mappings()]
