"""Import government files: facilities, areas/grids, 一标三实 addresses and the division gazetteer.

Every import reads the whole file, checks every row and reports each problem with its row and a
fix. Nothing is written unless the file is clean; then everything is written in the caller's
transaction (``layers.db.session``), so a failure anywhere leaves the stored data as it was.
``dry_run`` runs the same checks in a read-only transaction and writes nothing at all: what only
the database knows (codes already stored, grid codes, parents, stored names, the estimates real
addresses supersede) is checked with read queries, and the report is the one the import would give.

A file may hold at most ``MINQING_IMPORT_MAX_ROWS`` data rows (``settings``): larger files
are refused before they are read whole. New rows take their keys from the tables' sequences
(``layers.ids``), never ``max(id) + 1``, so imports and API edits can run at the same time.

Row numbers are those a user sees: the spreadsheet line (header = line 1, first data row = 2), or
the feature number (from 1) of a GeoJSON/GPKG/Shapefile. Coordinates may come in WGS84, CGCS2000,
GCJ-02 (高德/腾讯), BD-09 (百度) or any EPSG code; they are always stored in WGS84.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from geo.crs import check_crs
from layers.errors import ValidationFailed
from layers.load.areas import import_areas
from layers.load.bulk import Progress, read_only
from layers.load.divisions import import_divisions
from layers.load.facilities import import_facilities
from layers.load.names import import_place_names
from layers.load.report import ImportReport, Rejected
from layers.load.residences import import_addresses

log = logging.getLogger("minqing.imports")


LAYERS = ("facilities", "areas", "addresses", "place_names", "divisions")


LAYER_ALIASES = {"grids": "areas", "residences": "addresses"}


def import_file(
    s: Session,
    layer: str,
    path: str | Path,
    *,
    crs: str = "wgs84",
    dry_run: bool = False,
    actor: str = "import",
    column_map: dict[str, str] | None = None,
    sliver_m2: float = 0,
    replace: bool = False,
    bbox: tuple[float, float, float, float] | None = None,
    level: str | None = None,
    make_valid: bool = False,
    strict_topology: bool = False,
    step: Callable[[str], None] | None = None,
    max_rows: int | None = None,
    progress: Progress | None = None,
    outside_china: bool = False,
) -> ImportReport:
    """Check a government file and, when it is clean, write it (all or nothing).

    Parameters
    ----------
    s : an open session (``layers.db.session``): the import is part of its transaction.
    layer : 'facilities', 'areas' (alias 'grids'), 'addresses' (一标三实 → residences; alias
        'residences'), 'place_names' (added to the registry with a 'create' history row) or
        'divisions' (``path`` = the gazetteer directory).
    path : CSV/XLSX (Chinese headers, see data/import_columns.csv) or GeoJSON/GPKG/zipped SHP.
    crs : coordinate system of lon/lat or geometry without a declared CRS: 'wgs84', 'cgcs2000',
        'gcj02' (高德/腾讯), 'bd09' (百度), or 'epsg:NNNN'.
    dry_run : check everything (what only the database knows included, by read queries) in a
        read-only transaction: nothing is written; the report is the one the import would give.
    column_map : extra header → column mapping, e.g. ``{'机构': 'name'}``.
    sliver_m2 : areas only: absorb overlaps/gaps/overhangs up to this size (m²).
    replace : remove the layer's stored rows first (areas: those whose code is not in the file).
    bbox : (lon_min, lat_min, lon_max, lat_max) the rows must lie in; default: the stored areas
        (warnings only), or China.
    outside_china : with no stored areas and no ``bbox``, accept rows anywhere instead of only in
        China (documented option for test or foreign data).
    level : areas only: the level of every row when the file has no level column.
    make_valid : areas only: repair invalid polygons instead of rejecting them.
    strict_topology : areas only: reject the file when topology problems remain.
    step : called with a label at each stage (reading, checking, topology, writing): progress bars.
    max_rows : the most data rows a file may hold (default: ``MINQING_IMPORT_MAX_ROWS``).
    progress : called with (rows written, rows to write) while the rows are written: progress bars.

    Returns
    -------
    ImportReport; ``report.ok`` False means nothing was written (see ``report.problems``).
    """
    layer = LAYER_ALIASES.get(layer, layer)
    if layer not in LAYERS:
        raise ValidationFailed(f"unknown layer {layer!r}: use one of {list(LAYERS) + list(LAYER_ALIASES)}")
    check_crs(crs)
    step = step or (lambda _label: None)
    if layer == "divisions":
        return import_divisions(s, Path(path), dry_run=dry_run, actor=actor, step=step, progress=progress)
    report = ImportReport(layer=layer, path=str(path), dry_run=dry_run)
    options = {
        "crs": crs,
        "dry_run": dry_run,
        "actor": actor,
        "column_map": column_map,
        "replace": replace,
        "bbox": bbox,
        "sliver_m2": sliver_m2,
        "level": level,
        "make_valid": make_valid,
        "strict_topology": strict_topology,
        "step": step,
        "max_rows": max_rows,
        "progress": progress,
        "outside_china": outside_china,
    }
    try:
        with read_only(s, enabled=dry_run):
            {
                "facilities": import_facilities,
                "addresses": import_addresses,
                "areas": import_areas,
                "place_names": import_place_names,
            }[layer](s, Path(path), report, **options)
    except Rejected:
        report.ok = False
    return report
