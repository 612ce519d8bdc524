"""Reading an import file (CSV, XLSX, GeoJSON, GPKG, Shapefile) and mapping its columns to ours."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo import chinacrs
from layers.load.reference import DATA_DIR
from layers.load.report import ImportReport, Rejected
from settings import import_settings

SPREADSHEETS = (".csv", ".txt", ".xlsx", ".xlsm", ".xls")


VECTORS = (".geojson", ".json", ".gpkg", ".shp", ".zip")


WIDTHS = {
    "name": 200,
    "address": 300,
    "phone": 40,
    "opening_hours": 120,
    "fees": 200,
    "operator": 200,
    "code": 24,
    "worker_name": 60,
    "worker_phone": 40,
}


INT4_MAX = 2_147_483_647  # counts are PostgreSQL integers


def _row_numbers(n: int, *, spreadsheet: bool) -> np.ndarray:
    return np.arange(n) + (2 if spreadsheet else 1)


@dataclass
class Source:
    """A file read into a frame: ``frame`` (str columns), ``geometry`` (vector files), row numbers,
    and ``crs``: the coordinate system its coordinates are in (a file's declared CRS wins, except
    that GCJ-02/BD-09 data are declared as WGS84 by the tools that write them)."""

    frame: pd.DataFrame
    geometry: gpd.GeoSeries | None
    row: np.ndarray
    crs: str = "wgs84"


def read_source(
    path: Path, report: ImportReport, *, crs: str = "wgs84", max_rows: int | None = None
) -> Source:
    """Read a spreadsheet (CSV/XLSX) or a vector file (GeoJSON/GPKG/zipped SHP); problems → report.

    At most ``max_rows`` data rows (default: ``MINQING_IMPORT_MAX_ROWS``): one more is read to
    tell that a file is larger, and such a file is refused without reading the rest.
    """
    limit = import_settings().import_max_rows if max_rows is None else max_rows
    suffix = path.suffix.lower()
    if not path.is_file():
        report.add(None, None, f"no such file {path}", "check the path")
        raise Rejected
    if suffix not in SPREADSHEETS + VECTORS:
        report.add(
            None,
            None,
            f"unknown file type {suffix!r}",
            f"use a spreadsheet ({', '.join(SPREADSHEETS)}) or a GIS file ({', '.join(VECTORS)})",
        )
        raise Rejected
    source = _read_vector(path, report, crs, limit) if suffix in VECTORS else _read_table(path, report, limit)
    source.crs = source.crs if suffix in VECTORS else crs
    if len(source.frame) > limit:
        report.add(
            None,
            None,
            f"the file has more than {limit:,} data rows, the most one import takes "
            "(MINQING_IMPORT_MAX_ROWS)",
            f"split the file into parts of at most {limit:,} rows and import them one after the other, "
            "or raise MINQING_IMPORT_MAX_ROWS in the environment (or .env) of the server and the CLI",
        )
        raise Rejected
    if source.frame.empty:
        report.add(
            None,
            None,
            "the file has no data rows",
            "fill in the rows under the header line (or choose the right sheet/file)",
        )
        raise Rejected
    report.rows = len(source.frame)
    return source


def _read_table(path: Path, report: ImportReport, limit: int) -> Source:
    try:
        if path.suffix.lower() in (".csv", ".txt"):
            frame = _read_csv(path, limit + 1)
        else:
            frame = pd.read_excel(path, dtype=str, keep_default_na=False, nrows=limit + 1)
    except Exception as e:  # pandas/openpyxl raise many kinds; all mean "not a readable table"
        report.add(
            None,
            None,
            f"cannot read {path.name} as a spreadsheet ({type(e).__name__}: {e})",
            "open it in Excel/WPS and save it as .xlsx, or as CSV (UTF-8)",
        )
        raise Rejected from e
    frame = frame.dropna(how="all")
    frame = frame[~(frame.astype(str).apply(lambda c: c.str.strip()) == "").all(axis=1)]
    return Source(frame.reset_index(drop=True), None, _row_numbers(len(frame), spreadsheet=True))


def _read_csv(path: Path, nrows: int) -> pd.DataFrame:
    """CSV as text (at most ``nrows`` rows); UTF-8 (with or without BOM), else GB18030 (what
    Chinese Excel writes)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=nrows)
    except UnicodeDecodeError:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030", nrows=nrows)


def _read_vector(path: Path, report: ImportReport, crs: str, limit: int) -> Source:
    try:
        gdf = _read_gis(path, limit + 1)
    except Exception as e:  # pyogrio raises DataSourceError and friends
        report.add(
            None,
            None,
            f"cannot read {path.name} as a GIS file ({type(e).__name__}: {e})",
            "export it again as GeoPackage (.gpkg), GeoJSON or a zipped Shapefile (.shp+.shx+.dbf+.prj)",
        )
        raise Rejected from e
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
    frame = frame.where(frame.notna(), "").astype(str)
    if gdf.crs is None:
        return Source(frame, gdf.geometry, _row_numbers(len(gdf), spreadsheet=False), crs)
    shifted = _shift_system(crs)
    return Source(
        frame, gdf.geometry.to_crs(4326), _row_numbers(len(gdf), spreadsheet=False), shifted or "wgs84"
    )


def _read_gis(path: Path, rows: int) -> gpd.GeoDataFrame:
    """Read (at most ``rows`` features of) a GIS file; Shapefiles without a .cpg are often GBK
    (Chinese desktop GIS): retry so."""
    try:
        return gpd.read_file(path, rows=rows)
    except UnicodeDecodeError:
        return gpd.read_file(path, encoding="gb18030", rows=rows)


def _shift_system(crs: str) -> str | None:
    """'gcj02'/'bd09' when ``crs`` names one of the shifted web-map systems, else None."""
    try:
        system = chinacrs.normalise_crs(crs)
    except chinacrs.UnknownCRSError:
        return None
    return system if system != "wgs84" else None


def read_column_mapping(path: Path | None = None) -> pd.DataFrame:
    """The header → column table (data/import_columns.csv: ``layer, header, column``)."""
    return pd.read_csv(path or DATA_DIR / "import_columns.csv", dtype=str, keep_default_na=False)


def normalise_header(header: str) -> str:
    """Header key: NFKC, lower case, no spaces, without a bracketed unit ('建筑面积（㎡）' → '建筑面积')."""
    h = unicodedata.normalize("NFKC", str(header)).strip().lower()
    h = re.sub(r"[\(\[].*?[\)\]]", "", h)
    return re.sub(r"\s+", "", h)


def map_columns(
    frame: pd.DataFrame, layer: str, report: ImportReport, column_map: dict[str, str] | None
) -> pd.DataFrame:
    """Rename the file's headers to our column names (shipped table + ``column_map``)."""
    table = read_column_mapping()
    table = table[table["layer"] == layer]
    known = {normalise_header(h): c for h, c in zip(table["header"], table["column"], strict=True)}
    known.update({normalise_header(c): c for c in table["column"]})
    known.update({normalise_header(h): c for h, c in (column_map or {}).items()})
    renamed: dict[str, str] = {}
    for header in frame.columns:
        target = known.get(normalise_header(header))
        if target is None:
            continue
        if target in renamed.values():
            first = next(h for h, t in renamed.items() if t == target)
            report.warn(
                None,
                str(header),
                f"also maps to {target}; column {first!r} is used",
                f"remove one of the two columns or map it elsewhere with --map {header}=...",
            )
            continue
        renamed[header] = target
    return frame[list(renamed)].rename(columns=renamed)


def require_columns(frame: pd.DataFrame, layer: str, required: list[str], report: ImportReport) -> None:
    """Report missing columns with the headers that would be recognised and the mapping option."""
    missing = [c for c in required if c not in frame.columns]
    if not missing:
        return
    table = read_column_mapping()
    table = table[table["layer"] == layer]
    for column in missing:
        headers = table.loc[table["column"] == column, "header"].tolist()
        report.add(
            None,
            column,
            f"missing column {column} (headers recognised: {', '.join(headers + [column])})",
            f"rename your header to one of these, or map it: --map 你的列名={column} "
            f"(column_map={{'your header': '{column}'}}); all recognised headers are in "
            "data/import_columns.csv",
        )


def text_column(frame: pd.DataFrame, column: str, *, nfkc: bool = False) -> pd.Series:
    """A column as stripped text ('' when absent). ``nfkc`` folds full-width digits and letters
    (for codes and numbers — never for names, whose full-width brackets are part of the name)."""
    if column not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    fold = (lambda v: unicodedata.normalize("NFKC", v).strip()) if nfkc else (lambda v: v.strip())
    return frame[column].astype(str).map(fold).astype(object)


def number_column(
    frame: pd.DataFrame,
    column: str,
    source: Source,
    report: ImportReport,
    *,
    integer: bool = False,
    minimum: float | None = 0.0,
) -> pd.Series:
    """Parse a numeric column ('1,200', '350㎡' accepted); blanks → NaN; bad values reported."""
    values = text_column(frame, column, nfkc=True)
    cleaned = values.str.replace(",", "", regex=False).str.extract(
        r"^\s*(-?\d+(?:\.\d+)?)\s*(?:[^\d\s.].*)?$", expand=False
    )
    parsed = pd.to_numeric(cleaned, errors="coerce")
    for i in np.flatnonzero((values != "").to_numpy() & parsed.isna().to_numpy()):
        report.add(int(source.row[i]), column, f"{values.iat[i]!r} is not a number", "write a plain number")
    bad = parsed.notna() & (((parsed % 1) != 0) if integer else False)
    if minimum is not None:
        bad |= parsed < minimum
    for i in np.flatnonzero(bad.to_numpy()):
        kind = "a whole number" if integer else "a number"
        report.add(
            int(source.row[i]),
            column,
            f"{values.iat[i]!r} is not {kind} ≥ {minimum:g}",
            f"write {kind} of at least {minimum:g}",
        )
    huge = ((parsed.abs() > INT4_MAX) if integer else ~np.isfinite(parsed.fillna(0))) & ~bad
    for i in np.flatnonzero(huge.to_numpy()):
        report.add(
            int(source.row[i]),
            column,
            f"{values.iat[i]!r} is too large",
            f"write a number below {INT4_MAX:,}" if integer else "write a plain number",
        )
    return parsed


def check_widths(frame: pd.DataFrame, source: Source, report: ImportReport, widths: dict[str, int]) -> None:
    for column, width in widths.items():
        if column not in frame.columns:
            continue
        lengths = text_column(frame, column).str.len()
        for i in np.flatnonzero((lengths > width).to_numpy()):
            report.add(
                int(source.row[i]), column, f"longer than {width} characters", f"shorten it to {width}"
            )


def required_text(frame: pd.DataFrame, column: str, source: Source, report: ImportReport) -> pd.Series:
    values = text_column(frame, column)
    for i in np.flatnonzero((values == "").to_numpy()):
        report.add(int(source.row[i]), column, f"{column} is empty", f"fill in the {column}")
    return values
