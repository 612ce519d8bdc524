"""Database settings: one pydantic-settings object.

``DATABASE_URL`` points minqing-map at an existing PostgreSQL 15 + PostGIS 3 server. When it is
unset, the local cluster under ``.pgdata/`` (started by ``minqing db up``) is used.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = None
    """SQLAlchemy URL, e.g. ``postgresql+psycopg://user:pw@host:5432/minqing``."""


def database_settings() -> DatabaseSettings:
    return DatabaseSettings()
