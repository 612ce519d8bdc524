"""The public map's own questions: the nearest services from a point, and one search box.

``GET /nearest``: for every facility type, the open facilities nearest to a point by travel time
along the streets (no cut-off), on foot and by e-bike: one Dijkstra per travel profile from the
point reaches every facility at once (``geo.isochrone.travel_times``). It runs in the same
bounded pools, per-IP allowance and response cache as the isochrones (``api.pools``).

``GET /search``: facilities by name, by type (Chinese, full pinyin or initials) and by address,
and place names, ranked by ``geo.placenames.search.combined_search``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.deps import (
    OptionalUser,
    PrivacyDep,
    SessionDep,
    cookie_scheme,
    db_session,
    oauth2_scheme,
    resolve_token,
    role_of,
)
from api.limits import signed_in
from api.routes.isochrones import (
    ISOCHRONE_INPUTS,
    Unprocessable,
    client_of,
    on_origin_grid,
    require_in_district,
)
from api.schemas.common import Lat, Lon, errors
from geo.errors import UnreachablePointError
from geo.isochrone import travel_times
from geo.placenames.search import NameIndex, build_index, combined_search
from layers import lookup, placenames, queries
from layers.cache import Cache, database_key
from layers.features import data_token
from settings import coverage_settings

router = APIRouter(tags=["公众地图 public map"])

NEAREST_PROFILES = ("walk", "ebike")
"""Travel profiles of the nearest-services list: minutes on foot and by e-bike."""
JSON = "application/json"


def _nearest_body(
    facilities: pd.DataFrame, times: dict[str, np.ndarray], *, per_type: int, origin: dict
) -> bytes:
    """Per facility type, the ``per_type`` facilities nearest on foot (then by e-bike), as JSON."""
    frame = facilities.assign(**{f"{p}_s": t for p, t in times.items()})
    first = f"{NEAREST_PROFILES[0]}_s"
    frame = frame[np.isfinite(frame[[f"{p}_s" for p in NEAREST_PROFILES]]).any(axis=1)]
    frame = frame.sort_values([first, f"{NEAREST_PROFILES[1]}_s", "facility_id"], kind="stable")
    types = []
    for code, part in frame.groupby("type_code", sort=False):
        top = part.head(per_type)
        types.append(
            {
                "type_code": code,
                "type_name": top["type_name"].iloc[0],
                "category": top["category"].iloc[0],
                "facilities": [
                    {
                        "facility_id": int(r.facility_id),
                        "name": r.name,
                        "lon": round(r.lon, 6),
                        "lat": round(r.lat, 6),
                        **{f"{p}_s": _seconds(getattr(r, f"{p}_s")) for p in NEAREST_PROFILES},
                    }
                    for r in top.itertuples()
                ],
            }
        )
    return json.dumps(
        {"origin": origin, "measure": "network_time", "profiles": list(NEAREST_PROFILES), "types": types},
        ensure_ascii=False,
    ).encode()


def _seconds(value: float) -> float | None:
    return round(float(value), 1) if np.isfinite(value) else None


@router.get(
    "/nearest",
    summary="离我最近的服务设施 nearest services by travel time",
    description="For every facility type, the open facilities nearest to the point by travel time along "
    "the streets (measure: network time; no cut-off), with the seconds on foot (`walk_s`) and by e-bike "
    "(`ebike_s`; null when not reachable that way), nearest on foot first. The point is rounded to "
    "0.0001°. Computed in the isochrone pools: without login a few at once per IP (429 / 503 with "
    "Retry-After). A point outside the district or far from any street → 422.",
    responses={
        200: {
            "description": "nearest facilities per type",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "origin": {"type": "array", "items": {"type": "number"}},
                            "measure": {"type": "string"},
                            "profiles": {"type": "array", "items": {"type": "string"}},
                            "types": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                    "example": {
                        "origin": [113.25, 22.55],
                        "measure": "network_time",
                        "profiles": ["walk", "ebike"],
                        "types": [
                            {
                                "type_code": "health_station",
                                "type_name": "社区卫生服务站",
                                "category": "health",
                                "facilities": [
                                    {
                                        "facility_id": 12,
                                        "name": "西关社区卫生服务站",
                                        "lon": 113.2512,
                                        "lat": 22.5507,
                                        "walk_s": 1008.4,
                                        "ebike_s": 301.2,
                                    }
                                ],
                            }
                        ],
                    },
                }
            },
        },
        **errors(422, 429, 503),
    },
)
async def nearest(
    request: Request,
    lon: Annotated[Lon, Query(description="经度 longitude (WGS84)", examples=[113.25])],
    lat: Annotated[Lat, Query(description="纬度 latitude (WGS84)", examples=[22.55])],
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
    per_type: Annotated[int, Query(ge=1, le=3, description="每类设施最多几处")] = 1,
) -> Response:
    lon, lat = on_origin_grid(lon), on_origin_grid(lat)
    settings = request.app.state.settings
    engines = request.app.state.engines
    pools = request.app.state.isochrone_pools
    staff = signed_in(request, settings.secret_key.get_secret_value())
    ticket = (pools.staff if staff else pools.public).admit(client_of(request))
    try:

        def read(s: Session):
            account = resolve_token(request, s, bearer, cookie).account
            key = database_key(
                s, "nearest", lon, lat, per_type, data_token(s, ISOCHRONE_INPUTS), engines.profiles_stamp()
            )
            cached = engines.isochrones.peek(key)
            if cached is not None:
                return account, key, cached, None
            require_in_district(s, lon, lat)
            job = ({p: engines.network(s, p) for p in NEAREST_PROFILES}, engines.facility_points(s))
            return account, key, None, job

        async with db_session(request) as s:
            account, key, body, job = await run_in_threadpool(read, s)
        if body is not None:
            ticket.release()
            return Response(body, media_type=JSON)
        if staff and account is None:  # a deactivated account's token: the public pool
            ticket.release()
            ticket = pools.public.admit(client_of(request))
        pool = pools.staff if account is not None else pools.public
        snap_m = coverage_settings().snap_max_m

        def compute() -> bytes:
            networks, facilities = job
            try:
                times = {
                    p: travel_times(networks[p], lon, lat, facilities[["lon", "lat"]], max_distance_m=snap_m)
                    for p in NEAREST_PROFILES
                }
            except UnreachablePointError as e:
                raise Unprocessable(
                    f"点位距离可通行道路超过 {snap_m:g} 米: {e}", fix="choose a point on or next to a street"
                ) from None
            out = _nearest_body(facilities, times, per_type=per_type, origin={"lon": lon, "lat": lat})
            engines.isochrones.put(key, out)
            return out

        future = pool.run(ticket, key, compute)
    except BaseException:
        ticket.release()
        raise
    return Response(await asyncio.wrap_future(future), media_type=JSON)


_indexes: Cache[tuple[NameIndex, NameIndex, pd.DataFrame]] = Cache(2)


def _facility_indexes(s: Session) -> tuple[NameIndex, NameIndex, pd.DataFrame]:
    """Search indexes over open facilities' names and their types' names, and the facilities by id."""
    key = (queries.database_identity(s), data_token(s, ("facilities", "facility_types")))

    def build() -> tuple[NameIndex, NameIndex, pd.DataFrame]:
        facilities = lookup.facility_search_rows(s).set_index("facility_id", drop=False)
        types = facilities.drop_duplicates("type_code")[["type_code", "type_name"]].dropna()
        return (
            build_index(facilities, id="facility_id", name="name"),
            build_index(types, id="type_code", name="type_name"),
            facilities,
        )

    return _indexes.get(key, build)


@router.get(
    "/search",
    summary="检索设施与地名 search facilities and place names",
    description="One search box: facilities by name, by type (`q=幼儿园`, `q=youeryuan`, `q=yey`) and by "
    "address, and registered place names. Ranked: an exact facility name, an exact place name, the "
    "facilities of a matching type nearest the map centre (`lon`, `lat`), other facility names, "
    "addresses, other place names.",
    responses={
        200: {
            "description": "hits, ranked",
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"type": "object"}},
                    "example": [
                        {
                            "kind": "facility",
                            "id": 12,
                            "name": "西关幼儿园",
                            "type_name": "幼儿园",
                            "lon": 113.2512,
                            "lat": 22.5507,
                        }
                    ],
                }
            },
        },
        **errors(),
    },
)
def search(
    request: Request,
    s: SessionDep,
    user: OptionalUser,
    privacy: PrivacyDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=50,
            pattern=r"^[^\x00]*$",
            description="检索词 Chinese, pinyin or initials",
            examples=["幼儿园"],
        ),
    ],
    lon: Annotated[Lon | None, Query(description="地图中心经度 map centre longitude")] = None,
    lat: Annotated[Lat | None, Query(description="地图中心纬度 map centre latitude")] = None,
    limit: Annotated[int, Query(ge=1, le=50, description="最多条数")] = 10,
) -> list[dict]:
    facility_index, type_index, facilities = _facility_indexes(s)
    index, names = request.app.state.engines.name_index(s)
    place_hits = placenames.search(index, names, q, limit=limit)
    places = pd.DataFrame(
        [{"id": h["name_id"], "score": h["score"], "lon": h["lon"], "lat": h["lat"]} for h in place_hits],
        columns=["id", "score", "lon", "lat"],
    )
    centre = (lon, lat) if lon is not None and lat is not None else None
    ranked = combined_search(
        q,
        facility_index=facility_index,
        type_index=type_index,
        facilities=facilities,
        places=places,
        centre=centre,
        limit=limit,
    )
    by_place = {h["name_id"]: h for h in place_hits}
    out = []
    for r in ranked.itertuples():
        if r.kind == "facility":
            f = facilities.loc[r.id]
            out.append(
                {
                    "kind": "facility",
                    "facility_id": int(r.id),
                    "name": f["name"],
                    "type_code": f["type_code"],
                    "type_name": f["type_name"],
                    "address": _text(f["address"]),
                    "lon": float(f["lon"]),
                    "lat": float(f["lat"]),
                    "match": r.tier,
                }
            )
        else:
            h = by_place[r.id]
            out.append(
                {
                    "kind": "place",
                    "name_id": h["name_id"],
                    "name": h["name"],
                    "pinyin": h["pinyin"],
                    "category": h["category"],
                    "status": h["status"],
                    "historical": h["historical"],
                    "current_name": h["current_name"],
                    "lon": h["lon"],
                    "lat": h["lat"],
                    "match": r.tier,
                }
            )
    return privacy.payload(out, role=role_of(user))


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None
