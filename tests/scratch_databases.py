"""Throw-away test databases, each a copy of one migrated template.

Migrating an empty database runs every Alembic revision (seconds each time); PostgreSQL copies a
migrated one in a fraction of a second (``CREATE DATABASE … TEMPLATE``). The template is migrated
once per test process (``<base>_tmpl``, next to the process's own test database, so pytest-xdist
workers never share one) and every scratch database starts as its copy. Tests of the migrations
themselves migrate their own empty databases and do not use this.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_templates: dict[str, str] = {}
"""Template database name by server (URL without a database) → made in this process."""


def _admin(base_url: str):
    return create_engine(make_url(base_url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def template_name(base_url: str) -> str:
    return f"{make_url(base_url).database}_tmpl"


def _template(base_url: str) -> str:
    """The migrated template for ``base_url``'s server, made on first use in this process."""
    from layers import migrate

    name = template_name(base_url)
    if _templates.get(name):
        return name
    admin = _admin(base_url)
    with admin.connect() as con:
        con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        con.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    migrate.upgrade(make_url(base_url).set(database=name).render_as_string(hide_password=False))
    _templates[name] = base_url
    return name


def migrated_database(base_url: str, name: str) -> str:
    """Drop database ``name`` on ``base_url``'s server and create it migrated to head (a copy of the
    template); returns its URL."""
    template = _template(base_url)
    admin = _admin(base_url)
    with admin.connect() as con:
        con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        con.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def drop_templates() -> None:
    """Drop the templates this process made (at the end of the session)."""
    for name, base_url in list(_templates.items()):
        admin = _admin(base_url)
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        del _templates[name]
