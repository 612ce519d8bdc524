"""Warm caches: the map pages, the planner's first view of the latest run and the vector tiles of the
pages' first views, built before anyone asks.

Cold, these take seconds at city scale (scale 10: the public page 4.8 s, the place-name page 7.9 s,
the planner's first type of a new run up to 8 s, the place-name clusters' first tiles 5 s), and the
first visitor after a start, an edit or a run would wait for them. The tiles are those a phone, a
laptop and a desktop screen show with the district fitted in it (``VIEWPORTS``), for each role that
sees them differently (``api.routes.maps.first_view_tiles``).

One thread per server process builds them when the process starts and again whenever the data
change: every change announces itself to every process (``layers.versions``), and the thread waits
until the changes have stopped for ``QUIET_S`` (a load or a run writes many statements) before
building once. It builds through the very functions and cache keys the requests use
(``api.routes.maps.warm_pages``, ``api.routes.planning.warm_first_view``, ``api.routes.tiles.warm``),
so the next request finds the result kept. The thread runs at a lower CPU priority (nice ``NICE``):
a request in another process goes first; one in the same process still shares the interpreter.

Off with ``MINQING_WARM_CACHES=false`` (then the first request builds, as before).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import suppress
from typing import TYPE_CHECKING

from api.routes import tiles
from api.routes.maps import first_view_tiles, warm_pages
from api.routes.planning import warm_first_view
from geo import screens
from layers import versions
from layers.db import database_url, session
from maps import sources

if TYPE_CHECKING:
    from fastapi import FastAPI

    from layers.versions import Snapshot

log = logging.getLogger("minqing.warm")

POLL_S = 1.0
"""How often the thread looks whether a change was heard (no database work while none was)."""
QUIET_S = 2.0
"""The data must stay unchanged this long before the thread builds."""
MAX_WAIT_S = 30.0
"""Under a stream of changes it builds anyway after this long."""
NICE = 10
ACTOR = "cache-warmer"


class Warmer:
    """The background builder of one server process (``start``/``stop`` in the app's lifespan)."""

    def __init__(self, app: FastAPI, url: str | None = None):
        self.app = app
        self.url = url or database_url()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Condition()
        self.warmed: Snapshot | None = None
        """The data the caches were last built on."""
        self.rounds = 0
        """Rounds of building finished (for tests and benches)."""
        self.failures = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="minqing-warm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)  # a round in progress is left to die with the process

    def wait(self, rounds: int, timeout: float) -> bool:
        """Wait until ``rounds`` rounds have finished (True) or ``timeout`` seconds passed (False)."""
        with self._done:
            return self._done.wait_for(lambda: self.rounds >= rounds, timeout=timeout)

    def caught_up(self, timeout: float) -> bool:
        """Wait until the caches are built on the data as they are now (True), or ``timeout`` seconds
        passed (False)."""
        with session(self.url, actor=ACTOR) as s:
            now = versions.read(s)
        with self._done:
            return self._done.wait_for(lambda: self.warmed == now, timeout=timeout)

    def _loop(self) -> None:
        _lower_priority()
        watch = versions.watch(self.url)
        while not self._stop.is_set():
            try:
                snap = self._changed(watch)
                if snap is not None:
                    self.warm()
                    self.warmed = snap
                    with self._done:
                        self.rounds += 1
                        self._done.notify_all()
            except Exception:  # noqa: BLE001 - a failed round is logged and tried again at the next change
                self.failures += 1
                log.exception("预热缓存失败 warming the caches failed")
                self.warmed = None
                self._stop.wait(MAX_WAIT_S)
            self._stop.wait(POLL_S)

    def _snapshot(self, watch: versions.Watch) -> Snapshot:
        found = watch.peek()  # kept while nothing was heard: no database work
        if found is not None:
            return found
        with session(self.url, actor=ACTOR) as s:
            return watch.snapshot(s)

    def _changed(self, watch: versions.Watch) -> Snapshot | None:
        """The data to build on when they changed since the last round (and then stayed unchanged
        ``QUIET_S``), else None. The first round, at start, does not wait."""
        snap = self._snapshot(watch)
        if snap == self.warmed:
            return None
        if self.warmed is None:
            return snap
        started = time.monotonic()
        while time.monotonic() - started < MAX_WAIT_S:
            if self._stop.wait(QUIET_S):
                return None
            again = self._snapshot(watch)
            if again == snap:
                break
            snap = again
        return snap

    def warm(self) -> None:
        """One round: each page and the run's first view in a transaction of its own."""
        started = time.perf_counter()
        for build in (*warm_pages(), lambda s: warm_first_view(self.app, s), self.warm_tiles):
            with session(self.url, actor=ACTOR) as s:
                build(s)
        log.info("缓存已预热 caches warmed in %.1f s", time.perf_counter() - started)

    def warm_tiles(self, s) -> int:
        """The vector tiles of the pages' first views (``first_view_tiles``) on common screens; returns how
        many tiles were asked for (kept ones cost a lookup)."""
        bounds = sources.district(s)["bounds"]
        if bounds is None:
            return 0
        asked = 0
        for page_tiles in first_view_tiles(s):
            lower = 1 if page_tiles.size == 512 else 0
            for z in screens.fit_zooms(bounds, VIEWPORTS):
                for x, y in screens.tiles_in_view(bounds, z - lower, VIEWPORTS):
                    for role in page_tiles.roles:
                        if self._stop.is_set():
                            return asked
                        tiles.warm(self.app, s, page_tiles.layer, z - lower, x, y, page_tiles.filters, role)
                        asked += 1
        return asked


VIEWPORTS = ((390, 844), (1280, 800), (1920, 1080))
"""Screens (CSS pixels) whose first view of the district is warmed: a phone, a laptop, a desktop."""


def _lower_priority() -> None:
    """This thread only (Linux: a thread's id is a process id for ``setpriority``)."""
    with suppress(AttributeError, OSError):  # not Linux, or not allowed: same priority as the requests
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
