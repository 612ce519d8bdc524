"""What-if scenarios that come with the demo district, built from its planted cases (pure data).

- ``规划新增日间照料中心``: the planned day-care centre (``planned_daycare``) opens, and two more are
  proposed in the ``no_daycare`` communities with the most residents, on the public street nearest
  the middle of their homes: the planners' answer to the day-care gaps (gains only).
- ``日间照料中心调整与幼儿园扩容（示例）``: the undersized day-care centre (``undersized``, 200 m²)
  closes, the gated one (``gated_daycare``) moves out of its compound to the nearest public street,
  and the overloaded kindergarten (``overloaded``) doubles its places: a mixed plan with losses,
  gains and a capacity change.

Coordinates are WGS84 degrees; facility ids are those of the demo's facilities table.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.crs import to_metric
from geo.standards import community_of

DAYCARE = "elderly_daycare"
NEAR_DEG, NEAR_M = 0.02, 2000.0
"""Half a side of the box searched first for the nearest street (degrees), and the distance under
which its nearest street is the nearest of all (0.02° is more than 2,050 m this far south)."""


def demo_scenarios(district: Any) -> list[dict[str, Any]]:
    """``[{name, description, changes}]`` for ``district`` (a ``data.demo.DemoDistrict``); a case the
    district lacks (another seed or scale) is left out, and so is a scenario without changes."""
    planted = district.planted
    fac = district.facilities

    def ids(case: str, type_code: str | None = None) -> list[int]:
        rows = (
            planted[(planted.case == case) & (planted.layer == "facilities")].object_id.astype(int).tolist()
        )
        if type_code is None:
            return rows
        types = dict(zip(fac.facility_id.astype(int), fac.type_code, strict=True))
        return [i for i in rows if types.get(i) == type_code]

    opened = [{"op": "open", "facility_id": i} for i in ids("planned_daycare", DAYCARE)]
    added = [
        {
            "op": "add",
            "type_code": DAYCARE,
            "lon": lon,
            "lat": lat,
            "name": f"{name}老年人日间照料中心（拟建）",
            "capacity": 30,
            "floor_area_m2": 500,
        }
        for name, lon, lat in _gap_sites(district)
    ]
    closed = [{"op": "close", "facility_id": i} for i in ids("undersized", DAYCARE)]
    moved = [
        {"op": "move", "facility_id": i, **_street_side(district, i)} for i in ids("gated_daycare", DAYCARE)
    ]
    grown = [{"op": "change", "facility_id": i, "capacity": 2 * _capacity(fac, i)} for i in ids("overloaded")]
    out = [
        {
            "name": "规划新增日间照料中心",
            "description": "启用规划中的日间照料中心，并在缺少日间照料中心、"
            "居民最多的两个社区各拟建一处（演示数据）。",
            "changes": opened + added,
        },
        {
            "name": "日间照料中心调整与幼儿园扩容（示例）",
            "description": "关闭面积不达标（200 m²）的日间照料中心；封闭小区内的日间照料中心迁至临街；"
            "超负荷幼儿园学位翻倍（演示数据）。",
            "changes": closed + moved + grown,
        },
    ]
    return [sc for sc in out if sc["changes"]]


def _gap_sites(district: Any, *, count: int = 2) -> list[tuple[str, float, float]]:
    """(community name, lon, lat) of the ``count`` most populous ``no_daycare`` communities without a
    planned centre: the public street point nearest the middle of their homes."""
    planted = district.planted
    gaps = planted[(planted.case == "no_daycare") & (planted.layer == "areas")].object_id.astype(int).tolist()
    planned = set(
        planted[planted.case == "planned_daycare"].name.str.replace("老年人日间照料中心", "", regex=False)
    )
    areas = district.areas.set_index("area_id")
    res = district.residences
    community = community_of(district.areas, res.area_id.astype(int).to_numpy())
    people = res.assign(community=community).groupby("community").population.sum()
    ranked = [
        a
        for a in people.sort_values(ascending=False).index
        if a in gaps and areas.at[a, "name"] not in planned
    ]
    sites = []
    for area_id in ranked[:count]:
        homes = res[community == area_id]
        middle = shapely.Point(float(homes.geometry.x.mean()), float(homes.geometry.y.mean()))
        point = _nearest_street_point(district, middle, within=areas.at[area_id, "geometry"])
        sites.append((str(areas.at[area_id, "name"]), round(point.x, 6), round(point.y, 6)))
    return sites


def _street_side(district: Any, facility_id: int) -> dict[str, float]:
    """``lon``/``lat`` of the public street point nearest a facility (out of a gated compound)."""
    fac = district.facilities
    here = fac[fac.facility_id.astype(int) == facility_id].geometry.iloc[0]
    point = _nearest_street_point(district, here)
    return {"lon": round(point.x, 6), "lat": round(point.y, 6)}


def _nearest_street_point(district: Any, point: shapely.Point, *, within: Any = None) -> shapely.Point:
    """The nearest point (metric) on a public street (no ``access`` restriction, a road, not a path),
    inside ``within`` when given and possible."""
    edges = district.edges
    public = edges[
        edges.access.isna()
        & edges.highway.isin(
            ["primary", "secondary", "tertiary", "residential", "unclassified", "living_street"]
        )
    ]
    if within is not None:
        inside = public[public.intersects(within)]
        public = inside if len(inside) else public
    # the streets of a box of ±NEAR_DEG first: when one of them lies within NEAR_M, no street outside
    # the box can be nearer (a large demo has hundreds of thousands of street segments)
    near = public.cx[point.x - NEAR_DEG : point.x + NEAR_DEG, point.y - NEAR_DEG : point.y + NEAR_DEG]
    for lines_ll in (near, public) if len(near) else (public,):
        metric = to_metric(gpd.GeoSeries([point, *lines_ll.geometry], crs=4326))
        target, lines = metric.iloc[0], metric.iloc[1:]
        distance = lines.distance(target).to_numpy()
        if lines_ll is public or distance.min() <= NEAR_M:
            break
    nearest = lines.iloc[int(np.argmin(distance))]
    snapped = nearest.interpolate(nearest.project(target))
    return gpd.GeoSeries([snapped], crs=metric.crs).to_crs(4326).iloc[0]


def _capacity(fac: Any, facility_id: int) -> float:
    value = fac[fac.facility_id.astype(int) == facility_id].capacity.iloc[0]
    return float(value) if value == value else 90.0  # NaN → the planted 90 places
