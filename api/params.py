"""Parsing of query and path parameters (bbox, property filters, feature ids, tile addresses).

The API's own business: ``layers`` takes the typed values these return. Every refusal is a 400
(404 for an id that cannot exist) whose message names the parameter and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from api.errors import ApiError
from layers import tiles
from layers.features import FilterType, Layer


class BadParameter(ApiError):
    """A query parameter (bbox, filter, id, tile address) cannot be used; the message says which and why."""

    status, code = 400, "bad_parameter"


class UnknownFeature(ApiError):
    """A feature id that cannot exist in its collection."""

    status, code = 404, "not_found"


def parse_key(lay: Layer, fid: str) -> int | str:
    """The feature id of ``fid`` in the layer's key type (``NotFound`` when it cannot exist)."""
    if lay.key_type is int:
        try:
            value = int(fid)
        except ValueError:
            raise UnknownFeature(
                f"{lay.id} has no feature {fid!r}: feature ids of {lay.id} are integers"
            ) from None
        if not -(2**63) <= value < 2**63:
            raise UnknownFeature(f"{lay.id} has no feature {fid!r}: the id is out of range")
        return value
    return _clean_text(fid, "feature id")


def parse_filters(lay: Layer, raw: Mapping[str, str]) -> dict[str, Any]:
    """Typed property filters from query parameters (``BadParameter`` for unknown or bad values)."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in lay.filters:
            raise BadParameter(
                f"{lay.id} cannot be filtered by {name!r}",
                fix=f"filter {lay.id} by one of {sorted(lay.filters)} (or use bbox, limit, offset)",
            )
        out[name] = _typed(name, value, lay.filters[name][1])
    return out


def _typed(name: str, value: str, kind: FilterType) -> Any:
    value = _clean_text(value, name)
    if kind == "int":
        try:
            number = int(value)
        except ValueError:
            raise BadParameter(
                f"filter {name}={value!r} is not an integer", fix=f"give {name} as digits"
            ) from None
        if not -(2**63) <= number < 2**63:
            raise BadParameter(f"filter {name}={value!r} is out of range", fix="use a real id")
        return number
    if kind == "bool":
        lowered = value.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise BadParameter(
            f"filter {name}={value!r} is not a boolean", fix=f"use {name}=true or {name}=false"
        )
    return value


def _clean_text(value: str, name: str) -> str:
    if "\x00" in value:
        raise BadParameter(f"{name} contains a NUL character", fix="remove the \\0 character")
    return value


def parse_bbox(raw: str) -> tuple[float, float, float, float]:
    """``minLon,minLat,maxLon,maxLat`` (EPSG:4326) → a tuple; says when lat/lon look swapped.

    The six-number form of OGC API - Features (``minLon,minLat,minZ,maxLon,maxLat,maxZ``) is
    accepted too; the heights are ignored (the layers are 2D).
    """
    parts = [p.strip() for p in _clean_text(raw, "bbox").split(",")]
    example = "bbox=113.20,22.50,113.40,22.70"
    if len(parts) not in (4, 6):
        raise BadParameter(
            f"bbox={raw!r} has {len(parts)} numbers, not 4 (or 6 with heights)",
            fix=f"give minLon,minLat,maxLon,maxLat in degrees, e.g. {example}",
        )
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise BadParameter(
            f"bbox={raw!r} contains a value that is not a number",
            fix=f"give four decimal degrees, e.g. {example}",
        ) from None
    if len(numbers) == 4:
        minx, miny, maxx, maxy = numbers
    else:
        minx, miny, maxx, maxy = numbers[0], numbers[1], numbers[3], numbers[4]
    if not all(math.isfinite(v) for v in numbers[2::3] if len(numbers) == 6):
        raise BadParameter(f"bbox={raw!r} contains a non-finite height", fix=f"e.g. {example}")
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise BadParameter(f"bbox={raw!r} contains a non-finite number", fix=f"e.g. {example}")
    lons_ok = all(-180 <= v <= 180 for v in (minx, maxx))
    lats_ok = all(-90 <= v <= 90 for v in (miny, maxy))
    if lons_ok and not lats_ok and all(-90 <= v <= 90 for v in (minx, maxx)):
        raise BadParameter(
            f"bbox={raw!r}: latitude {max(abs(miny), abs(maxy))} is beyond ±90, so longitude and latitude "
            "look swapped (lat,lon order)",
            fix=f"send lon/lat order: bbox={miny},{minx},{maxy},{maxx}",
        )
    if not (lons_ok and lats_ok):
        raise BadParameter(
            f"bbox={raw!r} is outside -180..180 / -90..90",
            fix=f"give minLon,minLat,maxLon,maxLat in degrees (EPSG:4326), e.g. {example}",
        )
    if minx > maxx or miny > maxy:
        raise BadParameter(
            f"bbox={raw!r}: the minimum is larger than the maximum",
            fix="order it minLon,minLat,maxLon,maxLat: bbox="
            f"{min(minx, maxx)},{min(miny, maxy)},{max(minx, maxx)},{max(miny, maxy)}",
        )
    return minx, miny, maxx, maxy


def check_tile(z: int, x: int, y: int) -> None:
    """``BadParameter`` unless z/x/y name a tile of the Web-Mercator pyramid."""
    if not 0 <= z <= tiles.MAX_ZOOM:
        raise BadParameter(
            f"zoom {z} is outside 0..{tiles.MAX_ZOOM}", fix=f"use a zoom from 0 to {tiles.MAX_ZOOM}"
        )
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise BadParameter(
            f"tile {z}/{x}/{y} does not exist: at zoom {z} x and y run from 0 to {2**z - 1}",
            fix="use the z/x/y of an XYZ (Google/OSM) tile",
        )


def parse_tile_filters(tl: tiles.TileLayer, raw: Mapping[str, str]) -> dict[str, Any]:
    """Typed filters of a tile request (the layer's filters); the ``required`` ones must be there."""
    filters = parse_filters(tl.layer, raw)
    missing = [f for f in tl.required if f not in filters]
    if missing:
        example = "&".join(f"{f}=..." for f in missing)
        raise BadParameter(
            f"the {tl.id} tiles need {', '.join(missing)}",
            fix=f"add ?{example} (one tile holds one {' and one '.join(missing)})",
        )
    return filters
