"""民情事件: creating, routing, showing and moving events through their flow, by role.

Who sees which events (``scope``): admin all; dispatcher (镇街联勤指挥中心) the events of their town
(all towns without an ``area_id``); department (职能部门) the events assigned to their department;
grid_worker those of their own grid. Other roles none (403). An event outside a viewer's scope is
404 for them, as for features outside a grid worker's grid.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from geo import events as flow
from geo.deadlines import BEIJING, Category, WorkCalendar, load_calendar, load_categories
from layers import events as store
from layers import lookup
from layers.cache import Cache, versioned_key
from layers.errors import Conflict, NotFound, ValidationFailed
from layers.users import Account
from pipeline import photos
from pipeline.errors import NotAllowed, TooOften
from settings import EventSettings

READ_ROLES = ("admin", "dispatcher", "department", "grid_worker")
CREATE_ROLES = ("admin", "dispatcher", "grid_worker")
PHONE = re.compile(r"^(1[3-9][0-9]{9}|0[1-9][0-9]{1,2}-?[0-9]{7,8})$")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Tracking codes: no 0/O or 1/I to misread; 10 random characters (50 bits) so codes cannot be guessed."""


@lru_cache(maxsize=4)
def _tables(categories: Path, holidays: Path) -> tuple[dict[str, Category], WorkCalendar]:
    return load_categories(categories), load_calendar(holidays)


def tables(settings: EventSettings) -> tuple[dict[str, Category], WorkCalendar]:
    """The category table and the work calendar (read once per path)."""
    return _tables(Path(settings.categories_path), Path(settings.holidays_path))


def departments(settings: EventSettings) -> list[str]:
    return sorted({c.department for c in tables(settings)[0].values()})


# --- who sees what ---------------------------------------------------------------------------------


def scope(user: Account) -> dict[str, Any]:
    """Listing filters that restrict ``user`` to their events; 403 for roles that see none."""
    if user.role not in READ_ROLES:
        raise NotAllowed(
            f"role {user.role!r} may not see 民情事件: it needs one of {list(READ_ROLES)}",
            fix="ask an administrator for a role that may do this",
        )
    if user.role == "grid_worker":
        if user.area_id is None:
            raise NotAllowed(
                f"grid worker {user.username!r} has no grid assigned",
                fix="ask an administrator to set your area_id (PATCH /users/{id})",
            )
        return {"grid_id": user.area_id}
    if user.role == "department":
        return {"department": user.department or ""}
    if user.role == "dispatcher" and user.area_id is not None:
        return {"town_id": user.area_id}
    return {}


def visible(user: Account, event: dict[str, Any]) -> bool:
    return all(event.get(k) == v for k, v in scope(user).items())


def get_for(s: Session, user: Account, event_id: int, *, lock: bool = False) -> dict[str, Any]:
    event = store.get(s, event_id, lock=lock)
    if not visible(user, event):
        raise NotFound(f"no event with event_id {event_id} among yours: list yours with GET /events")
    return event


# --- creating --------------------------------------------------------------------------------------


def _tracking_code() -> str:
    return "MQ" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


def normalise_phone(raw: str | None) -> str | None:
    """Digits of a phone number (mobile or landline), None when empty; 422 when it is not one."""
    if raw is None or not raw.strip():
        return None
    phone = re.sub(r"[\s()（）+]", "", raw.strip()).removeprefix("86")
    if not PHONE.match(phone):
        raise ValidationFailed(
            f"电话号码 {raw!r} 无法识别: 请填写11位手机号或带区号的座机号 (如 0755-12345678)"
        )
    return phone


def locate(s: Session, *, lon: float | None, lat: float | None, address: str | None) -> tuple[float, float]:
    """The event's point: the map point, else the address matched through the address and place-name
    layers; 422 when neither gives a point inside the district."""
    if lon is None or lat is None:
        found = store.locate_address(s, address) if address and address.strip() else None
        if found is None:
            raise ValidationFailed(
                f"地址 {address!r} 未能定位: 请在地图上点选位置, 或写明路名、村名或门牌"
                if address
                else "请在地图上点选位置 (lon, lat) 或填写地址 (address)"
            )
        lon, lat = found["lon"], found["lat"]
    if lookup.point_in_district(s, lon, lat) is False:
        raise ValidationFailed(f"位置 ({lon}, {lat}) 不在本区范围内: 请在区内地图上点选")
    return lon, lat


def create(
    s: Session,
    settings: EventSettings,
    *,
    category: str,
    description: str,
    lon: float | None,
    lat: float | None,
    address: str | None,
    phone: str | None,
    source: str,
    reported_by: str,
    now: datetime | None = None,
    external_ref: str | None = None,
) -> tuple[dict[str, Any], list[int]]:
    """Store a new report routed to its grid and worker; returns it and the open events it may repeat."""
    categories, calendar = tables(settings)
    if category not in categories:
        raise ValidationFailed(
            f"事项类别 {category!r} 不在事项清单中: 请选择 {sorted(categories)} 之一 (GET /events/categories)"
        )
    now = now or datetime.now(UTC)
    lon, lat = locate(s, lon=lon, lat=lat, address=address)
    state, history = flow.new_event(
        categories[category], reported_at=now, actor=reported_by, calendar=calendar
    )
    values = {
        "tracking_code": _tracking_code(),
        "category": category,
        "description": description.strip(),
        "source": source,
        "address": (address or "").strip() or None,
        "reporter_phone": normalise_phone(phone),
        "reported_by": reported_by,
        "reported_at": now,
        "lon": lon,
        "lat": lat,
        **store.route(s, lon, lat),
        **_state_dict(state),
    }
    if external_ref is not None:
        values["external_ref"] = external_ref
    event = store.insert(s, values, [_entry(h) for h in history])
    duplicates = store.possible_duplicates(
        s,
        category=category,
        lon=lon,
        lat=lat,
        at=now,
        distance_m=settings.duplicate_distance_m,
        hours=settings.duplicate_hours,
        exclude=event["event_id"],
    )
    return event, duplicates


def check_phone_allowance(s: Session, settings: EventSettings, phone: str | None) -> None:
    """429 when this phone number already sent its public reports of the last 24 hours."""
    if phone is None:
        return
    since = datetime.now(UTC) - timedelta(days=1)
    if store.reports_by_phone(s, phone, since=since) >= settings.public_per_phone_per_day:
        raise TooOften(
            f"这个电话号码24小时内已反映 {settings.public_per_phone_per_day} 件",
            fix="请明天再反映, 或拨打 12345 热线",
            retry_after_s=3600,
        )


# --- the flow --------------------------------------------------------------------------------------


def _state_dict(state: flow.EventState) -> dict[str, Any]:
    return {f.name: getattr(state, f.name) for f in fields(state) if f.name != "category"}


def _entry(entry: flow.HistoryEntry) -> dict[str, Any]:
    return {f.name: getattr(entry, f.name) for f in fields(entry)}


def _state(event: dict[str, Any]) -> flow.EventState:
    return flow.EventState(category=event["category"], **{c: event[c] for c in store.STATE_COLUMNS})


def transition(
    s: Session,
    settings: EventSettings,
    user: Account,
    event_id: int,
    action: str,
    *,
    expected_version: int,
    note: str | None = None,
    department: str | None = None,
    satisfaction: int | None = None,
    into: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Take ``action`` on an event the user sees, if it is still ``expected_version`` (else 412).
    合并 (``merge``) joins it to the open event ``into`` of the same category (the user must see
    both); both events' histories record the step."""
    event = get_for(s, user, event_id, lock=True)
    if event["version"] != expected_version:
        raise Conflict(
            f"event {event_id} is now version {event['version']}, not {expected_version}: "
            f"someone changed it; GET /events/{event_id} again and retry with its new ETag"
        )
    if action == "assign" and department is not None and department.strip() not in departments(settings):
        raise ValidationFailed(f"职能部门 {department!r} 不在事项清单中: 请选择 {departments(settings)} 之一")
    at = now or datetime.now(UTC)
    target = None
    if action == "merge":
        if into is None:
            raise ValidationFailed(
                "合并 (merge) needs `into`: the event_id of the open event to merge into "
                "(one of possible_duplicates)"
            )
        target = get_for(s, user, into, lock=True)
        flow.merge_into(_state(event), _state(target), same_event=into == event_id)
        note = (note or "").strip() or f"并入事件 {into}"
    state, entry = flow.apply(
        _state(event),
        action,
        role=user.role,
        actor=user.username,
        at=at,
        note=note,
        department=department,
        satisfaction=satisfaction,
    )
    saved = store.save_state(
        s, event_id, _state_dict(state), expected_version=expected_version, entry=_entry(entry)
    )
    if target is not None:
        store.mark_duplicate(s, event_id, target["event_id"])
        store.add_history(
            s,
            target["event_id"],
            {
                "action": "merged_in",
                "from_status": target["status"],
                "to_status": target["status"],
                "actor": user.username,
                "at": at,
                "note": f"事件 {event_id} 并入本事件",
            },
        )
        saved = store.get(s, event_id)
    return saved


def escalate_overdue(
    s: Session, settings: EventSettings, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """超时升级 of every open event past its deadline (for the scheduler and `minqing events escalate`):
    each is flagged 超时 and moved one level up; returns event id, old and new level."""
    categories, calendar = tables(settings)
    now = now or datetime.now(UTC)
    done = []
    for event in store.overdue_candidates(s, now):
        category = categories.get(event["category"]) or categories["other"]
        result = flow.escalate_overdue(_state(event), category, now=now, calendar=calendar)
        if result is None:
            continue
        state, entry = result
        store.save_state(s, event["event_id"], _state_dict(state), expected_version=None, entry=_entry(entry))
        done.append(
            {
                "event_id": event["event_id"],
                "from_level": event["level"],
                "to_level": state.level,
                "status": state.status,
                "due_at": state.due_at,
            }
        )
    return done


# --- showing ---------------------------------------------------------------------------------------


def present(event: dict[str, Any], user: Account, settings: EventSettings) -> dict[str, Any]:
    """An event as staff see it: names in Chinese and the actions this viewer may take now."""
    categories, _ = tables(settings)
    category = categories.get(event["category"])
    return {
        **event,
        "status_zh": flow.STATUS_ZH[event["status"]],
        "category_zh": category.name_zh if category else event["category"],
        "actions": flow.actions_for(event["status"], user.role),
    }


def public_status(s: Session, settings: EventSettings, code: str) -> dict[str, Any]:
    """What a tracking code shows: status and dates only (never the report, place or reporter)."""
    row = store.by_tracking_code(s, code.strip().upper()) if code else None
    if row is None:
        raise NotFound("没有这个查询码的反映: 请核对查询码 (以 MQ 开头的12位)")
    # a repeated report follows the event it joined (its progress, not its text)
    if row["status"] == "merged":
        row = {**store.merged_progress(s, code.strip().upper()), "reported_at": row["reported_at"]}
    categories, _ = tables(settings)
    category = categories.get(row["category"])
    return {
        "status": row["status"],
        "status_zh": flow.STATUS_ZH[row["status"]],
        "category_zh": category.name_zh if category else "其他",
        "reported_at": row["reported_at"],
        "due_at": row["due_at"],
        "resolved_at": row["resolved_at"],
        "updated_at": row["updated_at"],
    }


def resolved_this_month(
    s: Session, month: str | None = None, *, now: datetime | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """本月已办结: events resolved per community in a calendar month of Beijing time (``YYYY-MM``,
    default the current one); the month and rows with exact counts and households (the API
    suppresses and rounds them before anyone sees them)."""

    today = (now or datetime.now(UTC)).astimezone(BEIJING)
    if month is None:
        year, number = today.year, today.month
    else:
        match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValidationFailed(f"月份 {month!r} 无法识别: 请写成 YYYY-MM, 如 2026-03")
        year, number = int(match.group(1)), int(match.group(2))
    since = datetime(year, number, 1, tzinfo=BEIJING)
    until = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=BEIJING)
    return f"{year:04d}-{number:02d}", store.resolved_per_community(s, since=since, until=until)


def add_photo(
    s: Session, settings: EventSettings, user: Account, event_id: int, data: bytes
) -> dict[str, Any]:
    """Attach a photo to an event the user sees (checked, cleaned of metadata and stored by hash)."""

    get_for(s, user, event_id)
    if len(store.photos(s, event_id)) >= settings.photos_per_event:
        raise ValidationFailed(f"事件 {event_id} 已有 {settings.photos_per_event} 张照片: 请删减后再上传")
    stored = photos.store(settings.photo_dir, data, max_bytes=int(settings.photo_max_mb * 1024 * 1024))
    store.add_photo(s, event_id, {**stored.__dict__, "uploaded_by": user.username})
    return {**stored.__dict__, "uploaded_by": user.username}


def add_public_photo(
    s: Session, settings: EventSettings, code: str, data: bytes, *, now: datetime | None = None
) -> dict[str, Any]:
    """A resident's photo of their own report, by its tracking code: at most ``public_photos`` photos,
    within ``public_photo_minutes`` of reporting; cleaned like every photo. Returns count only (the
    stored photo is shown to staff, never back to the public)."""

    found = store.public_report_for_photos(s, code.strip().upper()) if code else None
    if found is None or found["source"] != "public":
        raise NotFound("没有这个查询码的反映: 请核对查询码 (以 MQ 开头的12位)")
    now = now or datetime.now(UTC)
    if now - found["reported_at"] > timedelta(minutes=settings.public_photo_minutes):
        raise NotAllowed(
            f"反映提交 {settings.public_photo_minutes:g} 分钟后不能再补充照片",
            fix="如需补充, 请联系网格员或拨打 12345 热线",
        )
    have = len(store.photos(s, found["event_id"]))
    if have >= settings.public_photos:
        raise ValidationFailed(f"每件反映最多 {settings.public_photos} 张照片, 已上传 {have} 张")
    stored = photos.store(settings.photo_dir, data, max_bytes=int(settings.photo_max_mb * 1024 * 1024))
    store.add_photo(s, found["event_id"], {**stored.__dict__, "uploaded_by": "public"})
    return {"photos": len(store.photos(s, found["event_id"])), "limit": settings.public_photos}


def public_review(
    s: Session, code: str, *, satisfaction: int, note: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """回访评价 by the resident who reported, with the tracking code: once, after 办结; the step is
    recorded as by ``reporter`` (no identity). Returns what the tracking page shows."""
    found = store.public_report_for_photos(s, code.strip().upper()) if code else None
    if found is None or found["source"] != "public":
        raise NotFound("没有这个查询码的反映: 请核对查询码 (以 MQ 开头的12位)")
    event = store.get(s, found["event_id"], lock=True)
    if event["status"] != "resolved":
        raise NotAllowed(
            f"这件反映现在是{flow.STATUS_ZH[event['status']]}: 办结后才能评价, 每件只评价一次",
            fix="办结后再来评价; 有疑问请联系网格员或拨打 12345 热线",
        )
    state, entry = flow.apply(
        _state(event),
        "review",
        role=flow.REPORTER,
        actor=flow.REPORTER,
        at=now or datetime.now(UTC),
        note=note,
        satisfaction=satisfaction,
    )
    store.save_state(
        s, event["event_id"], _state_dict(state), expected_version=event["version"], entry=_entry(entry)
    )
    return {"satisfaction": satisfaction, "status": state.status, "status_zh": flow.STATUS_ZH[state.status]}


def photo_file(
    s: Session, settings: EventSettings, user: Account, event_id: int, sha256: str, *, thumb: bool
) -> tuple[Path, str]:
    """The file of one photo of an event the user sees, and its content type (404 otherwise)."""

    get_for(s, user, event_id)
    found = next((p for p in store.photos(s, event_id) if p["sha256"] == sha256), None)
    if found is None:
        raise NotFound(f"事件 {event_id} 没有这张照片: 列表见 GET /events/{event_id}/photos")
    if thumb:
        return photos.thumb_of(settings.photo_dir, sha256), "image/jpeg"
    return photos.path_of(settings.photo_dir, sha256, found["content_type"]), found["content_type"]


# --- the pages: map points and counts --------------------------------------------------------------

LOCAL = ZoneInfo("Asia/Shanghai")
POINTS_LIMIT = 20_000


def map_points(s: Session, user: Account, *, days: int, now: datetime | None = None) -> dict[str, Any]:
    """The events ``user`` sees for a map: every open one and those reported in the last ``days``
    days (at most ``POINTS_LIMIT``), as columns and rows."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    rows, cut = store.points(s, since=since, limit=POINTS_LIMIT, **scope(user))
    return {"columns": list(store.POINT_COLUMNS), "rows": rows, "truncated": cut}


_COUNTS: Cache[dict[str, Any]] = Cache(512)
"""Counts by viewer scope, day and data version of events, with the time until which they hold."""
_COUNTING: dict[Any, threading.Lock] = {}
_COUNTING_LOCK = threading.Lock()


def today_and_month(s: Session, user: Account, *, now: datetime | None = None) -> dict[str, Any]:
    """Counts for today and this month (China Standard Time days) among the events ``user`` sees.

    Many pages poll them: they are counted once per scope and kept while no event changes (the
    data version of ``events``), until the next midnight or the next deadline of an open event (when
    超时 moves), whichever comes first; ``at`` is when they were counted (they still hold now)."""
    now = now or datetime.now(UTC)
    local = now.astimezone(LOCAL)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    where = scope(user)
    key = versioned_key(s, ("events",), "event-counts", tuple(sorted(where.items())), day)

    def fresh() -> dict[str, Any] | None:
        found = _COUNTS.peek(key)
        return found["value"] if found is not None and found["at"] <= now < found["until"] else None

    if (value := fresh()) is not None:
        return value
    with _COUNTING_LOCK:  # after a change every poller misses at once: one counts, the others wait for it
        counting = _COUNTING.setdefault(key, threading.Lock())
    try:
        with counting:
            if (value := fresh()) is not None:
                return value
            counted, next_due = store.counts(s, day=day, month=month, now=now, **where)
            # wall-clock arithmetic: the next local midnight (no DST in China)
            midnight = day + timedelta(days=1)
            value = {**counted, "at": now}
            _COUNTS.put(
                key, {"value": value, "at": now, "until": min(midnight, next_due) if next_due else midnight}
            )
            return value
    finally:
        with _COUNTING_LOCK:
            _COUNTING.pop(key, None)
