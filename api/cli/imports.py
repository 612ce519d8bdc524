"""``minqing import``: OpenStreetMap and government files into the layers.

Every command checks the whole input first and prints a validation report (行 row / 列 column /
问题 problem / 修改方法 fix); nothing is written unless the input is clean, and then everything is
written in one transaction. ``--dry-run`` checks the same way and writes nothing at all (a
read-only transaction); its report is the one the import would give. A file may hold at most
``MINQING_IMPORT_MAX_ROWS`` rows (default 200,000). Each phase (reading, checking, writing …)
shows its own progress bar on a terminal, the rows written in the writing phase; without a
terminal each phase is a time-stamped line on stderr. Exit status: 0 imported (or clean on a dry
run), 1 rejected (see the report), 2 error.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from api.cli._common import fail, friendly_errors
from geo.areas import LEVELS
from settings import divisions_dir

app = typer.Typer(no_args_is_help=True)
SHOWN = 40  # report rows printed; --report writes them all

CRS_HELP = (
    "coordinate system of the coordinates: wgs84 / cgcs2000 (GPS, 天地图, OSM), gcj02 (高德, 腾讯), "
    "bd09 (百度), or epsg:NNNN (e.g. epsg:4547 for CGCS2000 / 3-degree Gauss-Kruger metres)"
)
MAP_HELP = (
    "map a header to a column, e.g. --map 机构名称=name (repeatable; columns: see data/import_columns.csv)"
)
OUTSIDE_HELP = (
    "accept data outside China when no areas are stored yet (test or foreign data, e.g. an OSM "
    "extract of Helsinki); without it such rows are refused, which catches swapped or foreign coordinates"
)
BBOX_HELP = "lon_min,lat_min,lon_max,lat_max (degrees WGS84): rows must lie inside"


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """'113.1,22.9,113.5,23.3' → a tuple (clear error when malformed)."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[0] >= values[2] or values[1] >= values[3]:
        fail(
            f"--bbox {text!r}: give lon_min,lat_min,lon_max,lat_max in degrees, "
            "e.g. 115.30,22.75,115.40,22.85"
        )
    lon_min, lat_min, lon_max, lat_max = values
    return lon_min, lat_min, lon_max, lat_max


def parse_map(items: list[str] | None) -> dict[str, str]:
    """['机构=name', ...] → {'机构': 'name'}."""
    mapping = {}
    for item in items or []:
        header, sep, column = item.partition("=")
        if not sep or not header.strip() or not column.strip():
            fail(f"--map {item!r}: write 你的列名=column, e.g. --map 机构名称=name")
        mapping[header.strip()] = column.strip()
    return mapping


def print_report(report, *, save: Path | None) -> None:
    """Print the summary and the first problems and warnings; optionally save all as CSV."""
    console = Console(stderr=False, soft_wrap=True)
    state = "通过 clean" if report.ok else "未导入 rejected"
    verb = "would write" if report.dry_run else "written"
    count = report.summary.get("would_write", 0) if report.dry_run else report.written
    console.print(
        f"[bold]{report.layer}[/bold] {report.path}: {state} — rows {report.rows}, {verb} {count}, "
        f"problems {len(report.problems)}, warnings {len(report.warnings)}"
    )
    for title, warnings in (("问题 problems (nothing was written)", False), ("提示 warnings", True)):
        table = report.table(warnings=warnings)
        if len(table):
            console.print(_rich_table(table.head(SHOWN), title))
            if len(table) > SHOWN:
                console.print(f"… {len(table) - SHOWN} more: use --report FILE.csv to save them all")
    if report.summary:
        console.print("summary: " + json.dumps(report.summary, ensure_ascii=False, default=str))
    if save is not None:
        both = [report.table().assign(级别="problem"), report.table(warnings=True).assign(级别="warning")]
        # late: keeps `minqing` start-up fast (loaded when the command runs)
        import pandas as pd

        from pipeline.spreadsheets import csv_bytes

        save.write_bytes(csv_bytes(pd.concat(both)))
        console.print(f"report saved to {save}")


def _rich_table(frame, title: str) -> Table:
    """A rich table; a long fix repeated on several rows (e.g. the list of valid types) is printed once."""
    table = Table(title=title, show_lines=False, title_justify="left")
    for column in frame.columns:
        table.add_column(column, overflow="fold")
    first_row: dict[str, object] = {}
    for row in frame.itertuples(index=False):
        cells = ["" if v is None or v != v else str(v) for v in row]
        fix = cells[-1]
        if len(fix) > 120 and fix in first_row:
            cells[-1] = f"(same as row {first_row[fix]})"
        first_row.setdefault(fix, cells[0])
        table.add_row(*cells)
    return table


@contextmanager
def phase_bars(
    stages: int, *, desc: str, unit: str = "行", unit_en: str = "rows"
) -> Iterator[tuple[Callable[[str], None], Callable[[int, int], None]]]:
    """A progress bar per phase: ``step(label)`` ends the current phase and starts the next (of
    ``stages``); ``progress(done, total)`` fills the current phase's bar with rows (or ``unit``: 页 pages).

    On a terminal only; otherwise (cron, CI, output to a file) each phase is a time-stamped line
    on stderr, and the rows written every tenth of the way.
    """
    start = time.perf_counter()
    current: dict = {"bar": None, "phase": 0, "tenth": -1}

    def line(text: str) -> None:
        print(f"[{desc} {time.perf_counter() - start:6.1f} s] {text}", file=sys.stderr, flush=True)

    def close() -> None:
        if current["bar"] is not None:
            current["bar"].close()
            current["bar"] = None

    def step(label: str) -> None:
        close()
        current["phase"] += 1
        current["tenth"] = -1
        title = f"{desc} {current['phase']}/{max(stages, current['phase'])} {label}"
        # the rows' bar appears with the first rows
        bar = tqdm(
            total=None,
            desc=title,
            unit=unit,
            file=sys.stderr,
            dynamic_ncols=True,
            disable=None,
            bar_format="{desc} {elapsed}",
        )
        if bar.disable:
            line(label)
        else:
            current["bar"] = bar

    def progress(done: int, total: int) -> None:
        bar = current["bar"]
        if bar is not None:
            bar.bar_format, bar.total = None, total
            bar.update(done - bar.n)
            return
        tenth = 10 * done // max(total, 1)
        if tenth > current["tenth"]:
            current["tenth"] = tenth
            line(f"{done:,} / {total:,} {unit} {unit_en}")

    try:
        yield step, progress
    finally:
        close()


class _RolledBack(Exception):
    """A rejected import after another change of the same transaction: undo that change too."""


def run_file_import(
    layer: str, path: Path, *, report_path: Path | None, stages: int, replace_demo: bool = False, **options
) -> None:
    """Check and write one file in one transaction; print the report; exit 1 when rejected.
    ``replace_demo``: remove the demo district first, in the same transaction (kept only if the
    file is imported)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from layers.load.clean import remove_demo
    from layers.load.files import import_file

    try:
        with (
            friendly_errors(),
            phase_bars(stages, desc=f"导入 {layer}") as (step, progress),
            session(actor=options["actor"]) as s,
        ):
            if replace_demo:
                removed = remove_demo(s, actor=options["actor"])
                typer.echo(
                    "替换演示数据 replacing the demo district: "
                    + "，".join(f"{k} {v}" for k, v in removed.items() if v),
                    err=True,
                )
            report = import_file(s, layer, path, step=step, progress=progress, **options)
            if replace_demo and not report.ok:
                raise _RolledBack
    except _RolledBack:
        typer.echo(
            "文件未通过检查, 演示数据保持不变 the file was rejected: the demo district is kept", err=True
        )
    print_report(report, save=report_path)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def facilities(
    file: Path = typer.Argument(
        ...,
        exists=False,
        help="CSV/XLSX with Chinese headers (名称, 类型, 经度, 纬度, 地址 ...) or GeoJSON/GPKG points",
    ),
    crs: str = typer.Option("wgs84", "--crs", help=CRS_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="check everything, write nothing"),
    map_: list[str] = typer.Option(None, "--map", help=MAP_HELP),
    replace: bool = typer.Option(False, "--replace", help="remove every stored facility first"),
    bbox: str = typer.Option(None, "--bbox", help=BBOX_HELP),
    outside_china: bool = typer.Option(False, "--outside-china", help=OUTSIDE_HELP),
    actor: str = typer.Option("import", help="name recorded in the audit log"),
    report: Path = typer.Option(None, "--report", help="save every problem and warning to this CSV"),
) -> None:
    """设施 Import facilities. Types by code or Chinese name (data/facility_types.csv); rows without
    coordinates are placed by matching 地址 to the standard addresses and place names."""
    run_file_import(
        "facilities",
        file,
        report_path=report,
        stages=3,
        crs=crs,
        dry_run=dry_run,
        column_map=parse_map(map_),
        replace=replace,
        bbox=parse_bbox(bbox),
        actor=actor,
        outside_china=outside_china,
    )


@app.command()
def grids(
    file: Path = typer.Argument(
        ..., help="GPKG, GeoJSON or zipped Shapefile (or CSV/XLSX with a WKT column)"
    ),
    absorb_slivers: float = typer.Option(
        0, "--absorb-slivers", help="absorb overlaps/gaps/overhangs up to this size (m²), e.g. 50"
    ),
    level: str = typer.Option(
        None, "--level", help="level of every row when the file has no 层级 column: " + " ".join(LEVELS)
    ),
    crs: str = typer.Option(
        "wgs84", "--crs", help=CRS_HELP + " (a file's own .prj/CRS is used when present)"
    ),
    make_valid: bool = typer.Option(
        False, "--make-valid", help="repair invalid polygons instead of rejecting"
    ),
    strict: bool = typer.Option(False, "--strict", help="reject the file when topology problems remain"),
    replace: bool = typer.Option(
        False, "--replace", help="remove stored areas whose code is not in the file"
    ),
    replace_demo: bool = typer.Option(
        False,
        "--replace-demo",
        help="remove the demo district first (its areas, "
        "network, homes, facilities and place names), in the same transaction",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="check everything, write nothing"),
    map_: list[str] = typer.Option(None, "--map", help=MAP_HELP),
    bbox: str = typer.Option(None, "--bbox", help=BBOX_HELP),
    outside_china: bool = typer.Option(False, "--outside-china", help=OUTSIDE_HELP),
    actor: str = typer.Option("import", help="name recorded in the audit log"),
    report: Path = typer.Option(None, "--report", help="save every problem and warning to this CSV"),
) -> None:
    """网格 Import areas and grids (编码, 名称, 层级, 上级编码 ...) with a topology report: overlaps, gaps and
    children outside their parent, with sizes in m². Areas with a stored code are updated in place."""
    run_file_import(
        "areas",
        file,
        report_path=report,
        stages=4,
        crs=crs,
        dry_run=dry_run,
        column_map=parse_map(map_),
        replace=replace,
        bbox=parse_bbox(bbox),
        sliver_m2=absorb_slivers,
        level=level,
        make_valid=make_valid,
        strict_topology=strict,
        actor=actor,
        outside_china=outside_china,
        replace_demo=replace_demo,
    )


@app.command()
def addresses(
    file: Path = typer.Argument(
        ..., help="一标三实 CSV/XLSX: 标准地址, 户数, 实有人口, 60岁以上, 0-14岁, 经度, 纬度, 网格编码 ..."
    ),
    crs: str = typer.Option("wgs84", "--crs", help=CRS_HELP),
    replace: bool = typer.Option(
        False, "--replace", help="remove every stored residence first (demo/OSM estimates)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="check everything, write nothing"),
    map_: list[str] = typer.Option(None, "--map", help=MAP_HELP),
    bbox: str = typer.Option(None, "--bbox", help=BBOX_HELP),
    outside_china: bool = typer.Option(False, "--outside-china", help=OUTSIDE_HELP),
    actor: str = typer.Option("import", help="name recorded in the audit log"),
    report: Path = typer.Option(None, "--report", help="save every problem and warning to this CSV"),
) -> None:
    """一标三实 Import standard addresses with household and population counts
    (→ residences, never public).
    """
    run_file_import(
        "addresses",
        file,
        report_path=report,
        stages=3,
        crs=crs,
        dry_run=dry_run,
        column_map=parse_map(map_),
        replace=replace,
        bbox=parse_bbox(bbox),
        actor=actor,
        outside_china=outside_china,
    )


@app.command("place-names")
def place_names(
    file: Path = typer.Argument(
        ...,
        help="CSV/XLSX (名称, 类别, 经度, 纬度, 拼音, 批准文号 ...) or GeoJSON/GPKG/SHP "
        "with points, lines or polygons",
    ),
    crs: str = typer.Option("wgs84", "--crs", help=CRS_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="check everything, write nothing"),
    map_: list[str] = typer.Option(None, "--map", help=MAP_HELP),
    bbox: str = typer.Option(None, "--bbox", help=BBOX_HELP),
    outside_china: bool = typer.Option(False, "--outside-china", help=OUTSIDE_HELP),
    actor: str = typer.Option("import", help="name recorded in the audit log and the names' history"),
    report: Path = typer.Option(None, "--report", help="save every problem and warning to this CSV"),
) -> None:
    """地名 Add place names to the registry (categories of data/placenames/categories.csv); names already
    registered with the same category are skipped."""
    run_file_import(
        "place_names",
        file,
        report_path=report,
        stages=3,
        crs=crs,
        dry_run=dry_run,
        column_map=parse_map(map_),
        bbox=parse_bbox(bbox),
        actor=actor,
        outside_china=outside_china,
    )


@app.command()
def divisions(
    data_dir: Path = typer.Option(
        None,
        "--data-dir",
        help="folder with guangdong_towns_streets.csv and guangdong_villages_communities.csv "
        "(default: $MINQING_DIVISIONS_DIR, else ../shared/data/"
        "guangdong_admin_divisions_nbs2023 beside the project)",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="check everything, write nothing"),
    actor: str = typer.Option("import", help="name recorded in the audit log"),
) -> None:
    """区划 Load the NBS statistical division names and codes
    (city → county → town → village) as a gazetteer.
    """
    run_file_import(
        "divisions", data_dir or divisions_dir(), report_path=None, stages=2, dry_run=dry_run, actor=actor
    )


@app.command()
def osm(
    file: Path = typer.Option(None, "--file", help=".osm, .osm.bz2 or .osm.pbf extract (offline)"),
    place: str = typer.Option(
        None, "--place", help="download by place name, e.g. 汕尾市城区 (needs the internet)"
    ),
    polygon: Path = typer.Option(
        None,
        "--polygon",
        help="download the area of this GeoJSON/GPKG polygon "
        "(e.g. the district boundary; needs the internet)",
    ),
    bbox: str = typer.Option(
        None,
        "--bbox",
        help="lon_min,lat_min,lon_max,lat_max: clip --file, or download this box when no --file is given",
    ),
    network: str = typer.Option(
        "all",
        "--network",
        help="walk | bike | drive | all (bike: the roads the e-bike "
        "profile of data/profiles.csv may use; profiles pick "
        "speeds later)",
    ),
    layers: str = typer.Option(
        "network,facilities,place_names,residences",
        "--layers",
        help="what to load; the network is always replaced",
    ),
    replace_all: bool = typer.Option(
        False,
        "--replace-all",
        help="also remove facilities and residences that did not come from OSM (e.g. the demo district)",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="read, build and check everything, write nothing"),
    actor: str = typer.Option("osm-import", help="name recorded in the audit log"),
    report: Path = typer.Option(None, "--report", help="save every warning to this CSV"),
) -> None:
    """OpenStreetMap: street network (split at intersections), facilities (data/osm_facility_mapping.csv),
    place names and estimated residences from building footprints (data/household_estimate.csv; none
    where 一标三实 addresses exist). Prints a report: what was dropped, unmapped or skipped."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.osm import NETWORK_TYPES
    from layers.db import session
    from layers.load import osm as osm_load

    _check_osm_source(file=file, place=place, polygon=polygon, bbox=bbox)
    if network not in NETWORK_TYPES:
        fail(f"--network {network!r}: use one of {', '.join(NETWORK_TYPES)}")
    box = parse_bbox(bbox)
    include = [x.strip() for x in layers.split(",") if x.strip()]
    with friendly_errors():
        area = osm_load.read_polygon(polygon) if polygon is not None else None
        reading = 1 + (3 if file is not None and file.name.lower().endswith(".pbf") else 0) + 4
        writing = 0 if dry_run else 2 + len(set(include) - {"network"})
        with (
            phase_bars(reading + writing, desc="OpenStreetMap") as (step, progress),
            session(actor=actor) as s,
        ):
            result = osm_load.import_osm(
                s,
                path=file,
                place=place,
                polygon=area,
                bbox=box,
                network=network,
                include=include,
                replace_all=replace_all,
                actor=actor,
                dry_run=dry_run,
                step=step,
                progress=progress,
            )
    print_report(result, save=report)


def _check_osm_source(
    *, file: Path | None, place: str | None, polygon: Path | None, bbox: str | None
) -> None:
    """Offline: ``--file`` (``--bbox`` clips it).
    Online: exactly one of ``--place``/``--polygon``/``--bbox``.
    """
    if file is not None and (place is not None or polygon is not None):
        fail(
            "--file reads an extract offline; --place and --polygon download: give one or the other "
            "(to cut the file to an area use --bbox)"
        )
    online = [
        name for name, v in (("--place", place), ("--polygon", polygon), ("--bbox", bbox)) if v is not None
    ]
    if file is None and len(online) > 1:
        fail(
            "give one of --place NAME, --polygon FILE or --bbox BOX for a download, "
            f"not {' and '.join(online)}"
        )
    if file is None and not online:
        fail(
            "give --file PATH (offline, optionally with --bbox) or one of --place NAME / --polygon FILE / "
            "--bbox BOX (online)"
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
