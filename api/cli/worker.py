"""``minqing worker``: the task queue's worker, beside ``minqing serve``."""

from __future__ import annotations

import logging

import typer


def worker(
    concurrency: int = typer.Option(
        2, min=1, max=16, help="jobs computed at once (each kind still one at a time)"
    ),
    once: bool = typer.Option(False, "--once", help="do what is queued, then stop (for scripts and checks)"),
) -> None:
    """Run the background jobs: coverage runs, siting, sign sheets, file imports uploaded to the API,
    超时升级 of overdue events every 5 minutes.

    Jobs wait in the database: a job queued while no worker runs is done when one starts, and a job
    whose worker stopped is taken up again. Stop it with Ctrl-C or SIGTERM (it finishes its jobs).
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from api.cli._common import friendly_errors
    from pipeline import queue

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    typer.echo(f"民情地图 后台任务进程 worker: {concurrency} 个并行任务 (Ctrl-C 停止)")
    with friendly_errors():
        queue.work(wait=not once, concurrency=concurrency)
