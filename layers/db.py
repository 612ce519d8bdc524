"""Engine and sessions. The URL comes from ``DATABASE_URL`` or the local ``.pgdata/`` cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from sqlalchemy import Connection, CursorResult, Engine, Result, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from layers import versions
from layers.cluster import local_cluster
from layers.errors import DatabaseUnavailable
from settings import database_settings


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
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine(url: str | None = None) -> Engine:
    """One pooled engine per URL (``url`` defaults to the configured database, read each call)."""
    return _engine(url or database_url())


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    made = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, future=True)
    _forget_versions_on_write(made, url)
    return made


def _forget_versions_on_write(made: Engine, url: str) -> None:
    """A transaction that wrote makes this process drop its kept data versions when it ends
    (``layers.versions``; other processes hear the commit's NOTIFY)."""

    @event.listens_for(made, "before_cursor_execute")
    def _mark(conn, cursor, statement, parameters, context, executemany) -> None:
        if versions.writes(statement):
            conn.info[versions.WROTE] = True

    @event.listens_for(made, "commit")
    @event.listens_for(made, "rollback")
    def _end(conn) -> None:
        if conn.info.pop(versions.WROTE, False):
            versions.forget_on_commit(url)


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


def set_actor(s: Session, actor: str, *, bulk: bool = False, audit_rows: bool = True) -> None:
    """Tell the audit triggers who writes (transaction-local).

    ``bulk``: set-based loading (COPY); the row triggers stand aside and the imported tables'
    statement triggers record every changed row in one INSERT per statement (migration 0007).
    ``audit_rows=False`` (the demo loader only) leaves just the summary rows.
    """
    s.execute(
        text(
            "SELECT set_config('minqing.actor', :a, true), set_config('minqing.bulk', :b, true), "
            "set_config('minqing.audit_rows', :r, true)"
        ),
        {"a": actor, "b": "on" if bulk else "off", "r": "on" if audit_rows else "off"},
    )


def cursor_result(result: Result[Any]) -> CursorResult[Any]:
    """``result`` as the ``CursorResult`` it is for textual SQL (``rowcount``, ``cursor``).

    ``Session.execute`` is typed to return a ``Result``; for ``text()`` it returns a ``CursorResult``.
    """
    if not isinstance(result, CursorResult):
        raise TypeError(f"expected the CursorResult of textual SQL, got a {type(result).__name__}")
    return result


def driver_connection(con: Session | Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``con`` (its transaction): for COPY and SQL with $$ bodies."""
    connection = con.connection() if isinstance(con, Session) else con
    raw = connection.connection.driver_connection
    if raw is None:
        raise DatabaseUnavailable("the database connection was closed: run the command again")
    return raw
