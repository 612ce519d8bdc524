"""重点人群 key households and 走访 visits, by role; 走访完成率 joined to the event KPIs.

Who sees what (data minimisation, 最小必要: key-group flags and visit logs are sensitive personal
information under PIPL):

* grid_worker: the key households of their own grid — list, read, register, change — and their
  visits; logs visits and turns a need found into an event;
* admin: everything;
* dispatcher: no household or visit, only the aggregate 走访完成率 in the KPIs (GET /events/kpis);
* department, planner, placename_officer: nothing (403).

A household outside a grid worker's grid is 404 for them, as for events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

import pandas as pd
from sqlalchemy.orm import Session

from geo import visits as plan_rules
from geo.deadlines import BEIJING
from layers import events as event_store
from layers import visits as store
from layers.errors import NotFound, ValidationFailed
from layers.users import Account
from pipeline import events as events_service
from pipeline import spreadsheets
from pipeline.errors import Invalid, NotAllowed
from settings import EventSettings, VisitSettings

ROLES = ("admin", "grid_worker")
"""Roles that see key households and visits (grid workers: their grid only)."""
FUTURE_SLACK = timedelta(minutes=10)
"""A visit may be logged with a time at most this far ahead of the server clock (phone clocks drift)."""


@lru_cache(maxsize=4)
def _plan(path: Path) -> dict[str, plan_rules.KeyGroup]:
    return plan_rules.load_plan(path)


def plan(settings: VisitSettings) -> dict[str, plan_rules.KeyGroup]:
    """The visit plan (read once per path)."""
    return _plan(Path(settings.plan_path))


def intervals(settings: VisitSettings) -> dict[str, int]:
    return {code: g.every_days for code, g in plan(settings).items()}


# --- who sees what ---------------------------------------------------------------------------------


def scope(user: Account) -> dict[str, Any]:
    """Filters restricting ``user`` to their key households; 403 for roles that see none."""
    if user.role not in ROLES:
        raise NotAllowed(
            f"role {user.role!r} may not see key households or visits (重点人群, 走访): it needs one "
            f"of {list(ROLES)}",
            fix="dispatchers see 走访完成率 in GET /events/kpis; ask an "
            "administrator if your work needs more",
        )
    if user.role == "grid_worker":
        if user.area_id is None:
            raise NotAllowed(
                f"grid worker {user.username!r} has no grid assigned",
                fix="ask an administrator to set your area_id (PATCH /users/{id})",
            )
        return {"grid_id": user.area_id}
    return {}


def _visible(user: Account, household: dict[str, Any]) -> bool:
    return all(household.get(k) == v for k, v in scope(user).items())


def present(settings: VisitSettings, household: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A household as staff see it: group names in Chinese and whether its visit is overdue."""
    groups = plan(settings)
    return {
        **household,
        "groups_zh": [groups[g].name_zh if g in groups else g for g in household["groups"]],
        "overdue": household["next_due_at"] is not None and household["next_due_at"] < now,
    }


def household_for(s: Session, settings: VisitSettings, user: Account, household_id: int) -> dict[str, Any]:
    household = store.get_household(s, household_id, intervals(settings))
    if not _visible(user, household):
        raise NotFound(
            f"no key household with household_id {household_id} among yours: list yours with GET /households"
        )
    return household


def list_households(
    s: Session,
    settings: VisitSettings,
    user: Account,
    *,
    grid_id: int | None = None,
    group: str | None = None,
    overdue: bool | None = None,
    active: bool | None = True,
    limit: int = 100,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[dict], int]:
    """The user's key households, overdue visits first, then by next due visit."""
    now = now or datetime.now(UTC)
    filters = {"grid_id": grid_id, **scope(user)}
    if grid_id is not None and filters["grid_id"] != grid_id:
        filters["grid_id"] = -1  # another grid than the worker's own: nothing
    if group is not None:
        plan_rules.check_groups([group], plan(settings))
    rows, total = store.households(
        s,
        intervals(settings),
        now=now,
        group=group,
        overdue=overdue,
        active=active,
        limit=limit,
        offset=offset,
        **filters,
    )
    return [present(settings, r, now) for r in rows], total


def create_household(
    s: Session,
    settings: VisitSettings,
    user: Account,
    *,
    residence_id: int,
    groups: list[str],
    head_name: str,
    note: str | None = None,
    registered_at: datetime | None = None,
) -> dict[str, Any]:
    """Register a key household at a residence point; grid workers only inside their own grid."""
    scope(user)
    codes = plan_rules.check_groups(groups, plan(settings))
    name = (head_name or "").strip()
    if not name:
        raise ValidationFailed("请填写户主姓名 (head_name)")
    home = store.residence(s, residence_id)
    routed = event_store.route(s, home["lon"], home["lat"])
    if user.role == "grid_worker" and routed["grid_id"] != user.area_id:
        raise NotAllowed(
            f"residence {residence_id} is not in your grid {user.area_id}",
            fix="register households of your own grid; ask that grid's worker or an administrator",
        )
    values = {
        "residence_id": residence_id,
        "groups": codes,
        "head_name": name,
        "address": home["address"],
        "note": (note or "").strip() or None,
        "grid_id": routed["grid_id"],
        "community_id": routed["community_id"],
        "town_id": routed["town_id"],
    }
    if registered_at is not None:
        values["registered_at"] = registered_at
    household_id = store.insert_household(s, values)
    return present(settings, store.get_household(s, household_id, intervals(settings)), datetime.now(UTC))


def update_household(
    s: Session,
    settings: VisitSettings,
    user: Account,
    household_id: int,
    *,
    groups: list[str] | None = None,
    head_name: str | None = None,
    note: str | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """Change a visible household's groups, head's name, note or whether it is still followed."""
    household_for(s, settings, user, household_id)
    changes: dict[str, Any] = {}
    if groups is not None:
        changes["groups"] = plan_rules.check_groups(groups, plan(settings))
    if head_name is not None:
        if not head_name.strip():
            raise ValidationFailed("户主姓名 (head_name) 不能为空")
        changes["head_name"] = head_name.strip()
    if note is not None:
        changes["note"] = note.strip() or None
    if active is not None:
        changes["active"] = active
    store.update_household(s, household_id, changes)
    return present(settings, store.get_household(s, household_id, intervals(settings)), datetime.now(UTC))


# --- visits ----------------------------------------------------------------------------------------


def log_visit(
    s: Session,
    settings: VisitSettings,
    event_settings: EventSettings,
    user: Account,
    *,
    household_id: int,
    lon: float,
    lat: float,
    visited_at: datetime | None = None,
    notes: str | None = None,
    needs: str | None = None,
    event_category: str | None = None,
    client_id: UUID | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """Log a visit where the worker's browser located them: refused (422) farther than
    ``max_distance_m`` from the household. With ``event_category`` the needs found become an event
    in the same call (``event`` in the answer). Returns the visit and whether it is new.

    ``client_id``: the id the phone gave a visit it recorded (offline, say) and sends until it hears
    back: a second send stores nothing and answers the visit stored first (with its event)."""
    if client_id is not None:
        sent = _sent_before(s, event_settings, user, client_id)
        if sent is not None:
            return sent, False
    household = household_for(s, settings, user, household_id)
    now = now or datetime.now(UTC)
    visited_at = visited_at or now
    if visited_at.tzinfo is None:
        raise ValidationFailed("走访时间 (visited_at) 需带时区, 如 2026-03-01T10:00:00+08:00")
    if visited_at > now + FUTURE_SLACK:
        raise ValidationFailed(f"走访时间 {visited_at.isoformat()} 晚于当前时间: 请核对手机时间后重新登记")
    if not household["active"]:
        raise Invalid(
            f"key household {household_id} is no longer followed (active false)",
            fix='reactivate it with PATCH /households/{id} {"active": true} first',
        )
    distance = store.distance_m(s, household_id, lon, lat)
    if distance > settings.max_distance_m:
        raise ValidationFailed(
            f"定位点距该户 {distance:.0f} 米, 超过允许的 {settings.max_distance_m:.0f} 米: "
            "请在户内或门口打开手机定位后登记, 或核对是否选错了户"
        )
    needs = (needs or "").strip() or None
    if event_category is not None and needs is None:
        raise ValidationFailed("转为民情事件需要先填写发现的需求 (needs)")
    visit, new = store.insert_visit(
        s,
        {
            "household_id": household_id,
            "worker": user.username,
            "visited_at": visited_at,
            "distance_m": round(distance, 1),
            "notes": (notes or "").strip() or None,
            "needs": needs,
            "lon": lon,
            "lat": lat,
            "client_id": client_id,
        },
    )
    if not new:  # the same visit sent twice at once: the other request stored it
        sent = _sent_before(s, event_settings, user, client_id)
        if sent is None:  # its id was taken, yet no visit holds it: it was removed meanwhile
            raise Invalid(f"client_id {client_id} was just used and removed", fix="send the visit again")
        return sent, False
    if event_category is None:
        return visit, True
    event = _event_from(s, event_settings, user, visit, household, event_category, None)
    return {**store.get_visit(s, visit["visit_id"]), "event": event}, True


def _sent_before(
    s: Session, event_settings: EventSettings, user: Account, client_id: UUID | None
) -> dict[str, Any] | None:
    """The visit this worker already sent with ``client_id`` (with its event), None when none; refused
    when someone else's visit holds that id."""
    visit = store.by_client_id(s, client_id)
    if visit is None:
        return None
    if visit["worker"] != user.username:
        raise Invalid(
            f"client_id {client_id} belongs to another visit",
            fix="give every new visit a new random UUID (crypto.randomUUID())",
        )
    if visit["event_id"] is not None:
        event = event_store.get(s, visit["event_id"])
        return {**visit, "event": events_service.present(event, user, event_settings)}
    return visit


def need_to_event(
    s: Session,
    settings: VisitSettings,
    event_settings: EventSettings,
    user: Account,
    visit_id: int,
    *,
    category: str,
    description: str | None = None,
) -> dict[str, Any]:
    """Turn the need found on a visit into a 民情事件 at the household, routed to its grid (one call);
    409 when that visit already became one."""
    visit = store.get_visit(s, visit_id)
    household = household_for(s, settings, user, visit["household_id"])
    if visit["event_id"] is not None:
        raise Invalid(
            f"visit {visit_id} already became event {visit['event_id']}",
            fix=f"follow it with GET /events/{visit['event_id']}",
            see=f"/events/{visit['event_id']}",
        )
    if not (description or visit["needs"] or "").strip():
        raise ValidationFailed("这次走访没有记录需求: 请填写事件描述 (description)")
    return _event_from(s, event_settings, user, visit, household, category, description)


def _event_from(
    s: Session,
    event_settings: EventSettings,
    user: Account,
    visit: dict,
    household: dict,
    category: str,
    description: str | None,
) -> dict[str, Any]:
    text = (description or "").strip() or f"走访发现需求: {visit['needs']}"
    event, duplicates = events_service.create(
        s,
        event_settings,
        category=category,
        description=text,
        lon=household["lon"],
        lat=household["lat"],
        address=None,
        phone=None,
        source="staff",
        reported_by=user.username,
    )
    store.link_event(s, visit["visit_id"], event["event_id"])
    return {
        **events_service.present(event, user, event_settings),
        "possible_duplicates": duplicates,
        "from_visit": visit["visit_id"],
    }


def list_visits(
    s: Session,
    settings: VisitSettings,
    user: Account,
    *,
    household_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict], int]:
    filters = scope(user)
    if household_id is not None:
        household_for(s, settings, user, household_id)
    return store.visits(
        s, household_id=household_id, since=since, until=until, limit=limit, offset=offset, **filters
    )


# --- KPIs ------------------------------------------------------------------------------------------


def kpis(
    s: Session,
    settings: VisitSettings,
    *,
    by: str,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The event KPIs (``layers.events.kpis``) with 走访完成率 per area, ranked best first by
    按期处置率, 结案率, then 走访完成率. An area with visits owed but no event appears with event
    figures empty, and the other way round."""
    now = now or datetime.now(UTC)
    rows = {
        r["area_id"]: {**r, "households_owing": 0, "visits_owed": 0, "visits_done": 0, "visit_rate": None}
        for r in event_store.kpis(s, by=by, since=since, until=until, now=now)
    }
    empty = {
        "events": 0,
        "due": 0,
        "on_time": 0,
        "closed": 0,
        "rated": 0,
        "satisfied": 0,
        "on_time_rate": None,
        "closed_rate": None,
        "mean_hours_to_resolve": None,
        "satisfied_rate": None,
    }
    for v in store.visit_kpis(s, intervals(settings), by=by, since=since, until=until, now=now):
        rows.setdefault(v["area_id"], {"area_id": v["area_id"], **empty}).update(v)

    def rank(r: dict) -> tuple:
        return tuple(
            (x is None, -(x or 0.0)) for x in (r["on_time_rate"], r["closed_rate"], r["visit_rate"])
        ) + (r["area_id"],)

    return sorted(rows.values(), key=rank)


# --- the weekly meeting's table ----------------------------------------------------------------------

KPI_HEADERS = {
    "rank": "排名",
    "name": "名称",
    "events": "上报件数",
    "due": "应办结件数",
    "on_time": "按期办结件数",
    "on_time_rate": "按期处置率",
    "closed": "结案件数",
    "closed_rate": "结案率",
    "mean_hours_to_resolve": "平均办结时长(小时)",
    "rated": "评价件数",
    "satisfied_rate": "群众满意率",
    "visits_owed": "应走访次数",
    "visits_done": "已走访次数",
    "visit_rate": "走访完成率",
}
LEVELS_ZH = {"grid": "网格", "community": "村社区", "town": "镇街"}
DEFINITIONS = (
    "按期处置率 = 期限内办结且从未超时的件数 ÷ 应办结件数 (已办结, 或已过办理期限);",
    "结案率 = 已办结、已回访、已归档的件数 ÷ 上报件数;",
    "平均办结时长 = 从上报到办结的平均小时数 (仅已办结件);",
    "群众满意率 = 评价为 4-5 分的件数 ÷ 评价件数;",
    "走访完成率 = 已走访次数 (每户至多计其应走访次数) ÷ 应走访次数 (各重点人群户在期内的整走访周期数);",
    "件数按上报时间计入统计期; 合并件不计; 无数据的比率留空。",
)


def weekly_period(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last seven whole days (Beijing time) before today."""

    today = (now or datetime.now(UTC)).astimezone(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=7), today


def weekly_xlsx(
    s: Session,
    settings: VisitSettings,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> tuple[bytes, datetime, datetime]:
    """周例会 KPI workbook: a sheet per level (网格, 村社区, 镇街) ranked best first, Chinese headers, the
    definitions above each table; written by the one formula-safe writer (``pipeline.spreadsheets``)."""

    now = now or datetime.now(UTC)
    if since is None or until is None:
        default_since, default_until = weekly_period(now)
        since, until = since or default_since, until or default_until
    if until <= since:
        raise ValidationFailed(f"统计期止 {until.isoformat()} 不晚于起 {since.isoformat()}: 请交换或更正")
    wb = spreadsheets.new_workbook()
    period = (
        f"统计期: {spreadsheets.beijing_minute(since)} 至 {spreadsheets.beijing_minute(until)} "
        "(北京时间, 不含止时)"
    )
    for by, zh in LEVELS_ZH.items():
        rows = kpis(s, settings, by=by, since=since, until=until, now=now)
        frame = pd.DataFrame(
            [{**r, "rank": i} for i, r in enumerate(rows, start=1)], columns=list(KPI_HEADERS)
        )
        frame["mean_hours_to_resolve"] = frame["mean_hours_to_resolve"].astype(float).round(1)
        spreadsheets.table_sheet(
            wb,
            zh,
            frame,
            headers=KPI_HEADERS,
            percent=[KPI_HEADERS[k] for k in ("on_time_rate", "closed_rate", "satisfied_rate", "visit_rate")],
            notes=[
                f"{zh}考核指标 (按按期处置率、结案率、走访完成率排名)",
                period,
                *DEFINITIONS,
                f"生成于 {spreadsheets.now_beijing()} (北京时间)",
            ],
        )
    return spreadsheets.xlsx_bytes(wb), since, until
