"""Deadlines against hand-worked cases (a holiday, a 调休 working weekend, calendar hours)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from geo.deadlines import BEIJING, CalendarError, WorkCalendar, deadline, is_overdue, load_calendar

DATA = Path(__file__).resolve().parents[2] / "data"


def bj(*args) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return load_calendar(DATA / "holidays.csv")


def test_plain_week(cal):
    # Tue 2026-03-10 15:00 + 3 working days: Wed 11, Thu 12, Fri 13 → 24:00 Fri = Sat 14 00:00
    assert deadline(bj(2026, 3, 10, 15), 3, "working_days", cal) == bj(2026, 3, 14)


def test_weekend_skipped(cal):
    # Fri 2026-03-13 09:00 + 2: Mon 16, Tue 17 → Wed 18 00:00
    assert deadline(bj(2026, 3, 13, 9), 2, "working_days", cal) == bj(2026, 3, 18)


def test_holiday_skipped(cal):
    # Thu 2026-04-02 + 2: Fri 3, then Sat 4-Mon 6 清明 (Mon 6 a holiday) → Tue 7 → Wed 8 00:00
    assert deadline(bj(2026, 4, 2, 10), 2, "working_days", cal) == bj(2026, 4, 8)


def test_tiaoxiu_saturday_counts(cal):
    # Thu 2026-02-12 + 3: Fri 13, Sat 14 (春节调休上班), then 15-23 春节 → Tue 24 → Wed 25 00:00
    assert deadline(bj(2026, 2, 12, 18), 3, "working_days", cal) == bj(2026, 2, 25)


def test_tiaoxiu_sunday_counts(cal):
    # Fri 2026-09-18 + 1: Sat 19 no, Sun 20 (国庆调休上班) yes → Mon 21 00:00
    assert deadline(bj(2026, 9, 18, 11), 1, "working_days", cal) == bj(2026, 9, 21)


def test_reported_on_holiday(cal):
    # reported on 2026-10-03 (国庆): 1 working day → Thu 8 (first after the 1-7 break) → Fri 9 00:00
    assert deadline(bj(2026, 10, 3, 8), 1, "working_days", cal) == bj(2026, 10, 9)


def test_utc_input_uses_beijing_day(cal):
    # 2026-03-12 17:30 UTC is Fri 13 01:30 in Beijing: the day of report is Friday → Mon 16 → Tue 17 00:00
    utc = datetime(2026, 3, 12, 17, 30, tzinfo=UTC)
    assert deadline(utc, 1, "working_days", cal) == bj(2026, 3, 17)


def test_hours_are_calendar_hours(cal):
    # 24 h from Fri 2026-09-30 20:00 run through the National Day holiday unchanged
    assert deadline(bj(2026, 9, 30, 20), 24, "hours", cal) == bj(2026, 10, 1, 20)
    assert deadline(bj(2026, 3, 1, 23), 4, "hours", cal) == bj(2026, 3, 2, 3)


def test_brute_force_agrees(cal):
    # independent check: walk calendar days and count the ones the table makes working
    start = date(2026, 1, 1)
    for offset in range(0, 300, 7):
        day = start + timedelta(days=offset)
        for n in (1, 3, 10):
            count, current = 0, day
            while count < n:
                current += timedelta(days=1)
                weekend = current.weekday() >= 5
                row = {
                    "2026-01-04": "w",
                    "2026-02-14": "w",
                    "2026-02-28": "w",
                    "2026-05-09": "w",
                    "2026-09-20": "w",
                    "2026-10-10": "w",
                }.get(current.isoformat())
                holiday = current in cal.holidays
                if row == "w" or (not weekend and not holiday):
                    count += 1
            got = deadline(bj(day.year, day.month, day.day, 12), n, "working_days", cal)
            assert got == bj(current.year, current.month, current.day) + timedelta(days=1)


def test_overdue():
    due = bj(2026, 3, 14)
    assert is_overdue(due, now=bj(2026, 3, 14, 0, 1))
    assert not is_overdue(due, now=bj(2026, 3, 13, 23))
    assert not is_overdue(due, now=bj(2026, 3, 20), finished_at=bj(2026, 3, 13, 10))
    assert is_overdue(due, now=bj(2026, 3, 13), finished_at=bj(2026, 3, 15))


@pytest.mark.parametrize(
    ("value", "unit", "needle"),
    [
        (0, "hours", "not positive"),
        (1.5, "working_days", "not whole"),
        (2, "days", "unknown time-limit unit"),
        (0, "working_days", "out of range"),
    ],
)
def test_bad_limits(cal, value, unit, needle):
    with pytest.raises(CalendarError, match=needle):
        deadline(bj(2026, 3, 10), value, unit, cal)


def test_naive_time_refused(cal):
    with pytest.raises(CalendarError, match="time zone"):
        deadline(datetime(2026, 3, 10), 1, "hours", cal)


def test_bad_table(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text(
        "date,kind\n2026-13-01,holiday\n2026-05-01,rest\n2026-05-02,holiday\n2026-05-02,workday\n",
        encoding="utf-8",
    )
    with pytest.raises(CalendarError) as e:
        load_calendar(p)
    msg = str(e.value)
    assert "line 2" in msg and "line 3" in msg and "2026-05-02" in msg


def test_shipped_categories():
    from geo.deadlines import LEVELS, load_categories

    cats = load_categories(DATA / "event_categories.csv")
    names = {c.name_zh for c in cats.values()}
    assert {
        "环境卫生",
        "道路设施",
        "公共设施损坏",
        "治安隐患",
        "矛盾纠纷",
        "噪音扰民",
        "违章搭建",
        "养老帮扶",
        "困难救助",
        "其他",
    } <= names
    assert all(c.first_level in LEVELS and c.department for c in cats.values())


def test_bad_categories(tmp_path):
    from geo.deadlines import load_categories

    p = tmp_path / "c.csv"
    p.write_text(
        "code,name_zh,first_level,department,limit_value,limit_unit\n"
        "a,甲,网格,民政局,3,working_days\na,乙,网格,民政局,3,hours\nb,丙,省厅,x,3,hours\n"
        "c,丁,镇街,x,2.5,working_days\n",
        encoding="utf-8",
    )
    with pytest.raises(CalendarError) as e:
        load_categories(p)
    assert all(f"line {n}" in str(e.value) for n in (3, 4, 5))
