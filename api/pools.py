"""Bounded pools for expensive computations (isochrones), so that anonymous work cannot starve staff.

A ``ComputePool`` runs at most ``workers`` computations at once in its own threads, lets at most
``queue`` more wait, and lets one client (IP) have at most ``per_client`` running or waiting; beyond
that it refuses at once (``PoolFull`` → 503, ``ClientBusy`` → 429, both with ``Retry-After``)
instead of piling up work nobody will wait for. Identical computations running at the same time
are done once (single flight: the later ones join the first and count against no limit).

The route awaits the computation without holding a database connection or an event-loop thread.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from api.errors import Busy, RateLimited


class PoolFull(Busy):
    """Every worker is busy and the queue is full (503)."""

    quiet = True  # expected under a flood: not logged one by one


class ClientBusy(RateLimited):
    """This client already has its allowance of computations running or waiting (429)."""


class Ticket:
    """A client's place in a pool; ``release`` gives it back (once, however often it is called)."""

    def __init__(self, pool: ComputePool, client: str):
        self._pool, self._client = pool, client
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._pool._leave(self._client)


class ComputePool:
    """``workers`` threads (or processes: ``processes``), a queue of ``queue`` (None: unbounded),
    ``per_client`` (None: no limit). Processes start on first use; a task given to a process pool
    must be picklable (a module-level function and plain data)."""

    def __init__(
        self,
        name: str,
        *,
        workers: int,
        queue: int | None,
        per_client: int | None,
        processes: bool = False,
        initializer: Callable[[], None] | None = None,
    ):
        self.name, self.workers, self.queue, self.per_client = name, workers, queue, per_client
        self.processes, self._initializer = processes, initializer
        self._executor: Executor | None = None  # made on first use, and again after ``close``
        self._threads: Executor | None = None  # a process pool's threads, for tasks that cannot be pickled
        self._lock = threading.Lock()
        self._pending = 0  # running + waiting
        self._by_client: Counter[str] = Counter()
        self._flight: dict[Hashable, Future] = {}
        self._mean_s = 1.0  # running mean of one computation's duration, for Retry-After

    @property
    def pending(self) -> int:
        """Computations running or waiting."""
        return self._pending

    def retry_after(self) -> int:
        """Seconds after which a refused client may expect room (at least 1)."""
        rounds = max(1, math.ceil((self._pending + 1) / self.workers))
        return max(1, math.ceil(rounds * self._mean_s))

    def admit(self, client: str) -> Ticket:
        """A place in the pool for ``client`` (running or waiting), or ``ClientBusy`` / ``PoolFull``.

        Taken BEFORE any other work of the request, so that refusing costs nothing but this check.
        """
        with self._lock:
            if self.per_client is not None and self._by_client[client] >= self.per_client:
                seconds = self.retry_after()
                raise ClientBusy(
                    f"等时圈请求过多: this client already has {self._by_client[client]} isochrone(s) "
                    f"being computed (at most {self.per_client} at a time without logging in)",
                    fix=f"wait for the answers, retry in {seconds} s, or log in",
                    headers={"Retry-After": str(seconds)},
                )
            if self.queue is not None and self._pending >= self.workers + self.queue:
                seconds = self.retry_after()
                raise PoolFull(
                    f"服务繁忙: {self._pending} isochrones are being computed or waiting, "
                    "the most the service takes at once without login",
                    fix=f"retry in {seconds} s",
                    headers={"Retry-After": str(seconds)},
                )
            self._pending += 1
            self._by_client[client] += 1
        return Ticket(self, client)

    def _leave(self, client: str) -> None:
        with self._lock:
            self._pending -= 1
            self._by_client[client] -= 1
            if self._by_client[client] <= 0:
                del self._by_client[client]

    def run(self, ticket: Ticket, key: Hashable, fn: Callable[[], Any], *, picklable: bool = False) -> Future:
        """Compute ``fn()`` in the pool on ``ticket``'s place, or join the running computation of
        ``key`` (the place is then given back at once); the place is given back when it is done.

        A process pool runs ``fn`` in a worker process only when the caller says it is ``picklable``
        (a module-level function with plain data); anything else (a closure) runs in ``workers``
        threads of the server process, under the same limits.
        """
        with self._lock:
            running = self._flight.get(key)
            if running is None:
                started = time.perf_counter()
                future = self._executor_for(picklable).submit(fn)
                self._flight[key] = future
        if running is not None:
            ticket.release()
            return running

        def done(_: Future) -> None:
            self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - started)
            ticket.release()
            with self._lock:
                if self._flight.get(key) is future:
                    del self._flight[key]

        future.add_done_callback(done)
        return future

    def submit(self, key: Hashable, client: str, fn: Callable[[], Any]) -> Future:
        """``admit`` then ``run``."""
        return self.run(self.admit(client), key, fn)

    def _executor_for(self, picklable: bool) -> Executor:
        # called with self._lock held
        if self.processes and picklable:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers,
                    initializer=self._initializer,
                    mp_context=multiprocessing.get_context("spawn"),
                )
            return self._executor
        if self._threads is None:
            self._threads = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix=f"minqing-{self.name}"
            )
        return self._threads

    def close(self) -> None:
        """Drop waiting computations and stop the workers (processes at once; threads after their
        current task). The pool makes new workers if it is used again."""
        with self._lock:
            executors = [e for e in (self._executor, self._threads) if e is not None]
            self._executor = self._threads = None
        for executor in executors:
            workers = list((getattr(executor, "_processes", None) or {}).values())  # processes only
            executor.shutdown(wait=False, cancel_futures=True)
            for process in workers:  # a computation nobody will wait for any more
                process.terminate()


class IsochronePools:
    """The two isochrone pools of one app: anonymous viewers (bounded, per-IP; worker processes at a
    lower CPU priority unless ``isochrone_processes`` is off) and logged-in users (threads)."""

    def __init__(self, settings) -> None:
        # late: the isochrone worker module loads only when the pools start
        from pipeline.isochrones import start_worker

        self.processes = settings.isochrone_processes
        self.public = ComputePool(
            "isochrone-public",
            workers=settings.isochrone_workers,
            queue=settings.isochrone_queue,
            per_client=settings.isochrone_per_client,
            processes=self.processes,
            initializer=start_worker,
        )
        self.staff = ComputePool(
            "isochrone-staff", workers=settings.isochrone_staff_workers, queue=None, per_client=None
        )

    def close(self) -> None:
        """At shut-down: pending isochrones are dropped and worker processes stopped."""
        self.public.close()
        self.staff.close()
