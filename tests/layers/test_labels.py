"""layers.labels: place labels of points and polygons against hand-placed areas, streets and road names.

A town with two communities side by side (west 西关社区, east 东关社区), an east-west street 兴业路,
a north-south street 文昌路 crossing it, and a registered road name 滨江路 with no street under it.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from layers import labels, placenames
from layers.db import session

X0, Y0 = 113.30, 22.60  # the crossing of 兴业路 and 文昌路
M = 1 / 111_000  # about one metre of latitude, in degrees


def _box(x0, y0, x1, y1) -> str:
    return f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


@pytest.fixture(scope="module")
def db(fresh_db):
    url = fresh_db("labels")
    with session(url, actor="pytest") as s:
        areas = [
            (1, None, "district", "测试区", _box(113.2, 22.5, 113.4, 22.7)),
            (2, 1, "town", "鹭田镇", _box(113.2, 22.5, 113.4, 22.7)),
            (3, 2, "community", "西关社区", _box(113.2, 22.5, X0 + 0.005, 22.7)),
            (4, 2, "community", "东关社区", _box(X0 + 0.005, 22.5, 113.4, 22.7)),
        ]
        for i, parent, level, name, wkt in areas:
            s.execute(
                text(
                    "INSERT INTO areas (area_id, parent_id, level, code, name, geom) "
                    "VALUES (:i, :p, :l, :c, :n, ST_GeomFromText(:g, 4326))"
                ),
                {"i": i, "p": parent, "l": level, "c": f"44{i:010d}", "n": name, "g": wkt},
            )
        nodes = {
            1: (X0 - 0.01, Y0),
            2: (X0, Y0),
            3: (X0 + 0.01, Y0),
            4: (X0, Y0 - 0.01),
            5: (X0, Y0 + 0.01),
            6: (X0 + 0.02, Y0 + 0.02),
            7: (X0 + 0.02, Y0 + 0.03),
        }
        for i, (x, y) in nodes.items():
            s.execute(
                text("INSERT INTO network_nodes (node_id, geom) VALUES (:i, ST_Point(:x, :y, 4326))"),
                {"i": i, "x": x, "y": y},
            )
        edges = [
            (1, 1, 2, "兴业路"),
            (2, 2, 3, "兴业路"),
            (3, 4, 2, "文昌路"),
            (4, 2, 5, "文昌路"),
            (5, 6, 7, None),
        ]
        for i, u, v, name in edges:
            (x1, y1), (x2, y2) = nodes[u], nodes[v]
            s.execute(
                text(
                    "INSERT INTO network_edges (edge_id, u, v, length_m, highway, name, geom) VALUES "
                    "(:i, :u, :v, 1000, 'residential', :n, ST_MakeLine(ST_Point(:x1, :y1, 4326), "
                    "ST_Point(:x2, :y2, 4326)))"
                ),
                {"i": i, "u": u, "v": v, "n": name, "x1": x1, "y1": y1, "x2": x2, "y2": y2},
            )
        # a registered road with no street under it, 600 m north of 兴业路
        s.execute(
            text(
                "INSERT INTO place_names (name_id, name, category, status, geom) VALUES "
                "(1, '滨江路', 'road', 'standard', ST_GeomFromText(:g, 4326)), "
                "(2, '旧街', 'road', 'historical', ST_GeomFromText(:h, 4326))"
            ),
            {
                "g": f"LINESTRING({X0 - 0.003} {Y0 + 600 * M}, {X0 - 0.001} {Y0 + 600 * M})",
                "h": f"LINESTRING({X0 - 0.003} {Y0 + 20 * M}, {X0 - 0.001} {Y0 + 20 * M})",
            },
        )
    return url


CASES = [
    # (lon, lat, label)
    (X0 - 0.004, Y0 + 80 * M, "鹭田镇 西关社区 兴业路以北"),
    (X0 - 0.004, Y0 - 80 * M, "鹭田镇 西关社区 兴业路以南"),
    (X0 + 0.0009, Y0 - 0.006, "鹭田镇 西关社区 文昌路以东"),
    (X0 - 0.0009, Y0 + 0.003, "鹭田镇 西关社区 文昌路以西"),
    (X0 + 0.008, Y0 + 5 * M, "鹭田镇 东关社区 兴业路沿线"),
    (X0 + 3 * M, Y0 + 4 * M, None),  # at the crossing: either road first, the other named
    (X0 - 0.002, Y0 + 560 * M, "鹭田镇 西关社区 滨江路以南"),  # the registered name, nearer than any street
    (X0 + 0.09, Y0 + 0.09, "鹭田镇 东关社区"),  # no named road within 1000 m (the nearest street has no name)
]


def test_labels_name_town_community_and_the_side_of_the_nearest_road(db):
    lon, lat = np.array([c[0] for c in CASES]), np.array([c[1] for c in CASES])
    with session(db) as s:
        out = labels.place_labels(s, lon, lat)
        far = labels.place_labels(s, [113.45], [22.60], max_m=20_000)  # outside the district, 14 km east
        too_far = labels.place_labels(s, [113.45], [22.60])
    for (x, y, expected), label in zip(CASES, out.label, strict=True):
        if expected is None:
            assert label in ("鹭田镇 西关社区 兴业路与文昌路路口", "鹭田镇 西关社区 文昌路与兴业路路口"), (
                x,
                y,
                label,
            )
        else:
            assert label == expected, (x, y)
    assert list(out.position[:5]) == ["以北", "以南", "以东", "以西", "沿线"]
    assert out.road_source[6] == "registry" and out.road_category[6] == "road"
    assert "旧街" not in set(out.road.dropna())  # historical names never label
    assert far.label[0] == "兴业路以东" and far.town.isna()[0] and far.community.isna()[0]
    assert too_far.label[0] == "" and too_far.road.isna()[0]


def _brute_nearest(s, lon: float, lat: float) -> tuple[str | None, float | None]:
    """Every named street and current registered road ranked by its spheroid distance (no index)."""
    row = s.execute(
        text(
            "SELECT name, round(d::numeric, 1)::float8 FROM ("
            " SELECT name, ST_Distance(geom::geography, ST_Point(:x, :y, 4326)::geography) AS d, "
            "0 AS src, edge_id AS id "
            " FROM network_edges WHERE coalesce(name, '') <> '' UNION ALL "
            " SELECT name, ST_Distance(geom::geography, ST_Point(:x, :y, 4326)::geography), 1, name_id "
            "FROM place_names "
            " WHERE status <> 'historical' AND category IN ('road', 'lane', 'trunk_road')) c "
            "WHERE d <= 1000 ORDER BY round(d::numeric, 1), src, id LIMIT 1"
        ),
        {"x": lon, "y": lat},
    ).first()
    return (row[0], row[1]) if row else (None, None)


def test_labels_find_the_nearest_road_as_a_brute_force_search_and_reverse_does(db):
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(X0 - 0.012, X0 + 0.012, 60), rng.uniform(Y0 - 0.004, Y0 + 0.012, 60)
    with session(db) as s:
        out = labels.place_labels(s, lon, lat)
        for i in range(len(lon)):
            got = out.iloc[i]
            road, distance = _brute_nearest(s, lon[i], lat[i])
            assert (road, distance) == (
                (got.road, got.road_distance_m) if isinstance(got.road, str) else (None, None)
            )
            reverse = placenames.reverse(s, lon[i], lat[i])
            assert (reverse["road"] or {}).get("name") == road
            areas = {a["level"]: a["name"] for a in reverse["areas"]}
            assert (areas.get("town"), areas.get("community")) == (got.town, got.community)
    assert out.road.isna().sum() > 0 and out.road.notna().sum() > 30  # both kinds of point were tried


def test_polygons_are_labelled_at_a_point_inside_them(db):
    ring = shapely.Polygon(
        [
            (X0 - 0.004, Y0 + 0.001),
            (X0 - 0.001, Y0 + 0.001),
            (X0 - 0.001, Y0 + 0.002),
            (X0 - 0.0035, Y0 + 0.002),
            (X0 - 0.0035, Y0 + 0.004),
            (X0 - 0.004, Y0 + 0.004),
        ]
    )
    u_shape = ring  # an L: its centroid still lies inside
    # a C: centroid outside
    c = shapely.Polygon(
        [
            (X0 + 0.006, Y0 + 0.001),
            (X0 + 0.009, Y0 + 0.001),
            (X0 + 0.009, Y0 + 0.0013),
            (X0 + 0.0063, Y0 + 0.0013),
            (X0 + 0.0063, Y0 + 0.0037),
            (X0 + 0.009, Y0 + 0.0037),
            (X0 + 0.009, Y0 + 0.004),
            (X0 + 0.006, Y0 + 0.004),
        ]
    )
    lon, lat = labels.label_points([u_shape, c])
    assert shapely.contains_xy(u_shape, lon[0], lat[0]) and shapely.contains_xy(c, lon[1], lat[1])
    with session(db) as s:
        out = labels.polygon_labels(s, [u_shape, c])
    assert list(out.label) == ["鹭田镇 西关社区 兴业路以北", "鹭田镇 东关社区 兴业路以北"]


def test_no_points_no_rows(db):
    with session(db) as s:
        assert labels.place_labels(s, [], []).empty


@pytest.mark.parametrize(
    ("parts", "text_"),
    [
        (("鹭田镇", "西关社区", "兴业路", "以南", None), "鹭田镇 西关社区 兴业路以南"),
        (("鹭田镇", None, "兴业路", "路口", "文昌路"), "鹭田镇 兴业路与文昌路路口"),
        ((None, None, None, None, None), ""),
        (("鹭田镇", float("nan"), None, None, None), "鹭田镇"),
    ],
)
def test_label_text(parts, text_):
    assert labels.label_text(*parts) == text_
