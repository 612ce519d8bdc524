"""Alembic migrations, driven from code (no alembic.ini needed): ``minqing db migrate``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from layers.db import database_url
from layers.models import Base

MIGRATIONS = Path(__file__).parent / "migrations"
NOT_OURS = frozenset({"spatial_ref_sys"})
"""Tables of the PostGIS extension: never compared with the models, never audited."""
PARTITION_PREFIX = "province_residence_c"
"""Per-county partitions of ``province_residence`` (created at run time; the parent is the model)."""


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: compare everything but PostGIS's own tables (a table without a model shows)."""
    return not (type_ == "table" and (name in NOT_OURS or name.startswith(PARTITION_PREFIX)))


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head() -> str | None:
    """The newest revision of the migrations shipped with this code."""

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current(url: str | None = None) -> str | None:
    """The revision the database is at (None before the first migration); gives up after 5 s."""

    eng = create_engine(url or database_url(), connect_args={"connect_timeout": 5})
    with eng.connect() as con:
        rev = MigrationContext.configure(con).get_current_revision()
    eng.dispose()
    return rev


def drift(url: str | None = None) -> list:
    """Differences between the models (layers.models) and the migrated schema; ``[]`` when none.

    Alembic's autogenerate comparison (tables, columns and their types, indexes, foreign keys);
    PostGIS's own tables are left out.
    """

    eng = create_engine(url or database_url())
    try:
        with eng.connect() as con:
            ctx = MigrationContext.configure(
                con, opts={"compare_type": True, "include_object": include_object}
            )
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        eng.dispose()
