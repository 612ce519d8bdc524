"""The flow of a resident's report (民情事件) as a pure state machine.

上报 (reported) → 受理 (accepted) → 办结 on the spot (resolved), or
上报 → 上报联勤指挥中心 (escalated) → 分拨 to a department (assigned) → 处置 (handling) → 办结 (resolved)
→ 回访/评价 (reviewed) → 归档 (archived).

Every step returns the new state and one history entry (who, when, what). An event whose deadline
passed is flagged 超时 and moves one handling level up (网格 → 村社区 → 镇街 → 职能部门) with a fresh
deadline; the 超时 flag stays (it counts against 按期处置率). No database, HTTP or settings here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from geo.deadlines import LEVELS, Category, WorkCalendar, deadline
from geo.errors import GeoError

STATUSES = (
    "reported",
    "accepted",
    "escalated",
    "assigned",
    "handling",
    "resolved",
    "reviewed",
    "archived",
    "merged",
)
STATUS_ZH = {
    "reported": "已上报",
    "accepted": "已受理",
    "escalated": "待分拨",
    "assigned": "已分拨",
    "handling": "处置中",
    "resolved": "已办结",
    "reviewed": "已回访",
    "archived": "已归档",
    "merged": "已合并",
}
OPEN = ("reported", "accepted", "escalated", "assigned", "handling")
"""Statuses still waiting for handling (deadlines and 超时 apply)."""
CENTRE_LEVEL = "镇街"
DEPARTMENT_LEVEL = "职能部门"


@dataclass(frozen=True)
class Step:
    """One allowed transition: from these statuses, to this one, by these roles."""

    name_zh: str
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...]


REPORTER = "reporter"
"""The resident who reported, by their tracking code (no account): may only review (回访评价) their report."""

ACTIONS: dict[str, Step] = {
    "accept": Step("受理", ("reported",), "accepted", ("grid_worker", "admin")),
    "escalate": Step("上报指挥中心", ("reported", "accepted"), "escalated", ("grid_worker", "admin")),
    "resolve": Step("办结", ("accepted", "handling"), "resolved", ("grid_worker", "department", "admin")),
    "assign": Step("分拨", ("escalated", "assigned"), "assigned", ("dispatcher", "admin")),
    "handle": Step("签收处置", ("assigned",), "handling", ("department", "admin")),
    "return": Step("退回指挥中心", ("assigned", "handling"), "escalated", ("department", "admin")),
    "review": Step("回访评价", ("resolved",), "reviewed", ("grid_worker", "dispatcher", "admin", REPORTER)),
    "archive": Step("归档", ("reviewed",), "archived", ("dispatcher", "admin")),
    "merge": Step(
        "合并", ("reported", "accepted", "escalated"), "merged", ("grid_worker", "dispatcher", "admin")
    ),
}
"""Action → step. A grid worker resolves only what they accepted (就地处置); a department only
what it is handling. 合并: a repeated report joins an open event of the same category (``merge_into``)
and is handled there; a merged event counts in no KPI."""
RESOLVER = {"accepted": ("grid_worker", "admin"), "handling": ("department", "admin")}


class TransitionError(GeoError):
    """An action that the event's status does not allow (409)."""

    status = 409


class TransitionForbidden(GeoError):
    """The role may not take this action (403)."""

    status = 403


class TransitionInvalid(GeoError):
    """An action lacking what it needs: a note, a department, a satisfaction score (422)."""

    status = 422


@dataclass(frozen=True)
class EventState:
    """What the flow reads and changes of one event (times time-zone aware)."""

    status: str
    level: str
    category: str
    due_at: datetime
    department: str | None = None
    overdue: bool = False
    escalations: int = 0
    resolved_at: datetime | None = None
    result_note: str | None = None
    satisfaction: int | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One stamped step: who, when, what, from and to which status."""

    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    note: str | None = None
    department: str | None = None


def new_event(
    category: Category, *, reported_at: datetime, actor: str, calendar: WorkCalendar
) -> tuple[EventState, list[HistoryEntry]]:
    """A new report: handled first at the category's level.

    Categories handled first by the town or a department go straight to the town's 联勤指挥中心 (待分拨).
    """
    due = deadline(reported_at, category.limit_value, category.limit_unit, calendar)
    state = EventState("reported", category.first_level, category.code, due)
    history = [HistoryEntry("report", None, "reported", actor, reported_at)]
    if category.first_level in (CENTRE_LEVEL, DEPARTMENT_LEVEL):
        state = replace(state, status="escalated", level=CENTRE_LEVEL)
        history.append(
            HistoryEntry(
                "escalate",
                "reported",
                "escalated",
                "system",
                reported_at,
                note=f"事项清单: 首办层级为{category.first_level}",
            )
        )
    return state, history


def apply(
    state: EventState,
    action: str,
    *,
    role: str,
    actor: str,
    at: datetime,
    note: str | None = None,
    department: str | None = None,
    satisfaction: int | None = None,
) -> tuple[EventState, HistoryEntry]:
    """Take ``action`` on an event.

    Raises ``TransitionError`` (409) when its status does not allow it, ``TransitionForbidden`` (403)
    for a role that may not, ``TransitionInvalid`` (422) when the action lacks its note (办结, 退回),
    department (分拨) or satisfaction 1–5 (回访评价).
    """
    step = ACTIONS.get(action)
    if step is None:
        raise TransitionInvalid(f"unknown action {action!r}: use one of {list(ACTIONS)}")
    if state.status not in step.sources:
        raise TransitionError(
            f"the event is {STATUS_ZH[state.status]} ({state.status}): {step.name_zh} ({action}) "
            f"needs one of {list(step.sources)}; reload the event and choose an allowed action"
        )
    roles = RESOLVER[state.status] if action == "resolve" else step.roles
    if role not in roles:
        raise TransitionForbidden(
            f"role {role!r} may not {step.name_zh} ({action}) an event that is "
            f"{state.status}: it needs one of {list(roles)}"
        )
    note = (note or "").strip() or None
    changes: dict = {"status": step.target}
    if action in ("resolve", "return") and note is None:
        raise TransitionInvalid(f"{step.name_zh} ({action}) needs a note: write the result or the reason")
    if action == "assign":
        department = (department or "").strip()
        if not department:
            raise TransitionInvalid("分拨 (assign) needs a department: name the 职能部门")
        changes.update(department=department, level=DEPARTMENT_LEVEL)
    elif action in ("escalate", "return"):
        changes.update(level=CENTRE_LEVEL)
    elif action == "resolve":
        changes.update(resolved_at=at, result_note=note)
    elif action == "review":
        if satisfaction is None or not 1 <= satisfaction <= 5:
            raise TransitionInvalid(
                f"回访评价 (review) needs satisfaction 1-5 (5 最满意), got {satisfaction!r}"
            )
        changes.update(satisfaction=satisfaction)
    entry = HistoryEntry(
        action, state.status, step.target, actor, at, note=note, department=changes.get("department")
    )
    return replace(state, **changes), entry


def merge_into(state: EventState, target: EventState, *, same_event: bool) -> None:
    """Check that an event may be merged into ``target``.

    The target must be another event, of the same category, still open and not merged itself; raises
    ``TransitionInvalid`` (422) or ``TransitionError`` (409).
    """
    if same_event:
        raise TransitionInvalid("合并 (merge) needs another event: name it in `into`")
    if target.category != state.category:
        raise TransitionInvalid(
            f"合并 (merge) needs an event of the same category ({state.category}), "
            f"not {target.category}: choose one of the event's possible_duplicates"
        )
    if target.status not in OPEN:
        raise TransitionError(
            f"the event to merge into is {STATUS_ZH[target.status]} ({target.status}): merge only "
            "into an open event; handle this report on its own instead"
        )


def next_level(level: str) -> str:
    """The handling level above ``level`` (职能部门 stays 职能部门)."""
    i = LEVELS.index(level)
    return LEVELS[min(i + 1, len(LEVELS) - 1)]


def escalate_overdue(
    state: EventState, category: Category, *, now: datetime, calendar: WorkCalendar
) -> tuple[EventState, HistoryEntry] | None:
    """超时升级: an open event past its deadline is flagged 超时 and moved one level up.

    The move gives it a fresh deadline from ``now``; None when the event is closed or still in time.
    Reaching the town level sends a grid-level event to the 联勤指挥中心 (待分拨).
    """
    if state.status not in OPEN or now <= state.due_at:
        return None
    level = next_level(state.level)
    status = state.status
    if level in (CENTRE_LEVEL, DEPARTMENT_LEVEL) and status in ("reported", "accepted"):
        status = "escalated"
    due = deadline(now, category.limit_value, category.limit_unit, calendar)
    new = replace(
        state, status=status, level=level, due_at=due, overdue=True, escalations=state.escalations + 1
    )
    entry = HistoryEntry(
        "overdue",
        state.status,
        status,
        "system",
        now,
        note=f"超时升级: {state.level} → {level}, 新期限 {due.isoformat()}",
    )
    return new, entry


def actions_for(status: str, role: str) -> list[str]:
    """The actions a role may take on an event in ``status`` (for pages and the API)."""
    out = []
    for name, step in ACTIONS.items():
        roles = RESOLVER.get(status, ()) if name == "resolve" else step.roles
        if status in step.sources and role in roles:
            out.append(name)
    return out
