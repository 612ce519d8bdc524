"""Isochrone responses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

# --- response examples (OpenAPI) ---

_ISOCHRONE_COLLECTION_EXAMPLE: JsonDict = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "15",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[113.21, 22.54], [113.23, 22.54], [113.23, 22.56], [113.21, 22.54]]],
            },
            "properties": {"minutes": 15, "profile": "walk", "kind": "isochrone"},
        }
    ],
    "facilities": [
        {
            "facility_id": 1,
            "name": "一号幼儿园",
            "type_code": "kindergarten",
            "type_name": "幼儿园",
            "time_s": 312.0,
        }
    ],
    "origin": {"lon": 113.22, "lat": 22.5502, "snapped_m": 12.0},
}


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

    model_config = ConfigDict(json_schema_extra={"examples": [_ISOCHRONE_COLLECTION_EXAMPLE]})

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[IsochroneFeature]
    facilities: list[ReachableFacility] = Field(description="可达设施 reachable facilities, nearest first")
    origin: dict[str, Any]
