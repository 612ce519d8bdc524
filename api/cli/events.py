"""``minqing events``: 超时升级 of overdue events (for cron or a scheduler) and the category table."""

from __future__ import annotations

import typer

from api.cli._common import friendly_errors

app = typer.Typer(no_args_is_help=True, help="民情事件 residents' reports")


@app.command()
def escalate() -> None:
    """超时升级: flag every open event past its deadline as 超时 and move it one level up
    (网格 → 村社区 → 镇街 → 职能部门) with a fresh deadline. Safe to run every few minutes."""
    from layers.db import session
    from pipeline import events as service

    with friendly_errors(), session(actor="system:escalate") as s:
        done = service.escalate_overdue(s, service.EventSettings())
    for row in done:
        typer.echo(f"事件 {row['event_id']}: 超时, {row['from_level']} → {row['to_level']}, "
                   f"新期限 {row['due_at']:%Y-%m-%d %H:%M}")
    typer.echo(f"已升级 {len(done)} 件超时事件")


@app.command()
def categories() -> None:
    """List the 事项清单: category, first handling level, department and time limit."""
    from pipeline import events as service

    with friendly_errors():
        table, _ = service.tables(service.EventSettings())
    for c in table.values():
        unit = "小时" if c.limit_unit == "hours" else "个工作日"
        typer.echo(f"{c.code:<18} {c.name_zh:<8} 首办 {c.first_level:<5} {c.department:<14} 时限 {c.limit_value:g}{unit}")


@app.command()
def weekly(
    out: str = typer.Option(..., "--out", help="where to write the XLSX workbook"),
    since: str = typer.Option(None, help="统计期起 ISO 8601 (default: seven days before today, Beijing time)"),
    until: str = typer.Option(None, help="统计期止, not included (default: today 00:00 Beijing time)"),
) -> None:
    """周例会考核表: the KPI table per grid, community and town (按期处置率, 结案率, 平均办结时长,
    群众满意率, 走访完成率), ranked, as XLSX."""
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
        content, start, end = service.weekly_xlsx(s, service.VisitSettings(), since=moment(since, "since"),
                                                  until=moment(until, "until"))
    Path(out).write_bytes(content)
    typer.echo(f"已写出 {out}: {start:%Y-%m-%d %H:%M} 至 {end:%Y-%m-%d %H:%M} (UTC{start:%z})")
