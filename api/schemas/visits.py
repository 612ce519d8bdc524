"""重点人群 key households and 走访 visits (staff only: grid workers their grid, admins all)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.schemas.common import Id, Lat, Link, Lon, varchar
from api.schemas.events import Event

_HOUSEHOLD_EXAMPLE: JsonDict = {
    "household_id": 7,
    "residence_id": 2,
    "head_name": "陈某某",
    "address": "示例路8号",
    "groups": ["elderly_alone"],
    "groups_zh": ["独居/空巢老人"],
    "note": "腿脚不便",
    "grid_id": 10001,
    "community_id": 100,
    "town_id": 10,
    "registered_at": "2026-01-05T09:00:00+08:00",
    "active": True,
    "version": 1,
    "lon": 113.24,
    "lat": 22.66,
    "last_visit_at": "2026-03-01T10:00:00+08:00",
    "every_days": 7,
    "next_due_at": "2026-03-08T10:00:00+08:00",
    "overdue": True,
}
_VISIT_EXAMPLE: JsonDict = {
    "visit_id": 31,
    "household_id": 7,
    "worker": "wang.wangge",
    "visited_at": "2026-03-09T10:00:00+08:00",
    "distance_m": 18.5,
    "notes": "身体状况良好",
    "needs": "需要助餐服务",
    "event_id": None,
    "lon": 113.2401,
    "lat": 22.6601,
    "created_at": "2026-03-09T10:01:00+08:00",
}


class KeyGroup(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"code": "elderly_alone", "name_zh": "独居/空巢老人", "every_days": 7, "priority": 2}
            ]
        }
    )
    code: str
    name_zh: str
    every_days: int = Field(description="走访周期 (天)")
    priority: int


class HouseholdCreate(BaseModel):
    """登记重点人群户: a household of a residence point (一标三实) in one or more key groups."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "residence_id": 2,
                    "groups": ["elderly_alone", "disabled"],
                    "head_name": "陈某某",
                    "note": "腿脚不便",
                }
            ]
        },
    )
    residence_id: Id = Field(description="住户点 residence_id")
    groups: list[Annotated[str, varchar(30, min_length=1)]] = Field(
        min_length=1, max_length=5, description="重点人群类别 (GET /visits/plan)"
    )
    head_name: Annotated[str, varchar(40, min_length=1)] = Field(description="户主姓名")
    note: Annotated[str, varchar(1000)] | None = Field(None, description="备注")
    registered_at: datetime | None = Field(None, description="纳入走访的时间 (默认现在)")


class HouseholdChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"groups": ["dibao"], "active": True}]}
    )
    groups: list[Annotated[str, varchar(30, min_length=1)]] | None = Field(None, min_length=1, max_length=5)
    head_name: Annotated[str, varchar(40, min_length=1)] | None = None
    note: Annotated[str, varchar(1000)] | None = None
    active: bool | None = Field(None, description="false: 不再列入走访")


class Household(BaseModel):
    """重点人群户 with its next due visit."""

    model_config = ConfigDict(json_schema_extra={"examples": [_HOUSEHOLD_EXAMPLE]})
    household_id: int
    residence_id: int
    head_name: str
    address: str | None = None
    groups: list[str]
    groups_zh: list[str]
    note: str | None = None
    grid_id: int | None = None
    community_id: int | None = None
    town_id: int | None = None
    registered_at: datetime
    active: bool
    version: int
    lon: float
    lat: float
    last_visit_at: datetime | None = Field(None, description="最近走访时间")
    every_days: int | None = Field(None, description="走访周期 (天): 其所属类别中最短的")
    next_due_at: datetime | None = Field(None, description="下次应走访时间")
    overdue: bool = Field(description="走访逾期")
    visits: list[Visit] | None = Field(None, description="最近的走访 (详情)")


class HouseholdList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"items": [_HOUSEHOLD_EXAMPLE], "numberMatched": 1, "numberReturned": 1, "links": []}
            ]
        }
    )
    items: list[Household]
    numberMatched: int  # noqa: N815 - OGC API field names
    numberReturned: int  # noqa: N815
    links: list[Link]


class VisitCreate(BaseModel):
    """登记走访: the browser's location must be near the household (MINQING_VISITS_MAX_DISTANCE_M)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"household_id": 7, "lon": 113.2401, "lat": 22.6601, "notes": "身体状况良好"},
                {
                    "household_id": 7,
                    "lon": 113.2401,
                    "lat": 22.6601,
                    "notes": "独自在家",
                    "needs": "需要助餐服务",
                    "event_category": "elderly_care",
                },
                {
                    "household_id": 7,
                    "lon": 113.2401,
                    "lat": 22.6601,
                    "visited_at": "2026-03-09T10:00:00+08:00",
                    "notes": "离线登记",
                    "client_id": "0b5c3c1e-6f0e-4d0a-9a57-2f4d1e8b7c21",
                },
            ]
        },
    )
    household_id: Id
    lon: Lon = Field(description="走访时浏览器定位 经度")
    lat: Lat = Field(description="走访时浏览器定位 纬度")
    visited_at: datetime | None = Field(None, description="走访时间 (默认现在)")
    notes: Annotated[str, varchar(2000)] | None = Field(None, description="走访记录")
    needs: Annotated[str, varchar(2000)] | None = Field(None, description="发现的需求")
    event_category: Annotated[str, varchar(30, min_length=1)] | None = Field(
        None, description="同时把需求转为民情事件: 事项类别 code"
    )
    client_id: UUID | None = Field(
        None, description="手机为离线登记的走访生成的编号 (随机 UUID): 重发不重复登记"
    )


class NeedToEvent(BaseModel):
    """需求转事件: the need found on a visit becomes a 民情事件 at the household."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"category": "elderly_care"}]})
    category: Annotated[str, varchar(30, min_length=1)] = Field(
        description="事项类别 code (GET /events/categories)"
    )
    description: Annotated[str, varchar(2000)] | None = Field(
        None, description="事件描述 (默认: 走访发现的需求)"
    )


class Visit(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_VISIT_EXAMPLE]})
    visit_id: int
    household_id: int
    worker: str
    visited_at: datetime
    distance_m: float | None = Field(None, description="定位点距该户 (米)")
    notes: str | None = None
    needs: str | None = None
    event_id: int | None = Field(None, description="需求转成的事件")
    lon: float | None = None
    lat: float | None = None
    created_at: datetime
    client_id: UUID | None = Field(None, description="手机生成的走访编号 (离线登记)")
    head_name: str | None = None
    grid_id: int | None = None
    event: Event | None = Field(None, description="同时创建的民情事件")


class VisitList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_VISIT_EXAMPLE], "numberMatched": 1, "numberReturned": 1, "links": []}]
        }
    )
    items: list[Visit]
    numberMatched: int  # noqa: N815
    numberReturned: int  # noqa: N815
    links: list[Link]


Household.model_rebuild()
