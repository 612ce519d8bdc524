"""Read what the map pages show, through the ``layers`` package (no SQL here).

Each function takes an open session and returns plain frames/dicts in EPSG:4326 (lon, lat); the
builders in ``maps.public``/``maps.planner``/``maps.placenames`` never touch the database.
Only public columns are read for the public page: no residences, no household counts.
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from layers import features, placenames, queries
from layers.features import MAX_LIMIT

DEMO_MARKERS = ("demo", "演示", "虚构")


def _items(s: Session, collection: str, **filters: Any) -> list[features.FeatureRow]:
    lay = features.layer(collection)
    rows: list[features.FeatureRow] = []
    while True:
        page = features.items(s, lay, filters=filters, limit=MAX_LIMIT, offset=len(rows))
        rows.extend(page.features)
        if len(page.features) < MAX_LIMIT:
            return rows


def _frame(rows: list[features.FeatureRow], *, geometry: bool) -> pd.DataFrame:
    props = pd.DataFrame([r.properties for r in rows])
    if not geometry:
        return props
    geoms = [shapely.geometry.shape(json.loads(r.geometry)) if r.geometry else None for r in rows]
    return gpd.GeoDataFrame(props, geometry=gpd.GeoSeries(geoms, index=props.index), crs=4326)


NOT_READ = frozenset(
    {
        # the 民情 and its work, jobs, scenarios and accounts (the user's name is filled in per request)
        *("events", "event_history", "event_kpi_days", "event_photos", "key_households", "visits"),
        *("jobs", "scenarios", "users", "revoked_tokens"),
        # results of runs: a page names the run it shows by its id (a new run, a new id), and the
        # gaps' tile URLs carry the latest run's id too (``layers.tiles.version_token``)
        *("coverage_runs", "coverage_run_types", "coverage_area_rows", "coverage_area_circle_rows"),
        *("coverage_composite", "coverage_facility_rows", "coverage_gaps_rows", "coverage_presence"),
        *("coverage_residence_packed", "coverage_target", "facility_isochrone_rows"),
        *("facility_isochrone_sources", "province_runs", "province_residence", "province_rollup"),
        # the place-name checks' results, which the place-name page computes itself and then stores
        # (``pipeline.placename_results.keep``)
        "place_name_results",
    }
)
"""Tables whose changes no map page shows: a 民情 report, a visit or a scenario's run rebuilds no page."""


def version_key(s: Session) -> tuple[tuple[str, int], ...]:
    """The data version of every layer a page may read: a cached page is valid while this is unchanged."""
    return tuple(sorted((k, v) for k, v in queries.data_versions(s).items() if k not in NOT_READ))


def district(s: Session) -> dict[str, Any]:
    """Name, bounds ``[[south, west], [north, east]]`` and demo flag of the loaded district."""
    rows = _items(s, "areas", level="district")
    extent = features.district_extent(s)
    if not rows or extent is None:
        return {"name": "未载入辖区", "bounds": None, "demo": False}
    first = rows[0].properties
    source = str(first.get("source") or "")
    minx, miny, maxx, maxy = extent
    return {
        "name": first["name"],
        "bounds": [[miny, minx], [maxy, maxx]],
        "demo": any(m in source.lower() for m in DEMO_MARKERS),
    }


def basemap_layers(s: Session) -> dict[str, gpd.GeoDataFrame]:
    """Roads (network edges), water, administrative areas and the registry's estate, zone and park
    polygons (built-up blocks) for the offline base map."""
    return {
        "edges": queries.edges(s),
        "water": _frame(_items(s, "water"), geometry=True) if _has(s, "water") else _empty(["kind", "name"]),
        "areas": queries.areas(s, levels=("district", "town", "community")),
        "place_names": place_names(s) if _has(s, "place_names") else None,
    }


def _has(s: Session, table: str) -> bool:
    return queries.counts(s).get(table, 0) > 0


def _empty(columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def communities(s: Session) -> gpd.GeoDataFrame:
    """Community polygons with their name and urban flag (the planner's compliance layer)."""
    return queries.areas(s, levels=("community",))[["area_id", "name", "urban", "geometry"]]


def facility_types(s: Session) -> pd.DataFrame:
    return queries.facility_types(s)


def public_facilities(s: Session) -> pd.DataFrame:
    """Open facilities with their public fields: id, type, name, lon, lat, address, hours, phone,
    capacity (places or beds, in the unit of the type), fees (收费标准, None when unknown)."""
    columns = [
        "facility_id",
        "type_code",
        "name",
        "lon",
        "lat",
        "address",
        "opening_hours",
        "phone",
        "status",
        "capacity",
        "fees",
    ]
    frame = _frame(_items(s, "facilities", status="open"), geometry=True)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(frame.drop(columns="geometry"))
    out["lon"] = frame.geometry.x.round(6)
    out["lat"] = frame.geometry.y.round(6)
    for column, missing in (("capacity", np.nan), ("fees", None)):
        if column not in out.columns:
            out[column] = missing
    return out[columns]


def small_grids(s: Session) -> gpd.GeoDataFrame:
    """Small grids with the names of their community and town and the grid worker's WORK contact."""
    areas = queries.areas(s)
    names = areas.set_index("area_id")["name"]
    parents = areas.set_index("area_id")["parent_id"]
    grids = areas[areas["level"] == "grid_small"].copy()
    community = grids["parent_id"].map(parents)  # grid_small → grid_middle → community → town
    grids["community"] = community.map(names)
    grids["town"] = community.map(parents).map(names)
    return grids[["area_id", "code", "name", "community", "town", "worker_name", "worker_phone", "geometry"]]


def place_names(s: Session) -> gpd.GeoDataFrame:
    """Every place name with its public fields and geometry (points, lines or polygons)."""
    if not _has(s, "place_names"):
        return _empty(
            [
                "name_id",
                "name",
                "category",
                "area_id",
                "proper",
                "generic",
                "pinyin",
                "status",
                "heritage",
                "sign_present",
                "approval",
                "meaning",
            ]
        )
    return _frame(_items(s, "place_names"), geometry=True)


def place_name_towns(s: Session) -> pd.Series:
    """The 镇街 of every place name (name_id → town name; None outside every town)."""
    if not _has(s, "place_names"):
        return pd.Series(dtype=object)

    return placenames.registry(s, current=False)["town"]


def place_name_findings(s: Session) -> pd.DataFrame:
    """The registry's rule findings on every current name (``layers.placenames.check_registry``)."""
    if not _has(s, "place_names"):
        return pd.DataFrame(columns=["name_id", "code", "reason_zh", "rule", "detail", "group"])

    return placenames.check_registry(s)
