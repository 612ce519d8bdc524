"""Shared field types, the error model, links and GeoJSON geometry models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

NO_NUL = r"^[^\x00]*$"


def varchar(max_length: int, *, min_length: int = 0) -> StringConstraints:
    """The rule of a string that fits a VARCHAR(max_length) column and holds no NUL character:
    ``Annotated[str, varchar(200)]`` (a static type to mypy, the same constraints to pydantic)."""
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=NO_NUL)


Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
Measure = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class ErrorDetail(BaseModel):
    code: str = Field(description="机器可读错误码 machine-readable code", examples=["not_found"])
    message: str = Field(description="出了什么问题 what was wrong", examples=["facilities has no feature 42"])
    fix: str | None = Field(None, description="如何修正 how to fix it")
    details: Any = Field(None, description="逐项问题 per-field or per-row problems")


class ErrorResponse(BaseModel):
    """统一错误格式 the one error model of every failure."""

    error: ErrorDetail


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="任务编号 job id", examples=[1])]
"""The id of a background job in a path (``/siting/jobs/{job_id}``, ``/imports/jobs/{job_id}`` …)."""
Position = Annotated[
    list[Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]], Field(min_length=2, max_length=3)
]


class _Geometry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PointGeometry(_Geometry):
    type: Literal["Point"]
    coordinates: Position = Field(examples=[[113.3, 22.6]])


class MultiPointGeometry(_Geometry):
    type: Literal["MultiPoint"]
    coordinates: list[Position] = Field(min_length=1)


class LineStringGeometry(_Geometry):
    type: Literal["LineString"]
    coordinates: list[Position] = Field(min_length=2)


class MultiLineStringGeometry(_Geometry):
    type: Literal["MultiLineString"]
    coordinates: list[Annotated[list[Position], Field(min_length=2)]] = Field(min_length=1)


Ring = Annotated[list[Position], Field(min_length=4)]


class PolygonGeometry(_Geometry):
    type: Literal["Polygon"]
    coordinates: list[Ring] = Field(min_length=1)


class MultiPolygonGeometry(_Geometry):
    type: Literal["MultiPolygon"]
    coordinates: list[Annotated[list[Ring], Field(min_length=1)]] = Field(min_length=1)


PointOnly = Annotated[PointGeometry, Field(description="点 GeoJSON Point [lon, lat] (WGS84)")]
AreaGeometry = Annotated[PolygonGeometry | MultiPolygonGeometry, Field(discriminator="type")]
AnyGeometry = Annotated[
    PointGeometry
    | MultiPointGeometry
    | LineStringGeometry
    | MultiLineStringGeometry
    | PolygonGeometry
    | MultiPolygonGeometry,
    Field(discriminator="type"),
]

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "参数错误 bad parameter",
        401: "需要登录 login required",
        403: "无权限 role not allowed",
        404: "不存在 not found",
        409: "冲突 conflict",
        412: "版本已变 changed since read (ETag)",
        413: "请求过大 body too large",
        422: "数据无效 invalid data",
        428: "缺少 If-Match header",
        429: "请求过多 rate limited",
        500: "内部错误 internal error",
        503: "数据库不可用 database unavailable",
    }.items()
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of a route (always with 400, 429, 500)."""
    return {c: ERRORS[c] for c in sorted({*codes, 400, 429, 500})}


GEOJSON = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """Declares ``application/geo+json`` in the OpenAPI document (routes return prebuilt bytes)."""

    media_type = GEOJSON
