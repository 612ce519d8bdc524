"""The data versions, read once per change instead of once per request (PostgreSQL LISTEN/NOTIFY).

A ``Snapshot`` is what the tile layers' versions are made of, read in one query: the database's
identity, every ``data_versions`` counter, the latest finished coverage run and province run.
Every change to any of them announces itself on ``CHANNEL`` when its transaction commits (migration
0038: the ``data_versions`` trigger and statement triggers on the run tables, ``users`` and
``revoked_tokens``), to every listening connection, whichever process it belongs to.

One ``Watch`` per process and database holds one such listening connection, in a thread, and the
last snapshot read: it keeps the snapshot until a message arrives (then the next request reads a
new one), for at most ``MAX_AGE_S``, and never while it is not listening (connection lost, not yet
started: every request reads its own). A snapshot read while a message arrived is not kept (a
generation counter), and a commit with writes in this process forgets the snapshot at once
(``forget_on_commit``, ``layers.db``), so a request that follows a write in the same process never
sees the version before it. Another process's write is seen once its message arrives, a few
milliseconds after the commit.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from layers.features import LATEST_RUN, PROVINCE_RUN

CHANNEL = "minqing_versions"
MAX_AGE_S = 30.0
"""A snapshot is read again after this long even without a message (belt and braces)."""
RETRY_S = 1.0
"""A listener that failed is restarted at most this often (by the next request that wants it)."""


@dataclass(frozen=True)
class Snapshot:
    identity: tuple
    """Server address, port and the database's oid (``layers.queries.database_identity``)."""
    versions: Mapping[str, int] = field(default_factory=dict)
    """``data_versions``: layer → counter."""
    latest_run: int | None = None
    """The latest finished coverage run of the real data (``LATEST_RUN``)."""
    province_run: int | None = None
    """The latest finished province run (``PROVINCE_RUN``)."""


def read(s: Session) -> Snapshot:
    """The current snapshot, in one query."""
    row = s.execute(
        text(
            "SELECT coalesce(inet_server_addr()::text, ''), coalesce(inet_server_port(), 0), "
            "(SELECT oid FROM pg_database WHERE datname = current_database()), "
            "(SELECT coalesce(jsonb_object_agg(layer, version), '{}'::jsonb) FROM data_versions), "
            f"{LATEST_RUN}, {PROVINCE_RUN}"
        )
    ).one()
    return Snapshot(
        identity=(row[0], int(row[1]), int(row[2])),
        versions={k: int(v) for k, v in row[3].items()},
        latest_run=row[4],
        province_run=row[5],
    )


class Watch:
    """The snapshot of one database in this process, kept while a listener hears every change."""

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._generation = 0
        self._snapshot: Snapshot | None = None
        self._read_at = 0.0
        self._listening = False
        self._thread: threading.Thread | None = None
        self._started_at = -RETRY_S
        self.reads = 0
        """Snapshots read from the database (for tests and benches)."""

    @property
    def listening(self) -> bool:
        return self._listening

    def peek(self) -> Snapshot | None:
        """The kept snapshot if it is still good, else None (no database work)."""
        found = self.current()
        return None if found is None else found[0]

    def current(self) -> tuple[Snapshot, int] | None:
        """The kept snapshot and its generation, if still good: a value read from the database
        under the same generation (``generation``) is as current as the snapshot."""
        self._ensure_listener()
        with self._lock:
            if (
                self._listening
                and self._snapshot is not None
                and time.monotonic() - self._read_at < MAX_AGE_S
            ):
                return self._snapshot, self._generation
        return None

    def generation(self) -> int | None:
        """The generation now (None when not listening): take it BEFORE reading a value to keep under it."""
        with self._lock:
            return self._generation if self._listening else None

    def snapshot(self, s: Session) -> Snapshot:
        """The kept snapshot, or one read with ``s`` (kept when no change arrived while reading and
        ``s`` has not written: its versions may not be committed)."""
        found = self.peek()
        if found is not None:
            return found
        with self._lock:
            generation, listening = self._generation, self._listening
        started = time.monotonic()
        snap = read(s)
        clean = not s.connection().info.get(WROTE)
        with self._lock:
            self.reads += 1
            if clean and listening and self._listening and self._generation == generation:
                self._snapshot, self._read_at = snap, started
        return snap

    def forget(self) -> None:
        """Drop the kept snapshot (a change was heard or made here)."""
        with self._lock:
            self._generation += 1
            self._snapshot = None

    def _ensure_listener(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            now = time.monotonic()
            if now - self._started_at < RETRY_S:
                return
            self._started_at = now
            self._thread = threading.Thread(target=self._listen, name="minqing-versions", daemon=True)
            self._thread.start()

    def _listen(self) -> None:
        try:
            url = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(url, autocommit=True, application_name="minqing-versions") as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                with self._lock:
                    self._generation += 1  # snapshots read before now may miss a change: not kept
                    self._snapshot = None
                    self._listening = True
                while True:
                    for _ in conn.notifies(timeout=MAX_AGE_S):
                        self.forget()
                    if conn.closed:
                        return
        except Exception:  # noqa: BLE001 - any failure: stop keeping snapshots; a later request restarts
            return
        finally:
            with self._lock:
                self._listening = False
                self._generation += 1
                self._snapshot = None


_WATCHES: dict[tuple[int, str], Watch] = {}
_WATCHES_LOCK = threading.Lock()


def watch(url: str) -> Watch:
    """The ``Watch`` of database ``url`` in this process."""
    key = (os.getpid(), url)
    found = _WATCHES.get(key)
    if found is not None:
        return found
    with _WATCHES_LOCK:
        return _WATCHES.setdefault(key, Watch(url))


def forget_on_commit(url: str) -> None:
    """A transaction on ``url`` that wrote is committing: this process drops its snapshot of it."""
    found = _WATCHES.get((os.getpid(), url))
    if found is not None:
        found.forget()


WROTE = "minqing_wrote"
"""``Connection.info`` key: the connection's transaction ran a statement that may write (``layers.db``)."""
READS = ("SELECT", "SHOW", "SET ", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "LISTEN")


def writes(statement: str) -> bool:
    """Whether ``statement`` may change data (anything but a plain read; a SELECT calling a function
    that writes is heard through its NOTIFY)."""
    return not statement.lstrip().upper().startswith(READS)
