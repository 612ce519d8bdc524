"""Real workers of the task queue for the tests: in this process (``drain``) or as a process of its own
(``worker_process``, the ``minqing worker`` command)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def drain(url: str) -> None:
    """Run a real worker of the task queue on ``url`` in this process until nothing is left to do.

    It runs in a thread of its own: the worker starts its own event loop, which cannot be done in a
    thread whose loop is already running (Playwright's sync API keeps one in the main thread while a
    browser is open, as it is when a test process ran the browser tests first)."""
    from pipeline import queue  # late: the task queue's app is only needed by the tests that drain it

    failure: list[BaseException] = []

    def run() -> None:
        try:
            queue.work(url, wait=False, concurrency=1, install_signal_handlers=False)
        except BaseException as e:  # handed to the caller below
            failure.append(e)

    thread = threading.Thread(target=run, name="drain")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@contextmanager
def worker_process(url: str, *args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """A real ``minqing worker`` process on ``url`` (SIGTERM at the end); yields its Popen (output piped)."""
    environ = {**os.environ, "DATABASE_URL": url, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
