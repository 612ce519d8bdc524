"""走访 of key households (重点人群): the visit plan, next due visits and 走访完成率, pure.

Definitions (the visit plan is editable: data/visit_plan.csv):

* a key household belongs to one or more key groups; its visit interval is the shortest
  ``every_days`` of its groups (a 低保 household with a disabled member is visited as often as the
  more frequent of the two asks);
* its next visit is due one interval after its last visit, or after its registration when it has
  never been visited; it is overdue (逾期) once that moment has passed;
* 走访完成率 over a period: each household owes ``floor(days of the period it was registered in /
  interval)`` visits (a household registered for less than one interval owes none yet); visits
  in the period count up to what it owes (visiting one household daily does not make up for
  another never visited); the rate is the sum of counted visits over the sum owed (None when
  nothing is owed).

No database, HTTP or settings here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from geo.errors import GeoError

DAY_S = 86_400.0


class VisitPlanError(GeoError):
    """The visit plan table, or a household's groups, are unusable; the message names the fix."""

    status = 422


@dataclass(frozen=True)
class KeyGroup:
    """One key group of the visit plan: code, Chinese name, visit interval in days, list order."""

    code: str
    name_zh: str
    every_days: int
    priority: int


def load_plan(path: Path) -> dict[str, KeyGroup]:
    """Read the visit plan (columns ``code, name_zh, every_days, priority``), in ``priority`` order.

    Raises
    ------
    VisitPlanError
        naming every bad row: a missing code or name, a repeated code, an interval that is not a
        whole number of days from 1 to 366.
    """
    groups: dict[str, KeyGroup] = {}
    problems: list[str] = []
    with Path(path).open(encoding="utf-8-sig", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            code, name = (row.get("code") or "").strip(), (row.get("name_zh") or "").strip()
            raw = (row.get("every_days") or "").strip()
            if not code or not name:
                problems.append(f"row {line}: code and name_zh must be filled")
                continue
            if code in groups:
                problems.append(f"row {line}: code {code!r} appears twice")
                continue
            if not raw.isdigit() or not 1 <= int(raw) <= 366:
                problems.append(
                    f"row {line}: every_days {raw!r} must be a whole number of days from 1 to 366"
                )
                continue
            priority = (row.get("priority") or "").strip()
            groups[code] = KeyGroup(code, name, int(raw), int(priority) if priority.isdigit() else 99)
    if problems:
        raise VisitPlanError(f"visit plan {Path(path).name}: " + "; ".join(problems) + ": correct the table")
    if not groups:
        raise VisitPlanError(f"visit plan {Path(path).name} lists no key group: add at least one row")
    return dict(sorted(groups.items(), key=lambda kv: (kv[1].priority, kv[0])))


def check_groups(groups: Iterable[str], plan: Mapping[str, KeyGroup]) -> list[str]:
    """The distinct group codes of a household in plan order; raises naming an unknown or missing one."""
    given = [str(g).strip() for g in groups]
    unknown = [g for g in given if g not in plan]
    if unknown:
        raise VisitPlanError(
            f"重点人群类别 {unknown} 不在走访计划中: 请选择 "
            + "、".join(f"{g.code} ({g.name_zh})" for g in plan.values())
        )
    if not given:
        raise VisitPlanError(
            "请至少选择一个重点人群类别: " + "、".join(f"{g.code} ({g.name_zh})" for g in plan.values())
        )
    return [code for code in plan if code in given]


def interval_days(groups: Sequence[str], plan: Mapping[str, KeyGroup]) -> int:
    """The visit interval of a household: the shortest ``every_days`` of its groups."""
    return min(plan[g].every_days for g in check_groups(groups, plan))


def next_due(registered_at: datetime, last_visit: datetime | None, every_days: int) -> datetime:
    """When the next visit is due: one interval after the last visit, else after registration."""
    return (last_visit or registered_at) + timedelta(days=every_days)


def owed(registered_at: datetime, since: datetime, until: datetime, every_days: int) -> int:
    """Visits a household owes in [since, until): whole intervals of the part it was registered in."""
    start = max(since, registered_at)
    if until <= start:
        return 0
    return int((until - start).total_seconds() // (every_days * DAY_S))


def completion(pairs: Iterable[tuple[int, int]]) -> float | None:
    """走访完成率 of (owed, visits made) pairs: made visits capped at what is owed, over all owed."""
    total = counted = 0
    for due, made in pairs:
        total += due
        counted += min(due, made)
    return counted / total if total else None
