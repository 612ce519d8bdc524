"""Isochrones: the street area reachable within some minutes, and the facilities inside it.

The computation is ``geo.isochrone.isochrones`` on the cached network of the chosen travel
profile (``pipeline.isochrones`` shapes the GeoJSON); this module parses, admits, checks the
point lies in the district and answers.

An isochrone costs up to a second or more of CPU, so (issue 14.1) a request reads what it needs
from the database in one short transaction and gives the connection back BEFORE computing; the
computation runs in a bounded pool (``api.pools``). Anonymous viewers share
``MINQING_ISOCHRONE_WORKERS`` worker processes (lower CPU priority, their own networks) with a
queue and a per-IP allowance (503 / 429 with Retry-After beyond) and a capped budget per profile
(``MINQING_ISOCHRONE_PUBLIC_MINUTES``; longer: 422 naming the cap); logged-in users have threads of
their own and the full 60 minutes. Answers are cached by (origin rounded to ``ORIGIN_GRID_DEG``,
profile, budgets, data versions, profile table).

A facility's isochrone of the public map's profiles and minutes is read from those stored with the
latest coverage run (``pipeline.isochrones.stored_body``, issue 19.3) while the street network, the
facilities and the profile are unchanged since; only otherwise is it computed."""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.deps import cookie_scheme, db_session, oauth2_scheme, resolve_token
from api.errors import ApiError
from api.limits import client_key, signed_in
from api.schemas.common import GEOJSON, GeoJSONResponse, Lat, Lon, errors
from api.schemas.isochrones import IsochroneCollection
from geo.profiles import get_profile
from layers import lookup, store
from layers.cache import database_key
from layers.errors import NotFound
from layers.features import data_token
from layers.users import Account
from pipeline.coverage import profile_digests
from pipeline.isochrones import NetworkSource, Origin, Task, in_worker, run, stored_body
from settings import coverage_settings

router = APIRouter(tags=["等时圈 isochrones"])
MAX_MINUTES = 60.0
"""The longest budget anyone may ask (logged-in users); anonymous viewers: ``isochrone_public_minutes``."""
ORIGIN_GRID_DEG = 1e-4
"""A clicked origin is rounded to this grid (about 10 m) before computing, so that nearby clicks share
one cached answer; the response's ``origin`` is the point used."""

Minutes = Annotated[
    str,
    Query(
        description="分钟 minutes, one value or a comma list (≤ 6, each 1..60)",
        examples=["15", "5,10,15"],
        max_length=60,
        pattern=r"^[0-9., ]+$",
    ),
]
ProfileName = Annotated[
    str,
    Query(
        description="出行方式 travel profile from data/profiles.csv",
        examples=["walk"],
        max_length=40,
        pattern=r"^[A-Za-z0-9_]+$",
    ),
]


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


def public_cap(caps: dict[str, float], profile: str) -> float:
    """The longest budget (minutes) anonymous viewers may ask for ``profile``."""
    return float(caps.get(profile, caps.get("*", MAX_MINUTES)))


def check_public_budget(caps: dict[str, float], profile: str, budgets: tuple[float, ...]) -> None:
    """422 naming the cap when an anonymous viewer asks for more than ``public_cap``."""
    cap = public_cap(caps, profile)
    if budgets[-1] > cap:
        raise Unprocessable(
            f"未登录时等时圈最长 {cap:g} 分钟: anonymous isochrones of profile {profile!r} are limited to "
            f"{cap:g} minutes (asked {budgets[-1]:g})",
            fix=f"ask for at most {cap:g} minutes, or log in (up to {MAX_MINUTES:g} minutes)",
        )


def require_in_district(s: Session, lon: float, lat: float) -> None:
    inside = lookup.point_in_district(s, lon, lat)
    if inside is False:
        swapped = lookup.point_in_district(s, lat, lon) if abs(lon) <= 90 else False
        hint = " 经纬度似乎写反了 (lon and lat look swapped)" if swapped else ""
        raise Unprocessable(
            f"点位不在本区范围内{hint}: the point ({lon}, {lat}) lies outside the district",
            fix="send lon (longitude) and lat (latitude) in WGS84 degrees of a point inside the district",
        )


ISOCHRONE_INPUTS = ("network_nodes", "network_edges", "facilities", "facility_types", "areas")
"""The layers an isochrone response depends on: it is cached until one of them changes."""


def client_of(request: Request) -> str:
    """The client an anonymous allowance counts by (behind a trusted proxy: the forwarded address)."""
    return client_key(request.client.host) if request.client else "unknown"


async def _serve(
    request: Request,
    bearer: str | None,
    cookie: str | None,
    place: tuple,
    locate: Callable[[Session], Origin],
    minutes: str,
    profile: str,
) -> Response:
    """Admit (pool place first: a refusal costs no database work), read in one short transaction,
    then answer from the cache or compute in the viewer's pool."""
    budgets = parse_minutes(minutes)
    settings = request.app.state.settings
    engines = request.app.state.engines
    pools = request.app.state.isochrone_pools
    staff = signed_in(request, settings.secret_key.get_secret_value())
    if not staff:
        check_public_budget(settings.isochrone_public_minutes, profile, budgets)
    ticket = (pools.staff if staff else pools.public).admit(client_of(request))
    try:

        def read(s: Session) -> tuple[Account | None, tuple, bytes | functools.partial[Any]]:
            """The viewer, the cache key, and the answer: its body when known, else the job computing it."""
            account = resolve_token(request, s, bearer, cookie).account
            if account is None:  # a deactivated account's token: the public rules
                check_public_budget(settings.isochrone_public_minutes, profile, budgets)
            versions = data_token(s, ISOCHRONE_INPUTS)
            key = database_key(s, "isochrone", place, profile, budgets, versions, engines.profiles_stamp())
            cached = engines.isochrones.peek(key)
            if cached is not None:
                return account, key, cached
            chosen = get_profile(engines.profiles, profile)  # an unknown profile: 400 here, not in a worker
            origin = locate(s)
            snap_max_m = coverage_settings().snap_max_m
            if origin.exclude is not None:  # a facility: its isochrone stored with the latest coverage run
                body = stored_body(
                    s,
                    store.latest_run(s),
                    origin.exclude,
                    profile,
                    budgets,
                    origin=origin.shown,
                    digest=profile_digests({profile: chosen})[profile],
                    snap_max_m=snap_max_m,
                )
                if body is not None:
                    return account, key, body
            task = Task(
                facilities=engines.facility_points(s),
                origin=origin,
                budgets=budgets,
                profile=profile,
                snap_max_m=snap_max_m,
            )
            if account is None and pools.processes:  # a worker process reads its own network
                source = NetworkSource(
                    request.app.state.database_url,
                    str(engines.profiles_csv),
                    profile,
                    (versions, engines.profiles_stamp()),
                )
                return account, key, functools.partial(in_worker, source, task)
            return account, key, functools.partial(run, engines.network(s, profile), task)

        async with db_session(request) as s:
            account, key, answer = await run_in_threadpool(read, s)
        # the database connection is back in the pool from here on
        if not isinstance(answer, functools.partial):
            ticket.release()
            engines.isochrones.put(key, answer)
            return Response(answer, media_type=GEOJSON)
        pool = pools.staff if account is not None else pools.public
        if staff and account is None:
            ticket.release()
            ticket = pools.public.admit(client_of(request))
        future = pool.run(ticket, key, answer, picklable=answer.func is in_worker)  # the worker-process path
    except BaseException:
        ticket.release()
        raise
    status, out = await asyncio.wrap_future(future)
    if status == "unreachable":
        snap = coverage_settings().snap_max_m
        raise Unprocessable(
            f"点位距离可通行道路超过 {snap:g} 米: {out}", fix="choose a point on or next to a street"
        )
    engines.isochrones.put(key, out)
    return Response(out, media_type=GEOJSON)


DESCRIPTION = (
    "One polygon per minutes value (along the streets, not a circle), properties "
    '`{minutes, profile, kind: "isochrone"}`, and the member `facilities`: the open facilities reachable '
    "in the largest budget with their travel time `time_s` (seconds), nearest first. Each polygon contains "
    "exactly the open facilities reachable within its minutes (elsewhere it is the street band). "
    "A point outside the district or farther than 500 m (setting MINQING_SNAP_MAX_M) "
    "from any street → 422 (message in Chinese and English).\n\n"
    "Without login the budget is capped per profile (default 30 minutes for walk, ebike and car; setting "
    "MINQING_ISOCHRONE_PUBLIC_MINUTES; more → 422 naming the cap; logged-in users up to 60), and the service "
    "computes only a few anonymous isochrones at once: one IP with too many being computed gets 429, a full "
    "queue 503, both with `Retry-After` (seconds). Answers are cached until the network, facilities or areas "
    "change."
)
BudgetErrors = errors(422, 503)


@router.get(
    "/isochrones",
    response_class=GeoJSONResponse,
    summary="等时圈 reachable area from a point",
    description=DESCRIPTION + " The point is rounded to 0.0001° (about 10 m); `origin` is the point used.",
    responses={200: {"model": IsochroneCollection}, **BudgetErrors},
)
async def point_isochrones(
    request: Request,
    lon: Annotated[Lon, Query(description="经度 longitude (WGS84)", examples=[113.25])],
    lat: Annotated[Lat, Query(description="纬度 latitude (WGS84)", examples=[22.55])],
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
    minutes: Minutes = "15",
    profile: ProfileName = "walk",
) -> Response:
    lon, lat = on_origin_grid(lon), on_origin_grid(lat)

    def locate(s: Session) -> Origin:
        require_in_district(s, lon, lat)
        return Origin(lon, lat, {"lon": lon, "lat": lat})

    return await _serve(request, bearer, cookie, ("point", lon, lat), locate, minutes, profile)


def on_origin_grid(degrees: float) -> float:
    return round(round(degrees / ORIGIN_GRID_DEG) * ORIGIN_GRID_DEG, 6)


@router.get(
    "/facilities/{facility_id}/isochrone",
    response_class=GeoJSONResponse,
    summary="设施等时圈 reachable area from a facility",
    description=DESCRIPTION + " An open facility's isochrones of the public map (walk and walk_elderly, "
    "any of 5, 10 and 15 minutes) are read from those stored with the latest coverage run while the "
    "streets and facilities are unchanged since: the same answer, without computing.",
    responses={200: {"model": IsochroneCollection}, **errors(404, 422, 503)},
)
async def facility_isochrone(
    request: Request,
    facility_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="设施编号")],
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
    minutes: Minutes = "15",
    profile: ProfileName = "walk",
) -> Response:
    def locate(s: Session) -> Origin:
        point = lookup.facility_point(s, facility_id)
        if point is None:
            raise NotFound(f"facilities has no feature {facility_id}")
        lon, lat = point
        return Origin(lon, lat, {"lon": lon, "lat": lat, "facility_id": facility_id}, exclude=facility_id)

    return await _serve(request, bearer, cookie, ("facility", facility_id), locate, minutes, profile)
