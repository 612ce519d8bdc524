"""``minqing visits``: 重点人群 key households and 走访 visits
(the visit plan, who is due, logging a visit).
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from api.cli._common import fail, friendly_errors
from settings import event_settings, visit_settings

app = typer.Typer(no_args_is_help=True, help="走访 key households and visits")


@app.command()
def plan() -> None:
    """List the visit plan (data/visit_plan.csv): key groups and how often each is visited."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from pipeline import visits as service

    with friendly_errors():
        groups = service.plan(visit_settings())
    for g in groups.values():
        typer.echo(f"{g.code:<18} {g.name_zh:<10} 每 {g.every_days} 天走访一次")


@app.command()
def due(
    worker: str = typer.Option(
        ..., "--as", help="the account whose households to list (a grid worker or admin)"
    ),
    overdue: bool = typer.Option(False, "--overdue", help="only the households whose visit is overdue"),
    limit: int = typer.Option(50, min=1, max=5000, help="how many to list"),
) -> None:
    """List a grid worker's key households by next due visit, overdue first."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import users
    from layers.db import session
    from pipeline import visits as service

    with friendly_errors(), session(actor="cli") as s:
        user = users.by_username_or_fail(s, worker)
        rows, total = service.list_households(s, visit_settings(), user, overdue=overdue or None, limit=limit)
    for h in rows:
        flag = "逾期" if h["overdue"] else "    "
        last = f"{h['last_visit_at']:%Y-%m-%d}" if h["last_visit_at"] else "未走访"
        typer.echo(
            f"{flag} 户{h['household_id']:<6} {h['head_name']:<6} {'、'.join(h['groups_zh']):<14} "
            f"上次 {last}  应于 {h['next_due_at']:%Y-%m-%d} 前走访  {h['address'] or ''}"
        )
    typer.echo(f"共 {total} 户, 列出 {len(rows)} 户")


@app.command()
def log(
    household: int = typer.Argument(..., help="重点人群户编号 household_id"),
    worker: str = typer.Option(
        ..., "--as", help="the visiting account (a grid worker of the household's grid)"
    ),
    lon: float = typer.Option(..., help="经度 where the visit took place (WGS84)"),
    lat: float = typer.Option(..., help="纬度 where the visit took place (WGS84)"),
    at: str = typer.Option(None, help="走访时间 ISO 8601 with time zone (default now)"),
    notes: str = typer.Option(None, help="走访记录"),
    needs: str = typer.Option(None, help="发现的需求"),
    event_category: str = typer.Option(
        None, "--event", help="also turn the needs into a 民情事件 of this category"
    ),
) -> None:
    """Log a visit (refused farther than MINQING_VISITS_MAX_DISTANCE_M from the household)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import users
    from layers.db import session
    from pipeline import visits as service

    visited_at = None
    if at:
        try:
            visited_at = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r} is not an ISO 8601 time: write e.g. 2026-03-01T10:00:00+08:00")
    with friendly_errors(), session(actor=f"cli:{worker}") as s:
        user = users.by_username_or_fail(s, worker)
        visit, _ = service.log_visit(
            s,
            visit_settings(),
            event_settings(),
            user,
            household_id=household,
            lon=lon,
            lat=lat,
            visited_at=visited_at,
            notes=notes,
            needs=needs,
            event_category=event_category,
            now=datetime.now(UTC),
        )
    typer.echo(f"已登记走访 {visit['visit_id']} (距该户 {visit['distance_m']:.0f} 米)")
    if visit.get("event"):
        typer.echo(f"需求已转为民情事件 {visit['event']['event_id']} ({visit['event']['category_zh']})")
