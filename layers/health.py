"""Is the database there and migrated?"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def status(s: Session) -> dict:
    """``{"database": "ok", "schema": <alembic revision or None>}``; raises when the server is down."""
    s.execute(text("SELECT 1"))
    revision = s.execute(text("SELECT version_num FROM alembic_version LIMIT 1")).scalar()
    return {"database": "ok", "schema": revision}
