"""Place-name search and reverse lookup."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PlaceNameHit(BaseModel):
    """地名检索结果 one search hit."""

    name_id: int
    name: str = Field(examples=["滨河路"])
    pinyin: str | None = Field(None, examples=["Binhe Lu"])
    category: str | None = None
    status: str | None = None
    lon: float | None = None
    lat: float | None = None
    score: int = Field(description="3 完全匹配 exact, 2 前缀 prefix, 1 包含 substring")
    match: str | None = Field(None, description="chinese, pinyin or initials")
    historical: bool = Field(False, description="曾用名 matched a former name")


class NearbyRoad(BaseModel):
    name: str
    highway: str | None = None
    distance_m: float


class NearbyName(BaseModel):
    name_id: int
    name: str
    category: str | None = None
    pinyin: str | None = None
    status: str | None = None
    distance_m: float


class AreaRef(BaseModel):
    area_id: int
    parent_id: int | None = None
    level: str
    code: str
    name: str
    worker_name: str | None = None
    worker_phone: str | None = None


class ReverseResult(BaseModel):
    """逆地理编码 what lies at a point."""

    lon: float
    lat: float
    road: NearbyRoad | None = Field(None, description="最近的有名道路 (≤ 1000 m)")
    place_name: NearbyName | None = Field(None, description="最近的地名 (≤ 2000 m)")
    grid: AreaRef | None = Field(None, description="所在小网格及网格员工作联系方式")
    areas: list[AreaRef] = Field(description="所在区划与网格, 由区到小网格")
