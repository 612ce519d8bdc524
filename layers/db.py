"""Engine and sessions. The URL comes from ``DATABASE_URL`` or the local ``.pgdata/`` cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from layers.cluster import local_cluster
from layers.errors import DatabaseUnavailable
from layers.settings import database_settings


def database_url() -> str:
    """``DATABASE_URL`` if set, else the local cluster's URL (it must be initialised)."""
    url = database_settings().database_url
    if url:
        return _normalise(url)
    cluster = local_cluster()
    if not cluster.initialised():
        raise DatabaseUnavailable(
            "No database configured: run `minqing db up` to start the local PostGIS under .pgdata/, "
            "or set DATABASE_URL=postgresql://user:password@host:5432/dbname."
        )
    return cluster.url()


def _normalise(url: str) -> str:
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine(url: str | None = None) -> Engine:
    """One pooled engine per URL (``url`` defaults to the configured database, read each call)."""
    return _engine(url or database_url())


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, future=True)


engine.cache_clear = _engine.cache_clear  # type: ignore[attr-defined]


@contextmanager
def session(url: str | None = None, *, actor: str = "system") -> Iterator[Session]:
    """A transaction: commits on success, rolls back on any error (all-or-nothing).

    ``actor`` is recorded by the audit triggers for every row written in the transaction.
    """
    maker = sessionmaker(bind=engine(url), expire_on_commit=False)
    with maker() as s, s.begin():
        set_actor(s, actor)
        yield s


def set_actor(s: Session, actor: str, *, bulk: bool = False) -> None:
    """Tell the audit triggers who writes (transaction-local)."""
    s.execute(text("SELECT set_config('minqing.actor', :a, true)"), {"a": actor})
    s.execute(text("SELECT set_config('minqing.bulk', :b, true)"), {"b": "on" if bulk else "off"})
