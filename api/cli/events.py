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
