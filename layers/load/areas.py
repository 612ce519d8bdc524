"""Import areas and grids (区县, 镇街, 村居, 网格) with their parents and topology checks."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.areas import DEPTH, PARENT_LEVEL, is_urban
from geo.crs import geometries_to_wgs84
from geo.topology import absorb_slivers, check_topology
from layers import ids
from layers.errors import CHECK_RULES
from layers.load.bulk import Progress, copy_frame, record_import
from layers.load.demo import AREA_COLS
from layers.load.names import assign_place_name_areas
from layers.load.position import Extent, check_positions, expected_extent, row_geometries
from layers.load.reference import DATA_DIR
from layers.load.report import ImportReport, Rejected, write_all_or_nothing
from layers.load.residences import assign_residence_areas
from layers.load.source import (
    WIDTHS,
    Source,
    check_widths,
    map_columns,
    number_column,
    read_source,
    require_columns,
    required_text,
    text_column,
)
from layers.models import is_work_phone

URBAN_RURAL_CODES = ("111", "112", "121", "122", "123", "210", "220")


AREA_NAME_WIDTH = 120


SLIVER_HINT_M2 = 50_000  # larger overlaps/gaps are not suggested for absorption


def read_area_levels(path: Path | None = None) -> dict[str, str]:
    """Level name or alias (data/area_levels.csv) → level code."""
    table = pd.read_csv(path or DATA_DIR / "area_levels.csv", dtype=str, keep_default_na=False)
    names = {lvl: lvl for lvl in table["level"]}
    for lvl, zh, aliases in zip(table["level"], table["name_zh"], table["aliases"], strict=True):
        names.update({a: lvl for a in [zh, *aliases.split("|")] if a})
    return names


def import_areas(
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
    sliver_m2,
    level,
    make_valid,
    strict_topology,
    step,
    max_rows,
    progress,
    outside_china=False,
    **_ignored,
) -> None:
    step("读取 reading")
    source = read_source(path, report, crs=crs, max_rows=max_rows)
    frame = map_columns(source.frame, "areas", report, column_map)
    if level is not None:
        frame["level"] = level
    needed = ["code", "name", "level"] + ([] if source.geometry is not None else ["wkt"])
    require_columns(frame, "areas", needed, report)
    if not report.ok:
        raise Rejected
    step("检查 checking rows")
    extent = expected_extent(s, bbox, outside_china=outside_china)
    areas = _area_rows(s, frame, source, report, crs=source.crs, extent=extent, make_valid=make_valid)
    usable = areas[areas["level"].notna() & areas.geometry.notna() & (areas["code"] != "")]
    merged = _with_stored(s, usable, replace=replace, report=report)  # parents are checked even now
    if not report.ok:
        return
    step("拓扑 topology")
    merged = _topology(merged, report, sliver_m2=sliver_m2, strict=strict_topology)
    if report.ok:
        step("写入 writing")
        write_all_or_nothing(
            s,
            report,
            lambda: _write_areas(s, merged, replace=replace, actor=actor, progress=progress),
            actor=actor,
            dry_run=dry_run,
            preview=lambda: int(merged["changed"].sum()),
        )


def _area_rows(s, frame, source, report, *, crs, extent, make_valid) -> gpd.GeoDataFrame:
    check_widths(frame, source, report, {"code": WIDTHS["code"], "worker_name": 60, "worker_phone": 40})
    check_widths(frame, source, report, {"name": AREA_NAME_WIDTH})
    codes = required_text(frame, "code", source, report).map(lambda c: unicodedata.normalize("NFKC", c))
    required_text(frame, "name", source, report)
    for code, rows in pd.Series(source.row).groupby(codes.to_numpy()).groups.items():
        if code and len(rows) > 1:
            report.add(
                int(source.row[rows[1]]),
                "编码 code",
                f"code {code!r} repeats row {int(source.row[rows[0]])}",
                "give every area its own code",
            )
    levels = _levels(frame, source, report)
    geoms = _area_geometries(frame, source, report, crs=crs, make_valid=make_valid)
    _check_area_positions(geoms, source, report, extent)
    households = number_column(frame, "households", source, report, integer=True)
    urc = text_column(frame, "urban_rural_code", nfkc=True)
    for i in np.flatnonzero(((urc != "") & ~urc.isin(URBAN_RURAL_CODES)).to_numpy()):
        report.add(
            int(source.row[i]),
            "城乡分类代码",
            f"{urc.iat[i]!r} is not an NBS urban-rural code",
            f"use one of {', '.join(URBAN_RURAL_CODES)} or leave it empty",
        )
    _check_work_phones(text_column(frame, "worker_phone"), source, report)
    return gpd.GeoDataFrame(
        {
            "row": source.row,
            "code": codes,
            "name": text_column(frame, "name"),
            "level": levels,
            "parent_code": text_column(frame, "parent_code", nfkc=True),
            "urban_rural_code": urc.replace("", None),
            "worker_name": text_column(frame, "worker_name").replace("", None),
            "worker_phone": text_column(frame, "worker_phone").replace("", None),
            "households": households.round().astype("Int64"),
            "source": f"file:{Path(report.path).name}"[:200],
        },
        geometry=list(geoms),
        crs=4326,
    )


def _check_work_phones(phones: pd.Series, source: Source, report: ImportReport) -> None:
    """The grid worker's phone is public: a work number only (the rule of migration 0012, per row)."""
    problem, fix = CHECK_RULES["area_worker_phone_work"]
    for i in np.flatnonzero(((phones != "") & ~phones.map(is_work_phone)).to_numpy()):
        report.add(int(source.row[i]), "网格员电话 worker_phone", problem, fix)


def _levels(frame: pd.DataFrame, source: Source, report: ImportReport) -> pd.Series:
    names = read_area_levels()
    values = text_column(frame, "level", nfkc=True)
    levels = values.map(lambda v: names.get(v) or names.get(v.lower()))
    valid = ", ".join(
        f"{lvl} ({'/'.join(k for k, v in names.items() if v == lvl and k != lvl)})"
        for lvl in dict.fromkeys(names.values())
    )
    for i in np.flatnonzero(levels.isna().to_numpy()):
        report.add(
            int(source.row[i]),
            "层级 level",
            f"unknown level {values.iat[i]!r}",
            f"use one of {valid} (or pass --level for the whole file); names in data/area_levels.csv",
        )
    return levels


def _area_geometries(frame, source, report, *, crs, make_valid) -> list:
    geoms = row_geometries(frame, source, report)
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
    g = geometries_to_wgs84(g, crs=crs)
    if not g.is_valid:
        reason = shapely.is_valid_reason(g)
        if not make_valid:
            report.add(
                row,
                "geometry",
                f"invalid polygon: {reason}",
                "fix it in QGIS (Vector ▸ Geometry Tools ▸ Fix Geometries) or pass --make-valid",
            )
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
    check_positions(
        shapely.get_x(points), shapely.get_y(points), source.row[present], extent, report, columns=("x", "y")
    )


def _stored_areas(s: Session) -> gpd.GeoDataFrame:
    rows = s.execute(
        text(
            "SELECT area_id, parent_id, level, code, name, urban, urban_rural_code, worker_name, "
            "worker_phone, households, source, ST_AsBinary(geom) FROM areas"
        )
    ).all()
    cols = [
        "area_id",
        "parent_id",
        "level",
        "code",
        "name",
        "urban",
        "urban_rural_code",
        "worker_name",
        "worker_phone",
        "households",
        "source",
        "wkb",
    ]
    frame = pd.DataFrame(rows, columns=cols)
    return gpd.GeoDataFrame(
        frame.drop(columns="wkb"), geometry=shapely.from_wkb(frame["wkb"].map(bytes)), crs=4326
    )


def _with_stored(
    s: Session, areas: gpd.GeoDataFrame, *, replace: bool, report: ImportReport
) -> gpd.GeoDataFrame:
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
    areas = areas.assign(
        area_id=[by_code.get(c) for c in areas["code"]], in_file=True, changed=True, stored=~new
    )
    areas.loc[new, "area_id"] = first + np.arange(int(new.sum()))
    others = stored[~stored["code"].isin(areas["code"])].assign(
        row=None, in_file=False, changed=False, stored=True
    )
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
            report.add(
                int(r.row),
                "上级编码 parent_code",
                f"parent code {r.parent_code!r} is neither in the file nor stored",
                f"import the {expected} level first or correct the code",
            )
        elif level_of[pid] != expected:
            report.add(
                int(r.row),
                "上级编码 parent_code",
                f"parent {r.parent_code!r} is a {level_of[pid]}; a {r.level} must lie in a {expected}",
                "correct the parent code or the level",
            )
        return pid
    return _containing(merged, r, expected, report)


def _containing(merged, r, expected: str, report: ImportReport):
    candidates = merged[(merged["level"] == expected) & merged.geometry.notna()]
    point = r.geometry.point_on_surface() if r.geometry is not None else None
    hits = candidates[candidates.geometry.contains(point)] if point is not None else candidates.iloc[:0]
    if hits.empty:
        report.add(
            int(r.row),
            "上级编码 parent_code",
            f"no parent code and no {expected} contains this {r.level}",
            f"add a 上级编码 column, or import the {expected} level first",
        )
        return None
    return int(hits["area_id"].iat[0])


def _urban(merged: pd.DataFrame) -> pd.Series:
    """Urban flag of the file's areas: their urban-rural code, else the statistics-code hint of a
    community (居委会 001-199 urban, 村委会 200-399 rural), else their parent's; stored areas keep theirs."""
    stored = merged["urban"] if "urban" in merged.columns else pd.Series(np.nan, index=merged.index)
    urban = {
        a: bool(u) for a, u, f in zip(merged["area_id"], stored, merged["in_file"], strict=True) if not f
    }
    order = merged["level"].map(DEPTH).sort_values(kind="stable").index
    for i in order[merged.loc[order, "in_file"].to_numpy()]:
        r = merged.loc[i]
        urban[r.area_id] = is_urban(r.urban_rural_code, r.code, r.level, urban.get(r.parent_id))
    return merged["area_id"].map(urban).astype(bool)


def _topology(
    merged: gpd.GeoDataFrame, report: ImportReport, *, sliver_m2: float, strict: bool
) -> gpd.GeoDataFrame:
    if sliver_m2 > 0:
        fixed, absorbed = absorb_slivers(merged, max_m2=sliver_m2)
        moved = ~fixed.geometry.geom_equals_exact(merged.geometry, tolerance=0)
        merged = fixed.assign(changed=merged["changed"] | moved)
        report.summary["slivers_absorbed"] = len(absorbed)
    problems = check_topology(merged)
    involved = set(merged.loc[merged["in_file"], "area_id"])
    problems = problems[problems["area_id"].isin(involved) | problems["other_id"].isin(involved)]
    label = {
        r.area_id: f"row {r.row} ({r.code} {r.name})" if r.in_file else f"stored {r.code} {r.name}"
        for r in merged.itertuples()
    }
    row_of = dict(zip(merged["area_id"], merged["row"], strict=True))
    for p in problems.itertuples():
        message, fix = _topology_message(p, label, sliver_m2)
        (report.add if strict else report.warn)(row_of.get(p.area_id), "geometry", message, fix)
    report.summary["topology_problems"] = len(problems)
    return merged


def _topology_message(p, label: dict, sliver_m2: float) -> tuple[str, str]:
    size = f"{p.area_m2:,.0f} m²"
    absorb = (
        f"fix the boundary, or pass --absorb-slivers {max(p.area_m2 * 1.1, 1):.0f} "
        "if it is a digitising sliver"
        if p.area_m2 <= SLIVER_HINT_M2
        else "fix the boundaries (too large to be a digitising sliver)"
    )
    if p.kind == "overlap":
        return f"{label.get(p.area_id)} overlaps {label.get(p.other_id)} by {size}", absorb
    if p.kind == "outside_parent":
        return f"{label.get(p.area_id)} reaches {size} outside its parent {label.get(p.other_id)}", absorb
    if p.kind == "gap":
        inside = (
            f"inside {label.get(p.area_id)}"
            if p.area_id is not None and not pd.isna(p.area_id)
            else "between areas"
        )
        return f"gap of {size} between the {p.level} areas {inside}", absorb
    return f"{label.get(p.area_id)}: {p.detail}", "correct the level or the parent"


def _write_areas(
    s: Session, merged: gpd.GeoDataFrame, *, replace: bool, actor: str, progress: Progress | None = None
) -> int:

    rows = _with_real_ids(s, merged[merged["changed"]].copy())
    rows["depth"] = rows["level"].map(DEPTH)
    rows = rows.sort_values("depth")
    stale = _stale_area_ids(s, merged) if replace else []
    s.execute(text("DROP TABLE IF EXISTS import_areas"))
    s.execute(text("CREATE TEMP TABLE import_areas (LIKE areas INCLUDING DEFAULTS) ON COMMIT DROP"))
    copy_frame(s, "import_areas", rows, columns=AREA_COLS, geometry={"geometry": "geom"}, progress=progress)
    cols = ", ".join(AREA_COLS + ["geom"])
    sets = ", ".join(f"{c} = i.{c}" for c in AREA_COLS + ["geom"] if c != "area_id")
    new = {"new": [int(a) for a in rows.loc[~rows["stored"], "area_id"]]}
    # new areas first (their parents are stored or inserted by the same statement), then updates
    s.execute(
        text(f"INSERT INTO areas ({cols}) SELECT {cols} FROM import_areas WHERE area_id = ANY(:new)"), new
    )
    s.execute(
        text(
            f"UPDATE areas a SET {sets}, version = a.version + 1 FROM import_areas i "
            "WHERE a.area_id = i.area_id AND NOT i.area_id = ANY(:new)"
        ),
        new,
    )
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
    real: dict[int, int] = dict(
        zip(provisional, ids.allocate(s, "areas", len(provisional)).tolist(), strict=True)
    )

    def real_id(a: int) -> int:
        return int(real.get(a, a))

    return rows.assign(
        area_id=rows["area_id"].map(real_id),
        parent_id=pd.Series(
            [None if p is None or pd.isna(p) else real_id(p) for p in rows["parent_id"]],
            index=rows.index,
            dtype=object,
        ),
    )


def _stale_area_ids(s: Session, merged: gpd.GeoDataFrame) -> list[int]:
    keep = set(merged["area_id"])
    return [a for a in s.execute(text("SELECT area_id FROM areas")).scalars() if a not in keep]


def _delete_areas(s: Session, area_ids: list[int]) -> None:
    """Remove areas and the references to them (residents and names lose their area; their coverage
    results go with them, by trigger: migration 0036)."""
    params = {"ids": area_ids}
    for table in ("residences", "place_names", "users"):
        s.execute(text(f"UPDATE {table} SET area_id = NULL WHERE area_id = ANY(:ids)"), params)
    s.execute(text("DELETE FROM areas WHERE area_id = ANY(:ids)"), params)
