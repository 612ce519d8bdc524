"""Background jobs in the database (SQL only): queued coverage runs, the ``jobs`` table, and the
advisory locks that keep two server processes from computing the same kind of job at once.

A job is queued by a request (its row committed with the request), then claimed and run by a
worker thread of whichever server process took the request. A worker holds the kind's advisory
lock in a transaction of its own for as long as it computes: a second worker (another process)
waits for it, and a job whose status says running while nobody holds the lock was left behind by
a process that stopped (``stale``).

While a job runs, its worker writes a heartbeat (``job_heartbeats``, migration 0014: one row per
running job, written in transactions of its own, not audited: a liveness signal, not data). A
running job whose last heartbeat is older than a limit was left behind by a process that died;
``reap`` marks it failed. Rows locked by a live transaction (the job's own computation) are never
touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import engine

LOCK_CLASS = 0x6D71  # 'mq': the first key of every advisory lock of this project
LOCKS = {"coverage": 1, "siting": 2, "queue": 3}
ACTIVE = ("queued", "running")
QUEUED_GRACE = "2 minutes"
"""A queued job that no worker has claimed for this long, with nobody computing, was lost."""


@contextmanager
def exclusive(url: str | None, kind: str) -> Iterator[None]:
    """Hold the advisory lock of ``kind`` (waiting for it) on a connection of its own until the block
    ends; the lock goes with that connection's transaction, so it is released even on a crash."""
    with engine(url).connect() as con:
        con.execute(text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": LOCK_CLASS, "k": LOCKS[kind]})
        try:
            yield
        finally:
            con.rollback()


def lock_free(s: Session, kind: str) -> bool:
    """True when no worker holds the lock of ``kind`` (tried within the session's transaction)."""
    return bool(s.execute(text("SELECT pg_try_advisory_xact_lock(:c, :k)"),
                          {"c": LOCK_CLASS, "k": LOCKS[kind]}).scalar_one())


def serialise_queue(s: Session) -> None:
    """Take the queue lock for the rest of the transaction: one request queues at a time."""
    s.execute(text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": LOCK_CLASS, "k": LOCKS["queue"]})


# --- coverage runs --------------------------------------------------------------------------------


def queue_run(s: Session, *, params: dict[str, Any]) -> int:
    """A base coverage run in status 'queued'; returns its id."""
    return s.execute(text("INSERT INTO coverage_runs (status, params) VALUES ('queued', CAST(:p AS jsonb)) "
                          "RETURNING run_id"), {"p": json.dumps(params, ensure_ascii=False)}).scalar_one()


def active_runs(s: Session) -> list[dict[str, Any]]:
    """Base runs queued or running, oldest first, with ``waited`` true when queued past the grace."""
    rows = s.execute(text(
        "SELECT run_id, status, started_at, started_at < now() - CAST(:g AS interval) AS waited "
        "FROM coverage_runs WHERE status IN ('queued', 'running') AND scenario_id IS NULL ORDER BY run_id"),
        {"g": QUEUED_GRACE}).mappings()
    return [dict(r) for r in rows]


def claim_run(s: Session, run_id: int) -> dict[str, Any] | None:
    """Mark a queued run running (now); its params, or None when it is not queued any more."""
    params = s.execute(text("UPDATE coverage_runs SET status = 'running', started_at = now() "
                            "WHERE run_id = :r AND status = 'queued' RETURNING params"),
                       {"r": run_id}).scalar_one_or_none()
    if params is not None:
        beat(s, "coverage_runs", run_id)  # the first heartbeat
    return params


def fail_runs(s: Session, run_ids: list[int], error: str) -> None:
    s.execute(text("UPDATE coverage_runs SET status = 'failed', finished_at = now(), error = :e "
                   "WHERE run_id = ANY(:ids) AND status IN ('queued', 'running')"),
              {"e": error[:2000], "ids": run_ids})


# --- the jobs table -------------------------------------------------------------------------------


JOB_COLUMNS = "job_id, kind, status, params, result, error, actor, created_at, started_at, finished_at"


def create_job(s: Session, *, kind: str, params: dict[str, Any], actor: str) -> int:
    return s.execute(text("INSERT INTO jobs (kind, params, actor) VALUES (:k, CAST(:p AS jsonb), :a) "
                          "RETURNING job_id"),
                     {"k": kind, "p": json.dumps(params, ensure_ascii=False), "a": actor}).scalar_one()


def job(s: Session, job_id: int, *, kind: str) -> dict[str, Any] | None:
    row = s.execute(text(f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = :j AND kind = :k"),
                    {"j": job_id, "k": kind}).mappings().first()
    return dict(row) if row else None


def active_jobs(s: Session, kind: str) -> list[dict[str, Any]]:
    rows = s.execute(text(
        "SELECT job_id, status, created_at < now() - CAST(:g AS interval) AS waited FROM jobs "
        "WHERE kind = :k AND status IN ('queued', 'running') ORDER BY job_id"), {"k": kind, "g": QUEUED_GRACE})
    return [dict(r) for r in rows.mappings()]


def claim_job(s: Session, job_id: int) -> dict[str, Any] | None:
    """Mark a queued job running; its params, or None when it is not queued any more."""
    params = s.execute(text("UPDATE jobs SET status = 'running', started_at = now() "
                            "WHERE job_id = :j AND status = 'queued' RETURNING params"),
                       {"j": job_id}).scalar_one_or_none()
    if params is not None:
        beat(s, "jobs", job_id)  # the first heartbeat
    return params


def finish_job(s: Session, job_id: int, result: dict[str, Any]) -> None:
    s.execute(text("UPDATE jobs SET status = 'done', finished_at = now(), result = CAST(:r AS jsonb) "
                   "WHERE job_id = :j"), {"r": json.dumps(result, ensure_ascii=False), "j": job_id})


def fail_jobs(s: Session, job_ids: list[int], error: str) -> None:
    s.execute(text("UPDATE jobs SET status = 'failed', finished_at = now(), error = :e "
                   "WHERE job_id = ANY(:ids) AND status IN ('queued', 'running')"),
              {"e": error[:2000], "ids": job_ids})


# --- heartbeats -----------------------------------------------------------------------------------

JOB_TABLES = {"coverage_runs": "run_id", "jobs": "job_id"}
"""The tables holding jobs (and their key) whose running rows have heartbeats."""


def beat(s: Session, table: str, job_id: int) -> None:
    """Record that the job ``job_id`` of ``table`` is alive now."""
    s.execute(text("INSERT INTO job_heartbeats (job_table, job_id, beat_at) VALUES (:t, :j, clock_timestamp()) "
                   "ON CONFLICT (job_table, job_id) DO UPDATE SET beat_at = EXCLUDED.beat_at"),
              {"t": table, "j": job_id})


def last_beat(s: Session, table: str, job_id: int):
    """When the job last beat (None: never, or finished)."""
    return s.execute(text("SELECT beat_at FROM job_heartbeats WHERE job_table = :t AND job_id = :j"),
                     {"t": table, "j": job_id}).scalar_one_or_none()


def forget_beat(s: Session, table: str, job_id: int) -> None:
    """The job is over: drop its heartbeat row."""
    s.execute(text("DELETE FROM job_heartbeats WHERE job_table = :t AND job_id = :j"), {"t": table, "j": job_id})


def reap(s: Session, *, stale_after_s: float, reason: str) -> dict[str, list[int]]:
    """Mark failed (with ``reason``) every running job whose last heartbeat (or start, when it never
    beat) is older than ``stale_after_s`` seconds; per table, the ids marked. Rows locked by a live
    transaction are skipped, never waited for."""
    out: dict[str, list[int]] = {}
    for table, key in JOB_TABLES.items():
        only_base = "AND r.scenario_id IS NULL " if table == "coverage_runs" else ""
        ids = s.execute(text(
            f"WITH stale AS (SELECT r.{key} FROM {table} r LEFT JOIN job_heartbeats h "
            f"ON h.job_table = :t AND h.job_id = r.{key} WHERE r.status = 'running' {only_base}"
            "AND coalesce(h.beat_at, r.started_at, r.created_at) < now() - make_interval(secs => :limit) "
            "FOR UPDATE OF r SKIP LOCKED) "
            f"UPDATE {table} SET status = 'failed', finished_at = now(), error = :e "
            f"WHERE {key} IN (SELECT {key} FROM stale) RETURNING {key}"),
            {"t": table, "limit": float(stale_after_s), "e": reason[:2000]}).scalars().all()
        if ids:
            s.execute(text("DELETE FROM job_heartbeats WHERE job_table = :t AND job_id = ANY(:ids)"),
                      {"t": table, "ids": list(ids)})
        out[table] = sorted(ids)
    return out


def siting_after_run(s: Session, run_id: int) -> list[dict[str, Any]]:
    """Finished siting jobs computed on the data of base run ``run_id``: created after it finished
    and before the next base run started (job_id, params, result, finished_at), newest first."""
    rows = s.execute(text(
        "SELECT j.job_id, j.params, j.result, j.finished_at FROM jobs j JOIN coverage_runs r ON r.run_id = :r "
        "WHERE j.kind = 'siting' AND j.status = 'done' AND j.result IS NOT NULL "
        "AND r.finished_at IS NOT NULL AND j.created_at >= r.finished_at "
        "AND NOT EXISTS (SELECT 1 FROM coverage_runs n WHERE n.run_id > r.run_id AND n.scenario_id IS NULL "
        "AND n.started_at <= j.created_at) ORDER BY j.job_id DESC"), {"r": run_id})
    return [dict(r) for r in rows.mappings()]
