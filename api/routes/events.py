"""民情事件: events as resources (staff, by role and scope), their transitions, the public report
and tracking routes. Thin: the work is in ``pipeline.events``."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse

from api.deps import BboxDep, CurrentUser, OptionalUser, PagingDep, PrivacyDep, SessionDep, require_role
from api.errors import ApiError, PreconditionRequired, RateLimited
from api.limits import SharedLimit, client_key
from api.schemas.common import errors, varchar
from api.schemas.events import (
    Category,
    Escalated,
    Event,
    EventCounts,
    EventCreate,
    EventList,
    EventPoints,
    ImportedOrders,
    Kpi,
    Photo,
    PublicPhotos,
    PublicReceipt,
    PublicReport,
    PublicReview,
    PublicReviewRequest,
    PublicStatus,
    ResolvedCounts,
    Transition,
)
from geo.deadlines import BEIJING
from geo.events import STATUS_ZH, STATUSES
from layers import events as store
from layers.users import Account
from maps.page import render
from pipeline import event_import, live
from pipeline import events as service
from pipeline import visits as visits_service
from settings import EventSettings, VisitSettings

router = APIRouter(tags=["民情事件 events"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EventId = Annotated[int, Path(ge=1, le=2**63 - 1, description="事件编号", examples=[1])]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=80, description='读取时的 ETag, e.g. "3" (required: 428 without it)'),
]
if TYPE_CHECKING:  # the statuses of geo.events, known at run time: mypy checks them as strings
    Status: TypeAlias = str
else:
    Status = Literal[STATUSES]
Creator = Annotated[Account, Depends(require_role(*service.CREATE_ROLES))]
Admin = Annotated[Account, Depends(require_role("admin"))]
TrackingCode = Annotated[
    str,
    Path(
        min_length=4, max_length=20, pattern="^[A-Za-z0-9]+$", description="查询码", examples=["MQ7KD2PX9QAB"]
    ),
]


def event_settings(request: Request) -> EventSettings:
    state = request.app.state
    if not hasattr(state, "event_settings"):
        state.event_settings = EventSettings()
    return state.event_settings


def visit_settings(request: Request) -> VisitSettings:
    state = request.app.state
    if not hasattr(state, "visit_settings"):
        state.visit_settings = VisitSettings()
    return state.visit_settings


def _etag(response: Response, event: dict) -> None:
    response.headers["ETag"] = f'"{event["version"]}"'


def _version(if_match: str | None, event_id: int) -> int:
    if not if_match:
        raise PreconditionRequired(
            f"changing event {event_id} needs an If-Match header",
            fix=f"GET /events/{event_id}, then send its ETag header value as If-Match",
        )
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ApiError(
            f"If-Match {if_match!r} is not one ETag of an event",
            fix=f'send exactly the ETag of GET /events/{event_id}, e.g. "3"',
        )
    return int(value)


@router.get(
    "/events/categories",
    response_model=list[Category],
    summary="事项清单 event categories",
    description="Category, first handling level, responsible department and time limit (public).",
    responses=errors(),
)
def list_categories(request: Request) -> list[dict]:
    categories, _ = service.tables(event_settings(request))
    return [c.__dict__ for c in categories.values()]


@router.get(
    "/events/kpis",
    response_model=list[Kpi],
    summary="考核指标 KPIs per grid, community or town",
    description="Of the events reported in [since, until): 按期处置率 (resolved by the deadline and never "
    "超时, over those due), 结案率, 平均办结时长 (hours), 群众满意率 (4-5 of 5, over those rated), "
    "走访完成率 (visits made, at most those owed per key household, over visits owed); best first. "
    "Aggregates only (dispatchers and admins).",
    responses=errors(401, 403),
)
def kpis(
    request: Request,
    s: SessionDep,
    _: Annotated[Account, Depends(require_role("admin", "dispatcher"))],
    since: Annotated[
        datetime, Query(description="上报时间起 ISO 8601", examples=["2026-03-01T00:00:00+08:00"])
    ],
    until: Annotated[
        datetime, Query(description="上报时间止 (不含)", examples=["2026-04-01T00:00:00+08:00"])
    ],
    by: Annotated[Literal["grid", "community", "town"], Query(description="按网格/村社区/镇街")] = "grid",
) -> list:
    return visits_service.kpis(
        s, visit_settings(request), by=by, since=since, until=until, now=datetime.now(UTC)
    )


@router.post(
    "/events/import",
    response_model=ImportedOrders,
    status_code=201,
    summary="导入12345工单 import 12345 work orders (CSV)",
    description="Multipart `file` (CSV, UTF-8 or GBK, at most 5000 rows) and optional `mapping`: "
    "a JSON object file column → field (external_ref, reported_at, category, description, address, lon, lat, "
    "phone; default the headers of data/templates/12345工单.csv). All or nothing: any problem → "
    "422 listing each with its row, column and fix. Dispatchers and admins.",
    responses=errors(401, 403, 413, 422),
    generate_unique_id_function=lambda route: "import_work_orders",
)
def import_work_orders(
    request: Request,
    s: SessionDep,
    user: Annotated[Account, Depends(require_role("admin", "dispatcher"))],
    file: Annotated[UploadFile, File(description="12345 工单 CSV")],
    mapping: Annotated[
        str | None,
        Form(
            max_length=10_000,
            description='字段映射 JSON, e.g. {"工单号": "external_ref", "来电时间": "reported_at"}',
        ),
    ] = None,
) -> dict:

    data = file.file.read(event_import.MAX_BYTES + 1)
    return event_import.import_orders(
        s, event_settings(request), data, event_import.parse_mapping(mapping), actor=user.username
    )


@router.get(
    "/events/weekly.xlsx",
    response_class=Response,
    summary="周例会考核表 weekly-meeting KPI workbook",
    description="XLSX with a sheet per level (网格, 村社区, 镇街), ranked: 按期处置率, 结案率, 平均办结时长, "
    "群众满意率, 走访完成率 and their counts, Chinese headers, definitions above each table. "
    "Default period: the last seven whole days (Beijing time). Dispatchers and admins.",
    responses={
        200: {
            "description": "the workbook",
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
        },
        **errors(401, 403, 422),
    },
)
def weekly_xlsx(
    request: Request,
    s: SessionDep,
    _: Annotated[Account, Depends(require_role("admin", "dispatcher"))],
    since: Annotated[datetime | None, Query(description="上报时间起 (默认上周)")] = None,
    until: Annotated[datetime | None, Query(description="上报时间止 (不含)")] = None,
) -> Response:
    content, since, until = visits_service.weekly_xlsx(s, visit_settings(request), since=since, until=until)
    name = f"minqing_weekly_{since.astimezone(BEIJING):%Y%m%d}-{until.astimezone(BEIJING):%Y%m%d}.xlsx"
    return Response(
        content,
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/events/points",
    response_model=EventPoints,
    summary="事件点位 events for a map",
    description="Every open event you may see and those reported in the last `days` days, as compact "
    "rows (at most 20000; `truncated` says when more matched). Same scopes as GET /events.",
    responses=errors(401, 403),
)
def event_points(
    s: SessionDep,
    user: CurrentUser,
    days: Annotated[int, Query(ge=1, le=366, description="近多少天上报的 (未办结的总在内)")] = 31,
) -> dict:
    return service.map_points(s, user, days=days)


@router.get(
    "/events/counts",
    response_model=EventCounts,
    summary="今日与本月 counts for today and this month",
    description="Among the events you may see: reported and resolved today and this month (China "
    "Standard Time), open now, past their deadline now (超时) and waiting for 分拨. Counted "
    "once while nothing changes (`at`: when); pollers send the ETag back as If-None-Match "
    "and get 304 until the counts change.",
    responses={
        200: {
            "model": EventCounts,
            "description": "the counts",
            "headers": {
                "ETag": {"description": "随计数变化 changes with the counts", "schema": {"type": "string"}}
            },
        },
        304: {"description": "未变化 not modified (If-None-Match)"},
        **errors(401, 403),
    },
)
def event_counts(request: Request, s: SessionDep, user: CurrentUser) -> Response:
    counts = service.today_and_month(s, user)
    body = EventCounts.model_validate(counts).model_dump_json().encode()
    headers = {
        "ETag": f'"{hashlib.sha256(body).hexdigest()[:20]}"',
        "Cache-Control": "private, no-cache",
        "Vary": "Authorization, Cookie",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


def _sse(name: str, data: dict | None) -> bytes:
    if data is None:
        return b": keep-alive\n\n"
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


@router.get(
    "/events/stream",
    response_class=EventStreamResponse,
    summary="实时更新 live changes (server-sent events)",
    description="A `text/event-stream` of the changes to the events you may see (a department only its "
    "department's, a grid worker their grid's, a dispatcher their town's), from every server "
    "process (PostgreSQL LISTEN/NOTIFY). First `event: ready` (from then on nothing is missed: "
    "reload your lists), then one `event: change` per step with the event's id, status, "
    "category, level, grid, town, department and point; never its description or reporter. "
    "The stream ends after 30 minutes: EventSource reconnects by itself.",
    responses={
        200: {
            "description": "server-sent events",
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "example": 'event: change\ndata: {"event_id": 12, "status": '
                    '"escalated", "action": "escalate"}\n\n',
                }
            },
        },
        **errors(401, 403),
    },
)
async def event_stream(request: Request, user: CurrentUser) -> EventStreamResponse:
    service.scope(user)  # 403 for roles that see no events, before the stream starts
    hub = live.hub_for(request.app.state.database_url)
    stream = hub.open(user)

    async def body() -> AsyncIterator[bytes]:
        yield b"retry: 3000\n\n"
        async for change in live.changes(hub, stream):
            if await request.is_disconnected():
                break
            yield _sse("ready" if change and change.get("ready") else "change", change)

    return EventStreamResponse(
        body(), headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
    )


@router.get(
    "/events",
    response_model=EventList,
    summary="民情事件列表 events you may see",
    description="Filters combine. Grid workers see their grid, departments their department, "
    "dispatchers their town, admins all; other roles 403.",
    responses=errors(401, 403),
)
def list_events(
    request: Request,
    s: SessionDep,
    user: CurrentUser,
    paging: PagingDep,
    bbox: BboxDep,
    status: Annotated[list[Status] | None, Query(description="状态, 可多选")] = None,
    grid_id: Annotated[int | None, Query(ge=1, description="网格 area_id")] = None,
    category: Annotated[Annotated[str, varchar(30)] | None, Query(description="事项类别 code")] = None,
    since: Annotated[datetime | None, Query(description="上报时间起 ISO 8601")] = None,
    until: Annotated[datetime | None, Query(description="上报时间止 (不含) ISO 8601")] = None,
    overdue: Annotated[bool | None, Query(description="只看超时 true")] = None,
) -> dict:
    settings = event_settings(request)
    filters = {"grid_id": grid_id, **service.scope(user)}
    if grid_id is not None and filters["grid_id"] != grid_id:
        filters["grid_id"] = -1  # another grid than the worker's own: nothing
    rows, total = store.listing(
        s,
        status=status,
        category=category,
        since=since,
        until=until,
        bbox=bbox,
        overdue=overdue,
        limit=paging.limit,
        offset=paging.offset,
        **filters,
    )
    links = [{"href": str(request.url), "rel": "self"}]
    if paging.offset + len(rows) < total:
        links.append(
            {
                "href": str(request.url.include_query_params(offset=paging.offset + paging.limit)),
                "rel": "next",
            }
        )
    return {
        "items": [service.present(r, user, settings) for r in rows],
        "numberMatched": total,
        "numberReturned": len(rows),
        "links": links,
    }


@router.post(
    "/events",
    response_model=Event,
    status_code=201,
    summary="上报民情事件 report an event (staff)",
    description="Routed to the finest grid covering the point (or the address's point) and its grid "
    "worker; `possible_duplicates` lists open events of the same category nearby.",
    responses=errors(401, 403, 422),
)
def create_event(
    request: Request, body: EventCreate, s: SessionDep, user: Creator, response: Response
) -> dict:
    settings = event_settings(request)
    event, duplicates = service.create(
        s,
        settings,
        category=body.category,
        description=body.description,
        lon=body.lon,
        lat=body.lat,
        address=body.address,
        phone=body.phone,
        source="staff",
        reported_by=user.username,
    )
    _etag(response, event)
    return {**service.present(event, user, settings), "possible_duplicates": duplicates}


@router.get(
    "/events/{event_id}",
    response_model=Event,
    summary="民情事件详情 one event with its history",
    responses=errors(401, 403, 404),
)
def get_event(
    request: Request, event_id: EventId, s: SessionDep, user: CurrentUser, response: Response
) -> dict:
    event = service.get_for(s, user, event_id)
    _etag(response, event)
    return {**service.present(event, user, event_settings(request)), "history": store.history(s, event_id)}


@router.post(
    "/events/{event_id}/transitions",
    response_model=Event,
    summary="流转 take one step of the flow",
    description="Needs the event's ETag as If-Match: of two concurrent steps one wins, the other gets "
    "412. 409 when the status does not allow the step, 403 when the role may not take it. "
    "合并 merge `{action: merge, into: N}` joins a repeated report to the open event N of the "
    "same category (one of `possible_duplicates`); its tracking code then follows N.",
    responses=errors(401, 403, 404, 409, 412, 422, 428),
)
def transition(
    request: Request,
    event_id: EventId,
    body: Transition,
    s: SessionDep,
    user: CurrentUser,
    response: Response,
    if_match: IfMatch = None,
) -> dict:
    settings = event_settings(request)
    event = service.transition(
        s,
        settings,
        user,
        event_id,
        body.action,
        expected_version=_version(if_match, event_id),
        note=body.note,
        department=body.department,
        satisfaction=body.satisfaction,
        into=body.into,
    )
    _etag(response, event)
    return {**service.present(event, user, settings), "history": store.history(s, event_id)}


@router.post(
    "/events/escalate",
    response_model=list[Escalated],
    summary="超时升级 escalate overdue events (admin)",
    description="What `minqing events escalate` and the scheduler run: every open event past its "
    "deadline is flagged 超时 and moved one level up.",
    responses=errors(401, 403),
)
def escalate(request: Request, s: SessionDep, _: Admin) -> list[dict]:
    return service.escalate_overdue(s, event_settings(request))


@router.post(
    "/events/{event_id}/photos",
    response_model=Photo,
    status_code=201,
    summary="上传照片 add a photo (JPEG/PNG/WebP)",
    description="Checked by content, re-encoded without metadata (no EXIF GPS), stored by content hash.",
    responses=errors(401, 403, 404, 413, 422),
    generate_unique_id_function=lambda route: "upload_photo",
)  # the body's schema: Body_upload_photo
def upload_photo(
    request: Request,
    event_id: EventId,
    s: SessionDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="照片 JPEG, PNG or WebP")],
) -> dict:
    settings = event_settings(request)
    data = file.file.read(int(settings.photo_max_mb * 1024 * 1024) + 1)
    return service.add_photo(s, settings, user, event_id, data)


@router.get(
    "/events/{event_id}/photos",
    response_model=list[Photo],
    summary="事件照片 photos of an event",
    responses=errors(401, 403, 404),
)
def list_photos(event_id: EventId, s: SessionDep, user: CurrentUser) -> list[dict]:
    service.get_for(s, user, event_id)
    return store.photos(s, event_id)


@router.get(
    "/events/{event_id}/photos/{sha256}",
    response_class=FileResponse,
    summary="照片文件 one photo",
    description="Only to those who may see the event; `thumb=true` gives a 320 px JPEG thumbnail.",
    responses={
        200: {
            "description": "the photo (JPEG, PNG or WebP)",
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in ("image/jpeg", "image/png", "image/webp")
            },
        },
        **errors(401, 403, 404),
    },
)
def get_photo(
    request: Request,
    event_id: EventId,
    s: SessionDep,
    user: CurrentUser,
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="照片的 SHA-256")],
    thumb: Annotated[bool, Query(description="缩略图")] = False,
) -> FileResponse:
    path, content_type = service.photo_file(s, event_settings(request), user, event_id, sha256, thumb=thumb)
    return FileResponse(path, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"})


# --- the public channel ----------------------------------------------------------------------------


def _ip_allowance(request: Request, settings: EventSettings) -> None:
    state = request.app.state
    if not hasattr(state, "event_report_buckets"):
        per_hour = settings.public_per_ip_per_hour
        state.event_report_buckets = SharedLimit(
            "public-report", rate=per_hour / 3600, burst=max(1, math.floor(per_hour)), url=state.database_url
        )
    client = client_key(request.client.host) if request.client else "unknown"
    wait = state.event_report_buckets.take(client)
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        raise RateLimited(
            "反映太频繁: 这个网络近一小时内已提交多件",
            fix=f"请 {minutes} 分钟后再试, 或拨打 12345 热线",
            headers={"Retry-After": str(minutes * 60)},
        )


@router.post(
    "/public/events",
    response_model=PublicReceipt,
    status_code=201,
    summary="我要反映 report an issue (no login)",
    description="Category, description, map point and an optional phone (staff only). The answer is a "
    "tracking code for GET /public/events/{code}. Limited per IP and per phone.",
    responses=errors(422),
)
def public_report(request: Request, body: PublicReport, s: SessionDep, user: OptionalUser) -> dict:
    settings = event_settings(request)
    if body.website:  # the honeypot: people never see this field, form-filling robots do
        raise ApiError("表单无效: 请通过地图页面的“我要反映”提交", fix="请刷新页面后重新填写")
    phone = service.normalise_phone(body.phone)
    if user is None:
        _ip_allowance(request, settings)
        service.check_phone_allowance(s, settings, phone)
    event, _ = service.create(
        s,
        settings,
        category=body.category,
        description=body.description,
        lon=body.lon,
        lat=body.lat,
        address=None,
        phone=phone,
        source="public",
        reported_by=user.username if user else "public",
    )
    return {
        "tracking_code": event["tracking_code"],
        "status_zh": STATUS_ZH[event["status"]],
        "message": "已收到您的反映, 请保存查询码, 可随时查询办理进度",
    }


@router.get(
    "/public/resolved-counts",
    response_model=ResolvedCounts,
    summary="本月已办结 per community (public)",
    description="Events resolved in a month (Beijing time) per community: counts under the privacy "
    "threshold (or in a community with too few households) are null with `suppressed: true`, "
    "the others rounded like every public count. Never an event, a place or a reporter.",
    responses=errors(422),
)
def resolved_counts(
    s: SessionDep,
    privacy: PrivacyDep,
    month: Annotated[
        str | None, Query(max_length=7, description="月份 YYYY-MM (默认本月)", examples=["2026-03"])
    ] = None,
) -> dict:
    month, rows = service.resolved_this_month(s, month)
    communities = []
    for r in rows:
        shown = privacy.small_count(r["resolved"], households=r["households"])
        communities.append(
            {
                "area_id": r["area_id"],
                "name": r["name"],
                "resolved": shown["count"],
                "suppressed": shown["suppressed"],
            }
        )
    return {
        "month": month,
        "measure": "本月已办结件数: 办结时间在该月 (北京时间) 的民情事件, 合并件不计",
        "communities": communities,
    }


@router.get(
    "/public/events/{code}",
    response_model=PublicStatus,
    summary="办理进度 follow a report by its code",
    description="Status and dates only: never the description, the place or who reported it.",
    responses=errors(404),
)
def public_track(request: Request, s: SessionDep, code: TrackingCode) -> dict:
    return service.public_status(s, event_settings(request), code)


@router.post(
    "/public/events/{code}/review",
    response_model=PublicReview,
    status_code=201,
    summary="回访评价 rate the handling of your report (no login)",
    description="Once, after the report is 已办结: satisfaction 1–5 and an optional short word. "
    "Recorded as by the reporter, without any identity; counts in 群众满意率.",
    responses=errors(403, 404, 409, 422),
)
def public_review(s: SessionDep, code: TrackingCode, body: PublicReviewRequest) -> dict:
    return service.public_review(s, code, satisfaction=body.satisfaction, note=body.note)


@router.post(
    "/public/events/{code}/photos",
    response_model=PublicPhotos,
    status_code=201,
    summary="补充照片 add a photo to your report (no login)",
    description="The photo itself as the request body (Content-Type image/jpeg, image/png or image/webp), "
    "at most 3 per report, within 30 minutes of reporting. Checked by content and stored "
    "without EXIF (no GPS); only staff who handle the report see it.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in ("image/jpeg", "image/png", "image/webp")
            },
        }
    },
    responses=errors(403, 404, 413, 422),
)
async def public_photo(request: Request, s: SessionDep, code: TrackingCode) -> dict:
    settings = event_settings(request)
    limit = int(settings.photo_max_mb * 1024 * 1024)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            break
    return await run_in_threadpool(service.add_public_photo, s, settings, code, bytes(data))


@router.get("/report", response_class=HTMLResponse, include_in_schema=False)
def report_page(
    request: Request,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="经度 (地图点选)")] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90, description="纬度 (地图点选)")] = None,
) -> HTMLResponse:
    """我要反映 (phone-first): category, description, the map point or the browser's, an optional phone;
    and the tracking form. Its script is maps/static/report.js (no inline script: strict CSP)."""

    categories, _ = service.tables(event_settings(request))
    html = render(
        "report.html",
        categories=list(categories.values()),
        lon="" if lon is None else lon,
        lat="" if lat is None else lat,
    )
    return HTMLResponse(html, headers={"Cache-Control": "private, no-cache"})
