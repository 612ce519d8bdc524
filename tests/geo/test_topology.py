"""Topology checks on hand-built trees; sizes checked against geodesic polygon areas (pyproj.Geod)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from pyproj import Geod

from geo.topology import absorb_slivers, check_topology

GEOD = Geod(ellps="WGS84")


def geodesic_m2(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def tree(rows) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        [{"area_id": a, "parent_id": p, "level": lvl, "geometry": g} for a, p, lvl, g in rows], crs=4326
    )


TOWN = shapely.box(113.00, 22.00, 113.02, 22.02)
GAP = shapely.box(113.0100, 22.00, 113.0102, 22.02)  # ~20 m × 2.2 km between the two communities
OVERHANG = shapely.box(113.010, 22.00, 113.0100 + 0.0002, 22.01)  # g1 pokes into the gap strip
OVERLAP = shapely.box(113.005, 22.005, 113.008, 22.008)


def sample() -> gpd.GeoDataFrame:
    bowtie = shapely.Polygon([(113.001, 22.011), (113.002, 22.012), (113.002, 22.011), (113.001, 22.012)])
    return tree(
        [
            (1, None, "town", TOWN),
            (10, 1, "community", shapely.box(113.00, 22.00, 113.01, 22.02)),
            (11, 1, "community", shapely.box(113.0102, 22.00, 113.02, 22.02)),
            (100, 10, "grid_middle", shapely.box(113.00, 22.00, 113.0102, 22.01)),
            (101, 10, "grid_middle", shapely.box(113.00, 22.01, 113.01, 22.02)),
            (102, 10, "grid_middle", OVERLAP),
            (110, 11, "grid_middle", shapely.box(113.0102, 22.00, 113.02, 22.02)),
            (1000, 101, "grid_small", bowtie),
            (1001, 10, "grid_small", shapely.box(113.003, 22.013, 113.004, 22.014)),
        ]
    )


def test_every_kind_is_found_with_its_size():
    problems = check_topology(sample())
    by_kind = {k: g for k, g in problems.groupby("kind")}
    assert set(by_kind) == {"invalid", "wrong_parent_level", "overlap", "outside_parent", "gap"}
    assert by_kind["invalid"]["area_id"].tolist() == [1000]
    assert "intersection" in by_kind["invalid"]["detail"].iat[0].lower()
    assert by_kind["wrong_parent_level"]["area_id"].tolist() == [1001]

    overlap = by_kind["overlap"].iloc[0]
    assert {overlap.area_id, overlap.other_id} == {100, 102}
    assert overlap.area_m2 == pytest.approx(geodesic_m2(OVERLAP), rel=0.005)

    outside = by_kind["outside_parent"].iloc[0]
    assert (outside.area_id, outside.other_id) == (100, 10)
    assert outside.area_m2 == pytest.approx(geodesic_m2(OVERHANG), rel=0.005)

    gaps = by_kind["gap"]
    town_gap = gaps[gaps["area_id"] == 1].iloc[0]
    assert town_gap.level == "community"
    assert town_gap.area_m2 == pytest.approx(geodesic_m2(GAP), rel=0.005)
    assert town_gap.geometry.symmetric_difference(GAP).area < 1e-12


def test_sizes_below_the_threshold_are_not_reported():
    problems = check_topology(sample(), min_area_m2=geodesic_m2(GAP) * 1.01)
    assert not (problems["kind"] == "gap").any()
    assert (problems["kind"] == "overlap").any()  # the overlap is larger than the gap


def test_a_clean_tiling_has_no_problems():
    clean = tree(
        [
            (1, None, "community", shapely.box(113.0, 22.0, 113.02, 22.02)),
            (2, 1, "grid_middle", shapely.box(113.0, 22.0, 113.01, 22.02)),
            (3, 1, "grid_middle", shapely.box(113.01, 22.0, 113.02, 22.02)),
        ]
    )
    assert check_topology(clean).empty


def test_holes_between_top_level_areas_are_gaps():
    ring = [
        shapely.box(113.0, 22.0, 113.03, 22.01),
        shapely.box(113.0, 22.02, 113.03, 22.03),
        shapely.box(113.0, 22.01, 113.01, 22.02),
        shapely.box(113.02, 22.01, 113.03, 22.02),
    ]
    problems = check_topology(tree([(i + 1, None, "town", g) for i, g in enumerate(ring)]))
    assert problems["kind"].tolist() == ["gap"]
    hole = shapely.box(113.01, 22.01, 113.02, 22.02)
    assert problems["area_m2"].iat[0] == pytest.approx(geodesic_m2(hole), rel=0.005)


def test_absorb_slivers_repairs_small_problems_and_keeps_big_ones():
    sliver_gap = shapely.box(113.01, 22.0, 113.01001, 22.02)  # ~1 m wide, ~2,300 m²
    areas = tree(
        [
            (1, None, "community", shapely.box(113.0, 22.0, 113.02, 22.02)),
            (2, 1, "grid_middle", shapely.box(113.0, 22.0, 113.01, 22.02)),
            (3, 1, "grid_middle", shapely.box(113.01001, 22.0, 113.02, 22.02)),
            (4, None, "community", shapely.box(113.03, 22.0, 113.05, 22.02)),
            (5, 4, "grid_middle", shapely.box(113.03, 22.0, 113.04001, 22.02)),  # 1 m into its neighbour
            (6, 4, "grid_middle", shapely.box(113.04, 22.0, 113.05, 22.02)),
            (7, 4, "grid_middle", shapely.box(113.049, 22.0, 113.0505, 22.001)),  # overlap + overhang, larger
        ]
    )
    limit = geodesic_m2(sliver_gap) * 2
    fixed, absorbed = absorb_slivers(areas, max_m2=limit)
    assert set(absorbed["kind"]) == {"gap", "overlap"}
    remaining = check_topology(fixed)
    assert not ((remaining["area_m2"] <= limit) & (remaining["kind"] != "invalid")).any()
    assert set(remaining["kind"]) == {"overlap", "outside_parent"}  # area 7's are above the limit
    assert fixed.geometry.iloc[1].area + fixed.geometry.iloc[2].area == pytest.approx(0.01 * 0.02 * 2)
    assert fixed.geometry.iloc[0].equals(areas.geometry.iloc[0])  # untouched areas stay as they were
    assert fixed.geometry.geom_type.iloc[1] == "MultiPolygon"
