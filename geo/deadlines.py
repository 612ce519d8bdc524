"""Handling deadlines of residents' reports (民情事件): calendar hours or working days.

Definitions (editable through data/event_categories.csv and data/holidays.csv):

* a time limit in ``hours`` is calendar hours from the moment of report (nights, weekends and
  holidays count);
* a time limit in ``working_days`` ends at 24:00 Beijing time (UTC+8) of the N-th working day
  after the day of report (the day of report itself does not count, whatever the hour);
* a working day is Monday–Friday unless the holiday table marks it ``holiday``, plus any Saturday
  or Sunday that the table marks ``workday`` (调休上班).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from geo.errors import GeoError

BEIJING = timezone(timedelta(hours=8), "UTC+8")
"""China has one civil time zone without daylight saving: working days are counted in it."""
UNITS = ("hours", "working_days")
KINDS = ("holiday", "workday")
MAX_WORKING_DAYS = 366


class CalendarError(GeoError):
    """The holiday table or a time limit is unusable; the message names the row and the fix."""

    status = 422


@dataclass(frozen=True)
class WorkCalendar:
    """Which dates are holidays (休) and which weekend dates are 调休 working days (班)."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        """True on Monday–Friday that is not a holiday, and on a weekend day marked ``workday``."""
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


def load_calendar(path: Path) -> WorkCalendar:
    """Read the holiday table (columns ``date`` YYYY-MM-DD, ``kind`` holiday|workday).

    Raises
    ------
    CalendarError
        naming every bad row: an unreadable date, an unknown kind, or a date listed as both.
    """
    holidays: set[date] = set()
    workdays: set[date] = set()
    problems: list[str] = []
    with Path(path).open(encoding="utf-8-sig", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                day = date.fromisoformat((row.get("date") or "").strip())
            except ValueError:
                problems.append(f"line {line}: date {row.get('date')!r} is not YYYY-MM-DD")
                continue
            kind = (row.get("kind") or "").strip()
            if kind not in KINDS:
                problems.append(f"line {line}: kind {kind!r} is not one of {list(KINDS)}")
                continue
            (holidays if kind == "holiday" else workdays).add(day)
    both = sorted(holidays & workdays)
    if both:
        problems.append(f"dates listed both as holiday and workday: {[d.isoformat() for d in both]}")
    if problems:
        raise CalendarError(
            f"the holiday table {Path(path).name} has bad rows: "
            + "; ".join(problems[:10])
            + ". Correct them (date YYYY-MM-DD, kind holiday or workday)"
        )
    return WorkCalendar(frozenset(holidays), frozenset(workdays))


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise CalendarError(
            f"the time {moment.isoformat()} has no time zone: give it with an offset (+08:00)"
        )
    return moment.astimezone(BEIJING)


def add_working_days(day: date, n: int, calendar: WorkCalendar) -> date:
    """The ``n``-th working day after ``day`` (``day`` itself not counted; ``n`` ≥ 1)."""
    if not 1 <= n <= MAX_WORKING_DAYS:
        raise CalendarError(f"a time limit of {n} working days is out of range: use 1..{MAX_WORKING_DAYS}")
    found = 0
    current = day
    while found < n:
        current += timedelta(days=1)
        if calendar.is_working_day(current):
            found += 1
    return current


def deadline(reported_at: datetime, limit_value: float, limit_unit: str, calendar: WorkCalendar) -> datetime:
    """When an event reported at ``reported_at`` (time-zone aware) must be handled.

    Parameters
    ----------
    reported_at
        moment of report, time-zone aware.
    limit_value
        the category's time limit: hours (> 0, fractions allowed) or whole working days (≥ 1).
    limit_unit
        ``hours`` (calendar hours) or ``working_days`` (to 24:00 Beijing time of the N-th working day
        after the day of report).
    calendar
        holidays and 调休 working weekends.

    Returns
    -------
    datetime
        the deadline, time-zone aware (UTC+8).
    """
    local = _local(reported_at)
    if limit_unit == "hours":
        if not limit_value > 0:
            raise CalendarError(f"a time limit of {limit_value} hours is not positive: use a number above 0")
        return local + timedelta(hours=float(limit_value))
    if limit_unit == "working_days":
        if float(limit_value) != int(limit_value):
            raise CalendarError(f"a time limit of {limit_value} working days is not whole: use 1, 2, 3 ...")
        last = add_working_days(local.date(), int(limit_value), calendar)
        return datetime.combine(last + timedelta(days=1), time(0), tzinfo=BEIJING)
    raise CalendarError(f"unknown time-limit unit {limit_unit!r}: use one of {list(UNITS)}")


def is_overdue(due_at: datetime, *, now: datetime, finished_at: datetime | None = None) -> bool:
    """超时: not finished by the deadline (finished late, or still open after it)."""
    end = finished_at if finished_at is not None else now
    return _local(end) > _local(due_at)


LEVELS = ("网格", "村社区", "镇街", "职能部门")
"""Handling levels, lowest first: an overdue event is escalated to the next one."""


@dataclass(frozen=True)
class Category:
    """One row of the 事项清单 (data/event_categories.csv)."""

    code: str
    name_zh: str
    first_level: str
    department: str
    limit_value: float
    limit_unit: str


def load_categories(path: Path) -> dict[str, Category]:
    """Read the 事项清单: code → ``Category``; raises ``CalendarError`` naming every bad row."""
    categories: dict[str, Category] = {}
    problems: list[str] = []
    with Path(path).open(encoding="utf-8-sig", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            code = (row.get("code") or "").strip()
            level, unit = (row.get("first_level") or "").strip(), (row.get("limit_unit") or "").strip()
            try:
                value = float(row.get("limit_value") or "")
            except ValueError:
                value = float("nan")
            if not code or code in categories:
                problems.append(f"line {line}: code {code!r} is empty or repeated")
            elif level not in LEVELS:
                problems.append(f"line {line}: first_level {level!r} is not one of {list(LEVELS)}")
            elif unit not in UNITS or not value > 0 or (unit == "working_days" and value != int(value)):
                problems.append(
                    f"line {line}: time limit {row.get('limit_value')!r} {unit!r} "
                    "is not a positive number of hours or a whole number of working_days"
                )
            else:
                categories[code] = Category(
                    code,
                    (row.get("name_zh") or code).strip(),
                    level,
                    (row.get("department") or "").strip(),
                    value,
                    unit,
                )
    if problems:
        raise CalendarError(
            f"the event category table {Path(path).name} has bad rows: " + "; ".join(problems[:10])
        )
    return categories
