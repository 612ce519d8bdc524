"""Database settings: one pydantic-settings object.

``DATABASE_URL`` points minqing-map at an existing PostgreSQL 15 + PostGIS 3 server. When it is
unset, the local cluster under ``.pgdata/`` (started by ``minqing db up``) is used.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = None
    """SQLAlchemy URL, e.g. ``postgresql+psycopg://user:pw@host:5432/minqing``."""
    pg_durable: bool = Field(False, validation_alias="MINQING_PG_DURABLE")
    """Local ``.pgdata/`` cluster only: run with fsync, full-page writes and synchronous commit on
    (crash-safe, slower loads). Off by default: the local cluster is a demo/test cluster."""


def database_settings() -> DatabaseSettings:
    return DatabaseSettings()
