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


def real_counties(directory, n: int) -> pd.DataFrame:
    """``n`` real Guangdong counties of the NBS 2023 list (``data.divisions_dir()``), taken in turn
    from each city so the roll-up has several cities: ``county_code, county_name, city_code,
    city_name, towns, villages`` (the real counts)."""
    from pathlib import Path

    folder = Path(directory)
    towns = pd.read_csv(folder / "guangdong_towns_streets.csv", dtype=str)
    villages = pd.read_csv(folder / "guangdong_villages_communities.csv", dtype=str)
    table = towns.groupby(["county_code", "county_name", "city_code", "city_name"]).size().rename("towns").reset_index()
    table["villages"] = table.county_code.map(villages.groupby("county_code").size()).fillna(0).astype(int)
    table["turn"] = table.groupby("city_code").cumcount()
    picked = table.sort_values(["turn", "city_code", "county_code"]).head(n).drop(columns="turn")
    if len(picked) < n:
        raise ValueError(f"the division list has only {len(picked)} counties; ask for at most that many")
    return picked.sort_values("county_code").reset_index(drop=True)


def _rename_areas(areas: pd.DataFrame, k: int, towns: pd.DataFrame, villages: pd.DataFrame) -> pd.DataFrame:
    """Copy ``k``'s towns and communities take the county's real town and village names and codes."""
    mine = areas.area_id // ID_STEP == k
    out = areas
    t_rows = areas.index[mine & (areas.level == "town")]
    for row, town in zip(t_rows, towns.itertuples(), strict=False):
        out.loc[row, ["name", "code"]] = [town.name, f"{town.code}000"]
        kids = areas.index[mine & (areas.level == "community") & (areas.parent_id == areas.at[row, "area_id"])]
        vs = villages[villages.town_code == town.code]
        for row_c, v in zip(kids, vs.itertuples(), strict=False):
            out.loc[row_c, ["name", "code"]] = [v.name, v.code]
    return out


def synthetic_province(n_counties: int, scale: float, *, seed: int = 20261122, directory=None):
    """A FICTIONAL province of ``n_counties`` counties in the demo's open-sea box, each a demo district
    at ``scale`` (≤ 1) named after a real Guangdong county (real county, town and village names and
    NBS codes); neighbours in a row are joined by roads. Only the demo's towns and communities exist
    in each county (scale 0.3: 3 towns, ~12 communities): ``counties`` gives the real counts.

    Returns ``(DemoDistrict, counties)``.
    """
    from data import divisions_dir
    from data.demo import generate

    folder = directory or divisions_dir()
    counties = real_counties(folder, n_counties)
    towns = pd.read_csv(f"{folder}/guangdong_towns_streets.csv", dtype=str)
    villages = pd.read_csv(f"{folder}/guangdong_villages_communities.csv", dtype=str)
    base = generate(scale=scale, seed=seed)
    from data.demo.geography import SAFE_BOX

    minx, _, maxx, _ = base.areas.total_bounds
    per_row = max(1, int((SAFE_BOX[2] - minx) // (maxx - minx + 0.002)))
    district = join_counties(base, counties.county_code.tolist(), counties.county_name.tolist(), per_row=per_row)
    areas = district.areas.copy()
    for k, code in enumerate(counties.county_code):
        areas = _rename_areas(areas, k, towns[towns.county_code == code].sort_values("code"),
                              villages[villages.county_code == code].sort_values("code"))
    return replace(district, areas=areas), counties
