"""Page builders on a tiny hand-made district: offline assets only, Chinese UI, public data only."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import geopandas as gpd
import pytest
import shapely

from geo.placenames.results import check_results
from layers.placenames import registry_findings
from maps import assets
from maps.basemap import OSM_NAME, TIANDITU_VEC_NAME, offline_data, road_features, road_labels, simplify
from maps.page import DEMO_LABEL, USER_SLOT, js_json, with_user
from maps.placenames import build_placenames_map, name_parts, prepare_names
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
    # every row is a feature of its own
    frame = names.set_index("name_id").assign(
        town=names["area_id"].map(town).to_numpy(), district="澄湾区", piece=range(len(names))
    )
    return registry_findings(frame)


@pytest.fixture(scope="module")
def basemap(tiny):
    return offline_data(edges=tiny["edges"], water=tiny["water"], areas=tiny["areas"])


GRID_TILES = "/tiles/grids/{z}/{x}/{y}.mvt?v=0123456789abcdef&level=grid_small"
SHAPE_TILES = "/tiles/place_name_shapes/{z}/{x}/{y}.mvt?v=0123456789abcdef"
NAME_TILES = "/tiles/place_name_clusters/{z}/{x}/{y}.mvt?v=0123456789abcdef"
NAMES_URL = "/map-data/placenames/{part}.json?v=0123456789abcdef"


def placenames_page(district, names, basemap):
    names, checks = prepare_names(names, tiny_findings(names))
    return build_placenames_map(
        district=district,
        names=names,
        checks=checks,
        basemap=basemap,
        names_url=NAMES_URL,
        parts=len(name_parts(names, checks)),
        shape_tiles=SHAPE_TILES,
        name_tiles=NAME_TILES,
    )


@pytest.fixture(scope="module")
def built(tiny, basemap):
    public = build_public_map(
        district=tiny["district"],
        facilities=tiny["facilities"],
        facility_types=tiny["types"],
        grid_tiles=GRID_TILES,
        basemap=basemap,
    )
    planner = build_planner_map(
        district=tiny["district"],
        facility_types=tiny["types"],
        basemap=basemap,
        run={"run_id": 7, "finished_at": None},
    )
    names = placenames_page(tiny["district"], tiny["names"], basemap)
    return {"public": public, "planner": planner, "placenames": names}


@pytest.fixture(scope="module")
def pages(built):
    return {k: v.html for k, v in built.items()}


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


def test_tiles_are_optional_and_tianditu_needs_a_key(tiny, basemap):
    html = build_public_map(
        district=tiny["district"],
        facilities=tiny["facilities"],
        facility_types=tiny["types"],
        grid_tiles=GRID_TILES,
        basemap=basemap,
    ).html
    assert "tile.openstreetmap.org" in html and "tianditu" not in html
    keyed = build_public_map(
        district=tiny["district"],
        facilities=tiny["facilities"],
        facility_types=tiny["types"],
        grid_tiles=GRID_TILES,
        basemap=basemap,
        tianditu_key="k3y",
    ).html
    assert json.dumps(TIANDITU_VEC_NAME) in keyed and json.dumps(OSM_NAME) in keyed and "tk=k3y" in keyed
    # The tile layers are created but never added to the map: no `.addTo(` on their variables.
    for var in re.findall(r"var (tile_group_\w+) = L\.layerGroup", keyed):
        assert f"{var}.addTo(" not in keyed


def test_public_page_carries_public_fields_only(pages, tiny):
    html = pages["public"]
    for private in ("households", "population", "residence"):
        assert private not in html
    assert "0750-1234567" not in html  # the grid worker's work phone travels in the grids' tiles
    assert GRID_TILES.split("&")[0] in html
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
    two = gpd.GeoDataFrame(
        {"highway": ["primary", "primary"], "name": ["滨海大道", "滨海大道"]},
        geometry=[shapely.LineString([a, mid]), shapely.LineString([mid, b])],
        crs=4326,
    )
    fc = road_features(two)
    assert len(fc["features"]) == 1
    assert fc["features"][0]["properties"] == {"c": "major", "n": "滨海大道"}
    labels = road_labels(tiny["edges"])
    assert sorted(label[2] for label in labels) == ["东涌路", "滨海大道"]
    # Written along the street: the east-west road level, the north-south one upright (±90).
    angle = {label[2]: label[4] for label in labels}
    assert abs(angle["滨海大道"]) < 1 and abs(abs(angle["东涌路"]) - 90) < 1


def test_sea_follows_the_coast_and_fades_out():
    """An island in a square sea: the bands hug the island (none reaches the square's corners), the
    first is opaque and the next fainter, and the coastline runs round the island."""
    from maps.basemap import SEA_BANDS, sea_features

    lon0, lat0, d = 113.3, 22.6, 0.1  # a sea of about 10 km
    square = shapely.box(lon0, lat0, lon0 + d, lat0 + d)
    island = shapely.box(lon0 + 0.04, lat0 + 0.04, lon0 + 0.06, lat0 + 0.06)
    water = gpd.GeoDataFrame(
        {"kind": ["sea"], "name": ["海"]}, geometry=[square.difference(island)], crs=4326
    )
    areas = gpd.GeoDataFrame({"level": ["district"], "name": ["岛"]}, geometry=[island], crs=4326)
    fc = sea_features(water, areas)
    bands = [f for f in fc["features"] if f["properties"]["b"] != "coast"]
    coast = [f for f in fc["features"] if f["properties"]["b"] == "coast"]
    assert [f["properties"]["o"] for f in bands] == [o for _, o in SEA_BANDS]
    drawn = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in bands])
    corner = shapely.Point(lon0 + 0.001, lat0 + 0.001)
    assert not drawn.contains(corner) and drawn.contains(shapely.Point(lon0 + 0.061, lat0 + 0.05))
    assert not drawn.intersects(island.buffer(-1e-4))
    line = shapely.geometry.shape(coast[0]["geometry"])
    assert abs(line.length - island.length) < 1e-3


def test_simplify_tolerance_is_metric(tiny):
    # A 1 km line with a 2 m kink: gone at 3 m tolerance, kept at 1 m.
    lon0, lat0 = 113.3, 22.6
    kink = 2 / 111_320
    line = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(lon0, lat0), (lon0 + 0.005, lat0 + kink), (lon0 + 0.01, lat0)])],
        crs=4326,
    )
    assert len(shapely.get_coordinates(simplify(line, tolerance_m=3.0).iloc[0])) == 2
    assert len(shapely.get_coordinates(simplify(line, tolerance_m=1.0).iloc[0])) == 3


def test_placename_check_results(tiny):
    names = tiny["names"]
    res = check_results(names, tiny_findings(names))
    by_name = dict(zip(names["name"] + names["name_id"].astype(str), res["result"], strict=True))
    assert by_name["东涌路21"] == by_name["东涌路24"] == "duplicate"  # same road name twice in one city
    assert by_name["曼哈顿花园23"] == "dayangguai"  # 洋: a foreign place name
    assert by_name["滨海大道22"] == "missing_sign"  # a main road without a sign
    assert by_name["古榕村25"] == "ok"


def test_placename_rows_have_sign_text(tiny):
    # the names come in parts (GET /map-data/placenames/{part}.json), not in the page
    names, checks = prepare_names(tiny["names"], tiny_findings(tiny["names"]))
    (part,) = name_parts(names, checks)
    cols = part["columns"]
    signs = {r[cols.index("name")]: r[cols.index("pinyin")] for r in part["rows"]}
    assert signs["东涌路"].endswith(" Lu")  # proper and generic written apart (人民路 → Renmin Lu)
    assert signs["古榕村"] == "Gurongcun"  # a natural village is one word


def test_names_that_fit_in_one_part_travel_in_the_page(tiny, basemap):
    names, checks = prepare_names(tiny["names"], tiny_findings(tiny["names"]))
    (part,) = name_parts(names, checks)
    common = dict(
        district=tiny["district"],
        names=names,
        checks=checks,
        basemap=basemap,
        shape_tiles=SHAPE_TILES,
        name_tiles=NAME_TILES,
    )
    one = build_placenames_map(**common, names_url=NAMES_URL, parts=1, only_part=js_json(part)).html
    block = re.search(r'<script type="application/json" id="mq-pn-names">(.*?)</script>', one, re.S)
    assert block is not None and json.loads(block.group(1)) == json.loads(json.dumps(part))
    # several parts: none in the page, the browser fetches them
    two = build_placenames_map(**common, names_url=NAMES_URL, parts=2, only_part=js_json(part)).html
    assert 'id="mq-pn-names"' not in two


def test_placename_parts_hold_every_name_once_with_its_findings(tiny):
    names, checks = prepare_names(tiny["names"], tiny_findings(tiny["names"]))
    parts = name_parts(names, checks, size=2)
    assert len(parts) == -(-len(names) // 2) and all(len(p["rows"]) <= 2 for p in parts)
    rows = [dict(zip(p["columns"], r, strict=True)) for p in parts for r in p["rows"]]
    assert sorted(r["id"] for r in rows) == sorted(names["name_id"])
    for p in parts:  # a row's findings point into its own part's kinds
        for r in p["rows"]:
            for kind, _detail in r[p["columns"].index("findings")]:
                assert 0 <= kind < len(p["kinds"])
    by_id = {r["id"]: r for r in rows}
    for i, n in names.iterrows():
        assert by_id[n["name_id"]]["result"] == checks.at[i, "result"]
        assert len(by_id[n["name_id"]]["findings"]) == len(checks.at[i, "findings"])


def test_a_road_registered_in_pieces_is_one_feature_on_the_map(tiny):
    # the registry counts the pieces of one road once (same piece): no duplicate, as in the XLSX report
    names = tiny["names"]
    town = {4: "东涌街道", 5: "西岭镇", 9: "西岭镇"}
    frame = names.set_index("name_id").assign(
        town=names["area_id"].map(town).to_numpy(), district="澄湾区", piece=0
    )
    res = check_results(names, registry_findings(frame))
    by_name = dict(zip(names["name"] + names["name_id"].astype(str), res["result"], strict=True))
    assert by_name["东涌路21"] != "duplicate" and by_name["东涌路24"] != "duplicate"
    assert by_name["曼哈顿花园23"] == "dayangguai"


def test_rules_table_flags_every_code_cited_as_da_yang_guai():
    # A code whose cited rule is 民发〔2018〕146号 “大”/“洋”/“怪”/“重” carries that flag
    # (rules.csv column flag).
    from geo.placenames.tables import default_tables

    for code, rule in default_tables().rules.items():
        cited = re.findall(r"146号（“(.)”", rule.rule)
        assert rule.flag == (cited[0] if cited else "other"), (code, rule.rule, rule.flag)


@pytest.mark.parametrize(
    ("code", "detail", "shown"),
    [
        ("foreign", "曼哈顿：foreign place name (Manhattan)", "含“曼哈顿”"),
        (
            "exaggerated",
            "中央：民发〔2018〕146号 列举; 田中央 (a village in the middle of fields) "
            "is a known harmless hit",
            "含“中央”（民发〔2018〕146号 列举）",
        ),
        ("generic_mismatch", "“广场”(square) ∉ 建筑物(building|estate)", "“建筑物”类地名不宜使用通名“广场”"),
        (
            "generic_oversize",
            "“城” rank 5 > 3 (住宅区（小区）)",
            "通名“城”规模等级 5，超过该类地名上限 3（住宅区（小区））",
        ),
        (
            "homophone",
            "范围 scope city_or_town:澄湾区：同音 xinhualu：新华路、新桦路",
            "范围：市(镇)内 澄湾区：同音：新华路、新桦路",
        ),
        ("latin_or_digit", "EE", "含字母或数字“EE”"),
        ("rare_char", "甽", "含生僻字“甽”"),
        ("odd", "something new in English only", "含“something new in English only”"),
    ],
)
def test_finding_details_are_shown_in_chinese_only(code, detail, shown):
    from geo.placenames.report import detail_zh

    got = detail_zh(code, detail)
    if code == "odd":  # an unknown English text is left out, never shown
        assert got == ""
    else:
        assert got == shown


def test_planner_page_carries_communities_circles_and_capacity_units(tiny, basemap):
    types = tiny["types"].assign(
        capacity_unit=["学位 seats", "床位 beds", "名额 places"],
        capacity_basis=["children", None, "elderly"],
        basis_per_unit=[5, None, 1],
    )
    communities = tiny["areas"][tiny["areas"]["level"] == "community"].assign(urban=[True, False])
    html = build_planner_map(
        district=tiny["district"],
        facility_types=types,
        basemap=basemap,
        run={"run_id": 7, "finished_at": None},
        communities=communities,
    ).html
    data = json.loads(re.search(r"minqing\.planner\(\w+, \{.*?\}, (\{.*\})\);", html, re.S).group(1))
    feats = data["communities"]["features"]
    assert sorted((f["properties"]["id"], f["properties"]["n"], f["properties"]["u"]) for f in feats) == [
        (4, "东涌社区", True),
        (5, "西岭村", False),
    ]
    classes = {c["code"]: c["class"] for c in data["circles"]}
    assert classes == {
        "all": None,
        "5min": "urban",
        "10min": "urban",
        "15min": "urban",
        "village": "rural",
        "township": "rural",
    }
    units = {t["code"]: (t["unit"], t["basis"], t["per_unit"]) for t in data["types"]}
    assert units == {
        "kindergarten": ("学位", "children", 5.0),
        "health_center": ("床位", None, None),
        "elderly_daycare": ("名额", "elderly", 1.0),
    }
    assert 'id="mq-hatch-gap"' in html  # the gap hatching pattern the SVG gap layer fills with


# ---------------------------------------------------------------- markup in the data stays text

PAYLOAD = '</title><script>window.__xss=1</script>"><img src=x onerror=window.__xss=2>'


class _Elements(HTMLParser):
    """Every start tag with its attributes, the <title> text, the text of each inline <script> and of each
    JSON data block (``<script type="application/json">``, never run)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.title = ""
        self.scripts: list[str] = []
        self.data_blocks: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        inline = tag == "script" and not a.get("src")
        self._in = "title" if tag == "title" else None
        if inline and a.get("type") == "application/json":
            self._in = "data"
            self.data_blocks.append("")
        elif inline:
            self._in = "script"
            self.scripts.append("")

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "script":
            self.scripts[-1] += data
        elif self._in == "data":
            self.data_blocks[-1] += data

    def handle_endtag(self, tag):
        self._in = None


@pytest.fixture(scope="module")
def hostile_pages(tiny, basemap):
    district = {**tiny["district"], "name": "澄湾区" + PAYLOAD}
    facilities = tiny["facilities"].assign(
        name=lambda f: f["name"] + PAYLOAD,
        address=PAYLOAD,
        phone=PAYLOAD,
        opening_hours=PAYLOAD,
        fees=PAYLOAD,
    )
    names = tiny["names"].assign(
        name=lambda n: n["name"] + PAYLOAD, meaning=PAYLOAD, approval=PAYLOAD, pinyin=PAYLOAD
    )
    types = tiny["types"].assign(name_zh=lambda t: t["name_zh"] + PAYLOAD)
    return {
        "public": build_public_map(
            district=district,
            facilities=facilities,
            facility_types=types,
            grid_tiles=GRID_TILES,
            basemap=basemap,
        ),
        "planner": build_planner_map(
            district=district,
            facility_types=types,
            basemap=basemap,
            run={"run_id": 7, "finished_at": None},
            communities=tiny["areas"][tiny["areas"]["level"] == "community"].assign(
                urban=[True, False], name=lambda a: a["name"] + PAYLOAD
            ),
        ),
        "placenames": placenames_page(district, names, basemap),
    }


@pytest.mark.parametrize("page", ["public", "planner", "placenames"])
def test_markup_in_the_data_stays_text(hostile_pages, page):
    from maps.page import script_hash

    built = hostile_pages[page]
    parsed = _Elements()
    parsed.feed(built.html)
    assert parsed.title.startswith("民情地图 · 澄湾区" + PAYLOAD)  # the whole payload is the title's text
    assert [t for t, _ in parsed.tags].count("title") == 1
    assert not [(t, a) for t, a in parsed.tags if t == "img" or any(k.startswith("on") for k in a)]
    # The inline scripts are exactly the ones the page allows (the payload added none) ...
    assert len(parsed.scripts) == len(built.script_hashes) == 2
    assert [script_hash(s) for s in parsed.scripts] == list(built.script_hashes)
    # ... and the payload sits in the data as an escaped JSON string, never as markup.
    assert not any(PAYLOAD in s or "</script" in s.lower() or "<!--" in s for s in parsed.scripts)
    assert js_json(PAYLOAD).strip('"') in parsed.scripts[1] + "".join(parsed.data_blocks)
    # Data blocks are JSON (the payload a plain string in it), with nothing that could end or open markup.
    for block in parsed.data_blocks:
        assert "</script" not in block.lower() and "<!--" not in block and "<" not in block
        json.loads(block)


def test_facility_parts_split_the_rows_in_order():
    from maps.public import facility_parts

    rows = [[i, f"设施{i}"] for i in range(5)]
    assert facility_parts(rows, size=2) == [rows[0:2], rows[2:4], rows[4:5]]
    assert facility_parts(rows, size=5) == [rows]
    assert facility_parts([], size=2) == [[]]
