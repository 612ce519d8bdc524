"""Import 一标三实 addresses (residences with households and people) from a government file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.osm import read_household_parameters
from layers import ids
from layers.db import cursor_result
from layers.load.bulk import RESIDENCE_COLS, Progress, copy_frame, record_import
from layers.load.estimates import Superseded, drop_superseded_estimates, superseded_by_new
from layers.load.position import expected_extent, locate
from layers.load.reference import DATA_DIR
from layers.load.report import ImportReport, Rejected, write_all_or_nothing
from layers.load.source import (
    WIDTHS,
    Source,
    check_widths,
    map_columns,
    number_column,
    read_source,
    require_columns,
    text_column,
)


def assign_residence_areas(s: Session) -> int:
    """Give residences without an area the small grid that contains them; returns how many got one."""
    return cursor_result(
        s.execute(
            text(
                "UPDATE residences r SET area_id = a.area_id FROM areas a "
                "WHERE r.area_id IS NULL AND a.level = 'grid_small' AND ST_Contains(a.geom, r.geom)"
            )
        )
    ).rowcount


def import_addresses(
    s: Session,
    path: Path,
    report: ImportReport,
    *,
    crs,
    dry_run,
    actor,
    column_map,
    replace,
    bbox,
    step,
    max_rows,
    progress,
    outside_china=False,
    **_ignored,
) -> None:
    step("读取 reading")
    source = read_source(path, report, crs=crs, max_rows=max_rows)
    frame = map_columns(source.frame, "addresses", report, column_map)
    positioned = any(c in frame.columns for c in ("lon", "wkt", "address")) or source.geometry is not None
    require_columns(frame, "addresses", ["households"] + ([] if positioned else ["lon", "lat"]), report)
    if not report.ok:
        raise Rejected
    step("检查 checking rows")
    extent = expected_extent(s, bbox, outside_china=outside_china)
    rows = _address_rows(s, frame, source, report, crs=source.crs, extent=extent)
    if report.ok:
        step("写入 writing")
        write_all_or_nothing(
            s,
            report,
            lambda: _write_residences(
                s, rows, replace=replace, actor=actor, report=report, progress=progress
            ),
            actor=actor,
            dry_run=dry_run,
            preview=lambda: _preview_residences(s, rows, replace=replace, report=report),
        )


def _address_rows(s, frame, source, report, *, crs, extent) -> pd.DataFrame:
    check_widths(frame, source, report, {"address": WIDTHS["address"]})
    households = number_column(frame, "households", source, report, integer=True)
    for i in np.flatnonzero(
        households.isna().to_numpy() & (text_column(frame, "households") == "").to_numpy()
    ):
        report.add(int(source.row[i]), "户数 households", "户数 is empty", "fill in the number of households")
    people = _people(frame, households, source, report)
    area_id = _grid_ids(s, frame, source, report)
    lon, lat, _ = locate(frame, source, report, s=s, crs=crs, extent=extent)
    return pd.DataFrame(
        {
            "row": source.row,
            "address": text_column(frame, "address").replace("", None),
            "households": households,
            **people,
            "area_id": area_id,
            "lon": lon,
            "lat": lat,
            "source": f"file:{Path(report.path).name}"[:200],
        }
    )


def _people(frame, households, source, report) -> dict[str, pd.Series]:
    """Population, elderly and children; missing columns estimated (census shares) and flagged."""
    params = read_household_parameters(DATA_DIR / "household_estimate.csv")
    given = {
        c: number_column(frame, c, source, report, integer=True)
        for c in ("population", "elderly", "children")
    }
    estimated = pd.Series(False, index=frame.index)
    if "population" not in frame.columns:
        given["population"] = (households * params.persons_per_household).round()
        estimated[:] = True
    for column, share in (("elderly", params.elderly_share), ("children", params.children_share)):
        if column not in frame.columns:
            given[column] = (given["population"] * share).round()
            estimated[:] = True
    too_many = (given["elderly"] + given["children"]) > given["population"]
    for i in np.flatnonzero(too_many.to_numpy()):
        report.add(
            int(source.row[i]),
            "人口 population",
            "60岁以上 + 0-14岁 exceed 人口",
            "check the three counts of this address",
        )
    if estimated.any():
        report.warn(
            None,
            None,
            "population, elderly or children columns missing: estimated from 户数 with the "
            "census figures of data/household_estimate.csv",
            "add 人口/60岁以上/0-14岁 columns for real counts",
        )
    return {**{c: v.fillna(0) for c, v in given.items()}, "estimated": estimated}


def _grid_ids(s: Session, frame: pd.DataFrame, source: Source, report: ImportReport) -> pd.Series:
    """area_id of each row's grid code (None: found by location after writing)."""
    codes = text_column(frame, "grid_code", nfkc=True)
    stored: dict[str, int] = (
        dict(s.execute(text("SELECT code, area_id FROM areas")).all()) if (codes != "").any() else {}
    )
    area_ids = pd.Series([stored.get(c) for c in codes], index=frame.index, dtype="Int64")
    for i in np.flatnonzero(((codes != "") & area_ids.isna()).to_numpy()):
        report.add(
            int(source.row[i]),
            "网格编码 grid_code",
            f"grid code {codes.iat[i]!r} is not a stored area",
            "import the grids first (minqing import grids) or correct the code",
        )
    return area_ids


def _write_residences(
    s: Session,
    rows: pd.DataFrame,
    *,
    replace: bool,
    actor: str,
    report: ImportReport,
    progress: Progress | None = None,
) -> int:

    if replace:
        s.execute(text("DELETE FROM residences"))
    frame = rows.assign(
        residence_id=ids.allocate(s, "residences", len(rows)),
        geometry=shapely.points(rows["lon"].to_numpy(), rows["lat"].to_numpy()),
        households_estimated=False,
    )
    for column in ("households", "population", "elderly", "children"):
        frame[column] = frame[column].astype(np.int64)
    n = copy_frame(
        s,
        "residences",
        frame,
        columns=RESIDENCE_COLS + ["area_id"],
        geometry={"geometry": "geom"},
        progress=progress,
    )
    assign_residence_areas(s)
    _report_superseded(drop_superseded_estimates(s), report)
    _report_outside(
        s.execute(text("SELECT count(*) FROM residences WHERE area_id IS NULL")).scalar_one(), report
    )
    record_import(s, actor=actor, layer="residences", summary={"rows": n, "replace": replace})
    return n


def _preview_residences(s: Session, rows: pd.DataFrame, *, replace: bool, report: ImportReport) -> int:
    """What ``_write_residences`` would report, by read queries only (dry runs)."""
    new = rows[["lon", "lat", "households", "area_id"]].assign(
        households_estimated=False, households=rows["households"].astype("int64")
    )
    outcome = superseded_by_new(s, new, keep="none" if replace else "all")
    _report_superseded(outcome, report)
    _report_outside(outcome["outside"], report)
    return len(rows)


def _report_outside(outside: int, report: ImportReport) -> None:
    if outside:
        report.warn(
            None,
            None,
            f"{outside} residences lie in no small grid (area_id empty)",
            "import the small grids (minqing import grids) — residences are then assigned automatically",
        )


def _report_superseded(dropped: Superseded, report: ImportReport) -> None:
    """Report the OSM footprint estimates that the real addresses supersede (layers.load.estimates)."""
    report.summary["estimates_removed"] = int(dropped["removed"])
    if dropped["removed"]:
        report.warn(
            None,
            None,
            f"{dropped['removed']:.0f} estimated residences from building footprints "
            f"({dropped['households']:.0f} estimated households) removed: real addresses supersede them "
            f"({dropped['near_real']:.0f} within {dropped['radius_m']:g} m of an address, "
            f"{dropped['in_real_grid']:.0f} elsewhere in a small grid with addresses)",
            "nothing to do: real counts replace estimates (the distance is real_data_radius_m of "
            "data/household_estimate.csv)",
        )
