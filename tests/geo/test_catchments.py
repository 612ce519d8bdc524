"""Catchment areas: one polygon per facility around the homes it serves (metric, clipped)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from geo.crs import to_metric
from geo.gaps import catchment_areas

LON0, LAT0 = 113.30, 22.60
M = 1 / 111_320  # ≈ degrees per metre at the equator (enough for a test of a few hundred metres)


def _homes(rows):
    return pd.DataFrame(
        rows, columns=["facility_id", "lon", "lat", "population", "households", "elderly", "children"]
    )


def test_one_polygon_per_facility_holding_its_homes():
    homes = _homes(
        [
            (7, LON0, LAT0, 10, 4, 2, 1),
            (7, LON0 + 100 * M, LAT0, 20, 8, 3, 2),  # one group, 100 m apart
            (7, LON0 + 900 * M, LAT0, 5, 2, 1, 0),  # a second group of facility 7
            (3, LON0, LAT0 + 2000 * M, 8, 3, 1, 1),
        ]
    )
    out = catchment_areas(homes, link_m=250)
    assert out.facility_id.tolist() == [3, 7]
    assert out.set_index("facility_id").population.to_dict() == {3: 8, 7: 35}
    assert out.set_index("facility_id").points.to_dict() == {3: 1, 7: 3}
    seven = out.set_index("facility_id").geometry[7]
    assert seven.geom_type == "MultiPolygon" and len(seven.geoms) == 2  # homes 800 m apart are not joined
    assert all(seven.contains(shapely.Point(x, y)) for x, y in zip(homes.lon[:3], homes.lat[:3], strict=True))
    # each home lies well inside its polygon (the link/2 buffer, less the hull's simplification)
    metric = to_metric(out.set_index("facility_id").geometry)
    pts = gpd.GeoSeries(shapely.points(homes.lon[:3], homes.lat[:3]), crs=4326).to_crs(metric.crs)
    assert all(metric[7].boundary.distance(p) >= 90 for p in pts)


def test_clipped_to_the_district_and_empty_input():
    homes = _homes([(1, LON0, LAT0, 10, 4, 2, 1)])
    district = shapely.box(LON0, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01)  # the home is on its west edge
    out = catchment_areas(homes, clip=district)
    assert out.geometry.iloc[0].within(district.buffer(1e-9))
    assert out.geometry.iloc[0].area < catchment_areas(homes).geometry.iloc[0].area * 0.6
    empty = catchment_areas(homes.iloc[:0])
    assert empty.empty and list(empty.columns) == [
        "facility_id",
        "points",
        "population",
        "households",
        "elderly",
        "children",
        "geometry",
    ]
