"""Isochrone responses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class IsochroneProperties(BaseModel):
    minutes: float = Field(examples=[15])
    profile: str = Field(examples=["walk"])
    kind: Literal["isochrone"] = "isochrone"


class IsochroneFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: IsochroneProperties


class ReachableFacility(BaseModel):
    facility_id: int
    name: str
    type_code: str
    type_name: str | None = None
    time_s: float = Field(description="出行时间 travel time, seconds")


class IsochroneCollection(BaseModel):
    """等时圈 one polygon per minutes value, and the facilities reachable in the largest one."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[IsochroneFeature]
    facilities: list[ReachableFacility] = Field(description="可达设施 reachable facilities, nearest first")
    origin: dict[str, Any]
