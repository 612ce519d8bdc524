"""民情事件: new reports (staff and public), transitions, events as staff see them, public tracking."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.schemas.common import Lat, Link, Lon, varchar

Action = Literal["accept", "escalate", "resolve", "assign", "handle", "return", "review", "archive", "merge"]

_EVENT_EXAMPLE: JsonDict = {
    "event_id": 12,
    "tracking_code": "MQ7KD2PX9QAB",
    "category": "sanitation",
    "category_zh": "环境卫生",
    "description": "滨河路垃圾桶满溢",
    "status": "accepted",
    "status_zh": "已受理",
    "level": "网格",
    "source": "public",
    "grid_id": 10001,
    "community_id": 100,
    "town_id": 10,
    "worker_id": 4,
    "department": None,
    "address": "滨河路与江边路交叉口",
    "reporter_phone": "13800000000",
    "reported_by": "anonymous",
    "reported_at": "2026-03-10T09:00:00+08:00",
    "due_at": "2026-03-11T09:00:00+08:00",
    "overdue": False,
    "escalations": 0,
    "resolved_at": None,
    "result_note": None,
    "satisfaction": None,
    "duplicate_of": None,
    "version": 2,
    "lon": 113.22,
    "lat": 22.55,
    "actions": ["resolve"],
}


class EventCreate(BaseModel):
    """工作人员上报 a report entered by staff (grid worker, dispatcher): a map point or an address."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"category": "sanitation", "description": "滨河路垃圾桶满溢", "lon": 113.22, "lat": 22.55},
                {"category": "road", "description": "路面坑洼", "address": "滨河路"},
            ]
        },
    )
    category: Annotated[str, varchar(30, min_length=1)] = Field(
        description="事项类别 code (GET /events/categories)"
    )
    description: Annotated[str, varchar(2000, min_length=2)] = Field(description="情况描述")
    lon: Lon | None = Field(None, description="经度 WGS84")
    lat: Lat | None = Field(None, description="纬度 WGS84")
    address: Annotated[str, varchar(300)] | None = Field(
        None, description="地址 (没有点位时按地址和地名定位)"
    )
    phone: Annotated[str, varchar(20)] | None = Field(None, description="反映人电话 (仅工作人员可见)")


class PublicReport(BaseModel):
    """我要反映: a resident's report from the public map (no login)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "category": "noise",
                    "description": "夜间施工噪音",
                    "lon": 113.22,
                    "lat": 22.55,
                    "phone": "13800000000",
                }
            ]
        },
    )
    category: Annotated[str, varchar(30, min_length=1)] = Field(description="事项类别 code")
    description: Annotated[str, varchar(1000, min_length=2)] = Field(description="情况描述")
    lon: Lon = Field(description="经度 WGS84")
    lat: Lat = Field(description="纬度 WGS84")
    phone: Annotated[str, varchar(20)] | None = Field(None, description="联系电话 (可选, 仅工作人员可见)")
    website: Annotated[str, varchar(200)] | None = Field(None, description="请留空 (leave empty)")


class Transition(BaseModel):
    """流转 one step of the flow (send the event's ETag as If-Match)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "accept"},
                {"action": "resolve", "note": "已清运"},
                {"action": "assign", "department": "民政局"},
                {"action": "review", "satisfaction": 5, "note": "电话回访满意"},
                {"action": "merge", "into": 12},
            ]
        },
    )
    action: Action = Field(
        description="受理 accept, 上报指挥中心 escalate, 办结 resolve, 分拨 assign, 签收处置 handle, "
        "退回 return, 回访评价 review, 归档 archive, 合并 merge (with into)"
    )
    note: Annotated[str, varchar(2000)] | None = Field(None, description="办结结果 / 退回原因 / 回访记录")
    department: Annotated[str, varchar(60)] | None = Field(None, description="分拨的职能部门")
    satisfaction: int | None = Field(None, ge=1, le=5, description="群众满意度 1-5 (5 最满意)")
    into: int | None = Field(
        None, ge=1, le=2**63 - 1, description="合并 merge: 并入的未办结同类事件 event_id"
    )


class HistoryItem(BaseModel):
    action: str
    from_status: str | None = None
    to_status: str
    actor: str
    at: datetime
    note: str | None = None
    department: str | None = None


class Event(BaseModel):
    """民情事件 as staff see it (ETag header: its version)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EVENT_EXAMPLE]})
    event_id: int
    tracking_code: str
    category: str
    category_zh: str
    description: str
    status: str
    status_zh: str
    level: str
    source: str
    grid_id: int | None = None
    community_id: int | None = None
    town_id: int | None = None
    worker_id: int | None = None
    department: str | None = None
    address: str | None = None
    reporter_phone: str | None = None
    reported_by: str
    reported_at: datetime
    due_at: datetime
    overdue: bool
    escalations: int
    resolved_at: datetime | None = None
    result_note: str | None = None
    satisfaction: int | None = None
    duplicate_of: int | None = None
    external_ref: str | None = Field(None, description="12345 工单编号 (导入的事件)")
    version: int
    lon: float
    lat: float
    actions: list[str] = Field(description="此时你可以执行的操作")
    history: list[HistoryItem] | None = None
    possible_duplicates: list[int] | None = Field(None, description="附近同类未办结事件 (可合并)")


class EventList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_EVENT_EXAMPLE], "numberMatched": 1, "numberReturned": 1, "links": []}]
        }
    )
    items: list[Event]
    numberMatched: int  # noqa: N815 - OGC API field names
    numberReturned: int  # noqa: N815
    links: list[Link]


class Category(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "environment",
                    "name_zh": "环境卫生",
                    "first_level": "网格",
                    "department": "城市管理和综合执法局",
                    "limit_value": 24,
                    "limit_unit": "hours",
                }
            ]
        }
    )
    code: str
    name_zh: str
    first_level: str
    department: str
    limit_value: float
    limit_unit: str


class PublicReceipt(BaseModel):
    """反映已收到: the tracking code to follow it (keep it)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tracking_code": "MQ7KD2PX9QAB",
                    "status_zh": "已上报",
                    "message": "已收到您的反映, 请保存查询码",
                }
            ]
        }
    )
    tracking_code: str
    status_zh: str
    message: str


class PublicStatus(BaseModel):
    """办理进度: status and dates only."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "resolved",
                    "status_zh": "已办结",
                    "category_zh": "环境卫生",
                    "reported_at": "2026-03-10T09:00:00+08:00",
                    "due_at": "2026-03-11T09:00:00+08:00",
                    "resolved_at": "2026-03-10T12:00:00+08:00",
                    "updated_at": "2026-03-10T12:00:00+08:00",
                }
            ]
        }
    )
    status: str
    status_zh: str
    category_zh: str
    reported_at: datetime
    due_at: datetime
    resolved_at: datetime | None = None
    updated_at: datetime | None = None


class Escalated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": 1042,
                    "from_level": "网格",
                    "to_level": "镇街",
                    "status": "escalated",
                    "due_at": "2026-03-12T09:00:00+08:00",
                }
            ]
        }
    )
    event_id: int
    from_level: str
    to_level: str
    status: str
    due_at: datetime


class Photo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "content_type": "image/jpeg",
                    "width": 1600,
                    "height": 1200,
                    "size_bytes": 254000,
                    "uploaded_by": "wang.wangge",
                }
            ]
        }
    )
    sha256: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    uploaded_by: str


class Kpi(BaseModel):
    """考核指标 of one grid, community or town (rates 0-1; None: nothing to measure yet)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "area_id": 10001,
                    "name": "第一网格",
                    "events": 40,
                    "due": 38,
                    "on_time": 36,
                    "closed": 37,
                    "rated": 20,
                    "satisfied": 19,
                    "on_time_rate": 0.947,
                    "closed_rate": 0.925,
                    "mean_hours_to_resolve": 18.5,
                    "satisfied_rate": 0.95,
                    "households_owing": 12,
                    "visits_owed": 60,
                    "visits_done": 54,
                    "visit_rate": 0.9,
                }
            ]
        }
    )
    area_id: int
    name: str
    events: int = Field(description="上报件数")
    due: int = Field(description="应办结件数 (已办结或已过期限)")
    on_time: int = Field(description="按期办结件数")
    closed: int = Field(description="结案件数")
    rated: int = Field(description="评价件数")
    satisfied: int = Field(description="满意件数 (4-5分)")
    on_time_rate: float | None = Field(description="按期处置率 on_time / due")
    closed_rate: float | None = Field(description="结案率 closed / events")
    mean_hours_to_resolve: float | None = Field(description="平均办结时长 (小时)")
    satisfied_rate: float | None = Field(description="群众满意率 satisfied / rated")
    households_owing: int = Field(0, description="期内应走访的重点人群户数")
    visits_owed: int = Field(0, description="应走访次数 (各户在期内的整走访周期数)")
    visits_done: int = Field(0, description="已走访次数 (每户至多计应走访次数)")
    visit_rate: float | None = Field(None, description="走访完成率 visits_done / visits_owed")


class EventPoints(BaseModel):
    """Events for a map as compact rows (one per event, in ``columns`` order)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "columns": [
                        "event_id",
                        "lon",
                        "lat",
                        "status",
                        "category",
                        "overdue",
                        "level",
                        "department",
                        "grid_id",
                        "reported_at",
                        "due_at",
                    ],
                    "rows": [
                        [
                            12,
                            113.22,
                            22.55,
                            "escalated",
                            "road",
                            False,
                            "镇街",
                            None,
                            10001,
                            "2026-03-10T09:00:00+08:00",
                            "2026-03-13T18:00:00+08:00",
                        ]
                    ],
                    "truncated": False,
                }
            ]
        }
    )
    columns: list[str]
    rows: list[list[int | float | str | bool | datetime | None]]
    truncated: bool = Field(description="更多事件未列出 (请缩短天数)")


class PeriodCounts(BaseModel):
    reported: int = Field(description="期间上报")
    resolved: int = Field(description="期间办结")
    open: int = Field(description="当前未办结")
    overdue: int = Field(description="当前超时未办结")
    waiting: int = Field(description="当前待分拨")


class EventCounts(BaseModel):
    """今日与本月 (China Standard Time days)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "today": {"reported": 12, "resolved": 9, "open": 40, "overdue": 3, "waiting": 2},
                    "month": {"reported": 310, "resolved": 280, "open": 40, "overdue": 3, "waiting": 2},
                    "at": "2026-03-10T09:00:00+08:00",
                }
            ]
        }
    )
    today: PeriodCounts
    month: PeriodCounts
    at: datetime


class CommunityResolved(BaseModel):
    area_id: int
    name: str
    resolved: int | None = Field(description="本月已办结件数 (四舍五入到5; 过小时为 null)")
    suppressed: bool = Field(description="件数或户数过小, 不公开")


class ResolvedCounts(BaseModel):
    """本月已办结 N 件 per community (public; small counts suppressed, the others rounded)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "month": "2026-03",
                    "measure": "本月已办结件数: 办结时间在该月 (北京时间) 的民情事件, 合并件不计",
                    "communities": [
                        {"area_id": 100, "name": "一社区", "resolved": 25, "suppressed": False},
                        {"area_id": 200, "name": "二社区", "resolved": None, "suppressed": True},
                    ],
                }
            ]
        }
    )
    month: str
    measure: str
    communities: list[CommunityResolved]


class PublicPhotos(BaseModel):
    """照片已收到: how many photos the report has now, of how many allowed."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"photos": 1, "limit": 3}]})
    photos: int
    limit: int


class PublicReviewRequest(BaseModel):
    """回访评价 by the resident: how satisfied (1–5, 5 最满意) and, if they wish, a short word."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"satisfaction": 5, "note": "处理及时"}]}
    )
    satisfaction: int = Field(ge=1, le=5, description="满意度 1–5 (5 最满意)")
    note: str | None = Field(default=None, max_length=200, description="评价留言 (可选)")


class PublicReview(BaseModel):
    """评价已收到: the score and the report's new status."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"satisfaction": 5, "status": "reviewed", "status_zh": "已回访"}]}
    )
    satisfaction: int
    status: str
    status_zh: str


class ImportedOrders(BaseModel):
    """12345 工单导入结果 (all rows imported)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"imported": 2, "event_ids": [101, 102]}]})
    imported: int
    event_ids: list[int]
