"""Catchment areas: where the residents a facility serves live, as one polygon per facility.

A facility's catchment is the covered residences whose nearest facility of the type it is (the
residents its catchment counts add up). The area drawn for it is built exactly like a gap area
(``geo.gaps``): its homes within ``link_m`` metres of each other form groups, each group's
concave hull buffered by ``link_m / 2``, all of a facility's groups united; then clipped to the
district's land. So it shows the streets its people live along, not a circle around the facility,
and two catchments touch or overlap only where their homes are closer than ``link_m``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84
from geo.gaps import MEASURES, gaps_of, point_index

CATCHMENT_COLUMNS = ["facility_id", "points", *MEASURES, "geometry"]


def catchment_areas(homes: pd.DataFrame, *, link_m: float = 250.0, hull_ratio: float = 0.3,
                    clip: shapely.Geometry | None = None) -> gpd.GeoDataFrame:
    """One (Multi)Polygon per facility around the homes it serves.

    Parameters
    ----------
    homes : one row per served residence: ``facility_id``, ``lon``, ``lat`` (degrees, EPSG:4326) and the
        counts ``population``, ``households``, ``elderly``, ``children``.
    link_m : homes closer than this (metres) belong to one group.
    hull_ratio : concave-hull ratio of a group (0 tightest, 1 convex), see ``shapely.concave_hull``.
    clip : area (EPSG:4326) the polygons are cut to, e.g. the district; None keeps them whole.

    Returns
    -------
    GeoDataFrame (EPSG:4326): ``facility_id``, ``points`` (homes), the summed counts and ``geometry``,
    ordered by facility id.
    """
    if len(homes) == 0:
        return gpd.GeoDataFrame(columns=CATCHMENT_COLUMNS, geometry="geometry", crs=WGS84)
    homes = homes.sort_values("facility_id", kind="stable").reset_index(drop=True)
    ids, group = np.unique(homes.facility_id.to_numpy(np.int64), return_inverse=True)
    index = point_index(homes.lon.to_numpy(float), homes.lat.to_numpy(float), link_m=link_m)
    parts = gaps_of(index, np.arange(len(homes)), homes[MEASURES], group=group, hull_ratio=hull_ratio)
    whole = parts.groupby("group").agg({"points": "sum", **dict.fromkeys(MEASURES, "sum")})
    shapes = parts.groupby("group").geometry.apply(lambda g: shapely.union_all(g.to_numpy()))
    geometry = shapes.reindex(whole.index).to_numpy()
    if clip is not None:
        geometry = shapely.intersection(geometry, clip)
    out = whole.reset_index(drop=True).assign(facility_id=ids[whole.index.to_numpy()])
    return gpd.GeoDataFrame(out[CATCHMENT_COLUMNS[:-1]], geometry=geometry, crs=WGS84)
