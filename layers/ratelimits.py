"""Rate-limit counts in PostgreSQL: a storage for the ``limits`` library shared by every server
process and kept across restarts (schema ``ratelimit``, migration 0021).

``limits`` has storages for memory, Redis, Memcached and MongoDB but none for PostgreSQL; the service
already runs on PostgreSQL, so its counters live there rather than in a second server to install,
start and watch. Fixed windows keep one row per counter (``counters``: key, hits, expiry; one upsert);
the moving window (``MovingWindowRateLimiter``: exactly ``limit`` hits in any ``expiry`` seconds) keeps
one row per hit and its weight (``hits``), trimmed to the window under a per-key transaction lock at every
hit. The tables are UNLOGGED (no WAL: a count is worth nothing after a crash of the database, and fast to
write).
"""

from __future__ import annotations

import time

from limits.storage.base import MovingWindowSupport, Storage
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection

from layers.db import engine

TABLE = "ratelimit.counters"
HITS = "ratelimit.hits"
MAX_WINDOW_S = 86_400
"""No limit of the service counts over a longer window (the public reports: per hour)."""
_UPSERT = text(
    f"INSERT INTO {TABLE} AS c (key, hits, expires_at) "
    "VALUES (:k, :a, clock_timestamp() + make_interval(secs => :e)) ON CONFLICT (key) DO UPDATE SET "
    "hits = CASE WHEN c.expires_at <= clock_timestamp() THEN :a ELSE c.hits + :a END, "
    "expires_at = CASE WHEN c.expires_at <= clock_timestamp() THEN EXCLUDED.expires_at ELSE c.expires_at END "
    "RETURNING hits"
)
_GET = text(
    f"SELECT hits, extract(epoch FROM expires_at) AS expires FROM {TABLE} "
    "WHERE key = :k AND expires_at > clock_timestamp()"
)


class PostgresStorage(Storage, MovingWindowSupport):
    """``limits`` storage on the database at ``uri`` (``postgres+minqing://`` + a SQLAlchemy URL, or
    give ``url=``): fixed-window and moving-window strategies."""

    STORAGE_SCHEME = ["postgres+minqing"]

    def __init__(
        self, uri: str | None = None, wrap_exceptions: bool = False, *, url: str | None = None, **_: object
    ):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.url = url or (uri.removeprefix("postgres+minqing://") if uri else None)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sa_exc.SQLAlchemyError

    def _begin(self):
        return engine(self.url).begin()

    @staticmethod
    def _incr(con: Connection, key: str, expiry: float, amount: int) -> int:
        return int(con.execute(_UPSERT, {"k": key, "a": amount, "e": float(expiry)}).scalar_one())

    @staticmethod
    def _get(con: Connection, key: str) -> tuple[int, float | None]:
        row = con.execute(_GET, {"k": key}).first()
        return (int(row.hits), float(row.expires)) if row else (0, None)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self._begin() as con:
            return self._incr(con, key, expiry, amount)

    def get(self, key: str) -> int:
        with self._begin() as con:
            return self._get(con, key)[0]

    def get_expiry(self, key: str) -> float:
        with self._begin() as con:
            expires = self._get(con, key)[1]
        return expires if expires is not None else time.time()

    def check(self) -> bool:
        try:
            with self._begin() as con:
                con.execute(text("SELECT 1"))
            return True
        except sa_exc.SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self._begin() as con:
            return con.execute(text(f"DELETE FROM {TABLE}")).rowcount

    def clear(self, key: str) -> None:
        with self._begin() as con:
            con.execute(text(f"DELETE FROM {TABLE} WHERE key = :k"), {"k": key})

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        with self._begin() as con:
            # one hit of a key at a time
            con.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
            now = time.time()
            con.execute(
                text(f"DELETE FROM {HITS} WHERE key = :k AND at <= :old"), {"k": key, "old": now - expiry}
            )
            count = con.execute(
                text(f"SELECT coalesce(sum(n), 0) FROM {HITS} WHERE key = :k"), {"k": key}
            ).scalar_one()
            if count + amount > limit:
                return False
            con.execute(
                text(f"INSERT INTO {HITS} (key, at, n) VALUES (:k, :at, :n)"),
                {"k": key, "at": now, "n": amount},
            )
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """When the oldest hit of the last ``expiry`` seconds was, and how many there were."""
        now = time.time()
        with self._begin() as con:
            row = con.execute(
                text(
                    f"SELECT min(at) AS first, coalesce(sum(n), 0) AS n FROM {HITS} "
                    "WHERE key = :k AND at > :old"
                ),
                {"k": key, "old": now - expiry},
            ).one()
        return (float(row.first) if row.first is not None else now), int(row.n)


def purge(url: str | None = None) -> int:
    """Delete expired counters and hits older than ``MAX_WINDOW_S``
    (the task queue does, hourly); how many.
    """
    with engine(url).begin() as con:
        counters = con.execute(text(f"DELETE FROM {TABLE} WHERE expires_at <= clock_timestamp()")).rowcount
        hits = con.execute(
            text(f"DELETE FROM {HITS} WHERE at < :old"), {"old": time.time() - MAX_WINDOW_S}
        ).rowcount
    return counters + hits
