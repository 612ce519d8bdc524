"""Page builders on a tiny hand-made district: offline assets only, Chinese UI, public data only."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import geopandas as gpd
import pytest
import shapely

from layers.placenames import registry_findings
from maps import assets
from maps.basemap import OSM_NAME, TIANDITU_VEC_NAME, offline_data, road_features, road_labels, simplify
from maps.page import DEMO_LABEL, USER_SLOT, with_user
from maps.placenames import build_placenames_map, check_results
from maps.planner import build_planner_map
from maps.public import build_public_map


class _Refs(HTMLParser):
    """Collect the URLs of <script src>, <link href>, <img src> and <iframe src>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])


def loaded_urls(html: str) -> list[str]:
    p = _Refs()
    p.feed(html)
    return p.urls


def tiny_findings(names):
    """The registry's findings on the tiny names, as ``layers.placenames.check_registry`` makes them."""
    town = {4: "东涌街道", 5: "西岭镇", 9: "西岭镇"}
    frame = names.set_index("name_id").assign(town=names["area_id"].map(town).to_numpy(), district="澄湾区",
                                              piece=range(len(names)))  # every row is a feature of its own
    return registry_findings(frame)


@pytest.fixture(scope="module")
def basemap(tiny):
    return offline_data(edges=tiny["edges"], water=tiny["water"], areas=tiny["areas"])


@pytest.fixture(scope="module")
def grids(tiny):
    g = tiny["areas"][tiny["areas"]["level"] == "grid_small"].copy()
    g["community"] = ["东涌社区", "西岭村"]
    g["town"] = ["东涌街道", "西岭镇"]
    return g


@pytest.fixture(scope="module")
def pages(tiny, basemap, grids):
    public = build_public_map(district=tiny["district"], facilities=tiny["facilities"],
                              facility_types=tiny["types"], grids=grids, basemap=basemap)
    planner = build_planner_map(district=tiny["district"], facility_types=tiny["types"], basemap=basemap,
                                run={"run_id": 7, "finished_at": None})
    names = build_placenames_map(district=tiny["district"], names=tiny["names"],
                                 findings=tiny_findings(tiny["names"]), basemap=basemap)
    return {"public": public, "planner": planner, "placenames": names}


@pytest.mark.parametrize("page", ["public", "planner", "placenames"])
def test_every_script_and_style_comes_from_our_assets(pages, page):
    urls = loaded_urls(pages[page])
    assert urls, "the page loads no script at all"
    for url in urls:
        assert url.startswith(assets.PREFIX), url
        assert assets.resolve(url.removeprefix(assets.PREFIX)) is not None, url
    # No CDN anywhere outside the optional tile templates, which are only in L.tileLayer(...) calls.
    without_tiles = re.sub(r'L\.tileLayer\("https://[^"]+"', "", pages[page])
    assert not re.search(r"(src|href)\s*=\s*[\"']https?://", without_tiles)
    for cdn in ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "fontawesome"):
        assert cdn not in pages[page]


@pytest.mark.parametrize("page", ["public", "planner", "placenames"])
def test_chinese_page_with_demo_label_and_viewport(pages, page):
    html = pages[page]
    assert '<html lang="zh-CN">' in html
    assert DEMO_LABEL in html
    assert 'name="viewport"' in html
    assert "民情地图" in html


def test_tiles_are_optional_and_tianditu_needs_a_key(tiny, basemap, grids):
    html = build_public_map(district=tiny["district"], facilities=tiny["facilities"], facility_types=tiny["types"],
                            grids=grids, basemap=basemap)
    assert "tile.openstreetmap.org" in html and "tianditu" not in html
    keyed = build_public_map(district=tiny["district"], facilities=tiny["facilities"],
                             facility_types=tiny["types"], grids=grids, basemap=basemap, tianditu_key="k3y")
    assert json.dumps(TIANDITU_VEC_NAME) in keyed and json.dumps(OSM_NAME) in keyed and "tk=k3y" in keyed
    # The tile layers are created but never added to the map: no `.addTo(` on their variables.
    for var in re.findall(r"var (tile_group_\w+) = L\.layerGroup", keyed):
        assert f"{var}.addTo(" not in keyed


def test_public_page_carries_public_fields_only(pages, tiny):
    html = pages["public"]
    for private in ("households", "population", "residence"):
        assert private not in html
    assert "0750-1234567" in html  # the grid worker's public work phone
    assert "东涌幼儿园" in html and "08:00-17:30" in html


def test_user_slot_is_filled(pages):
    html = pages["public"]
    assert USER_SLOT in html
    assert "/login" in with_user(html, None)

    class U:
        username = "<planner>"
    filled = with_user(html, U())
    assert "&lt;planner&gt;" in filled and "/auth/logout" in filled and USER_SLOT not in filled


def test_roads_merge_by_class_and_name(tiny):
    edges = tiny["edges"]
    # Split the trunk road into two edges: they must come back as one feature.
    a, b = shapely.get_coordinates(edges.geometry[0])
    mid = (a + b) / 2
    two = gpd.GeoDataFrame({"highway": ["primary", "primary"], "name": ["滨海大道", "滨海大道"]},
                           geometry=[shapely.LineString([a, mid]), shapely.LineString([mid, b])], crs=4326)
    fc = road_features(two)
    assert len(fc["features"]) == 1
    assert fc["features"][0]["properties"] == {"c": "major", "n": "滨海大道"}
    labels = road_labels(tiny["edges"])
    assert sorted(label[2] for label in labels) == ["东涌路", "滨海大道"]


def test_simplify_tolerance_is_metric(tiny):
    # A 1 km line with a 2 m kink: gone at 3 m tolerance, kept at 1 m.
    lon0, lat0 = 113.3, 22.6
    kink = 2 / 111_320
    line = gpd.GeoDataFrame(geometry=[shapely.LineString([(lon0, lat0), (lon0 + 0.005, lat0 + kink),
                                                          (lon0 + 0.01, lat0)])], crs=4326)
    assert len(shapely.get_coordinates(simplify(line, tolerance_m=3.0).iloc[0])) == 2
    assert len(shapely.get_coordinates(simplify(line, tolerance_m=1.0).iloc[0])) == 3


def test_placename_check_results(tiny):
    names = tiny["names"]
    res = check_results(names, tiny_findings(names))
    by_name = dict(zip(names["name"] + names["name_id"].astype(str), res["result"], strict=True))
    assert by_name["东涌路21"] == by_name["东涌路24"] == "duplicate"  # same road name twice in one city
    assert by_name["曼哈顿花园23"] == "dayangguai"                      # 洋: a foreign place name
    assert by_name["滨海大道22"] == "missing_sign"                      # a main road without a sign
    assert by_name["古榕村25"] == "ok"


def test_placename_page_has_sign_text(pages):
    data = json.loads(re.search(r'minqing\.placenames\(\w+, \{.*?\}, (\{.*\})\);', pages["placenames"],
                                re.S).group(1))
    signs = {n["name"]: n["sign"]["pinyin"] for n in data["names"]}
    assert signs["东涌路"].endswith(" Lu")  # proper and generic written apart (人民路 → Renmin Lu)
    assert signs["古榕村"] == "Gurongcun"  # a natural village is one word


def test_a_road_registered_in_pieces_is_one_feature_on_the_map(tiny):
    # the registry counts the pieces of one road once (same piece): no duplicate, as in the XLSX report
    names = tiny["names"]
    town = {4: "东涌街道", 5: "西岭镇", 9: "西岭镇"}
    frame = names.set_index("name_id").assign(town=names["area_id"].map(town).to_numpy(), district="澄湾区",
                                              piece=0)
    res = check_results(names, registry_findings(frame))
    by_name = dict(zip(names["name"] + names["name_id"].astype(str), res["result"], strict=True))
    assert by_name["东涌路21"] != "duplicate" and by_name["东涌路24"] != "duplicate"
    assert by_name["曼哈顿花园23"] == "dayangguai"


def test_rules_table_flags_every_code_cited_as_da_yang_guai():
    # A code whose cited rule is 民发〔2018〕146号 “大”/“洋”/“怪”/“重” carries that flag (rules.csv column flag).
    from geo.placenames.tables import default_tables

    for code, rule in default_tables().rules.items():
        cited = re.findall(r"146号（“(.)”", rule.rule)
        assert rule.flag == (cited[0] if cited else "other"), (code, rule.rule, rule.flag)


@pytest.mark.parametrize(("code", "detail", "shown"), [
    ("foreign", "曼哈顿：foreign place name (Manhattan)", "含“曼哈顿”"),
    ("exaggerated", "中央：民发〔2018〕146号 列举; 田中央 (a village in the middle of fields) is a known harmless hit",
     "含“中央”（民发〔2018〕146号 列举）"),
    ("generic_mismatch", "“广场”(square) ∉ 建筑物(building|estate)", "“建筑物”类地名不宜使用通名“广场”"),
    ("generic_oversize", "“城” rank 5 > 3 (住宅区（小区）)", "通名“城”规模等级 5，超过该类地名上限 3（住宅区（小区））"),
    ("homophone", "范围 scope city_or_town:澄湾区：同音 xinhualu：新华路、新桦路", "范围：市(镇)内 澄湾区：同音：新华路、新桦路"),
    ("latin_or_digit", "EE", "含字母或数字“EE”"),
    ("rare_char", "甽", "含生僻字“甽”"),
    ("odd", "something new in English only", "含“something new in English only”"),
])
def test_finding_details_are_shown_in_chinese_only(code, detail, shown):
    from maps.placenames import detail_zh

    got = detail_zh(code, detail)
    if code == "odd":  # an unknown English text is left out, never shown
        assert got == ""
    else:
        assert got == shown


def test_planner_page_carries_communities_circles_and_capacity_units(tiny, basemap):
    types = tiny["types"].assign(capacity_unit=["学位 seats", "床位 beds", "名额 places"],
                                 capacity_basis=["children", None, "elderly"], basis_per_unit=[5, None, 1])
    communities = tiny["areas"][tiny["areas"]["level"] == "community"].assign(urban=[True, False])
    html = build_planner_map(district=tiny["district"], facility_types=types, basemap=basemap,
                             run={"run_id": 7, "finished_at": None}, communities=communities)
    data = json.loads(re.search(r'minqing\.planner\(\w+, \{.*?\}, (\{.*\})\);', html, re.S).group(1))
    feats = data["communities"]["features"]
    assert sorted((f["properties"]["id"], f["properties"]["n"], f["properties"]["u"]) for f in feats) == \
        [(4, "东涌社区", True), (5, "西岭村", False)]
    classes = {c["code"]: c["class"] for c in data["circles"]}
    assert classes == {"all": None, "5min": "urban", "10min": "urban", "15min": "urban", "village": "rural",
                       "township": "rural"}
    units = {t["code"]: (t["unit"], t["basis"], t["per_unit"]) for t in data["types"]}
    assert units == {"kindergarten": ("学位", "children", 5.0), "health_center": ("床位", None, None),
                     "elderly_daycare": ("名额", "elderly", 1.0)}
    assert 'id="mq-hatch-gap"' in html  # the gap hatching pattern the SVG gap layer fills with
