"""Counties side by side, built from demo districts (``data.demo``): FICTIONAL data.

``join_counties`` post-processes the frames of one generated demo district into ``n`` adjacent
counties (copies shifted east, ids offset per copy, area codes renamed to the given county codes)
whose street networks are joined across each county border by public roads, so that the nearest
facility of some homes lies in the next county. Used by the exactness test and the benchmark.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from data.demo import generate
from data.demo._geom import points_in, polygonal, voronoi_cells, weighted_kmeans
from data.demo.areas import SERVICE_CODE
from data.demo.geography import SAFE_BOX
from settings import divisions_dir

ID_STEP = 10_000_000
CONNECTOR_ID = 9_000_000
JOIN_CLASSES = ("primary", "secondary", "tertiary", "residential", "unclassified")
_ID_COLUMNS = {
    "areas": ["area_id", "parent_id"],
    "nodes": ["node_id"],
    "edges": ["edge_id", "u", "v"],
    "residences": ["residence_id", "area_id"],
    "facilities": ["facility_id"],
    "place_names": ["name_id", "area_id"],
    "water": ["water_id"],
    "buildings": ["building_id"],
}
_EARTH_M = 6_371_008.8


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_M * np.arcsin(np.sqrt(a))


def _copy(
    frame: pd.DataFrame,
    name: str,
    k: int,
    dx: float,
    dy: float,
    code: str,
    base_code: str,
    district_name: str | None,
    base_name: str,
) -> pd.DataFrame:
    out = frame.copy()
    for col in _ID_COLUMNS.get(name, []):
        out[col] = out[col] + k * ID_STEP
    if "lon" in out:
        out["lon"] = out["lon"] + dx
        out["lat"] = out["lat"] + dy
    if isinstance(out, gpd.GeoDataFrame) and len(out):
        out = out.set_geometry(
            shapely.transform(out.geometry.to_numpy(), lambda xy: xy + [dx, dy]), crs=frame.crs
        )
    if name == "areas":
        out["code"] = out["code"].astype(str).str.replace(base_code, code, regex=False)
        if district_name:
            out.loc[out.level == "district", "name"] = district_name
    for col in (
        [c for c in ("address", "name") if c in out]
        if name in ("residences", "facilities") and district_name
        else []
    ):
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
        rows.append(
            {
                "edge_id": CONNECTOR_ID + west * 100 + j,
                "u": int(u.node_id),
                "v": int(v.node_id),
                "length_m": float(_metres(u.lon, u.lat, v.lon, v.lat)),
                "highway": "secondary",
                "oneway": False,
                "access": None,
                "foot": None,
                "bicycle": None,
                "bridge": True,
                "name": f"跨县连接路{west + 1}-{j + 1}",
                "geometry": shapely.LineString([(u.lon, u.lat), (v.lon, v.lat)]),
            }
        )
    return pd.DataFrame(rows)


def join_counties(
    district,
    codes: list[str],
    names: list[str] | None = None,
    *,
    gap_m: float = 150.0,
    bands: int = 6,
    per_row: int | None = None,
):
    """``len(codes)`` copies of the one-district demo ``district``, side by side west to east (rows of
    ``per_row``, north to south), as counties with the 6-digit ``codes`` (and district ``names``),
    joined by roads across the borders of neighbours in a row. Refuses a layout that would leave
    the demo's open-sea box (``data.demo.geography.SAFE_BOX``).

    Returns a ``data.demo.DemoDistrict`` of the same frames (``planted`` is that of the first copy).
    """

    base_code = str(district.areas.loc[district.areas.level == "district", "code"].iloc[0])[:6]
    base_name = str(district.areas.loc[district.areas.level == "district", "name"].iloc[0])
    if len(district.areas[district.areas.level == "district"]) != 1:
        raise ValueError(
            "join_counties needs a demo of exactly one district: generate(scale=...) with scale <= 1"
        )
    minx, miny, maxx, maxy = district.areas.total_bounds
    width = maxx - minx + gap_m / (111_320.0 * np.cos(np.radians(maxy)))
    height = maxy - miny + gap_m / 110_574.0
    per_row = per_row or len(codes)
    rows = -(-len(codes) // per_row)
    if maxx + (per_row - 1) * width > SAFE_BOX[2] or miny - (rows - 1) * height < SAFE_BOX[1]:
        raise ValueError(
            f"{len(codes)} counties in rows of {per_row} would leave the open-sea box {SAFE_BOX}: "
            "use fewer counties or a smaller scale"
        )
    shift = [((k % per_row) * width, -(k // per_row) * height) for k in range(len(codes))]
    out = {}
    for f in fields(district):
        if f.name == "planted":
            continue
        frame = getattr(district, f.name)
        parts = [
            _copy(frame, f.name, k, *shift[k], code, base_code, names[k] if names else None, base_name)
            for k, code in enumerate(codes)
        ]
        cat = pd.concat(parts, ignore_index=True)
        out[f.name] = (
            gpd.GeoDataFrame(cat, geometry="geometry", crs="EPSG:4326") if "geometry" in cat else cat
        )
    joins = [
        _connectors(out["nodes"], out["edges"], k, k + 1, bands)
        for k in range(len(codes) - 1)
        if (k + 1) % per_row
    ]
    edges = pd.concat([out["edges"], *joins], ignore_index=True)
    out["edges"] = gpd.GeoDataFrame(edges, geometry="geometry", crs="EPSG:4326")
    return replace(district, **out)


def real_counties(directory, n: int | None = None, *, cities: list[str] | None = None) -> pd.DataFrame:
    """Real Guangdong counties of the NBS 2023 list (``settings.divisions_dir()``): every county of the
    4-digit ``cities``, or ``n`` taken in turn from each city so the roll-up has several cities.
    Columns ``county_code, county_name, city_code, city_name, towns, villages`` (the real counts)."""

    folder = Path(directory)
    towns = pd.read_csv(folder / "guangdong_towns_streets.csv", dtype=str)
    villages = pd.read_csv(folder / "guangdong_villages_communities.csv", dtype=str)
    table = (
        towns.groupby(["county_code", "county_name", "city_code", "city_name"])
        .size()
        .rename("towns")
        .reset_index()
    )
    table["villages"] = table.county_code.map(villages.groupby("county_code").size()).fillna(0).astype(int)
    if cities:
        unknown = sorted(set(cities) - set(table.city_code))
        if unknown:
            raise ValueError(
                f"city codes {unknown} are not in the division list: use 4-digit codes such as 4415"
            )
        picked = table[table.city_code.isin(cities)]
        return picked.sort_values("county_code").reset_index(drop=True)
    if n is None or n < 1:
        raise ValueError("ask for at least one county, or name the cities")
    table["turn"] = table.groupby("city_code").cumcount()
    picked = table.sort_values(["turn", "city_code", "county_code"]).head(n).drop(columns="turn")
    if len(picked) < n:
        raise ValueError(f"the division list has only {len(picked)} counties; ask for at most that many")
    return picked.sort_values("county_code").reset_index(drop=True)


def _seeds(xy: np.ndarray, w: np.ndarray, k: int, cell, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct points inside ``cell``: the homes nearest to the centres of a weighted k-means
    of the homes ``xy`` (so every cell around them holds people), topped up with other homes, then
    with random points of ``cell`` when there are fewer homes than ``k``."""

    if len(xy):  # homes at the same spot count once (a seed each would be the same point)
        first = np.unique(xy, axis=0, return_index=True)[1]
        xy, weights = xy[first], np.maximum(np.asarray(w, float)[first], 1e-9)
    else:
        xy, weights = xy.reshape(0, 2), np.empty(0)
    picked: list[int] = []
    if len(xy):
        centres = weighted_kmeans(xy, weights, min(k, len(xy)), rng)
        picked = list(dict.fromkeys(((xy[:, None, :] - centres[None]) ** 2).sum(-1).argmin(axis=0).tolist()))
        spare = np.setdiff1d(np.arange(len(xy)), picked)
        picked += rng.permutation(spare)[: k - len(picked)].tolist()
    seeds = xy[picked]
    if len(seeds) < k:
        seeds = np.vstack([seeds, points_in(cell, k - len(seeds), rng)])
    return seeds


def _nearest(xy: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Index of the nearest seed of every point (its Voronoi cell)."""

    return cKDTree(seeds).query(xy)[1] if len(xy) else np.empty(0, dtype=np.int64)


def _is_urban_village(code: str, name: str) -> bool:
    """居委会 (NBS class 001-199, or a 4xx whose name says 社区) are urban; 村委会 rural."""
    tail = int(code[9:12])
    return tail < 200 or (tail >= 400 and "社区" in name)


def real_tree(
    county: pd.Series,
    polygon,
    homes: pd.DataFrame,
    towns: pd.DataFrame,
    villages: pd.DataFrame,
    first_id: int,
    district_id: int,
    rng: np.random.Generator,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The towns and villages of one real county laid over one fictional district.

    Parameters
    ----------
    county : row of ``real_counties`` (``county_code``, ``county_name``).
    polygon : the district's land (EPSG:4326).
    homes : the district's residences (``geometry`` points, ``households``).
    towns, villages : the county's rows of the division CSVs.
    first_id, district_id : first new area id; the district's area id (the parent of the towns).

    The district is cut into as many towns as the county really has (Voronoi cells around homes
    chosen by a household-weighted k-means), each town into its real number of villages and
    communities the same way; every town also has its large grid (``grid_large``). The real
    division list has no grids below the village, so homes belong to their 村居. Cells are cut in
    a plane scaled by cos(latitude), so they are about as wide as they are tall.

    Returns ``(areas, home_area)``: the new area rows (without the district) and the new area id of
    every home, in ``homes`` order.
    """

    squash = float(np.cos(np.radians(polygon.centroid.y)))
    to_plane = lambda xy: xy * [squash, 1.0]  # noqa: E731
    to_lonlat = lambda xy: xy / [squash, 1.0]  # noqa: E731
    land = shapely.transform(polygon, to_plane)
    xy = to_plane(np.column_stack([homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy()]))
    hh = homes.households.to_numpy(float)
    t_rows = towns.sort_values("code").reset_index(drop=True)
    t_seeds = _seeds(xy, hh, len(t_rows), land, rng)
    t_cells = voronoi_cells(t_seeds, land)
    home_town = _nearest(xy, t_seeds)
    rows: list[dict] = []
    home_area = np.zeros(len(homes), dtype=np.int64)
    next_id = first_id
    for ti, town in t_rows.iterrows():
        town_id, large_id = next_id, next_id + 1
        next_id += 2
        vs = villages[villages.town_code == town.code].sort_values("code").reset_index(drop=True)
        mine = np.flatnonzero(home_town == ti)
        cell = t_cells[ti]
        v_seeds = _seeds(xy[mine], hh[mine], len(vs), cell, rng) if len(vs) else np.empty((0, 2))
        v_cells = voronoi_cells(v_seeds, cell) if len(vs) else []
        home_v = _nearest(xy[mine], v_seeds) if len(vs) else np.zeros(len(mine), dtype=np.int64)
        urban_hh = 0.0
        for vi, v in vs.iterrows():
            urban = _is_urban_village(v.code, v["name"])
            in_v = mine[home_v == vi]
            home_area[in_v] = next_id
            urban_hh += hh[in_v].sum() * urban
            street = int(town.code[6:9]) < 100
            rows.append(
                {
                    "area_id": next_id,
                    "parent_id": town_id,
                    "level": "community",
                    "code": v.code,
                    "name": v["name"],
                    "urban": urban,
                    "urban_rural_code": ("111" if street else "121") if urban else "220",
                    "households": int(hh[in_v].sum()),
                    "geometry": v_cells[vi],
                }
            )
            next_id += 1
        if not len(vs):
            home_area[mine] = town_id
        t_hh = int(hh[mine].sum())
        urban_town = urban_hh >= 0.5 * t_hh if t_hh else int(town.code[6:9]) < 100
        tcode = f"{town.code}000"
        rows.append(
            {
                "area_id": town_id,
                "parent_id": district_id,
                "level": "town",
                "code": tcode,
                "name": town["name"],
                "urban": bool(urban_town),
                "urban_rural_code": None,
                "households": t_hh,
                "geometry": cell,
            }
        )
        rows.append(
            {
                "area_id": large_id,
                "parent_id": town_id,
                "level": "grid_large",
                "code": SERVICE_CODE["grid_large"] + town.code + "00000",
                "name": f"{town['name']}大网格",
                "urban": bool(urban_town),
                "urban_rural_code": None,
                "households": t_hh,
                "geometry": cell,
            }
        )
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    out["geometry"] = [polygonal(shapely.transform(g, to_lonlat)) for g in out.geometry]
    out["worker_name"] = [f"{county.county_name}{n} 值班室" for n in out["name"]]
    return out.sort_values("area_id").reset_index(drop=True), home_area


def _relabel(district, counties: pd.DataFrame, towns: pd.DataFrame, villages: pd.DataFrame, seed: int):
    """``district`` (joined copies, one per county) with each copy's towns and villages replaced by
    the county's real ones (``real_tree``); homes, place names and addresses follow."""
    areas, res, names = district.areas, district.residences.copy(), district.place_names.copy()
    level = dict(zip(areas.area_id.tolist(), areas.level.tolist(), strict=True))
    parent = dict(zip(areas.area_id.tolist(), areas.parent_id.tolist(), strict=True))
    name = dict(zip(areas.area_id.tolist(), areas["name"].tolist(), strict=True))
    keep = [areas[areas.level == "district"]]
    for k, county in counties.iterrows():
        d = areas[(areas.level == "district") & (areas.area_id // ID_STEP == k)].iloc[0]
        in_k = (res.residence_id // ID_STEP == k).to_numpy()
        tree, home_area = real_tree(
            county,
            d.geometry,
            res[in_k],
            towns[towns.county_code == county.county_code],
            villages[villages.county_code == county.county_code],
            int(areas.area_id[areas.area_id // ID_STEP == k].max()) + 1,
            int(d.area_id),
            np.random.default_rng([seed, k, 31]),
        )
        tree["worker_phone"] = [f"0660-0{k * 10_000 + 5_000 + i:06d}" for i in range(len(tree))]
        # addresses: the old 区+镇+村 prefix becomes the real county, town and village
        new_name = dict(zip(tree.area_id.tolist(), tree["name"].tolist(), strict=True))
        new_parent = dict(zip(tree.area_id.tolist(), tree.parent_id.tolist(), strict=True))
        new_prefix = {
            a: county.county_name + (new_name[new_parent[a]] if lv == "community" else "") + new_name[a]
            for a, lv in zip(tree.area_id.tolist(), tree.level.tolist(), strict=True)
        }
        old_prefix = {}
        for a in set(res.area_id[in_k].tolist()):
            c = _ancestor(a, "community", level, parent)
            old_prefix[a] = str(d["name"]) + name[parent[c]] + name[c]
        res.loc[in_k, "address"] = [
            new_prefix[n] + text[len(old_prefix[o]) :] if text.startswith(old_prefix[o]) else text
            for n, o, text in zip(
                home_area.tolist(), res.area_id[in_k].tolist(), res.address[in_k].tolist(), strict=True
            )
        ]
        res.loc[in_k, "area_id"] = home_area
        # place names: kept on the district, else moved to the new village (or town) around them
        in_n = (names.area_id // ID_STEP == k).to_numpy() & (
            names.area_id.map(level) != "district"
        ).to_numpy()
        pts = names.geometry[in_n].representative_point()
        comms = (
            tree[tree.level == "community"]
            if (tree.level == "community").any()
            else tree[tree.level == "town"]
        )
        squash = np.cos(np.radians(d.geometry.centroid.y))
        sxy = np.column_stack(
            [comms.geometry.representative_point().x * squash, comms.geometry.representative_point().y]
        )
        hit = gpd.sjoin(
            gpd.GeoDataFrame(geometry=pts.to_numpy(), crs="EPSG:4326"),
            comms[["area_id", "geometry"]],
            predicate="within",
            how="left",
        )
        hit = hit[~hit.index.duplicated()]
        fallback = comms.area_id.to_numpy()[_nearest(np.column_stack([pts.x * squash, pts.y]), sxy)]
        names.loc[in_n, "area_id"] = np.where(hit.area_id.isna(), fallback, hit.area_id.fillna(0)).astype(
            np.int64
        )
        keep.append(tree)
    areas = pd.concat(keep, ignore_index=True)
    areas = (
        gpd.GeoDataFrame(areas, geometry="geometry", crs="EPSG:4326")
        .sort_values("area_id")
        .reset_index(drop=True)
    )
    areas["parent_id"] = areas.parent_id.astype("Int64")
    areas["source"] = district.areas.source.iloc[0]
    planted = district.planted[district.planted.layer != "areas"].reset_index(drop=True)
    return replace(
        district,
        areas=areas,
        residences=res,
        place_names=names,
        planted=planted,
        plan=district.plan.iloc[0:0],
    )


def _ancestor(area_id: int, level: str, levels: dict, parents: dict) -> int:
    while levels[area_id] != level:
        area_id = int(parents[area_id])
    return area_id


def synthetic_province(
    n_counties: int | None,
    scale: float,
    *,
    seed: int = 20261122,
    directory=None,
    cities: list[str] | None = None,
):
    """A FICTIONAL province in the demo's open-sea box: one demo district at ``scale`` (≤ 1) per real
    Guangdong county (``n_counties`` taken in turn from each city, or every county of ``cities``),
    named after it and cut into the county's real towns and villages: real names, NBS codes and
    counts (``real_tree``). Neighbours in a row are joined by roads. Only the names, codes and
    counts are real: places, roads and people are fictional.

    Returns ``(DemoDistrict, counties)`` (``counties``: ``real_counties``).
    """

    folder = directory or divisions_dir()
    counties = real_counties(folder, n_counties, cities=cities)
    towns = pd.read_csv(f"{folder}/guangdong_towns_streets.csv", dtype=str)
    villages = pd.read_csv(f"{folder}/guangdong_villages_communities.csv", dtype=str)
    base = generate(scale=scale, seed=seed)
    minx, _, maxx, _ = base.areas.total_bounds
    per_row = max(1, int((SAFE_BOX[2] - minx) // (maxx - minx + 0.002)))
    district = join_counties(
        base, counties.county_code.tolist(), counties.county_name.tolist(), per_row=per_row
    )
    return _relabel(district, counties, towns, villages, seed), counties
