"""Counties side by side, built from demo districts (``data.demo``): FICTIONAL data.

``join_counties`` post-processes the frames of one generated demo district into ``n`` adjacent
counties (copies shifted east, ids offset per copy, area codes renamed to the given county codes)
whose street networks are joined across each county border by public roads, so that the nearest
facility of some homes lies in the next county. Used by the exactness test and the benchmark.
"""

from __future__ import annotations

from dataclasses import fields, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ID_STEP = 10_000_000
CONNECTOR_ID = 9_000_000
JOIN_CLASSES = ("primary", "secondary", "tertiary", "residential", "unclassified")
_ID_COLUMNS = {"areas": ["area_id", "parent_id"], "nodes": ["node_id"], "edges": ["edge_id", "u", "v"],
               "residences": ["residence_id", "area_id"], "facilities": ["facility_id"],
               "place_names": ["name_id", "area_id"], "water": ["water_id"]}
_EARTH_M = 6_371_008.8


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_M * np.arcsin(np.sqrt(a))


def _copy(frame: pd.DataFrame, name: str, k: int, dx: float, dy: float, code: str, base_code: str, district_name: str | None,
          base_name: str) -> pd.DataFrame:
    out = frame.copy()
    for col in _ID_COLUMNS.get(name, []):
        out[col] = out[col] + k * ID_STEP
    if "lon" in out:
        out["lon"] = out["lon"] + dx
        out["lat"] = out["lat"] + dy
    if isinstance(out, gpd.GeoDataFrame) and len(out):
        out = out.set_geometry(shapely.transform(out.geometry.to_numpy(), lambda xy: xy + [dx, dy]), crs=frame.crs)
    if name == "areas":
        out["code"] = out["code"].astype(str).str.replace(base_code, code, regex=False)
        if district_name:
            out.loc[out.level == "district", "name"] = district_name
    for col in [c for c in ("address", "name") if c in out] if name in ("residences", "facilities") and district_name else []:
        out[col] = out[col].astype(str).str.replace(base_name, district_name, regex=False)
    return out


def _eligible_nodes(edges: pd.DataFrame) -> np.ndarray:
    """Nodes that only public, two-way roads of ``JOIN_CLASSES`` touch (no gate, no motorway)."""
    ok = edges.highway.isin(JOIN_CLASSES) & edges.access.isna() & ~edges.oneway.astype(bool)
    bad = set(edges.u[~ok]) | set(edges.v[~ok])
    good = set(edges.u[ok]) | set(edges.v[ok])
    return np.array(sorted(good - bad), dtype=np.int64)


def _connectors(nodes: pd.DataFrame, edges: pd.DataFrame, west: int, east: int, bands: int) -> pd.DataFrame:
    """Roads from the easternmost eligible nodes of copy ``west`` to the westernmost of copy ``east``,
    one per latitude band."""
    elig = nodes[nodes.node_id.isin(_eligible_nodes(edges))]
    a = elig[elig.node_id // ID_STEP == west]
    b = elig[elig.node_id // ID_STEP == east]
    cuts = np.quantile(pd.concat([a.lat, b.lat]), np.linspace(0, 1, bands + 1))
    rows = []
    for j in range(bands):
        ina = a[(a.lat >= cuts[j]) & (a.lat <= cuts[j + 1])]
        inb = b[(b.lat >= cuts[j]) & (b.lat <= cuts[j + 1])]
        if ina.empty or inb.empty:
            continue
        u, v = ina.loc[ina.lon.idxmax()], inb.loc[inb.lon.idxmin()]
        rows.append({"edge_id": CONNECTOR_ID + west * 100 + j, "u": int(u.node_id), "v": int(v.node_id),
                     "length_m": float(_metres(u.lon, u.lat, v.lon, v.lat)), "highway": "secondary", "oneway": False,
                     "access": None, "foot": None, "bicycle": None, "bridge": True, "name": f"跨县连接路{west + 1}-{j + 1}",
                     "geometry": shapely.LineString([(u.lon, u.lat), (v.lon, v.lat)])})
    return pd.DataFrame(rows)


def join_counties(district, codes: list[str], names: list[str] | None = None, *, gap_m: float = 150.0,
                  bands: int = 6, per_row: int | None = None):
    """``len(codes)`` copies of the one-district demo ``district``, side by side west to east (rows of
    ``per_row``, north to south), as counties with the 6-digit ``codes`` (and district ``names``),
    joined by roads across the borders of neighbours in a row. Refuses a layout that would leave
    the demo's open-sea box (``data.demo.geography.SAFE_BOX``).

    Returns a ``data.demo.DemoDistrict`` of the same frames (``planted`` is that of the first copy).
    """
    from data.demo.geography import SAFE_BOX

    base_code = str(district.areas.loc[district.areas.level == "district", "code"].iloc[0])[:6]
    base_name = str(district.areas.loc[district.areas.level == "district", "name"].iloc[0])
    if len(district.areas[district.areas.level == "district"]) != 1:
        raise ValueError("join_counties needs a demo of exactly one district: generate(scale=...) with scale <= 1")
    minx, miny, maxx, maxy = district.areas.total_bounds
    width = maxx - minx + gap_m / (111_320.0 * np.cos(np.radians(maxy)))
    height = maxy - miny + gap_m / 110_574.0
    per_row = per_row or len(codes)
    rows = -(-len(codes) // per_row)
    if maxx + (per_row - 1) * width > SAFE_BOX[2] or miny - (rows - 1) * height < SAFE_BOX[1]:
        raise ValueError(f"{len(codes)} counties in rows of {per_row} would leave the open-sea box {SAFE_BOX}: "
                         "use fewer counties or a smaller scale")
    shift = [((k % per_row) * width, -(k // per_row) * height) for k in range(len(codes))]
    out = {}
    for f in fields(district):
        if f.name == "planted":
            continue
        frame = getattr(district, f.name)
        parts = [_copy(frame, f.name, k, *shift[k], code, base_code, (names or [None] * len(codes))[k], base_name)
                 for k, code in enumerate(codes)]
        cat = pd.concat(parts, ignore_index=True)
        out[f.name] = gpd.GeoDataFrame(cat, geometry="geometry", crs="EPSG:4326") if "geometry" in cat else cat
    joins = [_connectors(out["nodes"], out["edges"], k, k + 1, bands) for k in range(len(codes) - 1)
             if (k + 1) % per_row]
    edges = pd.concat([out["edges"], *joins], ignore_index=True)
    out["edges"] = gpd.GeoDataFrame(edges, geometry="geometry", crs="EPSG:4326")
    return replace(district, **out)
