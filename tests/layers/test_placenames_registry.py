"""The place-name registry on the demo district: history, locking, checks, sign work list, lookups.

Runs in its own database (the demo district plus filled pinyin) because it writes names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.engine import make_url

from geo.crs import WGS84, transformer, utm_crs_for
from geo.placenames.search import build_index
from geo.placenames.tables import DATA_DIR
from layers import lookup, placenames, queries
from layers.db import session
from layers.errors import Conflict, ValidationFailed
from layers.placenames import RegistryConflict

APPROVAL = "澄府地〔2026〕{}号 2026-03-15"
CASE_CODES = {
    "rare_char": "rare_char",
    "homophone": "homophone",
    "traditional": "traditional",
    "duplicate": "duplicate",
    "generic_oversize": "generic_oversize",
    "feudal": "odd",
    "latin_or_digit": "latin_or_digit",
    "foreign": "foreign",
    "exaggerated": "exaggerated",
    "mixed_script": "mixed_script",
}
"""Planted case of data/demo/placenames.py → the finding code that must flag it."""


def demo_database(db_url: str, district, suffix: str) -> str:
    """A fresh, migrated database ``<test db><suffix>`` holding the demo district with pinyin filled."""
    from scratch_databases import migrated_database

    from layers.load.demo import load_district

    rendered = migrated_database(db_url, make_url(db_url).database + suffix)
    with session(rendered, actor="pytest") as s:
        load_district(s, district)
        placenames.fill_pinyin(s)
    return rendered


@pytest.fixture(scope="module")
def pn_db(db_url, demo_district) -> str:
    return demo_database(db_url, demo_district, "_pn_layers")


@pytest.fixture(scope="module")
def findings(pn_db) -> pd.DataFrame:
    with session(pn_db) as s:
        return placenames.check_registry(s)


def _point(s, name: str) -> dict:
    """A GeoJSON point on the demo name ``name`` (inside the district)."""
    lon, lat = s.execute(
        text(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM place_names WHERE name = :n LIMIT 1"
        ),
        {"n": name},
    ).one()
    return {"type": "Point", "coordinates": [lon, lat]}


def _create(url: str, name: str, *, actor: str = "officer.li", category: str = "road"):
    with session(url, actor=actor) as s:
        return placenames.create(
            s, name=name, category=category, geometry=_point(s, "永济桥"), approval=APPROVAL.format(1)
        )


# -- pinyin ------------------------------------------------------------------------------------------


def test_fill_pinyin_gives_every_name_sign_text(pn_db):
    with session(pn_db) as s:
        missing = s.execute(
            text("SELECT count(*) FROM place_names WHERE pinyin IS NULL OR proper IS NULL")
        ).scalar()
        rows = dict(
            s.execute(
                text("SELECT name, pinyin FROM place_names WHERE name IN ('澄湾区', '上林', '永济桥')")
            ).all()
        )
        assert placenames.fill_pinyin(s) == 0  # nothing left to fill
    assert missing == 0
    assert rows == {"澄湾区": "Chengwan Qu", "上林": "Shanglin", "永济桥": "Yongji Qiao"}


# -- create, rename, retire ------------------------------------------------------------------------


def test_create_rename_retire_write_history_with_before_and_after(pn_db):
    created = _create(pn_db, "晨曦路")
    assert (created.proper, created.generic, created.pinyin, created.version) == (
        "晨曦",
        "路",
        "Chenxi Lu",
        1,
    )
    with session(pn_db, actor="officer.li") as s:
        renamed = placenames.rename(
            s, created.name_id, "解放北路", approval=APPROVAL.format(2), expected_version=1
        )
    with session(pn_db, actor="officer.wang") as s:
        retired = placenames.retire(s, created.name_id, approval=APPROVAL.format(3))
        rows = placenames.history(s, created.name_id)
    assert (renamed.proper, renamed.generic, renamed.pinyin, renamed.version) == (
        "解放",
        "北路",
        "Jiefang Beilu",
        2,
    )
    assert (retired.status, retired.version, retired.approval) == ("historical", 3, APPROVAL.format(3))
    assert [(r["action"], r["old_name"], r["new_name"], r["approval"], r["changed_by"]) for r in rows] == [
        ("create", None, "晨曦路", APPROVAL.format(1), "officer.li"),
        ("rename", "晨曦路", "解放北路", APPROVAL.format(2), "officer.li"),
        ("retire", "解放北路", None, APPROVAL.format(3), "officer.wang"),
    ]
    create, rename, retire = rows
    assert create["before"] is None and create["after"]["pinyin"] == "Chenxi Lu"
    assert (rename["before"]["name"], rename["before"]["pinyin"]) == ("晨曦路", "Chenxi Lu")
    assert (rename["after"]["name"], rename["after"]["pinyin"]) == ("解放北路", "Jiefang Beilu")
    assert (retire["before"]["status"], retire["after"]["status"]) == ("standard", "historical")


def test_every_registry_write_is_audited_with_the_actor(pn_db):
    created = _create(pn_db, "朝晖街", actor="officer.zhao")
    with session(pn_db, actor="officer.zhao") as s:
        placenames.update(s, created.name_id, {"sign_present": True}, expected_version=1)
        audit = s.execute(
            text(
                "SELECT actor, action, before ->> 'sign_present', after ->> 'sign_present' "
                "FROM audit_log WHERE layer = 'place_names' AND object_id = :i ORDER BY audit_id"
            ),
            {"i": str(created.name_id)},
        ).all()
    assert [tuple(r) for r in audit] == [
        ("officer.zhao", "insert", None, "false"),
        ("officer.zhao", "update", "false", "true"),
    ]


def test_new_name_gets_the_small_grid_it_lies_in(pn_db):
    created = _create(pn_db, "晓光路")
    with session(pn_db) as s:
        grids = queries.areas(s, levels=("grid_small",))
    point = shapely.Point(created.lon, created.lat)
    assert grids.loc[grids.contains(point), "area_id"].tolist() == [created.area_id]


def test_a_renamed_name_is_still_found_by_its_old_name_as_historical(pn_db):
    created = _create(pn_db, "霞光路")
    with session(pn_db, actor="officer.li") as s:
        placenames.rename(s, created.name_id, "晴川路", approval=APPROVAL.format(4))
        index = build_index(lookup.place_name_rows(s))
    for query in ("霞光", "xiaguanglu", "xgl"):
        hit = index.query(query, limit=50)
        hit = hit[hit["id"] == created.name_id]
        assert hit["name"].tolist() == ["霞光路"] and hit["historical"].tolist() == [True], query
    current = index.query("晴川路")
    assert current.loc[0, ["id", "name", "historical"]].tolist() == [created.name_id, "晴川路", False]


def test_a_renamed_name_reads_as_its_current_name_whatever_plan_runs(pn_db):
    """The search keeps each id's first row as its current one: with a parallel plan (which mixes the
    rows of a UNION ALL's branches) too, every current name comes before any former one."""
    created = _create(pn_db, "朝晖路")
    with session(pn_db, actor="officer.li") as s:
        placenames.rename(s, created.name_id, "朝阳路", approval=APPROVAL.format(7))
    with session(pn_db) as s:
        for setting in (
            "SET LOCAL parallel_setup_cost = 0",
            "SET LOCAL parallel_tuple_cost = 0",
            "SET LOCAL min_parallel_table_scan_size = 0",
            "SET LOCAL force_parallel_mode = on",
            "SET LOCAL parallel_leader_participation = off",
            "SET LOCAL max_parallel_workers_per_gather = 4",
        ):
            s.execute(text(setting))
        rows = lookup.place_name_rows(s)
        _index, names = placenames.name_index(s)
        current = dict(s.execute(text("SELECT name_id, name FROM place_names")).all())
    former = rows.index[rows["name"] == "朝晖路"]
    assert len(former) == 1 and former[0] > rows.index[rows["id"] == created.name_id].min()
    assert names.loc[created.name_id, "name"] == "朝阳路"
    assert names["name"].to_dict() == current


def test_stale_version_is_refused_and_writes_nothing(pn_db):
    created = _create(pn_db, "启明路")
    with session(pn_db) as s:
        placenames.rename(s, created.name_id, "启航路", approval=APPROVAL.format(5), expected_version=1)
    for change in (
        lambda s: placenames.rename(
            s, created.name_id, "启程路", approval=APPROVAL.format(6), expected_version=1
        ),
        lambda s: placenames.update(s, created.name_id, {"meaning": "x"}, expected_version=1),
        lambda s: placenames.retire(s, created.name_id, approval=APPROVAL.format(6), expected_version=1),
    ):
        with pytest.raises(Conflict) as caught, session(pn_db) as s:
            change(s)
        assert caught.value.status == 412 and "version 1" in str(caught.value)
    with session(pn_db) as s:
        assert placenames.get(s, created.name_id).name == "启航路"
        assert [r["action"] for r in placenames.history(s, created.name_id)] == ["create", "rename"]


def test_retired_names_cannot_be_renamed_or_retired_again(pn_db):
    created = _create(pn_db, "星河路")
    with session(pn_db) as s:
        placenames.retire(s, created.name_id, approval=APPROVAL.format(7))
    for change in (
        lambda s: placenames.retire(s, created.name_id, approval=APPROVAL.format(8)),
        lambda s: placenames.rename(s, created.name_id, "星海路", approval=APPROVAL.format(8)),
    ):
        with pytest.raises(RegistryConflict) as caught, session(pn_db) as s:
            change(s)
        assert caught.value.status == 409 and "historical" in str(caught.value)


def test_rename_and_retire_need_an_approval(pn_db):
    created = _create(pn_db, "望海路")
    with pytest.raises(ValidationFailed, match="approval"), session(pn_db) as s:
        placenames.rename(s, created.name_id, "观海路", approval="  ")
    with pytest.raises(ValidationFailed, match="approval"), session(pn_db) as s:
        placenames.retire(s, created.name_id, approval="")
    with pytest.raises(ValidationFailed, match="rename"), session(pn_db) as s:
        placenames.update(s, created.name_id, {"name": "观海路"}, expected_version=1)


def test_a_new_category_recomputes_the_sign_text(pn_db):
    created = _create(pn_db, "前进村", category="village")
    assert created.pinyin == "Qianjin Cun"
    with session(pn_db) as s:
        changed = placenames.update(s, created.name_id, {"category": "natural_village"}, expected_version=1)
    assert (changed.pinyin, changed.proper, changed.generic, changed.version) == (
        "Qianjincun",
        "前进村",
        None,
        2,
    )


# -- checks --------------------------------------------------------------------------------------


def test_checks_flag_every_planted_irregular_name(findings, demo_district):
    planted = demo_district.planted
    planted = planted[(planted["layer"] == "place_names") & planted["case"].isin(list(CASE_CODES))]
    assert len(planted) >= 15
    flagged = findings.groupby("name_id")["code"].agg(set)
    for case, name_id, name in planted[["case", "object_id", "name"]].itertuples(index=False):
        assert CASE_CODES[case] in flagged.get(name_id, set()), (case, name)
    names = demo_district.place_names.set_index("name_id")
    irregular = set(names.index[names["status"] == "irregular"])
    assert irregular <= set(flagged.index)  # every name the demo marks irregular is flagged


def test_checks_leave_controls_heritage_and_ordinary_names_alone(findings, demo_district):
    names = demo_district.place_names.set_index("name_id")
    flagged = set(findings["name_id"])
    for name in ("湴田", "上林", "永济桥", "文昌阁", "盐埠老街", "东湖公园", "澄湾区"):
        ids = set(names.index[names["name"] == name])
        assert ids and not ids & flagged, name
    standard = set(names.index[names["status"] == "standard"])
    assert len(standard & flagged) <= 0.01 * len(standard)
    historical = set(names.index[names["status"] == "historical"])
    assert historical and not historical & flagged  # former names are not in use: not checked


def test_road_duplicates_are_checked_across_the_city_district(findings, demo_district):
    # 新华路 in the city (澄湾街道) and again in the town seat (汐岭镇): different towns, one city district
    names = demo_district.place_names
    xinhua = set(names.loc[names["name"] == "新华路", "name_id"])
    dup = findings[findings["code"] == "duplicate"]
    rows = dup[dup["name_id"].isin(xinhua)]
    assert set(rows["name_id"]) == xinhua and len(xinhua) == 2
    assert rows["scope"].unique().tolist() == ["city_or_town:澄湾区"]
    assert set(rows["town"]) == {"澄湾街道", "汐岭镇"}


def test_towns_of_findings_match_the_area_tree(findings, demo_district):
    areas = demo_district.areas.set_index("area_id")

    def town_of(area_id):
        while area_id is not None and not pd.isna(area_id):
            if areas.loc[area_id, "level"] == "town":
                return areas.loc[area_id, "name"]
            area_id = areas.loc[area_id, "parent_id"]
        return None

    area_of = demo_district.place_names.set_index("name_id")["area_id"]
    demo = findings[findings["name_id"].isin(area_of.index)]  # names other tests register lack an entry
    expected = demo["name_id"].map(lambda i: town_of(area_of[i]))
    assert len(demo) > 20 and demo["town"].fillna("-").tolist() == expected.fillna("-").tolist()


def test_pieces_of_one_feature_are_not_duplicates():
    names = pd.DataFrame(
        {
            "name": ["滨河路", "滨河路", "滨河路", "翠苑", "翠苑"],
            "category": "road",
            "status": "standard",
            "town": "甲镇",
            "district": "乙区",
            "piece": [0, 0, 1, 0, 1],
        },
        index=pd.Index([1, 2, 3, 4, 5], name="name_id"),
    )
    names.loc[[4, 5], "category"] = "estate"
    found = placenames.registry_findings(names)
    assert found.loc[found["code"] == "duplicate", "name_id"].tolist() == [1, 2, 3, 4, 5]
    # two features, not three
    assert found.loc[found["name_id"] == 1, "detail"].str.contains("2 处同名").all()
    single = placenames.registry_findings(names.loc[[1, 2, 4]])
    assert single.empty


def test_findings_report_has_one_row_per_finding(findings):
    from io import BytesIO

    from openpyxl import load_workbook

    from geo.placenames.report import findings_sheets
    from pipeline.spreadsheets import workbook_bytes

    book = load_workbook(BytesIO(workbook_bytes(findings_sheets(findings))))
    assert book.sheetnames == ["检查结果", "汇总"]
    assert book["检查结果"].max_row == len(findings) + 1
    assert book["检查结果"]["A1"].value == "地名编号"


# -- sign work list ----------------------------------------------------------------------------------


def test_missing_signs_equal_an_independent_filter(pn_db):
    required = pd.read_csv(DATA_DIR / "categories.csv", dtype=str)
    required = set(required.loc[required["sign_required"] == "1", "category"])
    with session(pn_db) as s:
        rows = pd.DataFrame(
            s.execute(text("SELECT name_id, name, category, sign_present, status FROM place_names"))
            .mappings()
            .all()
        )
        worklist = placenames.missing_signs(s)
        with_geometry = placenames.missing_signs(s, with_geometry=True)
    expected = rows[
        rows["category"].isin(required) & ~rows["sign_present"] & (rows["status"] != "historical")
    ]
    assert sorted(worklist.index) == sorted(expected["name_id"]) and len(worklist) > 100
    assert worklist.index.tolist() == with_geometry.index.tolist()
    village = worklist[worklist["category"] == "natural_village"].iloc[0]
    assert village["sign_chinese"] == village["name"] and " " not in village["sign_pinyin"]
    assert set(worklist["sign_type"]) >= {"村牌", "街牌"}


# -- nearest features ------------------------------------------------------------------------------


def _sample_points(s, n: int) -> list[tuple[float, float]]:
    district = queries.areas(s, levels=("district",)).geometry.union_all()
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = district.bounds
    points = []
    while len(points) < n:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if district.contains(shapely.Point(x, y)):
            points.append((float(x), float(y)))
    return points


def test_nearest_place_name_equals_brute_force_in_metres(pn_db):
    with session(pn_db) as s:
        names = queries.to_geoframe(
            queries.read_frame(
                s,
                "SELECT name_id, name, ST_AsBinary(geom) AS wkb FROM place_names "
                "WHERE status <> 'historical'",
            )
        )
        points = _sample_points(s, 30)
        found = [placenames.nearest_place_name(s, x, y) for x, y in points]
    utm = utm_crs_for(*points[0])
    to_utm = transformer(WGS84, utm)
    metric = names.to_crs(utm)
    area = np.where(metric.geom_type.str.contains("Polygon"), metric.area, 0.0)
    candidates = metric[area <= 1e6]
    for (x, y), hit in zip(points, found, strict=True):
        p = shapely.Point(*to_utm.transform(x, y))
        dist = candidates.distance(p)
        if dist.min() > 2000:
            assert hit is None
            continue
        close = candidates.loc[dist <= dist.min() * 1.005 + 0.5, "name_id"]
        assert hit["name_id"] in set(close), (x, y, hit, dist.min())
        assert hit["distance_m"] == pytest.approx(dist.min(), rel=0.005, abs=0.5)


# -- approval, fill for loaders, recomputation after a table edit -------------------------------------


def test_a_name_registered_without_approval_is_pending_until_approved(pn_db):
    with session(pn_db, actor="officer.li") as s:
        created = placenames.create(s, name="晨星路", category="road", geometry=_point(s, "永济桥"))
    assert created.approval == placenames.PENDING_APPROVAL == "待审批"
    with session(pn_db, actor="officer.li") as s:
        approved = placenames.update(
            s, created.name_id, {"approval": APPROVAL.format(20)}, expected_version=1
        )
        rows = placenames.history(s, created.name_id)
    assert approved.approval == APPROVAL.format(20)
    assert [(r["action"], r["approval"]) for r in rows] == [
        ("create", "待审批"),
        ("update", APPROVAL.format(20)),
    ]


def _insert_raw(s, name: str, category: str, pinyin: str | None) -> int:
    """A row as a bulk loader writes it: no proper/generic, perhaps a pinyin from the file."""
    return s.execute(
        text(
            "INSERT INTO place_names (name, category, pinyin, geom) VALUES (:n, :c, :p, "
            "ST_SetSRID(ST_MakePoint(115.9, 21.6), 4326)) RETURNING name_id"
        ),
        {"n": name, "c": category, "p": pinyin},
    ).scalar_one()


def test_fill_pinyin_fills_the_given_rows_and_keeps_a_supplied_pinyin(pn_db):
    with session(pn_db) as s:
        plain = _insert_raw(s, "海珠湿地公园", "park", None)
        blank = _insert_raw(s, "连南瑶族自治县", "county", "  ")
        supplied = _insert_raw(s, "北京路步行街", "road", "Beijinglu Buxing Jie")  # the file's own spelling
        untouched = _insert_raw(s, "音乐路", "road", None)
        assert placenames.fill_pinyin(s, name_ids=[plain, blank, supplied]) == 3
        assert placenames.fill_pinyin(s, name_ids=[plain, blank, supplied]) == 0
        rows = {
            r.name_id: (r.proper, r.generic, r.pinyin)
            for r in s.execute(
                text("SELECT name_id, proper, generic, pinyin FROM place_names WHERE name_id = ANY(:i)"),
                {"i": [plain, blank, supplied, untouched]},
            )
        }
        s.rollback()
    assert rows[plain] == ("海珠", "湿地公园", "Haizhu Shidi Gongyuan")
    assert rows[blank] == ("连南", "瑶族自治县", "Liannan Yaozu Zizhixian")
    assert rows[supplied] == ("北京路", "步行街", "Beijinglu Buxing Jie")
    assert rows[untouched] == (None, None, None)  # not among the ids


@pytest.fixture
def edited_tables(tmp_path, monkeypatch):
    """MINQING_PLACENAME_TABLES pointing at a folder with one edited table; restored afterwards."""
    from geo.placenames.tables import use_overrides

    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "polyphones.csv").write_text(
        "word,reading,note\n石牌,shi bai,local reading (test)\n四,shi,absurd on purpose: touches 东四十条\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MINQING_PLACENAME_TABLES", str(folder))
    yield folder
    monkeypatch.delenv("MINQING_PLACENAME_TABLES", raising=False)
    use_overrides(None)


def test_recompute_after_a_table_edit_reports_then_writes_with_history(pn_db, edited_tables, monkeypatch):
    monkeypatch.delenv("MINQING_PLACENAME_TABLES")
    with session(pn_db, actor="officer.li") as s:
        road = placenames.create(
            s, name="石牌路", category="road", geometry=_point(s, "永济桥"), approval=APPROVAL.format(21)
        )
        fixed = placenames.create(
            s, name="东四十条", category="lane", geometry=_point(s, "永济桥"), approval=APPROVAL.format(22)
        )
        before = placenames.recompute_sign_text(s, dry_run=True)
    assert (road.pinyin, fixed.pinyin) == ("Shipai Lu", "Dongsi 10 Tiao")
    assert road.name_id not in set(before["name_id"])  # with the shipped tables it is up to date

    monkeypatch.setenv("MINQING_PLACENAME_TABLES", str(edited_tables))
    with session(pn_db, actor="officer.li") as s:
        planned = placenames.recompute_sign_text(s, dry_run=True)
        assert placenames.get(s, road.name_id).pinyin == "Shipai Lu"  # a dry run writes nothing
    ours = planned[~planned["name_id"].isin(before["name_id"])]
    assert ours.loc[ours["name_id"] == road.name_id, ["old_pinyin", "new_pinyin"]].values.tolist() == [
        ["Shipai Lu", "Shibai Lu"]
    ]
    assert fixed.name_id not in set(ours["name_id"])  # an authority spelling (fixed_spellings.csv) stays
    assert ours["name"].str.contains("石牌|四").all()  # nothing else moved

    with session(pn_db, actor="officer.li") as s:
        done = placenames.recompute_sign_text(s)
        after = placenames.get(s, road.name_id)
        rows = placenames.history(s, road.name_id)
        again = placenames.recompute_sign_text(s, dry_run=True)
    assert done["name_id"].tolist() == planned["name_id"].tolist()
    assert (after.pinyin, after.version) == ("Shibai Lu", 2)
    last = rows[-1]
    assert (last["action"], last["changed_by"]) == ("update", "officer.li")
    assert (last["before"]["pinyin"], last["after"]["pinyin"]) == ("Shipai Lu", "Shibai Lu")
    assert again.empty


# -- review decisions --------------------------------------------------------------------------------


def _name_id(s, name: str) -> int:
    return s.execute(
        text(
            "SELECT name_id FROM place_names WHERE name = :n AND status <> 'historical' "
            "ORDER BY name_id LIMIT 1"
        ),
        {"n": name},
    ).scalar_one()


def test_a_review_decision_stops_the_reviewed_findings_until_a_rename(pn_db):
    with session(pn_db, actor="officer.wang") as s:
        keep, fix = _name_id(s, "威尼斯花园"), _name_id(s, "世界城")
        before = placenames.check_registry(s)
        assert keep in set(before["name_id"]) and fix in set(before["name_id"])
        placenames.review(s, keep, decision="豁免", note="开发商已注册商标，经会议研究豁免")
        placenames.review(s, fix, decision="整改")
    with session(pn_db) as s:
        after = placenames.check_registry(s)
        assert keep not in set(after["name_id"])  # 豁免: no longer flagged
        assert set(after.loc[after["name_id"] == fix, "review"]) == {"整改"}  # 整改: still flagged, marked
        assert len(before) - len(after) == (before["name_id"] == keep).sum()  # nothing else dropped
        stored = placenames.reviews(s).loc[keep]
        assert stored["decision"] == "豁免" and stored["decided_by"] == "officer.wang"
        assert "foreign" in stored["codes"]
        audited = s.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE layer = 'place_name_reviews' AND actor = 'officer.wang'"
            )
        ).scalar()
        assert audited == 2
    with session(pn_db, actor="officer.wang") as s:  # a rename makes the review lapse
        placenames.rename(s, keep, "罗马花园", approval=APPROVAL.format(77))
    with session(pn_db) as s:
        again = placenames.check_registry(s)
        assert keep in set(again["name_id"]) and set(again.loc[again["name_id"] == keep, "review"]) == {""}


def test_a_review_needs_a_known_decision_and_a_flagged_name(pn_db):
    with session(pn_db) as s:
        flagged, clean = _name_id(s, "维也纳小区"), _name_id(s, "永济桥")
        with pytest.raises(ValidationFailed, match="保留"):
            placenames.review(s, flagged, decision="通过")
        with pytest.raises(ValidationFailed, match="no finding"):
            placenames.review(s, clean, decision="保留")


# -- demo history --------------------------------------------------------------------------------------


def test_demo_renamed_names_are_linked_with_dates_and_approval_numbers(pn_db, demo_district):
    from data.demo.placenames import HISTORIES

    with session(pn_db) as s:
        street = _name_id(s, "兴业路")
        rows = placenames.history(s, street)
        assert [(r["action"], r["old_name"], r["new_name"]) for r in rows[:2]] == [
            ("create", None, "打铁街"),
            ("rename", "打铁街", "兴业路"),
        ]
        assert (
            str(rows[0]["changed_at"])[:10] == "1984-06-30"
            and str(rows[1]["changed_at"])[:10] == "1993-03-18"
        )
        assert rows[1]["approval"] == HISTORIES["兴业路"][1][3] and "〔1993〕27号" in rows[1]["approval"]
        assert (
            s.execute(
                text("SELECT count(*) FROM place_names WHERE name IN ('打铁街', '上林堡', '鹭田墟')")
            ).scalar()
            == 0
        )
        index, names = placenames.name_index(s)
        hit = placenames.search(index, names, "打铁街")
        assert hit[0]["name"] == "打铁街" and hit[0]["historical"] and hit[0]["current_name"] == "兴业路"
        # no old name shows 命名 on the load date: heritage names were registered by the 1984 census
        heritage = s.execute(
            text(
                "SELECT p.name, min(h.changed_at)::date FROM place_names p "
                "JOIN place_name_history h USING (name_id) WHERE p.heritage GROUP BY p.name"
            )
        ).all()
        assert heritage and all(str(day) <= "2004-11-02" for _, day in heritage), heritage
        # ordinary names are dated by their approval (the demo's own rows: later tests add names of their own)
        demo = demo_district.place_names
        dated = demo[
            demo["approval"].fillna("").str.contains(r"\d{4}-\d{2}-\d{2}") & ~demo["name"].isin(HISTORIES)
        ]
        first = dict(
            s.execute(
                text(
                    "SELECT DISTINCT ON (name_id) name_id, changed_at::date::text FROM place_name_history "
                    "WHERE name_id = ANY(:ids) ORDER BY name_id, history_id"
                ),
                {"ids": dated["name_id"].tolist()},
            ).all()
        )
        expected = dated.set_index("name_id")["approval"].str.extract(r"(\d{4}-\d{2}-\d{2})")[0].to_dict()
        assert len(dated) > 100 and first == expected


def test_sign_plan_lists_the_retired_name_to_take_down_and_matches_missing_signs(pn_db):
    with session(pn_db) as s:
        plan = placenames.sign_plan(s)
        missing = placenames.missing_signs(s)
        retired = plan[plan["name"] == "鹭田墟巷"]
        assert retired["sign_status"].tolist() == ["待拆除"] and retired["status"].tolist() == ["historical"]
        assert set(plan.index[plan["sign_status"] == "待设置"]) == set(missing.index)
        town = retired["town"].iloc[0]
        one_town = placenames.sign_plan(s, town=town)
        assert len(one_town) and set(one_town["town"]) == {town} and set(one_town.index) <= set(plan.index)
        assert set(placenames.sign_plan(s, sign_status="待拆除")["sign_status"]) == {"待拆除"}


def test_heritage_register_shows_the_criteria_and_a_rename_needs_an_assessment(pn_db):
    with session(pn_db) as s:
        register = placenames.heritage_register(s)
        heritage = set(
            s.execute(
                text("SELECT name FROM place_names WHERE heritage AND status <> 'historical'")
            ).scalars()
        )
        assert set(register["name"]) == heritage and {"上林", "永济桥", "盐埠老街", "文昌阁"} <= heritage
        village = register[register["name"] == "上林"].iloc[0]
        assert (village["first_recorded"], village["former_names"], village["renamed"]) == (
            "1984-06-30",
            "上林堡",
            1,
        )
        bridge = register[register["name"] == "永济桥"].iloc[0]
        assert bridge["renamed"] == 0 and "清代" in bridge["meaning"]
        bridge_id = int(register.index[register["name"] == "永济桥"][0])
    with session(pn_db, actor="officer.li") as s, pytest.raises(RegistryConflict, match="heritage") as caught:
        placenames.rename(s, bridge_id, "永安桥", approval=APPROVAL.format(90))
    assert caught.value.status == 409 and "heritage_review" in caught.value.fix
    with session(pn_db, actor="officer.li") as s:
        assert placenames.get(s, bridge_id).name == "永济桥"  # nothing written
        done = placenames.rename(
            s,
            bridge_id,
            "永安桥",
            approval=APPROVAL.format(90),
            heritage_review="澄地名论〔2026〕2号 2026-03-01",
        )
        assert (
            done.name == "永安桥"
            and "地名文化遗产论证：澄地名论〔2026〕2号" in placenames.history(s, bridge_id)[-1]["approval"]
        )
