"""``minqing events``: 超时升级 of overdue events (for cron or a scheduler) and the category table."""

from __future__ import annotations

import typer

from api.cli._common import friendly_errors
from settings import event_settings

app = typer.Typer(no_args_is_help=True, help="民情事件 residents' reports")


@app.command()
def escalate() -> None:
    """超时升级: flag every open event past its deadline as 超时 and move it one level up
    (网格 → 村社区 → 镇街 → 职能部门) with a fresh deadline. Safe to run every few minutes."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import events as service

    with friendly_errors(), session(actor="system:escalate") as s:
        done = service.escalate_overdue(s, event_settings())
    for row in done:
        typer.echo(
            f"事件 {row['event_id']}: 超时, {row['from_level']} → {row['to_level']}, "
            f"新期限 {row['due_at']:%Y-%m-%d %H:%M}"
        )
    typer.echo(f"已升级 {len(done)} 件超时事件")


@app.command()
def categories() -> None:
    """List the 事项清单: category, first handling level, department and time limit."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from pipeline import events as service

    with friendly_errors():
        table, _ = service.tables(event_settings())
    for c in table.values():
        unit = "小时" if c.limit_unit == "hours" else "个工作日"
        typer.echo(
            f"{c.code:<18} {c.name_zh:<8} 首办 {c.first_level:<5} {c.department:<14} 时限 "
            f"{c.limit_value:g}{unit}"
        )


@app.command()
def weekly(
    out: str = typer.Option(..., "--out", help="where to write the XLSX workbook"),
    since: str = typer.Option(
        None, help="统计期起 ISO 8601 (default: seven days before today, Beijing time)"
    ),
    until: str = typer.Option(None, help="统计期止, not included (default: today 00:00 Beijing time)"),
) -> None:
    """周例会考核表: the KPI table per grid, community and town (按期处置率, 结案率, 平均办结时长,
    群众满意率, 走访完成率), ranked, as XLSX."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from datetime import datetime
    from pathlib import Path

    from api.cli._common import fail
    from layers.db import session
    from pipeline import visits as service

    def moment(raw: str | None, name: str):
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            fail(f"--{name} {raw!r} is not an ISO 8601 time: write e.g. 2026-03-01T00:00:00+08:00")
        if value.tzinfo is None:
            fail(f"--{name} {raw!r} needs a time zone: add +08:00 for Beijing time")
        return value

    with friendly_errors(), session() as s:
        content, start, end = service.weekly_xlsx(
            s, service.VisitSettings(), since=moment(since, "since"), until=moment(until, "until")
        )
    Path(out).write_bytes(content)
    typer.echo(f"已写出 {out}: {start:%Y-%m-%d %H:%M} 至 {end:%Y-%m-%d %H:%M} (UTC{start:%z})")


@app.command("import")
def import_orders(
    file: str = typer.Argument(
        ..., help="12345 工单 CSV (UTF-8 or GBK); sample: data/templates/12345工单.csv"
    ),
    mapping: str = typer.Option(
        None,
        "--mapping",
        help="file column → field: 工单号=external_ref,来电时间=reported_at,... "
        "or a JSON object or JSON file (fields: external_ref, reported_at, category, "
        "description, address, lon, lat, phone); default: the sample file's headers",
    ),
) -> None:
    """导入12345工单: every row checked first; any problem (listed with its row, column and fix) and
    nothing is imported."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from pathlib import Path

    from api.cli._common import fail
    from layers.db import session
    from layers.errors import ValidationFailed
    from pipeline import event_import
    from pipeline import events as service

    path = Path(file)
    if not path.is_file():
        fail(f"no file {file!r}: give the path of the 12345 CSV export")
    try:
        with session(actor="cli:12345-import") as s:
            result = event_import.import_orders(
                s,
                service.EventSettings(),
                path.read_bytes(),
                event_import.parse_mapping(mapping),
                actor="cli",
            )
    except ValidationFailed as e:
        for p in e.problems:
            typer.secho(
                f"第 {p['row']} 行 [{p['column']}] {p['problem']} → {p['fix']}", fg=typer.colors.RED, err=True
            )
        fail(str(e))
    typer.echo(
        f"已导入 {result['imported']} 件工单 (事件 {result['event_ids'][0]}–{result['event_ids'][-1]})"
        if result["event_ids"]
        else "文件中没有工单"
    )
