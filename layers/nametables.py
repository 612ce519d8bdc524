"""The place-name tables in use: the shipped ones of data/placenames/ under the configured edits.

Read by the registry (``layers.placenames``), the place labels of gaps and sites (``layers.labels``),
the API at start and the CLI.
"""

from __future__ import annotations

from pathlib import Path

from geo.placenames.tables import PlaceNameTables, use_overrides
from settings import placename_settings


def configured_tables() -> PlaceNameTables:
    """The tables in use: data/placenames/ read under ``MINQING_PLACENAME_TABLES`` (when set).

    Also makes them the default of every ``geo.placenames`` function (``use_overrides``), so the
    API and the CLI call this once at start; a missing folder or a malformed table raises
    ``PlaceNameTableError`` naming the file and the fix.
    """
    folder = placename_settings().placename_tables
    return use_overrides(Path(folder) if folder else None)


def tables_in_use(tables: PlaceNameTables | None = None) -> PlaceNameTables:
    """``tables`` when given, else the configured ones."""
    return tables if tables is not None else configured_tables()


def road_categories(tables: PlaceNameTables | None = None) -> list[str]:
    """Categories of streets, roads and lanes (class ``road`` in data/placenames/categories.csv)."""
    return [c for c, cat in tables_in_use(tables).categories.items() if "road" in cat.classes]
