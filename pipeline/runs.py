"""Which coverage run a planner tool reads: the one asked for, else the newest base run."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy.orm import Session

from geo.coverage import service_tiers
from geo.gaps import catchment_areas
from layers import queries, store
from layers.errors import NotFound, ValidationFailed

NO_RUN_FIX = "run `minqing coverage run` or POST /coverage/runs first"


def resolve_run(s: Session, run_id: int | None = None) -> dict[str, Any]:
    """The finished run ``run_id`` (default: the latest base run) with ``stale`` added.

    Raises ``NotFound`` naming the id (or the lack of any run) and the fix.
    """
    row = store.latest_run(s) if run_id is None else store.run(s, run_id)
    if row is None:
        what = "no coverage run exists yet" if run_id is None else f"coverage run {run_id} does not exist"
        raise NotFound(f"{what}: {NO_RUN_FIX}")
    if row["status"] != "done":
        raise NotFound(
            f"coverage run {row['run_id']} is {row['status']}, not finished: use a finished run or "
            f"{NO_RUN_FIX}"
        )
    from pipeline.coverage import is_stale  # late: coverage imports the settings and geo

    return {**row, "stale": is_stale(s, row)}


def known_types(s: Session, type_code: str | None, *, tiered: bool = False) -> str | None:
    """``type_code`` when it is a stored facility type (``tiered``: one with a service circle); None
    passes. Raises ``ValidationFailed`` (422) naming the known codes."""
    if type_code is None:
        return None

    types = queries.facility_types(s)
    codes = sorted(set(service_tiers(types).type_code) if tiered else set(types.code))
    if type_code not in codes:
        what = "facility type with a service circle" if tiered else "facility type"
        raise ValidationFailed(f"unknown {what} {type_code!r}: known types are {', '.join(codes)}")
    return type_code


CATCHMENT_LINK_M = 250.0
"""Linking distance of catchment areas when the run did not record ``gap_link_m``."""


def catchments_table(s: Session, run_id: int, type_code: str) -> gpd.GeoDataFrame:
    """One polygon per facility of ``type_code`` that serves anyone, with its name and load (EPSG:4326):
    ``facility_id, name, points, population, households, elderly, children, capacity, load``."""
    outline = queries.district_outline(s)
    clip = (
        shapely.from_wkb(bytes(outline.wkb.iloc[0]))
        if len(outline) and outline.wkb.iloc[0] is not None
        else None
    )
    params = (store.run(s, run_id) or {}).get("params") or {}
    link_m = float(params.get("gap_link_m") or CATCHMENT_LINK_M)
    areas = catchment_areas(store.catchment_homes(s, run_id, type_code), link_m=link_m, clip=clip)
    facilities = store.facility_results(s, run_id, type_code=type_code)[
        ["facility_id", "name", "capacity", "load"]
    ]
    out = areas.merge(facilities, on="facility_id", how="left")
    columns = [
        "facility_id",
        "name",
        "points",
        "population",
        "households",
        "elderly",
        "children",
        "capacity",
        "load",
    ]
    return gpd.GeoDataFrame(out[columns], geometry=out.geometry.to_numpy(), crs=4326)
