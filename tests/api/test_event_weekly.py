"""周例会考核表: the KPI workbook per grid, community and town, ranked, Chinese headers, by role."""

from __future__ import annotations

import io

import openpyxl
import pytest

WHO = (None, "gridworker", "planner", "officer", "admin", "dispatcher", "department")
PERIOD = {"since": "2026-01-01T00:00:00+08:00", "until": "2027-01-01T00:00:00+08:00"}
HEADERS = [
    "排名",
    "名称",
    "上报件数",
    "应办结件数",
    "按期办结件数",
    "按期处置率",
    "结案件数",
    "结案率",
    "平均办结时长(小时)",
    "评价件数",
    "群众满意率",
    "应走访次数",
    "已走访次数",
    "走访完成率",
]


@pytest.mark.parametrize("who", WHO)
def test_weekly_workbook_roles(client, auth, who):
    r = client.get("/events/weekly.xlsx", headers=auth(who))
    assert r.status_code == {None: 401, "admin": 200, "dispatcher": 200}.get(who, 403), r.text


def test_weekly_workbook_holds_the_ranked_kpis(client, auth):
    # at least one event in the period, so that the tables are not empty
    made = client.post(
        "/events",
        json={"category": "noise", "description": "周例会测试", "lon": 113.22, "lat": 22.64},
        headers=auth("admin"),
    )
    assert made.status_code == 201
    r = client.get("/events/weekly.xlsx", params=PERIOD, headers=auth("dispatcher"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["网格", "村社区", "镇街"]
    for sheet, by in zip(wb.sheetnames, ("grid", "community", "town"), strict=True):
        rows = list(wb[sheet].iter_rows(values_only=True))
        header = next(i for i, row in enumerate(rows) if row[0] == "排名")
        assert list(rows[header]) == HEADERS
        assert any("走访完成率 =" in (row[0] or "") for row in rows[:header])
        table = rows[header + 1 :]
        expected = client.get("/events/kpis", params={**PERIOD, "by": by}, headers=auth("dispatcher")).json()
        assert [row[1] for row in table] == [k["name"] for k in expected]  # same ranking
        assert [row[0] for row in table] == list(range(1, len(expected) + 1))
        assert [row[2] for row in table] == [k["events"] for k in expected]
        for row, k in zip(table, expected, strict=True):
            assert (
                row[5] == pytest.approx(k["on_time_rate"])
                if k["on_time_rate"] is not None
                else row[5] is None
            )
            assert (
                row[13] == pytest.approx(k["visit_rate"]) if k["visit_rate"] is not None else row[13] is None
            )
        assert table, sheet
        assert not any(cell.data_type == "f" for line in wb[sheet].iter_rows() for cell in line)


def test_weekly_workbook_refuses_a_backwards_period(client, auth):
    r = client.get(
        "/events/weekly.xlsx",
        params={"since": PERIOD["until"], "until": PERIOD["since"]},
        headers=auth("admin"),
    )
    assert r.status_code == 422 and "统计期" in r.text
