"""``minqing names``: place-name tools (pinyin sign text, rule checks, search, division report) and the
registry in the database (add, rename, retire, history, find, reverse, check-registry, signs-missing,
recompute-pinyin).

Every command reads the place-name tables in use: data/placenames/ under the folder of
``MINQING_PLACENAME_TABLES`` when it is set (``layers.nametables.configured_tables``).
"""

from __future__ import annotations

import getpass
import time
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from api.cli._common import fail, friendly_errors, steps
from settings import divisions_dir

app = typer.Typer(
    help="地名工具 place-name tools: pinyin sign text, rule checks (flagged for review), search, reports.",
    no_args_is_help=True,
)


@app.callback()
def _tables_in_use() -> None:
    # MINQING_PLACENAME_TABLES: every command below reads the edited tables; a bad one fails here
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.nametables import configured_tables

    with friendly_errors():
        configured_tables()


# Chinese headers accepted in input files
INPUT_HEADERS = {
    "名称": "name",
    "地名": "name",
    "标准名称": "name",
    "类别": "category",
    "范围": "scope",
    "编号": "id",
    "代码": "id",
    "历史名称": "historical",
    "有无标志": "sign_present",
}


def _read_names(path: Path) -> pd.DataFrame:
    if not path.exists():
        fail(f"file {path} does not exist: give the path of a CSV or XLSX file of names")
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        frame = pd.read_excel(path, dtype=str).fillna("")
    elif path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    else:
        fail(f"file {path} is neither .csv nor .xlsx: save it as CSV (UTF-8) or XLSX")
    return frame.rename(columns=lambda c: INPUT_HEADERS.get(str(c).strip(), str(c).strip()))


def _print_frame(frame: pd.DataFrame, *, title: str, headers: dict[str, str] | None = None) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column((headers or {}).get(column, column))
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    Console().print(table)


@app.command()
def pinyin(
    name: str = typer.Argument(..., help="standard Chinese place name, e.g. 人民路"),
    category: str = typer.Option(
        None, help="feature category of data/placenames/categories.csv (road, village ...)"
    ),
    sign: bool = typer.Option(False, "--sign", help="print the full sign text: Chinese line, then pinyin"),
) -> None:
    """Pinyin sign text per the 1984 place-name romanization rules: 人民路 → Renmin Lu."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.placenames.pinyin import sign_text

    with friendly_errors():
        text = sign_text(name, category=category)
    typer.echo(text.sign if sign else text.pinyin)


@app.command()
def check(
    path: Path = typer.Argument(
        ...,
        help="CSV or XLSX with a name column (optional: category as a code or the "
        "Chinese name of categories.csv, scope, size_rank, province/city/county/town)",
    ),
    xlsx: Path = typer.Option(None, help="write the report to this XLSX file"),
    name_column: str = typer.Option("name", help="column holding the names"),
) -> None:
    """Check a list of names; every finding is flagged for review, never rejected."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.placenames.report import HEADERS_ZH, check_report, findings_sheets, summarise
    from pipeline.spreadsheets import workbook_bytes

    frame = _read_names(path)
    with friendly_errors():
        report = check_report(frame, name=name_column)
    _print_frame(
        summarise(report),
        title=f"{len(frame)} 个名称 names: {report['row'].nunique()} 个待审核 to review",
        headers=HEADERS_ZH,
    )
    if xlsx:
        xlsx.write_bytes(workbook_bytes(findings_sheets(report)))
        typer.echo(f"已写入 written: {xlsx}")


def _default_divisions_dir() -> Path:
    return divisions_dir()


def _division_files(data_dir: Path) -> list[Path]:
    files = [data_dir / "guangdong_villages_communities.csv", data_dir / "guangdong_towns_streets.csv"]
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        fail(f"missing {absent}: pass --data-dir pointing at guangdong_admin_divisions_nbs2023/")
    return files


USAGE_HEADERS = {"item": "项目", "names": "名称数", "examples": "示例"}


@app.command("check-divisions")
def check_divisions(
    data_dir: Path = typer.Option(
        None,
        help="folder with the NBS 2023 Guangdong division CSVs "
        "(default: $MINQING_DIVISIONS_DIR, else ../shared/data/guangdong_admin_divisions_nbs2023 "
        "beside the project)",
    ),
    xlsx: Path = typer.Option(None, help="write the report to this XLSX file"),
    examples: int = typer.Option(5, help="groups to print per check"),
) -> None:
    """Duplicate and homophone names among Guangdong's real divisions (village level per county, towns per
    province); then how many names use regional characters, take a surname reading or a special official
    reading, and what stays flagged, by rule."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.placenames.checks import local_usage
    from geo.placenames.report import HEADERS_ZH, division_report
    from pipeline.spreadsheets import workbook_bytes

    t0 = time.perf_counter()
    files = _division_files(data_dir or _default_divisions_dir())
    with friendly_errors(), steps(3 if xlsx else 2, desc="地名检查 division names") as step:
        step("读取 reading")
        villages, towns = (pd.read_csv(f, dtype=str, keep_default_na=False) for f in files)
        step("检查 checking")
        report = division_report(villages, towns)
        usage = local_usage(pd.concat([villages["name"], towns["name"]], ignore_index=True))
        if xlsx:
            step("写出 writing")
            xlsx.write_bytes(workbook_bytes(report.sheets(), headers=HEADERS_ZH))
    seconds = time.perf_counter() - t0
    for sheet, frame in list(report.sheets().items())[1:]:
        shown = (
            "county",
            "counties",
            "normalised",
            "pinyin",
            "count",
            "names" if "pinyin" in frame else "original",
        )
        columns = [c for c in shown if c in frame.columns]
        _print_frame(
            frame[columns].head(examples),
            title=f"{sheet} (前 {examples} 组 first groups)",
            headers=HEADERS_ZH,
        )
    _print_frame(
        report.summary,
        title=f"{len(villages)} 村/社区, {len(towns)} 乡/镇/街道: {seconds:.1f} s",
        headers=HEADERS_ZH,
    )
    _print_frame(
        usage,
        title="地名用字与读音（按不重复名称计） local characters, readings and what stays flagged",
        headers=USAGE_HEADERS,
    )
    if xlsx:
        typer.echo(f"已写入 written: {xlsx}")


@app.command()
def search(
    path: Path = typer.Argument(..., help="CSV or XLSX with id and name columns (optional historical)"),
    query: str = typer.Argument(
        ..., help="Chinese text, pinyin (tones/spaces optional) or initials, e.g. rml"
    ),
    limit: int = typer.Option(20, help="maximum results"),
    id_column: str = typer.Option("id", help="column holding the feature id"),
    name_column: str = typer.Option("name", help="column holding the names"),
) -> None:
    """Search the names of a file by Chinese substring, full pinyin or initials (the registry: `find`)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.placenames.search import build_index

    frame = _read_names(path)
    with friendly_errors():
        found = build_index(frame, id=id_column, name=name_column).query(query, limit=limit)
    if found.empty:
        typer.echo(f"没有匹配 no match for {query!r}")
        return
    _print_frame(found, title=f"{query}: {len(found)}")


# -- the registry in the database ----------------------------------------------------------------


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _print_record(record, *, title: str) -> None:
    shown = {k: v for k, v in record.as_dict().items() if v is not None}
    _print_frame(pd.DataFrame({"field": list(shown), "value": list(shown.values())}), title=title)


@app.command()
def add(
    name: str = typer.Argument(..., help="standard Chinese name, e.g. 解放北路"),
    category: str = typer.Option(
        ..., help="category of data/placenames/categories.csv (road, village, estate ...)"
    ),
    lon: float = typer.Option(..., help="longitude (WGS84) of the point"),
    lat: float = typer.Option(..., help="latitude (WGS84) of the point"),
    approval: str = typer.Option(
        None,
        help="approval record: document number and date (without one the name "
        "is recorded as 待审批 pending approval)",
    ),
    meaning: str = typer.Option(None, help="meaning and origin of the name"),
    sign_present: bool = typer.Option(False, "--sign-present", help="a sign already stands"),
) -> None:
    """Register a name (pinyin and proper/generic parts computed; history action create)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import placenames
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        record = placenames.create(
            s,
            name=name,
            category=category,
            approval=approval,
            meaning=meaning,
            geometry={"type": "Point", "coordinates": [lon, lat]},
            sign_present=sign_present,
        )
    _print_record(record, title=f"已登记 registered: {record.name} ({record.pinyin})")


@app.command()
def rename(
    name_id: int = typer.Argument(..., help="name_id of the registered name"),
    new_name: str = typer.Argument(..., help="the new standard name"),
    approval: str = typer.Option(..., help="approval record: document number and date"),
    version: int = typer.Option(None, help="the version you read (refused when the name changed since)"),
) -> None:
    """Rename a registered name; the old name stays in the history and in search."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import placenames
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        record = placenames.rename(s, name_id, new_name, approval=approval, expected_version=version)
    _print_record(record, title=f"已更名 renamed: {record.name} ({record.pinyin})")


@app.command()
def retire(
    name_id: int = typer.Argument(..., help="name_id of the registered name"),
    approval: str = typer.Option(..., help="approval record: document number and date"),
    version: int = typer.Option(None, help="the version you read (refused when the name changed since)"),
) -> None:
    """Retire a name (status historical); it stays searchable."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import placenames
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        record = placenames.retire(s, name_id, approval=approval, expected_version=version)
    _print_record(record, title=f"已销名 retired: {record.name}")


@app.command()
def find(
    query: str = typer.Argument(
        ..., help="Chinese text, pinyin (tones/spaces optional) or initials, e.g. rml"
    ),
    limit: int = typer.Option(20, min=1, max=1000, help="maximum results"),
) -> None:
    """Search the registry, former names included: Chinese substring, full pinyin or initials
    (as GET /placenames/search).
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import placenames
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        hits = placenames.search(*placenames.name_index(s), query, limit=limit)
    if not hits:
        typer.echo(f"没有匹配 no match for {query!r}")
        return
    columns = ["name_id", "name", "pinyin", "category", "status", "match", "current_name"]
    found = pd.DataFrame(hits)[columns].fillna("")
    _print_frame(
        found,
        title=f"{query}: {len(found)}",
        headers={
            "name_id": "编号",
            "name": "名称",
            "pinyin": "拼音",
            "category": "类别",
            "status": "状态",
            "match": "匹配",
            "current_name": "现名 current",
        },
    )


@app.command()
def reverse(
    lon: float = typer.Argument(..., help="longitude (WGS84), e.g. 113.25"),
    lat: float = typer.Argument(..., help="latitude (WGS84), e.g. 22.55"),
) -> None:
    """What is at a point: the nearest named road and place name and the grid (as GET /reverse)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from api.routes.isochrones import require_in_district
    from layers import placenames
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        require_in_district(s, lon, lat)  # the API's check: outside the district (or lon/lat swapped) fails
        found = placenames.reverse(s, lon, lat)
    road, place, grid = found["road"], found["place_name"], found["grid"]
    rows = [
        ("道路 road", f"{road['name']} ({road['distance_m']:g} m)" if road else "—"),
        (
            "地名 place name",
            f"{place['name']} {place['pinyin'] or ''} ({place['distance_m']:g} m)" if place else "—",
        ),
        ("网格 grid", f"{grid['name']} ({grid['code']})" if grid else "—"),
        (
            "网格员 grid worker",
            f"{grid['worker_name'] or ''} {grid['worker_phone'] or ''}".strip() or "—" if grid else "—",
        ),
        ("区划 areas", " / ".join(a["name"] for a in found["areas"]) or "—"),
    ]
    _print_frame(pd.DataFrame(rows, columns=["field", "value"]), title=f"({lon}, {lat})")


@app.command("recompute-pinyin")
def recompute_pinyin(
    dry_run: bool = typer.Option(False, "--dry-run", help="only report what would change; write nothing"),
    limit: int = typer.Option(50, help="changes to print"),
) -> None:
    """Recompute the stored pinyin and proper/generic parts of every registered name after a table edit.

    Prints each change (old → new). Names of fixed_spellings.csv keep that authority spelling;
    each change is written with a history entry.
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import placenames
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        changes = placenames.recompute_sign_text(s, dry_run=dry_run)
    verb = "将改 would change" if dry_run else "已改 changed"
    if changes.empty:
        typer.echo("拼音均为最新 every stored sign text is up to date")
        return
    shown = changes.assign(
        change=changes["old_pinyin"].fillna("∅") + " → " + changes["new_pinyin"],
        fixed=changes["fixed"].map({True: "是 yes", False: ""}),
    )
    _print_frame(
        shown[["name_id", "name", "category", "change", "fixed"]].head(limit),
        title=f"{len(changes)} 个地名{verb}" + ("" if dry_run else " (history: update)"),
        headers={
            "name_id": "编号",
            "name": "名称",
            "category": "类别",
            "change": "拼音 old → new",
            "fixed": "规定拼写 fixed",
        },
    )


@app.command()
def history(name_id: int = typer.Argument(..., help="name_id of the registered name")) -> None:
    """Print the history of a name, oldest first."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import placenames
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        rows = pd.DataFrame(placenames.history(s, name_id))
    rows["changed_at"] = rows["changed_at"].map(lambda t: t.strftime("%Y-%m-%d %H:%M"))
    columns = ["changed_at", "action", "old_name", "new_name", "approval", "changed_by"]
    _print_frame(
        rows[columns].fillna(""),
        title=f"地名沿革 history of {name_id}",
        headers={
            "changed_at": "时间",
            "action": "事项",
            "old_name": "原名",
            "new_name": "新名",
            "approval": "批复",
            "changed_by": "经办",
        },
    )


@app.command("check-registry")
def check_registry(xlsx: Path = typer.Option(None, help="write the report to this XLSX file")) -> None:
    """Check every current name of the registry (duplicates and homophones within the legal scope)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.placenames.report import HEADERS_ZH, findings_sheets, summarise
    from layers import placenames
    from layers.db import session
    from pipeline.spreadsheets import workbook_bytes

    with friendly_errors(), session(actor=_actor()) as s:
        findings = placenames.check_registry(s)
    _print_frame(
        summarise(findings.rename(columns={"name_id": "row"})),
        title=f"{findings['name_id'].nunique()} 个地名待审核 names to review",
        headers=HEADERS_ZH,
    )
    if xlsx:
        xlsx.write_bytes(workbook_bytes(findings_sheets(findings)))
        typer.echo(f"已写入 written: {xlsx}")


@app.command("signs-missing")
def signs_missing(
    xlsx: Path = typer.Option(None, help="write the work list to this XLSX file"),
    limit: int = typer.Option(30, help="rows to print"),
) -> None:
    """Names that need a sign (GB 17733-2008) and have none, with the sign text."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.placenames.report import HEADERS_ZH, signs_sheets
    from layers import placenames
    from layers.db import session
    from pipeline.spreadsheets import workbook_bytes

    with friendly_errors(), session(actor=_actor()) as s:
        worklist = placenames.missing_signs(s)
    columns = ["name", "category_zh", "sign_chinese", "sign_pinyin", "town"]
    _print_frame(
        worklist[columns].head(limit).fillna(""),
        title=f"{len(worklist)} 处缺少地名标志 signs missing",
        headers=HEADERS_ZH,
    )
    if xlsx:
        xlsx.write_bytes(workbook_bytes(signs_sheets(worklist)))
        typer.echo(f"已写入 written: {xlsx}")


@app.command()
def review(
    name_id: int = typer.Argument(..., help="name_id of the flagged name"),
    decision: str = typer.Option(
        ..., help="审核决定: 保留 (keep), 豁免 (exempt from the rule) or 整改 (correct it)"
    ),
    note: str = typer.Option(None, help="说明, e.g. the meeting or expert opinion"),
) -> None:
    """Record an officer's decision on a flagged name;
    保留 and 豁免 stop its current findings from being flagged.
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.placenames.tables import default_tables
    from layers import placenames
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        done = placenames.review(s, name_id, decision=decision, note=note)
    rules = default_tables().rules
    reasons = "；".join(rules[c].reason_zh if c in rules else c for c in done["codes"])
    typer.echo(f"{done['name']}：{done['decision']}（{reasons}）")


@app.command()
def signs(
    town: str = typer.Option(None, help="only this 镇街"),
    status: str = typer.Option(None, help="only this sign status: 待设置, 已设置, 待更换 or 待拆除"),
    xlsx: Path = typer.Option(None, help="write the work list to this XLSX file, one sheet per 镇街"),
    pdf: Path = typer.Option(
        None,
        help="write printable A4 sign sheets to this PDF file: per 镇街, a small map "
        "and 18 signs a page (sign text 汉字 + pinyin, size class, location, status)",
    ),
    limit: int = typer.Option(30, help="rows to print"),
) -> None:
    """Sign work list per 镇街: sign status (待设置/已设置/待更换/待拆除), sign text, size class, location."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.placenames.signs import SIGN_STATUSES
    from layers import placenames
    from layers.db import session
    from pipeline.spreadsheets import workbook_bytes

    if status and status not in SIGN_STATUSES:
        fail(f"status {status!r} is unknown: use one of {'、'.join(SIGN_STATUSES)}")
    with friendly_errors(), session(actor=_actor()) as s:
        plan = placenames.sign_plan(s, town=town, sign_status=status)
    headers = {
        "name": "标准名称",
        "sign_status": "标志状态",
        "size_class": "规格",
        "sign_pinyin": "标志拼音",
        "town": "镇街",
    }
    counts = "，".join(f"{k} {v}" for k, v in plan["sign_status"].value_counts().items())
    _print_frame(
        plan[list(headers)].head(limit).fillna(""),
        title=f"{len(plan)} 处地名标志 signs：{counts}",
        headers=headers,
    )
    if xlsx:
        frame = plan.reset_index()
        sheets = {
            str(t)[:31]: rows.drop(columns="town")
            for t, rows in frame.groupby(frame["town"].fillna("未定镇街"))
        }
        xlsx.write_bytes(workbook_bytes(sheets or {"标志工作单": frame}))
        typer.echo(f"已写入 written: {xlsx}")
    if pdf:
        # late: keeps `minqing` start-up fast (loaded when the command runs)
        from api.cli.imports import phase_bars
        from pipeline.signsheets import sign_sheets

        # A bar of pages on a terminal, else a time-stamped line every tenth of the way (on stderr).
        with (
            friendly_errors(),
            session(actor=_actor()) as s,
            phase_bars(1, desc="标志工作单", unit="页", unit_en="pages") as (step, progress),
        ):
            step("绘制 drawing")  # a minute for a whole district
            body = sign_sheets(s, town=town, sign_status=status, progress=progress)
        pdf.write_bytes(body)
        typer.echo(f"已写入 written: {pdf}")
