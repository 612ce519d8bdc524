"""Catchment areas of a coverage run for one facility type (planners only): ``geo.catchments``
over the homes each facility serves (``layers.catchments``), clipped to the district, with the
same linking distance as the run's gap areas (``gap_link_m``, default 250 m)."""

from __future__ import annotations

import geopandas as gpd
import shapely
from sqlalchemy.orm import Session

from geo.catchments import catchment_areas
from layers import catchments, store

DEFAULT_LINK_M = 250.0


def catchments_table(s: Session, run_id: int, type_code: str) -> gpd.GeoDataFrame:
    """One polygon per facility of ``type_code`` that serves anyone, with its name and load (EPSG:4326):
    ``facility_id, name, points, population, households, elderly, children, capacity, load``."""
    outline = catchments.district_outline(s)
    clip = shapely.from_wkb(bytes(outline.wkb.iloc[0])) if len(outline) and outline.wkb.iloc[0] is not None else None
    params = (store.run(s, run_id) or {}).get("params") or {}
    link_m = float(params.get("gap_link_m") or DEFAULT_LINK_M)
    areas = catchment_areas(catchments.catchment_homes(s, run_id, type_code), link_m=link_m, clip=clip)
    facilities = store.facility_results(s, run_id, type_code=type_code)[["facility_id", "name", "capacity", "load"]]
    out = areas.merge(facilities, on="facility_id", how="left")
    columns = ["facility_id", "name", "points", "population", "households", "elderly", "children", "capacity", "load"]
    return gpd.GeoDataFrame(out[columns], geometry=out.geometry.to_numpy(), crs=4326)
