"""12345 work orders from CSV: column mapping, all or nothing, problems named by row and column, by role."""

from __future__ import annotations

import itertools
import json
from datetime import datetime

import pytest
from api_fixture import GRID_A, GRID_B
from sqlalchemy import create_engine, text

from geo.deadlines import BEIJING

WHO = (None, "gridworker", "planner", "officer", "admin", "dispatcher", "department")
HEADER = "工单编号,受理时间,诉求类型,诉求内容,事发地址,经度,纬度,联系电话\n"
_n = itertools.count(1)


def _ref() -> str:
    return f"T{next(_n):06d}{datetime.now().microsecond:06d}"


def _upload(client, auth, content: str | bytes, who="dispatcher", mapping: dict | None = None):
    data = content.encode("utf-8") if isinstance(content, str) else content
    form = {"mapping": json.dumps(mapping, ensure_ascii=False)} if mapping else None
    return client.post(
        "/events/import", files={"file": ("orders.csv", data, "text/csv")}, data=form, headers=auth(who)
    )


def _stored(api_db, refs: list[str]) -> dict[str, dict]:
    engine = create_engine(api_db)
    with engine.connect() as con:
        rows = (
            con.execute(
                text(
                    "SELECT external_ref, category, source, grid_id, reported_at, reported_by FROM events "
                    "WHERE external_ref = ANY(:r)"
                ),
                {"r": refs},
            )
            .mappings()
            .all()
        )
    engine.dispose()
    return {r["external_ref"]: dict(r) for r in rows}


@pytest.mark.parametrize("who", WHO)
def test_import_roles(client, auth, who):
    r = _upload(client, auth, HEADER + f"{_ref()},2026-03-01 09:30,环境卫生,垃圾堆放,滨河路1号,,,\n", who=who)
    assert r.status_code == {None: 401, "admin": 201, "dispatcher": 201}.get(who, 403), r.text


def test_import_maps_routes_and_keeps_the_order(client, auth, api_db):
    one, two = _ref(), _ref()
    r = _upload(
        client,
        auth,
        HEADER + f"{one},2026-03-01 09:30,环境卫生,垃圾堆放三天,滨河路1号,,,13800000000\n"
        f"{two},2026/3/2 14:05,noise,夜间施工,,113.27,22.6,\n",
    )
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2 and len(r.json()["event_ids"]) == 2
    stored = _stored(api_db, [one, two])
    assert (stored[one]["category"], stored[one]["grid_id"], stored[one]["source"]) == (
        "sanitation",
        GRID_A,
        "12345",
    )
    assert (stored[two]["category"], stored[two]["grid_id"]) == ("noise", GRID_B)
    assert stored[one]["reported_at"] == datetime(2026, 3, 1, 9, 30, tzinfo=BEIJING)  # Beijing time kept
    assert stored[two]["reported_at"] == datetime(2026, 3, 2, 14, 5, tzinfo=BEIJING)
    again = _upload(client, auth, HEADER + f"{one},2026-03-01 09:30,环境卫生,垃圾堆放三天,滨河路1号,,,\n")
    assert again.status_code == 422
    assert again.json()["error"]["details"][0]["problem"].startswith(f"工单编号 {one} 已导入")


def test_one_bad_row_and_nothing_is_written(client, auth, api_db):
    good, bad, late = _ref(), _ref(), _ref()
    r = _upload(
        client,
        auth,
        HEADER + f"{good},2026-03-01 09:30,环境卫生,垃圾堆放,滨河路1号,,,\n"
        f"{bad},2026-03-01 09:30,飞碟来访,有飞碟,火星基地,,,\n"
        f"{late},2026-02-30 08:00,噪音扰民,很吵,,113.22,22.6,12345\n",
    )
    assert r.status_code == 422
    problems = r.json()["error"]["details"]
    where = {(p["row"], p["column"]) for p in problems}
    assert {(3, "诉求类型"), (3, "事发地址"), (4, "受理时间"), (4, "联系电话")} <= where
    assert all(p["fix"] for p in problems)
    assert (
        "诉求类型" in json.dumps(problems, ensure_ascii=False)
        and "环境卫生" in problems[0]["fix"] + problems[1]["fix"]
    )
    assert _stored(api_db, [good, bad, late]) == {}  # the good row was not written either


def test_mapping_of_another_export_and_gbk(client, auth, api_db):
    ref = _ref()
    content = f"工单号,来电时间,类别,内容,地点\n{ref},2026-03-03 10:00,养老帮扶,独居老人需要助餐,山边村\n"
    mapping = {
        "工单号": "external_ref",
        "来电时间": "reported_at",
        "类别": "category",
        "内容": "description",
        "地点": "address",
    }
    r = _upload(client, auth, content.encode("gbk"), mapping=mapping)
    assert r.status_code == 201, r.text
    assert _stored(api_db, [ref])[ref]["grid_id"] == GRID_B
    r = _upload(client, auth, content, mapping={"工单号": "external_ref", "内容": "description"})
    assert r.status_code == 422 and "reported_at" in r.text and "category" in r.text
    r = _upload(client, auth, content, mapping={"工单号": "order_number"})
    assert r.status_code == 422 and "order_number" in r.text and "external_ref" in r.text


def test_the_sample_file_names_every_field():
    from pathlib import Path

    from pipeline.event_import import FIELDS

    sample = Path(__file__).resolve().parents[2] / "data" / "templates" / "12345工单.csv"
    header = sample.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert header == list(FIELDS.values())
