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

import difflib
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyproj
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo import chinacrs
from geo.osm import read_household_parameters
from geo.topology import PARENT_LEVEL, absorb_slivers, check_topology
from layers import ids
from layers.db import set_actor
from layers.errors import CHECK_RULES, ValidationFailed, describe_database_error
from layers.load.bulk import Progress, copy_frame, read_only, record_import
from layers.load.estimates import drop_superseded_estimates, superseded_by_new
from layers.load.reference import DATA_DIR, read_facility_types
from layers.models import is_work_phone
from settings import divisions_dir, import_settings

log = logging.getLogger("minqing.imports")
LAYERS = ("facilities", "areas", "addresses", "place_names", "divisions")
LAYER_ALIASES = {"grids": "areas", "residences": "addresses"}
SPREADSHEETS = (".csv", ".txt", ".xlsx", ".xlsm", ".xls")
VECTORS = (".geojson", ".json", ".gpkg", ".shp", ".zip")
URBAN_RURAL_CODES = ("111", "112", "121", "122", "123", "210", "220")
STATUS_WORDS = {"open": ("open", "开放", "运营", "在用", "正常", "使用", "已建", "现状"),
                "planned": ("planned", "规划", "拟建", "在建", "筹建", "新建"),
                "closed": ("closed", "关闭", "停用", "撤销", "废弃")}
WIDTHS = {"name": 200, "address": 300, "phone": 40, "opening_hours": 120, "fees": 200, "operator": 200, "code": 24,
          "worker_name": 60, "worker_phone": 40}
AREA_NAME_WIDTH = 120
SLIVER_HINT_M2 = 50_000  # larger overlaps/gaps are not suggested for absorption
GRID_DEPTH = {"district": 0, "town": 1, "grid_large": 2, "community": 2, "grid_middle": 3, "grid_small": 4}
INT4_MAX = 2_147_483_647  # counts are PostgreSQL integers


# ---------------------------------------------------------------------------------------------
# the report


@dataclass
class ImportReport:
    """What an import found and did.

    ``problems`` (each ``row``, ``column``, ``problem``, ``fix``) block the import; ``warnings``
    do not. ``written`` is 0 unless the rows were stored.
    """

    layer: str
    path: str
    ok: bool = True
    rows: int = 0
    written: int = 0
    dry_run: bool = False
    problems: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def add(self, row: int | None, column: str | None, problem: str, fix: str) -> None:
        self.ok = False
        self.problems.append({"row": row, "column": column, "problem": problem, "fix": fix})

    def warn(self, row: int | None, column: str | None, problem: str, fix: str) -> None:
        self.warnings.append({"row": row, "column": column, "problem": problem, "fix": fix})

    def table(self, *, warnings: bool = False) -> pd.DataFrame:
        """Problems (or warnings) with Chinese/English headers, for printing and exports."""
        rows = self.warnings if warnings else self.problems
        frame = pd.DataFrame(rows, columns=["row", "column", "problem", "fix"])
        return frame.rename(columns={"row": "行 row", "column": "列 column", "problem": "问题 problem",
                                     "fix": "修改方法 fix"})

    def raise_if_failed(self) -> None:
        """Raise ``ValidationFailed`` (with ``problems``) when the file was rejected."""
        if not self.ok:
            first = self.problems[0]
            where = f"row {first['row']}: " if first["row"] is not None else ""
            raise ValidationFailed(f"{self.path}: {len(self.problems)} problem(s), e.g. {where}{first['problem']} — "
                                   f"{first['fix']}", problems=self.problems)


class _Rejected(Exception):
    """Internal: stop reading a file whose problems make row checks pointless."""


def _row_numbers(n: int, *, spreadsheet: bool) -> np.ndarray:
    return np.arange(n) + (2 if spreadsheet else 1)


# ---------------------------------------------------------------------------------------------
# reading files


@dataclass
class Source:
    """A file read into a frame: ``frame`` (str columns), ``geometry`` (vector files), row numbers,
    and ``crs``: the coordinate system its coordinates are in (a file's declared CRS wins, except
    that GCJ-02/BD-09 data are declared as WGS84 by the tools that write them)."""

    frame: pd.DataFrame
    geometry: gpd.GeoSeries | None
    row: np.ndarray
    crs: str = "wgs84"


def read_source(path: Path, report: ImportReport, *, crs: str = "wgs84", max_rows: int | None = None) -> Source:
    """Read a spreadsheet (CSV/XLSX) or a vector file (GeoJSON/GPKG/zipped SHP); problems → report.

    At most ``max_rows`` data rows (default: ``MINQING_IMPORT_MAX_ROWS``): one more is read to
    tell that a file is larger, and such a file is refused without reading the rest.
    """
    limit = import_settings().import_max_rows if max_rows is None else max_rows
    suffix = path.suffix.lower()
    if not path.is_file():
        report.add(None, None, f"no such file {path}", "check the path")
        raise _Rejected
    if suffix not in SPREADSHEETS + VECTORS:
        report.add(None, None, f"unknown file type {suffix!r}",
                   f"use a spreadsheet ({', '.join(SPREADSHEETS)}) or a GIS file ({', '.join(VECTORS)})")
        raise _Rejected
    source = _read_vector(path, report, crs, limit) if suffix in VECTORS else _read_table(path, report, limit)
    source.crs = source.crs if suffix in VECTORS else crs
    if len(source.frame) > limit:
        report.add(None, None, f"the file has more than {limit:,} data rows, the most one import takes "
                   "(MINQING_IMPORT_MAX_ROWS)",
                   f"split the file into parts of at most {limit:,} rows and import them one after the other, "
                   "or raise MINQING_IMPORT_MAX_ROWS in the environment (or .env) of the server and the CLI")
        raise _Rejected
    if source.frame.empty:
        report.add(None, None, "the file has no data rows", "fill in the rows under the header line (or "
                   "choose the right sheet/file)")
        raise _Rejected
    report.rows = len(source.frame)
    return source


def _read_table(path: Path, report: ImportReport, limit: int) -> Source:
    try:
        if path.suffix.lower() in (".csv", ".txt"):
            frame = _read_csv(path, limit + 1)
        else:
            frame = pd.read_excel(path, dtype=str, keep_default_na=False, nrows=limit + 1)
    except Exception as e:  # pandas/openpyxl raise many kinds; all mean "not a readable table"
        report.add(None, None, f"cannot read {path.name} as a spreadsheet ({type(e).__name__}: {e})",
                   "open it in Excel/WPS and save it as .xlsx, or as CSV (UTF-8)")
        raise _Rejected from e
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
        report.add(None, None, f"cannot read {path.name} as a GIS file ({type(e).__name__}: {e})",
                   "export it again as GeoPackage (.gpkg), GeoJSON or a zipped Shapefile (.shp+.shx+.dbf+.prj)")
        raise _Rejected from e
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
    frame = frame.where(frame.notna(), "").astype(str)
    if gdf.crs is None:
        return Source(frame, gdf.geometry, _row_numbers(len(gdf), spreadsheet=False), crs)
    shifted = _shift_system(crs)
    return Source(frame, gdf.geometry.to_crs(4326), _row_numbers(len(gdf), spreadsheet=False), shifted or "wgs84")


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


# ---------------------------------------------------------------------------------------------
# columns


def read_column_mapping(path: Path | None = None) -> pd.DataFrame:
    """The header → column table (data/import_columns.csv: ``layer, header, column``)."""
    return pd.read_csv(path or DATA_DIR / "import_columns.csv", dtype=str, keep_default_na=False)


def normalise_header(header: str) -> str:
    """Header key: NFKC, lower case, no spaces, without a bracketed unit ('建筑面积（㎡）' → '建筑面积')."""
    h = unicodedata.normalize("NFKC", str(header)).strip().lower()
    h = re.sub(r"[\(\[].*?[\)\]]", "", h)
    return re.sub(r"\s+", "", h)


def map_columns(frame: pd.DataFrame, layer: str, report: ImportReport,
                column_map: dict[str, str] | None) -> pd.DataFrame:
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
            report.warn(None, str(header), f"also maps to {target}; column {first!r} is used",
                        f"remove one of the two columns or map it elsewhere with --map {header}=...")
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
        report.add(None, column, f"missing column {column} (headers recognised: {', '.join(headers + [column])})",
                   f"rename your header to one of these, or map it: --map 你的列名={column} "
                   f"(column_map={{'your header': '{column}'}}); all recognised headers are in data/import_columns.csv")


def _text_column(frame: pd.DataFrame, column: str, *, nfkc: bool = False) -> pd.Series:
    """A column as stripped text ('' when absent). ``nfkc`` folds full-width digits and letters
    (for codes and numbers — never for names, whose full-width brackets are part of the name)."""
    if column not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    fold = (lambda v: unicodedata.normalize("NFKC", v).strip()) if nfkc else (lambda v: v.strip())
    return frame[column].astype(str).map(fold).astype(object)


def _numbers(frame: pd.DataFrame, column: str, source: Source, report: ImportReport, *,
             integer: bool = False, minimum: float | None = 0.0) -> pd.Series:
    """Parse a numeric column ('1,200', '350㎡' accepted); blanks → NaN; bad values reported."""
    values = _text_column(frame, column, nfkc=True)
    cleaned = values.str.replace(",", "", regex=False).str.extract(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:[^\d\s.].*)?$", expand=False)
    parsed = pd.to_numeric(cleaned, errors="coerce")
    for i in np.flatnonzero((values != "").to_numpy() & parsed.isna().to_numpy()):
        report.add(int(source.row[i]), column, f"{values.iat[i]!r} is not a number", "write a plain number")
    bad = parsed.notna() & (((parsed % 1) != 0) if integer else False)
    if minimum is not None:
        bad |= parsed < minimum
    for i in np.flatnonzero(bad.to_numpy()):
        kind = "a whole number" if integer else "a number"
        report.add(int(source.row[i]), column, f"{values.iat[i]!r} is not {kind} ≥ {minimum:g}",
                   f"write {kind} of at least {minimum:g}")
    huge = ((parsed.abs() > INT4_MAX) if integer else ~np.isfinite(parsed.fillna(0))) & ~bad
    for i in np.flatnonzero(huge.to_numpy()):
        report.add(int(source.row[i]), column, f"{values.iat[i]!r} is too large",
                   f"write a number below {INT4_MAX:,}" if integer else "write a plain number")
    return parsed


def _check_widths(frame: pd.DataFrame, source: Source, report: ImportReport, widths: dict[str, int]) -> None:
    for column, width in widths.items():
        if column not in frame.columns:
            continue
        lengths = _text_column(frame, column).str.len()
        for i in np.flatnonzero((lengths > width).to_numpy()):
            report.add(int(source.row[i]), column, f"longer than {width} characters", f"shorten it to {width}")


def _required_text(frame: pd.DataFrame, column: str, source: Source, report: ImportReport) -> pd.Series:
    values = _text_column(frame, column)
    for i in np.flatnonzero((values == "").to_numpy()):
        report.add(int(source.row[i]), column, f"{column} is empty", f"fill in the {column}")
    return values


# ---------------------------------------------------------------------------------------------
# coordinates


def to_wgs84(x, y, *, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates in ``crs`` (a Chinese web-map system or any EPSG code) to WGS84 degrees."""
    try:
        return chinacrs.to_wgs84(x, y, crs=crs)
    except chinacrs.UnknownCRSError:
        if not str(crs).lower().startswith("epsg:"):
            raise
        try:
            src = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            raise chinacrs.UnknownCRSError(crs) from None
        lon, lat = pyproj.Transformer.from_crs(src, 4326, always_xy=True).transform(
            np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon, float), np.asarray(lat, float)


def geometry_to_wgs84(geom, crs: str):
    """A shapely geometry with every vertex converted from ``crs`` to WGS84 degrees."""
    return shapely.transform(geom, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs=crs)))


def check_crs(crs: str) -> None:
    """Raise ``UnknownCRSError`` now (before reading) for a name we cannot convert from."""
    to_wgs84([0.0], [0.0], crs=crs)


def stored_extent(s: Session) -> tuple[float, float, float, float] | None:
    """(lon_min, lat_min, lon_max, lat_max) of the stored areas, or None when there are none."""
    box = s.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                         "FROM (SELECT ST_Extent(geom) AS e FROM areas) q")).one()
    return None if box[0] is None else tuple(float(v) for v in box)


def _demo_stored(s: Session) -> bool:
    from layers.planning import is_demo

    return is_demo(s)


@dataclass
class Extent:
    """Where the data is expected: for swap detection and the outside-of-area checks."""

    bbox: tuple[float, float, float, float]
    strict: bool
    label: str


WORLD = (-180.0, -90.0, 180.0, 90.0)


def expected_extent(s: Session, bbox, *, outside_china: bool = False) -> Extent:
    """An explicit ``bbox`` (strict), else the stored areas (buffered, warnings), else China (strict)
    — or anywhere with ``outside_china`` (test or foreign data, e.g. an OSM extract of Helsinki):
    the China guard catches swapped or foreign coordinates in Chinese data, so leaving it is asked
    for explicitly."""
    if bbox is not None:
        return Extent(tuple(bbox), True, f"the given bbox {tuple(bbox)}")
    if outside_china and stored_extent(s) is None:
        return Extent(WORLD, True, "anywhere (--outside-china)")
    stored = stored_extent(s)
    if stored is not None and _demo_stored(s):
        # the demo lies in open sea: a city's real data never belongs beside it
        return Extent(stored, True, "the fictional demo district still stored (remove it first: "
                                    "`minqing demo remove`, or import the grids with --replace-demo)")
    if stored is not None:
        pad = 0.05  # ~5 km: facilities just across a boundary still serve residents
        return Extent((stored[0] - pad, stored[1] - pad, stored[2] + pad, stored[3] + pad), False,
                      "this district (the stored areas)")
    return Extent(chinacrs.CHINA_BBOX, True, "China")


def check_positions(lon: np.ndarray, lat: np.ndarray, rows: np.ndarray, extent: Extent, report: ImportReport,
                    *, columns: tuple[str, str] = ("经度", "纬度")) -> np.ndarray:
    """Report projected, out-of-range, swapped and out-of-area positions; True where usable."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    present = ~(np.isnan(lon) | np.isnan(lat))
    swapped = present & (chinacrs.looks_swapped(lon, lat, bbox=extent.bbox)
                         | chinacrs.looks_swapped(lon, lat, bbox=chinacrs.CHINA_BBOX))
    projected = present & ~swapped & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    outside = present & ~projected & ~swapped & ~chinacrs.in_box(lon, lat, extent.bbox)
    for i in np.flatnonzero(projected):
        report.add(int(rows[i]), "/".join(columns), f"{columns[0]} {lon[i]:g} / {columns[1]} {lat[i]:g} are not "
                   "degrees (projected metres?)",
                   "give longitude/latitude in degrees, or pass the file's EPSG code as the CRS (e.g. --crs epsg:4547)")
    for i in np.flatnonzero(swapped):
        report.add(int(rows[i]), "/".join(columns),
                   f"{columns[0]} {lon[i]:g} / {columns[1]} {lat[i]:g} look swapped for {extent.label}",
                   "swap the columns or fix the values (经度 = longitude, east; 纬度 = latitude, north)")
    for i in np.flatnonzero(outside):
        where = f"{columns[0]} {lon[i]:g} / {columns[1]} {lat[i]:g} lies outside {extent.label}"
        (report.add if extent.strict else report.warn)(
            int(rows[i]), "/".join(columns), where, "check the values and the CRS (--crs gcj02 for 高德, bd09 for 百度)")
    return present & ~projected & ~swapped & (~outside | (not extent.strict))


# ---------------------------------------------------------------------------------------------
# locating rows: coordinates, WKT, or address


def normalise_address(value: str) -> str:
    """Address key: NFKC, no spaces or punctuation."""
    v = unicodedata.normalize("NFKC", str(value))
    return re.sub(r"[\s,，。.、;；:：\-—_#()（）]", "", v)


def gazetteer(s: Session) -> pd.DataFrame:
    """Standard addresses (residences) and place names with a point each, keyed by normalised text."""
    rows = s.execute(text(
        "SELECT address AS text, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM residences WHERE address IS NOT NULL "
        "UNION ALL SELECT name, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM place_names"
    )).all()
    frame = pd.DataFrame(rows, columns=["text", "lon", "lat"])
    frame["key"] = frame["text"].map(normalise_address)
    return frame.drop_duplicates("key")


def locate(frame: pd.DataFrame, source: Source, report: ImportReport, *, s: Session, crs: str,
           extent: Extent) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lon/lat (WGS84) per row from lon/lat columns, a WKT column, the file's geometry or the address.

    Returns (lon, lat, ok) arrays; rows that cannot be placed are reported.
    """
    n = len(frame)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    given = _given_positions(frame, source, report)
    have = ~np.isnan(given[0])
    if have.any():
        lon[have], lat[have] = to_wgs84(given[0][have], given[1][have], crs=crs)
    ok = check_positions(np.where(have, lon, np.nan), lat, source.row, extent, report) & have
    invalid_given = have & ~ok
    todo = ~have & ~_bad_position_rows(report, source)
    if todo.any():
        lon, lat, ok = _geocode(frame, source, report, s, todo, lon, lat, ok)
    return lon, lat, ok & ~invalid_given


def _given_positions(frame: pd.DataFrame, source: Source, report: ImportReport) -> tuple[np.ndarray, np.ndarray]:
    """Raw x/y per row (NaN when the row has none): lon/lat columns, else WKT, else file geometry."""
    x = _numbers(frame, "lon", source, report, minimum=None).to_numpy(dtype=float)
    y = _numbers(frame, "lat", source, report, minimum=None).to_numpy(dtype=float)
    x, y = np.where(np.isnan(y), np.nan, x), np.where(np.isnan(x), np.nan, y)
    geoms = _row_geometries(frame, source, report)
    use = np.isnan(x) & np.array([g is not None for g in geoms], dtype=bool)
    if use.any():
        points = _point_of(np.asarray(geoms, dtype=object)[use])
        x[use], y[use] = shapely.get_x(points), shapely.get_y(points)
    return x, y


def _row_geometries(frame: pd.DataFrame, source: Source, report: ImportReport) -> list:
    """Geometry per row from the WKT column or the vector file (None when absent); bad WKT reported."""
    if source.geometry is not None:
        return [None if g is None or g.is_empty else g for g in source.geometry]
    wkt = _text_column(frame, "wkt")
    out = []
    for i, value in enumerate(wkt):
        geom = None
        if value:
            try:
                geom = shapely.from_wkt(value)
            except shapely.errors.GEOSException as e:
                report.add(int(source.row[i]), "wkt", f"unreadable WKT ({e})", "write e.g. POINT (113.26 23.13)")
        out.append(geom)
    return out


def _point_of(geoms: np.ndarray) -> np.ndarray:
    """The geometry itself when a point, else a point on its surface (polygon) or line."""
    return shapely.point_on_surface(geoms)


def _bad_position_rows(report: ImportReport, source: Source) -> np.ndarray:
    """Rows whose lon/lat or WKT could not be read (already reported: not to be geocoded)."""
    rows = {p["row"] for p in report.problems if p["row"] is not None and p["column"] in ("lon", "lat", "wkt")}
    return np.isin(source.row, list(rows))


def _geocode(frame, source, report, s, todo, lon, lat, ok, *, hints: int = 50):
    """Place rows by their address (exact match after normalisation); the first ``hints``
    unmatched rows get the closest stored text as a suggestion (fuzzy matching is slow)."""
    addresses = _text_column(frame, "address")
    book = gazetteer(s).set_index("key")
    for i in np.flatnonzero(todo):
        address = addresses.iat[i]
        if not address:
            report.add(int(source.row[i]), "经度 lon,纬度 lat", "no coordinates, WKT or address",
                       "fill in 经度/纬度 (or a WKT column, or a standard address)")
            continue
        key = normalise_address(address)
        if key in book.index:
            lon[i], lat[i], ok[i] = book.at[key, "lon"], book.at[key, "lat"], True
            continue
        close = difflib.get_close_matches(key, book.index.tolist(), n=1, cutoff=0.6) if hints > 0 else []
        hints -= 1
        hint = f" (closest stored: {book.at[close[0], 'text']})" if close else ""
        report.add(int(source.row[i]), "地址 address", f"address {address!r} matches no standard address or "
                   f"place name{hint}", "add 经度/纬度, or correct the address to the standard address")
    return lon, lat, ok


# ---------------------------------------------------------------------------------------------
# writing: one savepoint, rolled back on database errors; dry runs only preview


def write_all_or_nothing(s: Session, report: ImportReport, write: Callable[[], int], *, actor: str,
                         dry_run: bool, preview: Callable[[], int]) -> None:
    """Run ``write`` in a savepoint and keep it when it succeeds; on a dry run call ``preview``.

    ``preview`` writes nothing: with read queries it adds to the report what ``write`` would
    add (warnings, summary counts) and returns the rows ``write`` would write.
    """
    if dry_run:
        report.summary["would_write"] = preview()
        return
    savepoint = s.begin_nested()
    try:
        set_actor(s, actor, bulk=True)
        n = write()
    except (DBAPIError, psycopg.Error) as e:  # COPY runs on the driver connection: psycopg errors
        savepoint.rollback()
        log.warning("import of %s refused by the database: %s", report.layer, str(getattr(e, "orig", None) or e))
        report.add(None, None, *describe_database_error(e))  # never the raw server text
        return
    s.execute(text("SELECT set_config('minqing.bulk', 'off', true)"))
    savepoint.commit()
    report.written = n


def assign_residence_areas(s: Session) -> int:
    """Give residences without an area the small grid that contains them; returns how many got one."""
    return s.execute(text(
        "UPDATE residences r SET area_id = a.area_id FROM areas a "
        "WHERE r.area_id IS NULL AND a.level = 'grid_small' AND ST_Contains(a.geom, r.geom)")).rowcount


def assign_place_name_areas(s: Session) -> int:
    """Give place names without an area the deepest area containing them."""
    depth = " ".join(f"WHEN '{lvl}' THEN {d}" for lvl, d in GRID_DEPTH.items())
    return s.execute(text(
        "UPDATE place_names p SET area_id = (SELECT a.area_id FROM areas a "
        "WHERE ST_Contains(a.geom, ST_PointOnSurface(p.geom)) "
        f"ORDER BY CASE a.level {depth} END DESC LIMIT 1) WHERE p.area_id IS NULL")).rowcount


# ---------------------------------------------------------------------------------------------
# public entry point


def import_file(s: Session, layer: str, path: str | Path, *, crs: str = "wgs84", dry_run: bool = False,
                actor: str = "import", column_map: dict[str, str] | None = None, sliver_m2: float = 0,
                replace: bool = False, bbox: tuple[float, float, float, float] | None = None,
                level: str | None = None, make_valid: bool = False, strict_topology: bool = False,
                step: Callable[[str], None] | None = None, max_rows: int | None = None,
                progress: Progress | None = None, outside_china: bool = False) -> ImportReport:
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
    options = {"crs": crs, "dry_run": dry_run, "actor": actor, "column_map": column_map, "replace": replace,
               "bbox": bbox, "sliver_m2": sliver_m2, "level": level, "make_valid": make_valid,
               "strict_topology": strict_topology, "step": step, "max_rows": max_rows, "progress": progress,
               "outside_china": outside_china}
    try:
        with read_only(s, enabled=dry_run):
            {"facilities": _import_facilities, "addresses": _import_addresses, "areas": _import_areas,
             "place_names": _import_place_names}[layer](
                s, Path(path), report, **options)
    except _Rejected:
        report.ok = False
    return report


# ---------------------------------------------------------------------------------------------
# facilities


def facility_type_lookup(s: Session) -> pd.DataFrame:
    """Facility types (code, name_zh) as stored, else as shipped in data/facility_types.csv."""
    rows = s.execute(text("SELECT code, name_zh FROM facility_types ORDER BY code")).all()
    if rows:
        return pd.DataFrame(rows, columns=["code", "name_zh"])
    return read_facility_types()[["code", "name_zh"]]


def _type_key(value: str) -> str:
    v = unicodedata.normalize("NFKC", value).strip().lower()
    return re.sub(r"\s+", "", re.sub(r"\(.*?\)", "", v))


def resolve_types(values: pd.Series, types: pd.DataFrame, source: Source, report: ImportReport) -> pd.Series:
    """Codes for type values given as codes or Chinese names; unknown values reported with the list."""
    keys: dict[str, str] = {}
    for code, name in zip(types["code"], types["name_zh"], strict=True):
        keys.update({_type_key(code): code, _type_key(name): code, normalise_address(name): code})
    codes = values.map(lambda v: keys.get(_type_key(v)) or keys.get(normalise_address(v)))
    valid = "; ".join(f"{c} {n}" for c, n in zip(types["code"], types["name_zh"], strict=True))
    for i in np.flatnonzero((codes.isna() & (values != "")).to_numpy()):
        close = difflib.get_close_matches(_type_key(values.iat[i]), list(keys), n=1, cutoff=0.5)
        hint = f" — did you mean {keys[close[0]]} ({types.set_index('code').at[keys[close[0]], 'name_zh']})?" \
            if close else ""
        report.add(int(source.row[i]), "类型 type_code", f"unknown facility type {values.iat[i]!r}{hint}",
                   f"use a code or Chinese name of data/facility_types.csv: {valid}")
    return codes


def _statuses(frame: pd.DataFrame, source: Source, report: ImportReport) -> pd.Series:
    words = {w: status for status, ws in STATUS_WORDS.items() for w in ws}
    values = _text_column(frame, "status", nfkc=True)
    status = values.map(lambda v: "open" if v == "" else next((s for w, s in words.items() if w in v.lower()), None))
    for i in np.flatnonzero(status.isna().to_numpy()):
        report.add(int(source.row[i]), "状态 status", f"unknown status {values.iat[i]!r}",
                   "write 开放 (open), 规划 (planned) or 关闭 (closed)")
    return status


def _import_facilities(s: Session, path: Path, report: ImportReport, *, crs, dry_run, actor, column_map,
                       replace, bbox, step, max_rows, progress, outside_china=False, **_ignored) -> None:
    step("读取 reading")
    source = read_source(path, report, crs=crs, max_rows=max_rows)
    frame = map_columns(source.frame, "facilities", report, column_map)
    positioned = any(c in frame.columns for c in ("lon", "wkt", "address")) or source.geometry is not None
    require_columns(frame, "facilities", ["name", "type_code"] + ([] if positioned else ["lon", "lat"]), report)
    if not report.ok:
        raise _Rejected
    step("检查 checking rows")
    extent = expected_extent(s, bbox, outside_china=outside_china)
    rows = _facility_rows(s, frame, source, report, crs=source.crs, extent=extent)
    if report.ok:
        _warn_duplicates(s, rows, report)
        step("写入 writing")
        write_all_or_nothing(s, report, lambda: _write_facilities(s, rows, replace=replace, actor=actor, progress=progress),
                             actor=actor, dry_run=dry_run, preview=lambda: len(rows))


def _facility_rows(s, frame, source, report, *, crs, extent) -> pd.DataFrame:
    names = _required_text(frame, "name", source, report)
    codes = resolve_types(_required_text(frame, "type_code", source, report), facility_type_lookup(s), source, report)
    _check_widths(frame, source, report, {k: WIDTHS[k] for k in ("name", "address", "phone", "opening_hours",
                                                                  "fees", "operator")})
    extra = {c: _numbers(frame, c, source, report) for c in ("floor_area_m2", "capacity")}
    status = _statuses(frame, source, report)
    lon, lat, _ = locate(frame, source, report, s=s, crs=crs, extent=extent)
    return pd.DataFrame({
        "row": source.row, "type_code": codes, "name": names, "lon": lon, "lat": lat, "status": status,
        **{c: _text_column(frame, c).replace("", None) for c in ("address", "phone", "opening_hours", "fees", "operator")},
        **extra, "source": f"file:{Path(report.path).name}"[:200],
    })


def _warn_duplicates(s: Session, rows: pd.DataFrame, report: ImportReport) -> None:
    """Warn about rows that repeat a stored facility (same type and name within 100 m)."""
    stored = s.execute(text(
        "SELECT facility_id, type_code, name, ST_X(geom), ST_Y(geom) FROM facilities")).all()
    if not stored:
        return
    frame = pd.DataFrame(stored, columns=["facility_id", "type_code", "name", "x", "y"])
    pairs = rows.merge(frame, on=["type_code", "name"])
    if pairs.empty:
        return
    metres = pyproj.Geod(ellps="WGS84").inv(pairs["lon"].to_numpy(float), pairs["lat"].to_numpy(float),
                                            pairs["x"].to_numpy(float), pairs["y"].to_numpy(float))[2]
    for r in pairs[metres < 100].itertuples():
        report.warn(int(r.row), "名称 name", f"{r.name} ({r.type_code}) is already stored as facility "
                    f"{r.facility_id}", "remove the row, or the stored facility, unless both exist")


def _write_facilities(s: Session, rows: pd.DataFrame, *, replace: bool, actor: str,
                      progress: Progress | None = None) -> int:
    from layers.load.osm import FACILITY_COLS, ensure_facility_types

    if replace:
        s.execute(text("DELETE FROM facilities"))
    ensure_facility_types(s, rows["type_code"].unique())
    frame = rows.assign(facility_id=ids.allocate(s, "facilities", len(rows)),
                        geometry=shapely.points(rows["lon"].to_numpy(), rows["lat"].to_numpy()))
    n = copy_frame(s, "facilities", frame, columns=FACILITY_COLS, geometry={"geometry": "geom"}, progress=progress)
    record_import(s, actor=actor, layer="facilities", summary={"rows": n, "replace": replace})
    return n


# ---------------------------------------------------------------------------------------------
# 一标三实 addresses → residences


def _import_addresses(s: Session, path: Path, report: ImportReport, *, crs, dry_run, actor, column_map,
                      replace, bbox, step, max_rows, progress, outside_china=False, **_ignored) -> None:
    step("读取 reading")
    source = read_source(path, report, crs=crs, max_rows=max_rows)
    frame = map_columns(source.frame, "addresses", report, column_map)
    positioned = any(c in frame.columns for c in ("lon", "wkt", "address")) or source.geometry is not None
    require_columns(frame, "addresses", ["households"] + ([] if positioned else ["lon", "lat"]), report)
    if not report.ok:
        raise _Rejected
    step("检查 checking rows")
    extent = expected_extent(s, bbox, outside_china=outside_china)
    rows = _address_rows(s, frame, source, report, crs=source.crs, extent=extent)
    if report.ok:
        step("写入 writing")
        write_all_or_nothing(s, report, lambda: _write_residences(s, rows, replace=replace, actor=actor, report=report,
                                                              progress=progress),
                             actor=actor, dry_run=dry_run,
                             preview=lambda: _preview_residences(s, rows, replace=replace, report=report))


def _address_rows(s, frame, source, report, *, crs, extent) -> pd.DataFrame:
    _check_widths(frame, source, report, {"address": WIDTHS["address"]})
    households = _numbers(frame, "households", source, report, integer=True)
    for i in np.flatnonzero(households.isna().to_numpy() & (_text_column(frame, "households") == "").to_numpy()):
        report.add(int(source.row[i]), "户数 households", "户数 is empty", "fill in the number of households")
    people = _people(frame, households, source, report)
    area_id = _grid_ids(s, frame, source, report)
    lon, lat, _ = locate(frame, source, report, s=s, crs=crs, extent=extent)
    return pd.DataFrame({"row": source.row, "address": _text_column(frame, "address").replace("", None),
                         "households": households, **people, "area_id": area_id, "lon": lon, "lat": lat,
                         "source": f"file:{Path(report.path).name}"[:200]})


def _people(frame, households, source, report) -> dict[str, pd.Series]:
    """Population, elderly and children; missing columns estimated (census shares) and flagged."""
    params = read_household_parameters(DATA_DIR / "household_estimate.csv")
    given = {c: _numbers(frame, c, source, report, integer=True) for c in ("population", "elderly", "children")}
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
        report.add(int(source.row[i]), "人口 population", "60岁以上 + 0-14岁 exceed 人口",
                   "check the three counts of this address")
    if estimated.any():
        report.warn(None, None, "population, elderly or children columns missing: estimated from 户数 with the "
                    "census figures of data/household_estimate.csv", "add 人口/60岁以上/0-14岁 columns for real counts")
    return {**{c: v.fillna(0) for c, v in given.items()}, "estimated": estimated}


def _grid_ids(s: Session, frame: pd.DataFrame, source: Source, report: ImportReport) -> pd.Series:
    """area_id of each row's grid code (None: found by location after writing)."""
    codes = _text_column(frame, "grid_code", nfkc=True)
    stored = dict(s.execute(text("SELECT code, area_id FROM areas")).all()) if (codes != "").any() else {}
    area_ids = pd.Series([stored.get(c) for c in codes], index=frame.index, dtype="Int64")
    for i in np.flatnonzero(((codes != "") & area_ids.isna()).to_numpy()):
        report.add(int(source.row[i]), "网格编码 grid_code", f"grid code {codes.iat[i]!r} is not a stored area",
                   "import the grids first (minqing import grids) or correct the code")
    return area_ids


def _write_residences(s: Session, rows: pd.DataFrame, *, replace: bool, actor: str, report: ImportReport,
                      progress: Progress | None = None) -> int:
    from layers.load.osm import RESIDENCE_COLS

    if replace:
        s.execute(text("DELETE FROM residences"))
    frame = rows.assign(
        residence_id=ids.allocate(s, "residences", len(rows)),
        geometry=shapely.points(rows["lon"].to_numpy(), rows["lat"].to_numpy()), households_estimated=False)
    for column in ("households", "population", "elderly", "children"):
        frame[column] = frame[column].astype(np.int64)
    n = copy_frame(s, "residences", frame, columns=RESIDENCE_COLS + ["area_id"], geometry={"geometry": "geom"},
                   progress=progress)
    assign_residence_areas(s)
    _report_superseded(drop_superseded_estimates(s), report)
    _report_outside(s.execute(text("SELECT count(*) FROM residences WHERE area_id IS NULL")).scalar_one(), report)
    record_import(s, actor=actor, layer="residences", summary={"rows": n, "replace": replace})
    return n


def _preview_residences(s: Session, rows: pd.DataFrame, *, replace: bool, report: ImportReport) -> int:
    """What ``_write_residences`` would report, by read queries only (dry runs)."""
    new = rows[["lon", "lat", "households", "area_id"]].assign(households_estimated=False,
                                                              households=rows["households"].astype("int64"))
    outcome = superseded_by_new(s, new, keep="none" if replace else "all")
    _report_superseded(outcome, report)
    _report_outside(outcome["outside"], report)
    return len(rows)


def _report_outside(outside: int, report: ImportReport) -> None:
    if outside:
        report.warn(None, None, f"{outside} residences lie in no small grid (area_id empty)",
                    "import the small grids (minqing import grids) — residences are then assigned automatically")


def _report_superseded(dropped: dict, report: ImportReport) -> None:
    """Report the OSM footprint estimates that the real addresses supersede (layers.load.estimates)."""
    report.summary["estimates_removed"] = int(dropped["removed"])
    if dropped["removed"]:
        report.warn(None, None, f"{dropped['removed']:.0f} estimated residences from building footprints "
                    f"({dropped['households']:.0f} estimated households) removed: real addresses supersede them "
                    f"({dropped['near_real']:.0f} within {dropped['radius_m']:g} m of an address, "
                    f"{dropped['in_real_grid']:.0f} elsewhere in a small grid with addresses)",
                    "nothing to do: real counts replace estimates (the distance is real_data_radius_m of "
                    "data/household_estimate.csv)")


# ---------------------------------------------------------------------------------------------
# areas (grids)


def read_area_levels(path: Path | None = None) -> dict[str, str]:
    """Level name or alias (data/area_levels.csv) → level code."""
    table = pd.read_csv(path or DATA_DIR / "area_levels.csv", dtype=str, keep_default_na=False)
    names = {lvl: lvl for lvl in table["level"]}
    for lvl, zh, aliases in zip(table["level"], table["name_zh"], table["aliases"], strict=True):
        names.update({a: lvl for a in [zh, *aliases.split("|")] if a})
    return names


def _import_areas(s: Session, path: Path, report: ImportReport, *, crs, dry_run, actor, column_map, replace,
                  bbox, sliver_m2, level, make_valid, strict_topology, step, max_rows, progress, outside_china=False,
                  **_ignored) -> None:
    step("读取 reading")
    source = read_source(path, report, crs=crs, max_rows=max_rows)
    frame = map_columns(source.frame, "areas", report, column_map)
    if level is not None:
        frame["level"] = level
    needed = ["code", "name", "level"] + ([] if source.geometry is not None else ["wkt"])
    require_columns(frame, "areas", needed, report)
    if not report.ok:
        raise _Rejected
    step("检查 checking rows")
    extent = expected_extent(s, bbox, outside_china=outside_china)
    areas = _area_rows(s, frame, source, report, crs=source.crs, extent=extent,
                       make_valid=make_valid)
    usable = areas[areas["level"].notna() & areas.geometry.notna() & (areas["code"] != "")]
    merged = _with_stored(s, usable, replace=replace, report=report)  # parents are checked even now
    if not report.ok:
        return
    step("拓扑 topology")
    merged = _topology(merged, report, sliver_m2=sliver_m2, strict=strict_topology)
    if report.ok:
        step("写入 writing")
        write_all_or_nothing(s, report, lambda: _write_areas(s, merged, replace=replace, actor=actor, progress=progress),
                             actor=actor, dry_run=dry_run, preview=lambda: int(merged["changed"].sum()))


def _area_rows(s, frame, source, report, *, crs, extent, make_valid) -> gpd.GeoDataFrame:
    _check_widths(frame, source, report, {"code": WIDTHS["code"], "worker_name": 60, "worker_phone": 40})
    _check_widths(frame, source, report, {"name": AREA_NAME_WIDTH})
    codes = _required_text(frame, "code", source, report).map(lambda c: unicodedata.normalize("NFKC", c))
    _required_text(frame, "name", source, report)
    for code, rows in pd.Series(source.row).groupby(codes.to_numpy()).groups.items():
        if code and len(rows) > 1:
            report.add(int(source.row[rows[1]]), "编码 code", f"code {code!r} repeats row {int(source.row[rows[0]])}",
                       "give every area its own code")
    levels = _levels(frame, source, report)
    geoms = _area_geometries(frame, source, report, crs=crs, make_valid=make_valid)
    _check_area_positions(geoms, source, report, extent)
    households = _numbers(frame, "households", source, report, integer=True)
    urc = _text_column(frame, "urban_rural_code", nfkc=True)
    for i in np.flatnonzero(((urc != "") & ~urc.isin(URBAN_RURAL_CODES)).to_numpy()):
        report.add(int(source.row[i]), "城乡分类代码", f"{urc.iat[i]!r} is not an NBS urban-rural code",
                   f"use one of {', '.join(URBAN_RURAL_CODES)} or leave it empty")
    _check_work_phones(_text_column(frame, "worker_phone"), source, report)
    return gpd.GeoDataFrame({
        "row": source.row, "code": codes, "name": _text_column(frame, "name"), "level": levels,
        "parent_code": _text_column(frame, "parent_code", nfkc=True), "urban_rural_code": urc.replace("", None),
        "worker_name": _text_column(frame, "worker_name").replace("", None),
        "worker_phone": _text_column(frame, "worker_phone").replace("", None),
        "households": households.round().astype("Int64"), "source": f"file:{Path(report.path).name}"[:200]},
        geometry=list(geoms), crs=4326)


def _check_work_phones(phones: pd.Series, source: Source, report: ImportReport) -> None:
    """The grid worker's phone is public: a work number only (the rule of migration 0012, per row)."""
    problem, fix = CHECK_RULES["area_worker_phone_work"]
    for i in np.flatnonzero(((phones != "") & ~phones.map(is_work_phone)).to_numpy()):
        report.add(int(source.row[i]), "网格员电话 worker_phone", problem, fix)


def _levels(frame: pd.DataFrame, source: Source, report: ImportReport) -> pd.Series:
    names = read_area_levels()
    values = _text_column(frame, "level", nfkc=True)
    levels = values.map(lambda v: names.get(v) or names.get(v.lower()))
    valid = ", ".join(f"{lvl} ({'/'.join(k for k, v in names.items() if v == lvl and k != lvl)})"
                      for lvl in dict.fromkeys(names.values()))
    for i in np.flatnonzero(levels.isna().to_numpy()):
        report.add(int(source.row[i]), "层级 level", f"unknown level {values.iat[i]!r}",
                   f"use one of {valid} (or pass --level for the whole file); names in data/area_levels.csv")
    return levels


def _area_geometries(frame, source, report, *, crs, make_valid) -> list:
    geoms = _row_geometries(frame, source, report)
    out = []
    for i, g in enumerate(geoms):
        out.append(_area_geometry(g, int(source.row[i]), report, crs=crs, make_valid=make_valid))
    return out


def _area_geometry(g, row: int, report: ImportReport, *, crs: str, make_valid: bool):
    if g is None:
        report.add(row, "geometry", "no geometry", "draw the boundary (or fill the WKT column)")
        return None
    if g.geom_type not in ("Polygon", "MultiPolygon"):
        report.add(row, "geometry", f"a {g.geom_type}, not a polygon", "export the boundary as a polygon")
        return None
    g = geometry_to_wgs84(g, crs)
    if not g.is_valid:
        reason = shapely.is_valid_reason(g)
        if not make_valid:
            report.add(row, "geometry", f"invalid polygon: {reason}",
                       "fix it in QGIS (Vector ▸ Geometry Tools ▸ Fix Geometries) or pass --make-valid")
            return None
        g = shapely.make_valid(g)
        report.warn(row, "geometry", f"invalid polygon repaired ({reason})", "check the repaired boundary")
    return _as_multipolygon(g)


def _as_multipolygon(g):
    parts = [p for p in getattr(g, "geoms", [g]) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in getattr(p, "geoms", [p])]
    return shapely.MultiPolygon(polys) if polys else None


def _check_area_positions(geoms: list, source: Source, report: ImportReport, extent: Extent) -> None:
    present = np.array([g is not None for g in geoms], dtype=bool)
    if not present.any():
        return
    points = shapely.point_on_surface(np.asarray(geoms, dtype=object)[present])
    check_positions(shapely.get_x(points), shapely.get_y(points), source.row[present], extent, report,
                    columns=("x", "y"))


def _stored_areas(s: Session) -> gpd.GeoDataFrame:
    rows = s.execute(text("SELECT area_id, parent_id, level, code, name, urban, urban_rural_code, worker_name, "
                          "worker_phone, households, source, ST_AsBinary(geom) FROM areas")).all()
    cols = ["area_id", "parent_id", "level", "code", "name", "urban", "urban_rural_code", "worker_name",
            "worker_phone", "households", "source", "wkb"]
    frame = pd.DataFrame(rows, columns=cols)
    return gpd.GeoDataFrame(frame.drop(columns="wkb"), geometry=shapely.from_wkb(frame["wkb"].map(bytes)), crs=4326)


def _with_stored(s: Session, areas: gpd.GeoDataFrame, *, replace: bool, report: ImportReport) -> gpd.GeoDataFrame:
    """The file's areas with ids and parents resolved, plus the stored areas they sit among.

    Returns every area after the import (``in_file`` flags the file's rows, ``changed`` those to write).
    New areas have provisional ids (above every stored one) until they are written: then they take
    keys from the sequence (``_with_real_ids``).
    """
    stored = _stored_areas(s)
    first = 1 + int(stored["area_id"].max() if len(stored) else 0)
    if replace:
        stored = stored[stored["code"].isin(areas["code"])]
    by_code = dict(zip(stored["code"], stored["area_id"], strict=True))
    new = ~areas["code"].isin(list(by_code))
    areas = areas.assign(area_id=[by_code.get(c) for c in areas["code"]], in_file=True, changed=True, stored=~new)
    areas.loc[new, "area_id"] = first + np.arange(int(new.sum()))
    others = stored[~stored["code"].isin(areas["code"])].assign(row=None, in_file=False, changed=False,
                                                                 stored=True)
    merged = pd.concat([areas, others], ignore_index=True)
    merged["area_id"] = merged["area_id"].astype(np.int64)
    merged["parent_id"] = _parents(merged, report)
    merged["urban"] = _urban(merged)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=4326)


def _parents(merged: pd.DataFrame, report: ImportReport) -> pd.Series:
    """parent_id per area: from ``parent_code``, else the area of the parent level containing it."""
    by_code = dict(zip(merged["code"], merged["area_id"], strict=True))
    level_of = dict(zip(merged["area_id"], merged["level"], strict=True))
    given = merged["parent_id"] if "parent_id" in merged.columns else pd.Series(np.nan, index=merged.index)
    parent = pd.Series([None if pd.isna(v) else int(v) for v in given], index=merged.index, dtype=object)
    for i in np.flatnonzero(merged["in_file"].to_numpy()):
        parent.iat[i] = _parent_of(merged, i, by_code, level_of, report)
    return parent


def _parent_of(merged, i, by_code, level_of, report):
    r = merged.iloc[i]
    expected = PARENT_LEVEL.get(r.level)
    if expected is None:
        return by_code.get(r.parent_code) if r.parent_code else None
    if r.parent_code:
        pid = by_code.get(r.parent_code)
        if pid is None:
            report.add(int(r.row), "上级编码 parent_code", f"parent code {r.parent_code!r} is neither in the file "
                       "nor stored", f"import the {expected} level first or correct the code")
        elif level_of[pid] != expected:
            report.add(int(r.row), "上级编码 parent_code", f"parent {r.parent_code!r} is a {level_of[pid]}; a "
                       f"{r.level} must lie in a {expected}", "correct the parent code or the level")
        return pid
    return _containing(merged, r, expected, report)


def _containing(merged, r, expected: str, report: ImportReport):
    candidates = merged[(merged["level"] == expected) & merged.geometry.notna()]
    point = r.geometry.point_on_surface() if r.geometry is not None else None
    hits = candidates[candidates.geometry.contains(point)] if point is not None else candidates.iloc[:0]
    if hits.empty:
        report.add(int(r.row), "上级编码 parent_code", f"no parent code and no {expected} contains this {r.level}",
                   f"add a 上级编码 column, or import the {expected} level first")
        return None
    return int(hits["area_id"].iat[0])


def _urban(merged: pd.DataFrame) -> pd.Series:
    """Urban flag of the file's areas: their urban-rural code, else the statistics-code hint of a
    community (居委会 001-199 urban, 村委会 200-399 rural), else their parent's; stored areas keep theirs."""
    stored = merged["urban"] if "urban" in merged.columns else pd.Series(np.nan, index=merged.index)
    urban = {a: bool(u) for a, u, f in zip(merged["area_id"], stored, merged["in_file"], strict=True) if not f}
    order = merged["level"].map(GRID_DEPTH).sort_values(kind="stable").index
    for i in order[merged.loc[order, "in_file"].to_numpy()]:
        r = merged.loc[i]
        urban[r.area_id] = _urban_of(r, urban)
    return merged["area_id"].map(urban).astype(bool)


def _urban_of(r, urban: dict) -> bool:
    code = str(r.urban_rural_code or "")
    if code:
        return code.startswith("1")
    stat = str(r.code)
    if r.level == "community" and len(stat) == 12 and stat[-3:].isdigit():
        return int(stat[-3:]) < 200
    return urban.get(r.parent_id, True)


def _topology(merged: gpd.GeoDataFrame, report: ImportReport, *, sliver_m2: float, strict: bool) -> gpd.GeoDataFrame:
    if sliver_m2 > 0:
        fixed, absorbed = absorb_slivers(merged, max_m2=sliver_m2)
        moved = ~fixed.geometry.geom_equals_exact(merged.geometry, tolerance=0)
        merged = fixed.assign(changed=merged["changed"] | moved)
        report.summary["slivers_absorbed"] = len(absorbed)
    problems = check_topology(merged)
    involved = set(merged.loc[merged["in_file"], "area_id"])
    problems = problems[problems["area_id"].isin(involved) | problems["other_id"].isin(involved)]
    label = {r.area_id: f"row {r.row} ({r.code} {r.name})" if r.in_file else f"stored {r.code} {r.name}"
             for r in merged.itertuples()}
    row_of = dict(zip(merged["area_id"], merged["row"], strict=True))
    for p in problems.itertuples():
        message, fix = _topology_message(p, label, sliver_m2)
        (report.add if strict else report.warn)(row_of.get(p.area_id), "geometry", message, fix)
    report.summary["topology_problems"] = len(problems)
    return merged


def _topology_message(p, label: dict, sliver_m2: float) -> tuple[str, str]:
    size = f"{p.area_m2:,.0f} m²"
    absorb = (f"fix the boundary, or pass --absorb-slivers {max(p.area_m2 * 1.1, 1):.0f} if it is a digitising sliver"
              if p.area_m2 <= SLIVER_HINT_M2 else "fix the boundaries (too large to be a digitising sliver)")
    if p.kind == "overlap":
        return f"{label.get(p.area_id)} overlaps {label.get(p.other_id)} by {size}", absorb
    if p.kind == "outside_parent":
        return f"{label.get(p.area_id)} reaches {size} outside its parent {label.get(p.other_id)}", absorb
    if p.kind == "gap":
        inside = f"inside {label.get(p.area_id)}" if p.area_id is not None and not pd.isna(p.area_id) else "between areas"
        return f"gap of {size} between the {p.level} areas {inside}", absorb
    return f"{label.get(p.area_id)}: {p.detail}", "correct the level or the parent"


def _write_areas(s: Session, merged: gpd.GeoDataFrame, *, replace: bool, actor: str,
                 progress: Progress | None = None) -> int:
    from layers.load.demo import AREA_COLS

    rows = _with_real_ids(s, merged[merged["changed"]].copy())
    rows["depth"] = rows["level"].map(GRID_DEPTH)
    rows = rows.sort_values("depth")
    stale = _stale_area_ids(s, merged) if replace else []
    s.execute(text("DROP TABLE IF EXISTS import_areas"))
    s.execute(text("CREATE TEMP TABLE import_areas (LIKE areas INCLUDING DEFAULTS) ON COMMIT DROP"))
    copy_frame(s, "import_areas", rows, columns=AREA_COLS, geometry={"geometry": "geom"}, progress=progress)
    cols = ", ".join(AREA_COLS + ["geom"])
    sets = ", ".join(f"{c} = i.{c}" for c in AREA_COLS + ["geom"] if c != "area_id")
    new = {"new": [int(a) for a in rows.loc[~rows["stored"], "area_id"]]}
    # new areas first (their parents are stored or inserted by the same statement), then updates
    s.execute(text(f"INSERT INTO areas ({cols}) SELECT {cols} FROM import_areas WHERE area_id = ANY(:new)"), new)
    s.execute(text(f"UPDATE areas a SET {sets}, version = a.version + 1 FROM import_areas i "
                   "WHERE a.area_id = i.area_id AND NOT i.area_id = ANY(:new)"), new)
    if stale:
        _delete_areas(s, stale)
    assign_residence_areas(s)
    assign_place_name_areas(s)
    record_import(s, actor=actor, layer="areas", summary={"rows": len(rows), "removed": len(stale)})
    return len(rows)


def _with_real_ids(s: Session, rows: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """New areas get keys from the sequence in place of their provisional ids, which their
    children's ``parent_id`` may hold too."""
    provisional = rows.loc[~rows["stored"].astype(bool), "area_id"].tolist()
    real = dict(zip(provisional, ids.allocate(s, "areas", len(provisional)).tolist(), strict=True))
    return rows.assign(area_id=rows["area_id"].map(lambda a: int(real.get(a, a))),
                       parent_id=pd.Series([None if p is None or pd.isna(p) else int(real.get(p, p))
                                            for p in rows["parent_id"]], index=rows.index, dtype=object))


def _stale_area_ids(s: Session, merged: gpd.GeoDataFrame) -> list[int]:
    keep = set(merged["area_id"])
    return [a for a in s.execute(text("SELECT area_id FROM areas")).scalars() if a not in keep]


def _delete_areas(s: Session, area_ids: list[int]) -> None:
    """Remove areas and the references to them (residents and names lose their area, results go)."""
    params = {"ids": area_ids}
    for table in ("residences", "place_names", "users"):
        s.execute(text(f"UPDATE {table} SET area_id = NULL WHERE area_id = ANY(:ids)"), params)
    s.execute(text("DELETE FROM coverage_area WHERE area_id = ANY(:ids)"), params)
    s.execute(text("DELETE FROM areas WHERE area_id = ANY(:ids)"), params)


# ---------------------------------------------------------------------------------------------
# place names


PLACE_STATUS_WORDS = {"standard": ("standard", "标准", "规范"), "irregular": ("irregular", "不规范"),
                      "historical": ("historical", "历史", "曾用")}
PLACE_WIDTHS = {"name": 120, "proper": 120, "generic": 40, "pinyin": 300, "approval": 200}
PLACE_COLS = ["name_id", "name", "category", "proper", "generic", "pinyin", "status", "approval", "meaning"]


def place_categories() -> dict[str, str]:
    """Category code or Chinese name (data/placenames/categories.csv) → code."""
    table = pd.read_csv(DATA_DIR / "placenames" / "categories.csv", dtype=str, keep_default_na=False)
    return {**dict(zip(table["name_zh"], table["category"], strict=True)),
            **{c: c for c in table["category"]}}


def _import_place_names(s: Session, path: Path, report: ImportReport, *, crs, dry_run, actor, column_map,
                        bbox, step, max_rows, progress, outside_china=False, **_ignored) -> None:
    step("读取 reading")
    source = read_source(path, report, crs=crs, max_rows=max_rows)
    frame = map_columns(source.frame, "place_names", report, column_map)
    located = source.geometry is not None or "wkt" in frame.columns
    require_columns(frame, "place_names", ["name", "category"] + ([] if located else ["lon", "lat"]), report)
    if not report.ok:
        raise _Rejected
    step("检查 checking rows")
    rows = _place_rows(s, frame, source, report, extent=expected_extent(s, bbox, outside_china=outside_china))
    if report.ok:
        rows = _skip_stored_names(s, rows, report)
        step("写入 writing")
        write_all_or_nothing(s, report, lambda: _write_place_names(s, rows, actor=actor, progress=progress), actor=actor,
                             dry_run=dry_run, preview=lambda: len(rows))


def _place_rows(s, frame, source, report, *, extent) -> gpd.GeoDataFrame:
    names = _required_text(frame, "name", source, report)
    _check_widths(frame, source, report, PLACE_WIDTHS)
    known = place_categories()
    values = _required_text(frame, "category", source, report)
    category = values.map(lambda v: known.get(v) or known.get(v.lower()))
    for i in np.flatnonzero((category.isna() & (values != "")).to_numpy()):
        report.add(int(source.row[i]), "类别 category", f"unknown category {values.iat[i]!r}",
                   f"use a code or Chinese name of data/placenames/categories.csv: "
                   f"{'; '.join(f'{v} {k}' for k, v in known.items() if k != v)}")
    words = {w: st for st, ws in PLACE_STATUS_WORDS.items() for w in ws}
    status_text = _text_column(frame, "status", nfkc=True)
    status = status_text.map(lambda v: "standard" if v == "" else words.get(v.lower()))
    for i in np.flatnonzero(status.isna().to_numpy()):
        report.add(int(source.row[i]), "状态 status", f"unknown status {status_text.iat[i]!r}",
                   "write 标准 (standard), 不规范 (irregular) or 历史 (historical)")
    _check_sign_text(names, category, _text_column(frame, "pinyin"), source, report)
    geoms = _place_geometries(frame, source, report, extent)
    return gpd.GeoDataFrame({"row": source.row, "name": names, "category": category, "status": status,
                             **{c: _text_column(frame, c).replace("", None)
                                for c in ("proper", "generic", "pinyin", "approval", "meaning")}},
                            geometry=list(geoms), crs=4326)


def _check_sign_text(names: pd.Series, category: pd.Series, pinyin: pd.Series, source: Source,
                     report: ImportReport) -> None:
    """The sign text computed after writing (``layers.placenames.fill_pinyin``) must fit its columns:
    checked now, so that a dry run finds it too. Only long names can overflow (≤ 7 letters a syllable)."""
    from layers.placenames import sign_parts

    widths = {"pinyin": PLACE_WIDTHS["pinyin"], "generic": PLACE_WIDTHS["generic"]}
    long = (names.str.len() > min(widths["generic"], widths["pinyin"] // 7)).to_numpy()
    for i in np.flatnonzero(long):
        if not isinstance(category.iat[i], str):
            continue  # the unknown category is reported already
        parts = sign_parts(names.iat[i], category.iat[i])
        for column, width in widths.items():
            if column == "pinyin" and pinyin.iat[i]:
                continue  # the file's own pinyin is kept (its width is checked with the others)
            if len(parts[column] or "") > width:
                report.add(int(source.row[i]), "名称 name", f"the sign text ({column}) of this name would be "
                           f"{len(parts[column])} characters, more than {width}",
                           "shorten the name" + (", or give its pinyin (拼音) of at most 300 characters"
                                                 if column == "pinyin" else ""))


def _place_geometries(frame, source, report, extent) -> list:
    """Each row's geometry in WGS84: the file's or WKT (any type), else a lon/lat point."""
    geoms = [None if g is None else geometry_to_wgs84(g, source.crs) for g in _row_geometries(frame, source, report)]
    x = _numbers(frame, "lon", source, report, minimum=None).to_numpy(dtype=float)
    y = _numbers(frame, "lat", source, report, minimum=None).to_numpy(dtype=float)
    points = ~np.isnan(x) & ~np.isnan(y) & np.array([g is None for g in geoms], dtype=bool)
    if points.any():
        lon, lat = to_wgs84(x[points], y[points], crs=source.crs)
        for i, p in zip(np.flatnonzero(points), shapely.points(lon, lat), strict=True):
            geoms[i] = p
    for i in np.flatnonzero(np.array([g is None for g in geoms], dtype=bool)):
        report.add(int(source.row[i]), "经度/纬度", "no location", "fill in 经度/纬度 or a WKT geometry")
    present = np.array([g is not None for g in geoms], dtype=bool)
    if present.any():
        at = shapely.point_on_surface(np.asarray(geoms, dtype=object)[present])
        check_positions(shapely.get_x(at), shapely.get_y(at), source.row[present], extent, report)
    return geoms


def _skip_stored_names(s: Session, rows: gpd.GeoDataFrame, report: ImportReport) -> gpd.GeoDataFrame:
    """Rows whose name and category are already registered are skipped (edit those in the registry)."""
    stored = {(n, c): i for i, n, c in s.execute(text("SELECT name_id, name, category FROM place_names")).all()}
    repeat = np.array([(n, c) in stored for n, c in zip(rows["name"], rows["category"], strict=True)], dtype=bool)
    for r in rows[repeat].itertuples():
        name_id = stored[(r.name, r.category)]
        report.warn(int(r.row), "名称 name", f"{r.name} ({r.category}) is already registered as name {name_id}: "
                    "skipped", "edit the registered name instead (its history is kept there)")
    return rows[~repeat]


def _write_place_names(s: Session, rows: gpd.GeoDataFrame, *, actor: str, progress: Progress | None = None) -> int:
    from layers.placenames import fill_pinyin

    frame = rows.assign(name_id=ids.allocate(s, "place_names", len(rows)))
    n = copy_frame(s, "place_names", frame, columns=PLACE_COLS, geometry={"geometry": "geom"}, progress=progress)
    fill_pinyin(s, name_ids=frame["name_id"].tolist())  # sign text where the file gives none (its pinyin is kept)
    s.execute(text(
        "INSERT INTO place_name_history (name_id, action, new_name, approval, changed_by, after) "
        "SELECT name_id, 'create', name, approval, :a, jsonb_build_object('name', name, 'status', status) "
        "FROM place_names WHERE name_id = ANY(:ids)"), {"a": actor, "ids": frame["name_id"].tolist()})
    assign_place_name_areas(s)
    record_import(s, actor=actor, layer="place_names", summary={"rows": n})
    return n


# ---------------------------------------------------------------------------------------------
# the division gazetteer (NBS statistical division codes)


DIVISION_FILES = {"towns": "guangdong_towns_streets.csv", "villages": "guangdong_villages_communities.csv"}
DIVISION_COLS = ["code", "name", "level", "parent_code", "city_code", "city_name", "county_code", "county_name",
                 "town_code", "town_name", "class_hint", "urban_rural_code", "source"]


def pad12(code) -> str:
    """A statistics code padded right with zeros to 12 digits (4415 → 441500000000)."""
    return str(code).strip().ljust(12, "0")


def read_divisions(data_dir: Path, report: ImportReport) -> pd.DataFrame:
    """City, county, town and village rows from the NBS division files in ``data_dir``."""
    towns = _division_file(data_dir, "towns", ["code", "name", "county_code", "county_name", "city_code",
                                               "city_name"], report)
    villages = _division_file(data_dir, "villages", ["code", "name", "code_class_hint", "town_code", "town_name",
                                                     "county_code", "county_name", "city_code", "city_name"], report)
    cities = towns.drop_duplicates("city_code").assign(code=lambda f: f["city_code"], name=lambda f: f["city_name"],
                                                       level="city", parent_code="44")
    counties = towns.drop_duplicates("county_code").assign(code=lambda f: f["county_code"],
                                                           name=lambda f: f["county_name"], level="county",
                                                           parent_code=lambda f: f["city_code"])
    towns = towns.assign(level="town", parent_code=towns["county_code"], town_code=towns["code"],
                         town_name=towns["name"])
    villages = villages.assign(level="village", parent_code=villages["town_code"],
                               class_hint=villages["code_class_hint"])
    frame = pd.concat([cities, counties, towns, villages], ignore_index=True)
    for column in ("code", "parent_code", "city_code", "county_code", "town_code"):
        frame[column] = frame[column].map(lambda c: pad12(c) if isinstance(c, str) and c else None)
    # 东莞/中山 have no counties: their "county" code is the city's, keep the city row
    frame = frame[~((frame["level"] == "county") & frame["code"].isin(frame.loc[frame["level"] == "city", "code"]))]
    frame["urban_rural_code"] = None
    frame["source"] = "国家统计局 2023年统计用区划代码 (china-division 2.7.0)"
    return frame.reindex(columns=DIVISION_COLS)


def _division_file(data_dir: Path, which: str, columns: list[str], report: ImportReport) -> pd.DataFrame:
    path = data_dir / DIVISION_FILES[which]
    if not path.is_file():
        report.add(None, None, f"{path} is missing", f"point --data-dir at the folder holding {DIVISION_FILES[which]}")
        raise _Rejected
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        report.add(None, ",".join(missing), f"{path.name} lacks columns {missing}",
                   f"the header must be {','.join(columns)}")
        raise _Rejected
    return frame


def _check_divisions(frame: pd.DataFrame, report: ImportReport) -> None:
    dup = frame.loc[frame["code"].duplicated(), "code"].tolist()
    if dup:
        report.add(None, "code", f"codes repeated: {dup[:10]}", "each division code must be unique")
    known = set(frame["code"])
    orphans = frame[(frame["level"] == "village") & ~frame["parent_code"].isin(known)]
    for r in orphans.head(20).itertuples():
        report.add(None, "town_code", f"village {r.code} {r.name}: town {r.parent_code} is not listed",
                   "add the town to the towns file or correct the village's town_code")


def import_divisions(s: Session, data_dir: Path | None = None, *, dry_run: bool = False,
                     actor: str = "import", step: Callable[[str], None] | None = None,
                     progress: Progress | None = None) -> ImportReport:
    """Replace the ``divisions`` gazetteer with the NBS division names and codes in ``data_dir``."""
    step = step or (lambda _label: None)
    if data_dir is None:
        data_dir = divisions_dir()
    report = ImportReport(layer="divisions", path=str(data_dir), dry_run=dry_run)
    step("读取 reading")
    try:
        frame = read_divisions(Path(data_dir), report)
    except _Rejected:
        report.ok = False
        return report
    report.rows = len(frame)
    _check_divisions(frame, report)
    report.summary = frame["level"].value_counts().to_dict()
    if report.ok:
        step("写入 writing")
        with read_only(s, enabled=dry_run):
            write_all_or_nothing(s, report, lambda: _write_divisions(s, frame, actor=actor, progress=progress), actor=actor,
                                 dry_run=dry_run, preview=lambda: len(frame))
    return report


def _write_divisions(s: Session, frame: pd.DataFrame, *, actor: str, progress: Progress | None = None) -> int:
    s.execute(text("DELETE FROM divisions"))
    n = copy_frame(s, "divisions", frame, columns=DIVISION_COLS, progress=progress)
    record_import(s, actor=actor, layer="divisions", summary={"rows": n})
    return n
