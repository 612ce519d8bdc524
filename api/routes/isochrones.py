"""Isochrones: the street area reachable within some minutes, and the facilities inside it.

The computation is ``geo.isochrone.isochrones`` on the cached network of the chosen travel
profile; this module parses, checks the point lies in the district, and shapes GeoJSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Annotated

import numpy as np
import shapely
from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from api.deps import OptionalUser, PrivacyDep, SessionDep, role_of
from api.errors import ApiError
from api.schemas.common import GEOJSON, GeoJSONResponse, Lat, Lon, errors
from api.schemas.isochrones import IsochroneCollection
from api.settings import coverage_settings
from geo.errors import UnreachablePointError
from geo.isochrone import isochrones
from layers import lookup
from layers.errors import NotFound
from layers.features import data_token

router = APIRouter(tags=["等时圈 isochrones"])
MAX_MINUTES = 60.0

Minutes = Annotated[str, Query(description="分钟 minutes, one value or a comma list (≤ 6, each 1..60)",
                               examples=["15", "5,10,15"], max_length=60, pattern=r"^[0-9., ]+$")]
ProfileName = Annotated[str, Query(description="出行方式 travel profile from data/profiles.csv",
                                   examples=["walk"], max_length=40, pattern=r"^[A-Za-z0-9_]+$")]


class Unprocessable(ApiError):
    status, code = 422, "unprocessable_point"


def parse_minutes(raw: str) -> tuple[float, ...]:
    """``"5,10,15"`` → (5.0, 10.0, 15.0); 400 naming the bad value otherwise."""
    fix = "give minutes as one number or a comma list, each 1..60, e.g. minutes=5,10,15"
    try:
        values = sorted({float(p) for p in raw.split(",") if p.strip()})
    except ValueError:
        raise ApiError(f"minutes={raw!r} is not a number or a comma list of numbers", fix=fix) from None
    if not values or len(values) > 6 or not all(math.isfinite(v) and 1 <= v <= MAX_MINUTES for v in values):
        raise ApiError(f"minutes={raw!r} must hold 1 to 6 values between 1 and {MAX_MINUTES:g}", fix=fix)
    return tuple(values)


def require_in_district(s: Session, lon: float, lat: float) -> None:
    inside = lookup.point_in_district(s, lon, lat)
    if inside is False:
        swapped = lookup.point_in_district(s, lat, lon) if abs(lon) <= 90 else False
        hint = " 经纬度似乎写反了 (lon and lat look swapped)" if swapped else ""
        raise Unprocessable(
            f"点位不在本区范围内{hint}: the point ({lon}, {lat}) lies outside the district",
            fix="send lon (longitude) and lat (latitude) in WGS84 degrees of a point inside the district")


ISOCHRONE_INPUTS = ("network_nodes", "network_edges", "facilities", "facility_types", "areas")
"""The layers an isochrone response depends on: it is cached until one of them changes."""


def _cached(request: Request, s: Session, make: Callable[[], Response]) -> Response:
    # Many viewers asking for the same isochrone at once compute it once (single flight).
    key = ("isochrone", str(request.url), data_token(s, ISOCHRONE_INPUTS))
    body = request.app.state.engines.responses.get_or_build(key, lambda: bytes(make().body))
    return Response(body, media_type=GEOJSON)


def _compute(request: Request, s: Session, lon: float, lat: float, minutes: tuple[float, ...], profile: str):
    network = request.app.state.engines.network(s, profile)
    facilities = lookup.facility_points(s)
    snap_max_m = coverage_settings().snap_max_m
    try:
        result = isochrones(network, lon, lat, minutes=minutes, points=facilities[["lon", "lat"]],
                            max_distance_m=snap_max_m)
    except UnreachablePointError as e:
        raise Unprocessable(f"点位距离可通行道路超过 {snap_max_m:g} 米: {e}",
                            fix="choose a point on or next to a street") from None
    reached = facilities.assign(time_s=result.points["time_s"]).dropna(subset=["time_s"])
    reached = reached.sort_values(["time_s", "facility_id"])
    return result.polygons, reached


def _response(polygons, reached, *, profile: str, privacy, role, origin: dict) -> Response:
    features = []
    for minutes, geom in zip(polygons["minutes"], polygons.geometry, strict=True):
        geometry = shapely.to_geojson(shapely.set_precision(geom, 1e-6)) if geom is not None else "null"
        props = json.dumps({"minutes": float(minutes), "profile": profile, "kind": "isochrone"})
        features.append(f'{{"type":"Feature","id":"{minutes:g}","geometry":{geometry},"properties":{props}}}')
    listing = [{"facility_id": int(r.facility_id), "name": r.name, "type_code": r.type_code,
                "type_name": r.type_name, "time_s": round(float(r.time_s), 1)} for r in reached.itertuples()]
    extra = json.dumps({"facilities": privacy.payload(listing, role=role), "origin": origin}, ensure_ascii=False)
    text = f'{{"type":"FeatureCollection","features":[{",".join(features)}],{extra[1:]}'
    return Response(text.encode(), media_type=GEOJSON)


DESCRIPTION = (
    "One polygon per minutes value (along the streets, not a circle), properties "
    "`{minutes, profile, kind: \"isochrone\"}`, and the member `facilities`: the open facilities reachable "
    "in the largest budget with their travel time `time_s` (seconds), nearest first. Each polygon contains "
    "exactly the open facilities reachable within its minutes (elsewhere it is the street band). A point outside the "
    "district or farther than 500 m (setting MINQING_SNAP_MAX_M) from any street → 422 (message in Chinese and "
    "English).")


@router.get("/isochrones", response_class=GeoJSONResponse, summary="等时圈 reachable area from a point",
            description=DESCRIPTION,
            responses={200: {"model": IsochroneCollection}, **errors(422)})
def point_isochrones(request: Request, s: SessionDep, user: OptionalUser, privacy: PrivacyDep,
                     lon: Annotated[Lon, Query(description="经度 longitude (WGS84)", examples=[113.25])],
                     lat: Annotated[Lat, Query(description="纬度 latitude (WGS84)", examples=[22.55])],
                     minutes: Minutes = "15", profile: ProfileName = "walk") -> Response:
    budgets = parse_minutes(minutes)

    def make() -> Response:
        require_in_district(s, lon, lat)
        polygons, reached = _compute(request, s, lon, lat, budgets, profile)
        return _response(polygons, reached, profile=profile, privacy=privacy, role=role_of(user),
                         origin={"lon": lon, "lat": lat})

    return _cached(request, s, make)


@router.get("/facilities/{facility_id}/isochrone", response_class=GeoJSONResponse,
            summary="设施等时圈 reachable area from a facility", description=DESCRIPTION,
            responses={200: {"model": IsochroneCollection}, **errors(404, 422)})
def facility_isochrone(request: Request, s: SessionDep, user: OptionalUser, privacy: PrivacyDep,
                       facility_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="设施编号")],
                       minutes: Minutes = "15", profile: ProfileName = "walk") -> Response:
    budgets = parse_minutes(minutes)

    def make() -> Response:
        point = lookup.facility_point(s, facility_id)
        if point is None:
            raise NotFound(f"facilities has no feature {facility_id}")
        lon, lat = point
        polygons, reached = _compute(request, s, lon, lat, budgets, profile)
        reached = reached[reached["facility_id"].to_numpy() != np.int64(facility_id)]
        return _response(polygons, reached, profile=profile, privacy=privacy, role=role_of(user),
                         origin={"lon": lon, "lat": lat, "facility_id": facility_id})

    return _cached(request, s, make)
