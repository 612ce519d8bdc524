"""Place-name search (Chinese, full pinyin, initials) and reverse lookup of a point."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import OptionalUser, PrivacyDep, SessionDep, role_of
from api.routes.isochrones import require_in_district
from api.schemas.common import Lat, Lon, errors
from api.schemas.placenames import PlaceNameHit, ReverseResult
from layers import lookup

router = APIRouter(tags=["地名 place_names"])


def _value(value):
    """NaN (pandas' missing value) → None."""
    return None if isinstance(value, float) and math.isnan(value) else value


@router.get("/placenames/search", response_model=list[PlaceNameHit], summary="地名检索 search place names",
            description="Chinese substring (`q=滨河`), full pinyin with or without tones (`q=binhelu`) or "
            "initials (`q=bhl`). Exact matches first, then prefixes, then substrings; current names before "
            "former names.", responses=errors())
def search(request: Request, s: SessionDep, user: OptionalUser, privacy: PrivacyDep,
           q: Annotated[str, Query(min_length=1, max_length=50, pattern=r"^[^\x00]*$",
                                   description="检索词 Chinese, pinyin or initials", examples=["滨河"])],
           limit: Annotated[int, Query(ge=1, le=100, description="最多条数")] = 10) -> list[dict]:
    index, rows = request.app.state.engines.name_index(s)
    found = index.query(q, limit=limit)
    hits = []
    for hit in found.itertuples():
        row = rows.loc[hit.id]
        hits.append({"name_id": int(hit.id), "name": hit.name, "pinyin": _value(row["pinyin"]),
                     "category": _value(row["category"]), "status": _value(row["status"]),
                     "lon": _value(row["lon"]), "lat": _value(row["lat"]),
                     "score": int(hit.score), "match": hit.field, "historical": bool(hit.historical)})
    return privacy.payload(hits, role=role_of(user))


@router.get("/reverse", response_model=ReverseResult, summary="逆地理编码 what is at this point",
            description="The nearest named road (≤ 1000 m), the nearest place name (≤ 2000 m), the small grid "
            "with its grid worker's public work contact, and every area containing the point.",
            responses=errors(422))
def reverse(s: SessionDep, user: OptionalUser, privacy: PrivacyDep,
            lon: Annotated[Lon, Query(description="经度 longitude (WGS84)", examples=[113.25])],
            lat: Annotated[Lat, Query(description="纬度 latitude (WGS84)", examples=[22.55])]) -> dict:
    require_in_district(s, lon, lat)
    areas = lookup.areas_at(s, lon, lat)
    grid = next((a for a in areas if a["level"] == "grid_small"), None)
    result = {"lon": lon, "lat": lat, "road": lookup.nearest_road(s, lon, lat),
              "place_name": lookup.nearest_place_name(s, lon, lat), "grid": grid, "areas": areas}
    return privacy.payload(result, role=role_of(user))
