"""Alembic migrations, driven from code (no alembic.ini needed): ``minqing db migrate``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from layers.db import database_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    eng = create_engine(url or database_url())
    with eng.connect() as con:
        rev = MigrationContext.configure(con).get_current_revision()
    eng.dispose()
    return rev
