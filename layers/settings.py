"""Database and import settings (pydantic-settings objects).

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


class ImportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    import_max_rows: int = Field(200_000, ge=1, validation_alias="MINQING_IMPORT_MAX_ROWS")
    """The most data rows one imported file may hold (larger files are refused before they are
    read whole): bounds the memory and time of an import and of its dry run."""


def import_settings() -> ImportSettings:
    return ImportSettings()
