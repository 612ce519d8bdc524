"""Full copies 2, 3, ... of a large demo (``scale`` ≥ 3) derived from copy 1 instead of generated again.

Generating one full copy takes seconds of CPU (streets, blocks, grids, facilities, names, footprints);
a derived copy is copy 1 moved to its own slot of the layout (``geography.layout``: the slots are
translates of each other in UTM 50N, so every shape, length and area stays the same), its ids moved
to its own id range, and its own district, town and road names, codes, phone numbers and grid workers.
Its streets, homes, facilities and the other place names are those of copy 1: a scale-10 demo is
the special copy 0 (澄湾区, with the fixed planted examples), copy 1 and eight districts laid out
like copy 1. Copy 0, copy 1 and a partial last copy are always generated, so scales up to 2 (and
every scale < 3) give the very same rows as before.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiPolygon

from ._geom import polygonal
from .geography import _TO_LONLAT, _TO_UTM
from .names import district, town_propers, worker_name

TEMPLATE = 1
"""The copy every derived copy is laid out like."""

ID_COLUMNS = {
    "areas": ("area_id", "parent_id"),
    "nodes": ("node_id",),
    "edges": ("edge_id", "u", "v"),
    "residences": ("residence_id", "area_id"),
    "facilities": ("facility_id",),
    "place_names": ("name_id", "area_id"),
    "water": ("water_id",),
    "buildings": ("building_id",),
    "planted": ("object_id",),
    "plan": ("area_id",),
}
"""Every id column of a copy's frames (all ids of copy c lie in c · ID_STRIDE + 1 …)."""

TEXT_COLUMNS = {
    "areas": ("name", "worker_name"),
    "edges": ("name",),
    "residences": ("address",),
    "facilities": ("name", "address", "operator"),
    "place_names": ("name", "proper", "approval", "meaning"),
    "water": ("name",),
    "planted": ("name", "note"),
}
"""The columns whose text may hold the district's or its towns' names."""


def template(copy: int, sizes: list[float]) -> int:
    """The copy whose frames copy ``copy`` takes (itself when it is generated)."""
    derived = copy > TEMPLATE and sizes[copy] == 1.0 and sizes[TEMPLATE] == 1.0
    return TEMPLATE if derived else copy


def renames(src: int, dst: int) -> dict[str, str]:
    """Names of copy ``src`` → those of copy ``dst``: the towns' propers (the urban town's is the
    district's) and the names made of their first characters (the river 澜江, the trunk roads
    澜榕公路 and the motorway 澜礁高速, ``network`` and ``placenames``)."""
    (a, b, c), (x, y, z) = town_propers(src), town_propers(dst)
    out = {a: x, b: y, c: z, a[0] + "江": x[0] + "江"}
    for (p, q), (r, s) in zip(((a, b), (a, c), (b, c)), ((x, y), (x, z), (y, z)), strict=True):
        out[p[0] + q[0]] = r[0] + s[0]
    return out


def _replacer(mapping: dict[str, str]):
    pattern = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)))
    return lambda s: s.str.replace(pattern, lambda m: mapping[m.group(0)], regex=True)


def _mover(src_origin: tuple[float, float], dst_origin: tuple[float, float]):
    """lon/lat of copy ``src``'s slot → the same point of ``dst``'s slot (a translation in UTM)."""
    dx, dy = dst_origin[0] - src_origin[0], dst_origin[1] - src_origin[1]

    def move(c: np.ndarray) -> np.ndarray:
        x, y = _TO_UTM.transform(c[:, 0], c[:, 1])
        return np.column_stack(_TO_LONLAT.transform(np.asarray(x) + dx, np.asarray(y) + dy))

    return move


def derive(
    frames: dict, src: int, dst: int, src_origin: tuple[float, float], dst_origin: tuple[float, float]
) -> dict:
    """The frames of copy ``dst`` from those of copy ``src`` (``copy_frames``' dict): moved, renumbered
    and renamed as the module docstring says."""
    # late: frames imports this module's caller
    from .frames import ID_STRIDE

    shift = (dst - src) * ID_STRIDE
    move = _mover(src_origin, dst_origin)
    mapping = renames(src, dst)
    rename = _replacer(mapping)
    (_, scode), (_, dcode) = district(src), district(dst)
    out = {}
    for name, frame in frames.items():
        f = frame.copy()
        for col in ID_COLUMNS.get(name, ()):
            f[col] = f[col] + shift
        for col in TEXT_COLUMNS.get(name, ()):
            f[col] = rename(f[col])
        if "geometry" in f:
            f = gpd.GeoDataFrame(f, geometry=shapely.transform(f.geometry.values, move), crs=frame.crs)
        out[name] = f
    nodes = out["nodes"]
    nodes["lon"], nodes["lat"] = move(nodes[["lon", "lat"]].to_numpy()).T
    out["areas"] = _areas(out["areas"], scode, dcode, dst)
    out["facilities"] = _phones(out["facilities"], dst)
    river = mapping[town_propers(src)[0][0] + "江"]
    names = out["place_names"]
    names.loc[names["name"].eq(river), "proper"] = river[0]  # the river's proper is one character
    for name in ("areas", "water", "buildings"):  # moved vertices may close a nanometre crossing
        out[name] = _valid(out[name])
    return out


def _areas(areas: gpd.GeoDataFrame, scode: str, dcode: str, dst: int) -> gpd.GeoDataFrame:
    """Codes under ``dcode`` (statistics codes start with it, grid codes hold it after the 6-digit
    service-object code), the grid workers of the new grid codes and the copy's phone numbers."""
    code = areas["code"]
    stats = code.str.len() == 12
    assert code[stats].str.startswith(scode).all() and code[~stats].str[6:12].eq(scode).all()
    areas["code"] = code.where(~stats, dcode + code.str[6:]).where(
        stats, code.str[:6] + dcode + code.str[12:]
    )
    small = areas["level"].eq("grid_small")
    areas.loc[small, "worker_name"] = [worker_name(c) for c in areas.loc[small, "code"]]
    areas["worker_phone"] = [f"0660-0{dst * 10_000 + i:06d}" for i in range(len(areas))]
    return areas


def _phones(facilities: gpd.GeoDataFrame, dst: int) -> gpd.GeoDataFrame:
    """The facilities' phone numbers of copy ``dst`` (``frames._Ctx._facilities``)."""
    has = facilities["phone"].notna().to_numpy()
    facilities["phone"] = [
        f"0660-0{500_000 + dst * 10_000 + i:06d}" if h else None for i, h in enumerate(has)
    ]
    return facilities


def _valid(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geoms = frame.geometry.values
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        fixed = [polygonal(g) for g in shapely.make_valid(geoms[bad])]
        multi = frame.geom_type[bad].eq("MultiPolygon").to_numpy()
        geoms = np.asarray(geoms, dtype=object).copy()
        geoms[np.flatnonzero(bad)] = [
            MultiPolygon(list(shapely.get_parts(g))) if m else g for g, m in zip(fixed, multi, strict=True)
        ]
        frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    return frame
