"""The visit plan and its rules against hand-worked cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from geo import visits as rules

PLAN_CSV = Path(__file__).resolve().parents[2] / "data" / "visit_plan.csv"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def plan():
    return rules.load_plan(PLAN_CSV)


def test_the_shipped_plan_lists_the_five_groups(plan):
    assert {g.name_zh for g in plan.values()} == {"低保户", "特困供养", "独居/空巢老人", "残疾人", "留守儿童"}


def test_interval_is_the_shortest_of_the_groups(plan):
    assert rules.interval_days(["dibao"], plan) == plan["dibao"].every_days
    assert rules.interval_days(["dibao", "elderly_alone"], plan) == min(
        plan["dibao"].every_days, plan["elderly_alone"].every_days
    )
    with pytest.raises(rules.VisitPlanError, match="不在走访计划中"):
        rules.interval_days(["vip"], plan)
    with pytest.raises(rules.VisitPlanError, match="至少选择一个"):
        rules.check_groups([], plan)


def test_next_due_after_last_visit_else_registration():
    assert rules.next_due(T0, None, 7) == T0 + timedelta(days=7)
    assert rules.next_due(T0, T0 + timedelta(days=3), 7) == T0 + timedelta(days=10)


@pytest.mark.parametrize(
    ("registered", "every", "owed"),
    [
        (T0 - timedelta(days=60), 7, 4),  # 31 days of March: 4 whole weeks
        (T0 - timedelta(days=60), 30, 1),
        (T0 - timedelta(days=60), 14, 2),
        (T0 + timedelta(days=10), 7, 3),  # registered 10 March: 21 days left, 3 weeks
        (T0 + timedelta(days=10), 30, 0),  # not one whole interval yet: owes nothing
        (T0 + timedelta(days=40), 7, 0),  # registered after the period
    ],
)
def test_owed_in_march(registered, every, owed):
    assert rules.owed(registered, T0, datetime(2026, 4, 1, tzinfo=UTC), every) == owed


def test_completion_caps_each_household():
    # household 1 owes 4, visited 9 times (counts 4); household 2 owes 2, visited once; 3 owes 1, none
    assert rules.completion([(4, 9), (2, 1), (1, 0)]) == pytest.approx(5 / 7)
    assert rules.completion([]) is None


def test_bad_plan_rows_are_named(tmp_path):
    bad = tmp_path / "plan.csv"
    bad.write_text(
        "code,name_zh,every_days,priority\ndibao,低保户,0,1\ndibao,低保户,30,1\n,无名,7,2\n", encoding="utf-8"
    )
    with pytest.raises(rules.VisitPlanError) as e:
        rules.load_plan(bad)
    message = str(e.value)
    assert "row 2" in message and "every_days" in message and "row 4" in message
