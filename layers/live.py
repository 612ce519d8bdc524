"""Live changes of 民情事件 through PostgreSQL LISTEN/NOTIFY, so that every server process hears them.

``notify`` is called inside the transaction that changed an event: PostgreSQL delivers the message
only when that transaction commits (never for a rolled-back change), to every connection listening
on ``CHANNEL`` whichever process it belongs to. ``listen`` is one such connection (autocommit,
psycopg's async API), yielding the messages as dicts.

The message holds what deciding who may see it and drawing it on a map need (ids, status, point,
grid, town, department) and never a description, address or phone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

CHANNEL = "minqing_events"
FIELDS = (
    "event_id",
    "status",
    "category",
    "level",
    "overdue",
    "grid_id",
    "community_id",
    "town_id",
    "department",
    "due_at",
    "version",
    "lon",
    "lat",
)


def message(event: Mapping[str, Any], action: str) -> dict[str, Any]:
    """The message of one change: the listed fields of ``event`` and the action taken."""
    out = {k: event.get(k) for k in FIELDS}
    if out["due_at"] is not None and hasattr(out["due_at"], "isoformat"):
        out["due_at"] = out["due_at"].isoformat()
    return {**out, "action": action}


def notify(s: Session, event: Mapping[str, Any], action: str) -> None:
    """Announce a change of ``event`` to every listener once the current transaction commits."""
    s.execute(
        text("SELECT pg_notify(:c, :p)"),
        {"c": CHANNEL, "p": json.dumps(message(event, action), ensure_ascii=False)},
    )


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as the plain libpq URL psycopg connects with."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(
    url: str, *, on_listening: Callable[[], object] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Listen on ``CHANNEL`` over one new connection to ``url``; yields each message (a dict) until
    the caller stops iterating or the connection fails (then the error propagates).
    ``on_listening`` is called once LISTEN is in force (every commit from then on is heard)."""

    conn = await psycopg.AsyncConnection.connect(
        libpq_url(url), autocommit=True, application_name="minqing-live"
    )
    try:
        await conn.execute(f"LISTEN {CHANNEL}")
        if on_listening is not None:
            on_listening()
        async for note in conn.notifies():
            try:
                yield json.loads(note.payload)
            except ValueError:
                continue  # not one of ours
    finally:
        await conn.close()
