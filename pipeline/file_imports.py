"""File imports over the API as background jobs on the task queue (``POST /imports/{layer}``).

The request checks what it can at once (file type, coordinate system, column map: 4xx), stores the
upload with a job row (``jobs.upload``) and queues it in the same transaction, and answers 202. A
worker of the queue (``pipeline.tasks``) writes the bytes to a temporary file and runs the very import
of ``minqing import`` (``layers.load.files.import_file``): every row checked, all or nothing, in one
transaction as the user who uploaded the file (the audit log names them). Progress (stage, rows
written) is written as it goes; the report (``import_result``) is the job's result; the upload is
dropped when the job ends.

A retry imports the file once: the rows and the job marked done commit in one transaction, a job
that is not queued or running any more is not run again, and a second attempt that ends after the
first committed finds the job done and rolls its own work back. A dry run, or a file with any
problem, writes nothing: the job is done with the report (dry run) or failed with the report and a
message naming the problem and the fix. ``minqing import`` runs in its own process instead.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.orm import Session

from geo.crs import check_crs
from layers import audit, jobs
from layers.db import session
from layers.errors import NotFound
from layers.load.files import import_file
from layers.load.report import ImportReport
from pipeline import queue
from pipeline.errors import Busy, NotAllowed
from pipeline.jobs import error_text, reap, record_failure

log = logging.getLogger("minqing.imports")

IMPORT = "import"
"""The jobs' kind and the queue's task."""
MAX_IMPORT_QUEUE = 8
"""Imports queued or running at most (each holds its upload in the database until it ends)."""
STATUS_ZH = {"queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败"}
"""What a user reads for a job's status."""


def queue_import(
    s: Session,
    *,
    layer: str,
    filename: str,
    suffix: str,
    content: bytes,
    crs: str,
    dry_run: bool,
    column_map: dict[str, str] | None,
    actor: str,
) -> dict[str, Any]:
    """Queue the import of ``content`` (a file of type ``suffix``) into ``layer`` as ``actor``, with
    its upload, in the transaction of ``s`` (audited as ``start``); the job as ``import_job`` gives it.

    An unknown ``crs`` is refused now (``UnknownCRSError``); ``Busy`` when ``MAX_IMPORT_QUEUE`` imports
    wait already."""
    check_crs(crs)
    jobs.serialise_queue(s)
    reap(s)
    active = jobs.active_jobs(s, IMPORT)
    if len(active) >= MAX_IMPORT_QUEUE:
        raise Busy(
            f"{len(active)} file imports are queued or running",
            fix=f"upload again when one has finished (GET /imports/jobs/{active[0]['job_id']})",
            retry_after_s=30,
        )
    params = {
        "layer": layer,
        "filename": PurePosixPath(filename.replace("\\", "/")).name[:200],
        "suffix": suffix,
        "bytes": len(content),
        "crs": crs,
        "dry_run": dry_run,
        "column_map": column_map,
    }
    job_id = jobs.create_job(s, kind=IMPORT, params=params, actor=actor, upload=content)
    jobs.set_queue_job(s, "jobs", job_id, queue.defer(s, IMPORT, job_id=job_id, actor=actor))
    audit.record(
        s, actor=actor, action="start", layer="jobs", object_id=job_id, after={"kind": IMPORT, **params}
    )
    return import_job(s, job_id)


def import_job(s: Session, job_id: int, *, reader: str | None = None, admin: bool = True) -> dict[str, Any]:
    """Import job ``job_id`` with ``status_zh``; ``NotFound`` when there is none, ``NotAllowed`` when
    ``reader`` (not ``admin``) is not the user who uploaded the file."""
    row = jobs.job(s, job_id, kind=IMPORT)
    if row is None:
        raise NotFound(f"import job {job_id} does not exist: POST /imports/{{layer}} starts one")
    if not admin and row["actor"] != reader:
        raise NotAllowed(
            f"import job {job_id} is another user's: only the user who uploaded the file and "
            "administrators may read it",
            fix="open the job you started yourself (its URL is in the answer to your upload)",
        )
    return {**row, "status_zh": STATUS_ZH.get(row["status"], row["status"])}


def import_result(layer: str, dry_run: bool, report: ImportReport) -> dict[str, Any]:
    """The report of an import as the API gives it (``ImportResult``)."""
    return {
        "layer": layer,
        "dry_run": dry_run,
        "ok": bool(report.ok),
        "rows": int(report.rows),
        "written": 0 if dry_run or not report.ok else int(report.written),
        "problems": [dict(p) for p in report.problems],
        "warnings": [dict(w) for w in getattr(report, "warnings", [])],
        "summary": dict(getattr(report, "summary", {}) or {}),
    }


def rejected_text(problems: int) -> str:
    """The error of a real import refused for its rows (Chinese, then English)."""
    return (
        f"文件有 {problems} 处问题, 未写入任何数据: 请按报告逐行改正后重新上传 (可先以 dry_run=true 检查) — "
        f"{problems} problem(s) in the file: nothing was written; fix every listed row and upload again "
        "(or try dry_run=true first)"
    )


def failure_text(e: BaseException) -> str:
    """The error of an import that could not run to its report (Chinese, then English)."""
    return (
        "导入失败, 未写入任何数据: 请按提示改正后重新上传, 仍失败请联系管理员 — "
        f"nothing was written: {error_text(e)}"
    )


class _RollBack(Exception):
    """Leave the import's transaction without writing (a dry run, or a report with problems)."""

    def __init__(self, result: dict[str, Any]):
        self.result = result


def run_import_job(url: str | None, job_id: int, *, actor: str, may_retry: bool = False) -> None:
    """Claim queued import job ``job_id`` and import its upload as ``actor``: the rows and the job
    marked done in one transaction; a dry run or a refused file leaves nothing written and ends the
    job with its report. Failures as ``pipeline.jobs.run_job`` (transient ones are retried)."""
    with session(url, actor=actor) as s:
        params = jobs.claim_job(s, job_id)
        content = jobs.job_upload(s, job_id) if params is not None else None
    if params is None:
        return  # ended already: an earlier attempt imported it, or it failed
    with tempfile.TemporaryDirectory(prefix="minqing-import-") as tmp:
        path = Path(tmp) / f"upload{params['suffix']}"
        try:
            if content is None:
                raise NotFound(f"the uploaded file of import job {job_id} is no longer kept: upload it again")
            path.write_bytes(content)
            del content
            _import(url, job_id, path, params, actor=actor)
        except Exception as e:
            record_failure(
                url,
                "jobs",
                job_id,
                e,
                may_retry=may_retry,
                describe=lambda e: _scrub(failure_text(e), path, params["filename"]),
            )


def _import(url: str | None, job_id: int, path: Path, params: dict[str, Any], *, actor: str) -> None:
    layer, dry_run = params["layer"], bool(params["dry_run"])
    progress = _Progress(url, job_id, actor=actor)
    try:
        with session(url, actor=actor) as s:
            report = import_file(
                s,
                layer,
                path,
                crs=params["crs"],
                dry_run=dry_run,
                actor=actor,
                column_map=params.get("column_map"),
                step=progress.step,
                progress=progress.rows,
            )
            result = _scrubbed(import_result(layer, dry_run, report), path, params["filename"])
            if dry_run or not report.ok:
                raise _RollBack(result)
            if not jobs.finish_job(s, job_id, result):
                raise _RollBack({})  # another attempt ended the job meanwhile: its outcome stands
    except _RollBack as rolled_back:
        if rolled_back.result:
            result = rolled_back.result
            error = None if dry_run else rejected_text(len(result["problems"]))
            with session(url, actor=actor) as s:
                jobs.finish_job(s, job_id, result, error=error)


class _Progress:
    """Writes an import's stage and rows written to its job, each in a short transaction of its own
    (pollers see it while the import's own transaction is still open)."""

    def __init__(self, url: str | None, job_id: int, *, actor: str):
        self.url, self.job_id, self.actor = url, job_id, actor
        self.stage = ""

    def step(self, label: str) -> None:
        self.stage = label
        self._write(0, 0)

    def rows(self, done: int, total: int) -> None:
        self._write(done, total)

    def _write(self, done: int, total: int) -> None:
        with session(self.url, actor=self.actor) as s:
            jobs.set_progress(
                s, self.job_id, {"stage": self.stage, "done": int(done), "total": int(total), "unit": "行"}
            )


def _scrub(text: str, path: Path, filename: str) -> str:
    """``text`` without the server's temporary path: the user's file name instead."""
    return text.replace(str(path), filename).replace(str(path.parent), "").replace(path.name, filename)


def _scrubbed(result: dict[str, Any], path: Path, filename: str) -> dict[str, Any]:
    def clean(entry: dict) -> dict:
        return {k: _scrub(v, path, filename) if isinstance(v, str) else v for k, v in entry.items()}

    return {
        **result,
        "problems": [clean(p) for p in result["problems"]],
        "warnings": [clean(w) for w in result["warnings"]],
    }
