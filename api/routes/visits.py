"""重点人群 key households and 走访 visits (grid workers their grid, admins all; other roles 403).
Thin: the work is in ``pipeline.visits``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import CurrentUser, PagingDep, SessionDep
from api.routes.events import event_settings, visit_settings
from api.schemas.common import errors, varchar
from api.schemas.events import Event
from api.schemas.visits import (
    Household,
    HouseholdChange,
    HouseholdCreate,
    HouseholdList,
    KeyGroup,
    NeedToEvent,
    Visit,
    VisitCreate,
    VisitList,
)
from pipeline import visits as service

router = APIRouter(tags=["走访 visits"])
HouseholdId = Annotated[int, Path(ge=1, le=2**63 - 1, description="重点人群户编号", examples=[7])]
VisitId = Annotated[int, Path(ge=1, le=2**63 - 1, description="走访编号", examples=[31])]


def _page(request: Request, rows: list, total: int, paging) -> dict:
    links = [{"href": str(request.url), "rel": "self"}]
    if paging.offset + len(rows) < total:
        links.append(
            {
                "href": str(request.url.include_query_params(offset=paging.offset + paging.limit)),
                "rel": "next",
            }
        )
    return {"items": rows, "numberMatched": total, "numberReturned": len(rows), "links": links}


@router.get(
    "/visits/plan",
    response_model=list[KeyGroup],
    summary="走访计划 key groups and visit intervals",
    description="data/visit_plan.csv: each key group and how often its households are visited "
    "(a household in several groups: the shortest interval). Any logged-in role.",
    responses=errors(401),
)
def visit_plan(request: Request, _: CurrentUser) -> list[dict]:
    return [g.__dict__ for g in service.plan(visit_settings(request)).values()]


@router.get(
    "/households",
    response_model=HouseholdList,
    summary="我的重点人群户 key households by next due visit",
    description="Overdue visits first, then the soonest due. Grid workers see their grid, admins all; "
    "other roles 403 (dispatchers see 走访完成率 in GET /events/kpis).",
    responses=errors(401, 403),
)
def list_households(
    request: Request,
    s: SessionDep,
    user: CurrentUser,
    paging: PagingDep,
    grid_id: Annotated[int | None, Query(ge=1, description="网格 area_id")] = None,
    group: Annotated[Annotated[str, varchar(30)] | None, Query(description="重点人群类别 code")] = None,
    overdue: Annotated[bool | None, Query(description="只看走访逾期 true")] = None,
    active: Annotated[bool | None, Query(description="默认只列在册的户")] = True,
) -> dict:
    rows, total = service.list_households(
        s,
        visit_settings(request),
        user,
        grid_id=grid_id,
        group=group,
        overdue=overdue,
        active=active,
        limit=paging.limit,
        offset=paging.offset,
    )
    return _page(request, rows, total, paging)


@router.post(
    "/households",
    response_model=Household,
    status_code=201,
    summary="登记重点人群户 register a household",
    description="At a residence point (grid workers: of their own grid); grid, community and town "
    "come from the point.",
    responses=errors(401, 403, 404, 422),
)
def create_household(request: Request, body: HouseholdCreate, s: SessionDep, user: CurrentUser) -> dict:
    return service.create_household(
        s,
        visit_settings(request),
        user,
        residence_id=body.residence_id,
        groups=body.groups,
        head_name=body.head_name,
        note=body.note,
        registered_at=body.registered_at,
    )


@router.get(
    "/households/{household_id}",
    response_model=Household,
    summary="重点人群户详情 with recent visits",
    responses=errors(401, 403, 404),
)
def get_household(request: Request, household_id: HouseholdId, s: SessionDep, user: CurrentUser) -> dict:
    settings = visit_settings(request)
    household = service.household_for(s, settings, user, household_id)
    recent, _ = service.list_visits(s, settings, user, household_id=household_id, limit=20)
    return {**service.present(settings, household, datetime.now(UTC)), "visits": recent}


@router.patch(
    "/households/{household_id}",
    response_model=Household,
    summary="修改重点人群户 change a household",
    responses=errors(401, 403, 404, 422),
)
def change_household(
    request: Request, household_id: HouseholdId, body: HouseholdChange, s: SessionDep, user: CurrentUser
) -> dict:
    return service.update_household(
        s,
        visit_settings(request),
        user,
        household_id,
        groups=body.groups,
        head_name=body.head_name,
        note=body.note,
        active=body.active,
    )


@router.get(
    "/visits",
    response_model=VisitList,
    summary="走访记录 visits, newest first",
    responses=errors(401, 403, 404),
)
def list_visits(
    request: Request,
    s: SessionDep,
    user: CurrentUser,
    paging: PagingDep,
    household_id: Annotated[int | None, Query(ge=1, description="重点人群户编号")] = None,
    since: Annotated[datetime | None, Query(description="走访时间起 ISO 8601")] = None,
    until: Annotated[datetime | None, Query(description="走访时间止 (不含)")] = None,
) -> dict:
    rows, total = service.list_visits(
        s,
        visit_settings(request),
        user,
        household_id=household_id,
        since=since,
        until=until,
        limit=paging.limit,
        offset=paging.offset,
    )
    return _page(request, rows, total, paging)


@router.post(
    "/visits",
    response_model=Visit,
    status_code=201,
    summary="登记走访 log a visit",
    description="The browser's location must lie within MINQING_VISITS_MAX_DISTANCE_M (300 m) of the "
    "household, else 422 naming the distance. With `event_category` the needs found become "
    "a 民情事件 in the same call (`event`). A phone that records visits offline gives each a "
    "`client_id` (a random UUID) and its `visited_at`, and sends it until it hears back: a "
    "visit already stored under that id is answered again with 200 and stored once.",
    responses={
        200: {"model": Visit, "description": "already stored under this client_id"},
        **errors(400, 401, 403, 404, 422),
    },
)
def log_visit(
    request: Request, body: VisitCreate, s: SessionDep, user: CurrentUser, response: Response
) -> dict:
    visit, new = service.log_visit(
        s,
        visit_settings(request),
        event_settings(request),
        user,
        household_id=body.household_id,
        lon=body.lon,
        lat=body.lat,
        visited_at=body.visited_at,
        notes=body.notes,
        needs=body.needs,
        event_category=body.event_category,
        client_id=body.client_id,
    )
    if not new:
        response.status_code = 200
    return visit


@router.post(
    "/visits/{visit_id}/event",
    response_model=Event,
    status_code=201,
    summary="需求转事件 a need found becomes an event",
    description="One call: a 民情事件 at the household, routed to its grid and worker, linked to the "
    "visit. 400 when the visit already became one (Location: that event).",
    responses=errors(400, 401, 403, 404, 422),
)
def need_to_event(
    request: Request, visit_id: VisitId, body: NeedToEvent, s: SessionDep, user: CurrentUser
) -> dict:
    return service.need_to_event(
        s,
        visit_settings(request),
        event_settings(request),
        user,
        visit_id,
        category=body.category,
        description=body.description,
    )
