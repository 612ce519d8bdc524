"""Deterministic generator of the fictional demo district 澄湾区 (Chengwan District).

Everything produced here is FICTIONAL demo data (``source`` = ``SOURCE`` on every frame): an
invented island district placed in open sea in the South China Sea, centred near lon 115.90°,
lat 21.60°, about 125 km south of the Guangdong coast at Shanwei and about 110 km from Dongsha,
so it overlaps no real place (see ``geography`` for the reasoning and the safety box).

Use ``generate(scale=..., seed=...)``; it returns a ``DemoDistrict`` of frames in EPSG:4326 whose
columns follow docs/CONTRACTS.md and layers/models.py. At scale 1 (about 200 km²):

- 3 towns (urban core 澄湾街道, town seat 汐岭镇, rural 鹭田镇), ~40 communities and villages,
  ~55 middle and ~280 small grids made of street blocks (300-500 households in the city, one
  natural village each in the countryside), one large grid per town;
- ~35,000 network nodes (~1,000 km of roads and paths): a rotated, gently warped street
  lattice with primary/secondary/tertiary streets (大道/路/街), one-way streets and a one-way
  couplet, irregular old-town lanes (巷, some one-way), 9 gated compounds whose private roads
  meet public streets only at 1-3 gate nodes (one compound has a single gate), a park with
  footways, a riverside cycleway, numbered village lanes (东坑三巷), rural roads and farm tracks,
  hill paths and steps, and a motorway (no pedestrians) joined to the roads only by ramps;
- a river from the north-eastern hills to the sea crossed by five bridges only (two city road
  bridges, one city footbridge, one rural bridge, one motorway bridge);
- ~8,000 residence points with ~64,000 households and ~186,000 residents, two of them watch
  houses farther than 500 m from every road (planted ``far_from_road``: reported unreachable);
- ~530 facilities of every type of data/facility_types.csv, the required ones planned by the people
  they serve, with a handful of named gaps (``facilities`` docstring; README "演示数据导览");
- ~1,900-2,000 place names with planted irregular, historical and heritage names (``placenames``
  docstring);
- water: the river, a reservoir and the sea around the island;
- ~6,500 building footprints: one per facility site (a public building of its type's size, or open
  grounds), shared by the facilities standing in it, and one per residence point where it fits beside
  its street (``buildings``).

Intended network components: two per copy, the main island and the islet (ferry only). Within
each, the network of every travel profile of data/profiles.csv is strongly connected: one-way
streets form loops and couplets and never lead into a dead end (``circulation``); gated
compounds are entered and left only through their gates.
``scale`` K > 1 lays out ceil(K) separate island districts (澄湾区, 澜屿区, ...) side by side,
the last one smaller for a fractional K; everything grows linearly with K. The full copies after
the second are laid out like copy 1 (``derived``: its streets, homes and facilities in a slot of
their own, with their own ids, district and town names, codes and grid workers), which makes them
cheap. ``scale`` < 1 makes one smaller district (handy for fast tests). Ids are unique across
copies: copy c, local index i → ``c * 10_000_000 + i + 1``.

The ``planted`` frame (case, layer, object_id, name, note) lists every planted case (gaps,
gates, bridge edges, the islet component, irregular names ...) with the layer and id of the
object, so tests and planners can find them. The ``plan`` frame (area_id, circle, type_code, level,
placed, town_placed, gap) says per community and required type of its class how many open
facilities the generator put inside the community and inside its town, at which level it provides
the type (``community`` or ``town``) and which named gap leaves it out. Both are documentation, not
database tables.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, fields

import geopandas as gpd
import pandas as pd

from . import derived
from .frames import SOURCE, copy_frames
from .geography import copy_sizes, layout

__all__ = ["SOURCE", "DemoDistrict", "generate", "summary"]


@dataclass
class DemoDistrict:
    """Frames of the demo district (EPSG:4326). See the module docstring for contents."""

    areas: gpd.GeoDataFrame
    nodes: pd.DataFrame
    edges: gpd.GeoDataFrame
    residences: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    place_names: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    planted: pd.DataFrame
    plan: pd.DataFrame


def generate(
    *,
    scale: float = 1.0,
    seed: int = 20261122,
    pool: Executor | None = None,
    made: Callable[[dict[int, dict]], None] | None = None,
) -> DemoDistrict:
    """Generate the fictional demo district.

    Parameters
    ----------
    scale : size factor; 1.0 is one district of ~200 km², ~35k network nodes and ~186k residents.
        Time and memory grow linearly with ``scale`` (at most 25).
    seed : random seed; the same ``seed`` and ``scale`` give identical frames and ids.
    pool : process pool to generate the copies in (default: one made here, one process per core);
        the same frames either way.
    made : called with the generated copies' frames (copy → ``copy_frames``' dict) before the other
        copies are laid out like them: to start work on them meanwhile.

    Returns
    -------
    DemoDistrict with frames in EPSG:4326.
    """

    sizes = copy_sizes(scale)
    origins = layout(len(sizes))
    parts = _all_copies(sizes, origins, seed, pool, made)
    out = {}
    for f in fields(DemoDistrict):
        frames = [p[f.name] for p in parts]
        cat = pd.concat(frames, ignore_index=True)
        out[f.name] = (
            gpd.GeoDataFrame(cat, geometry="geometry", crs="EPSG:4326") if "geometry" in cat else cat
        )
    return DemoDistrict(**out)


def _all_copies(
    sizes: list[float],
    origins: list,
    seed: int,
    pool: Executor | None = None,
    made_hook: Callable[[dict[int, dict]], None] | None = None,
) -> list[dict]:
    """The frames of every copy. Copies 0 and 1 and a partial last copy are generated, in worker
    processes, one per core (each copy draws from its own seeded streams, so the result is the same
    either way); the other full copies are derived from copy 1 (``derived``, a fraction of a second
    each)."""
    made = [c for c in range(len(sizes)) if derived.template(c, sizes) == c]
    rest = [c for c in range(len(sizes)) if c not in made]
    jobs = [(c, sizes[c], origins[c], seed) for c in made]
    workers = min(len(jobs), os.cpu_count() or 1)
    if pool is not None and len(jobs) > 1:
        parts = dict(zip(made, pool.map(copy_frames, *zip(*jobs, strict=True)), strict=True))
    elif workers < 2:
        parts = {c: copy_frames(*job) for c, job in zip(made, jobs, strict=True)}
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            parts = dict(zip(made, pool.map(copy_frames, *zip(*jobs, strict=True)), strict=True))
    if made_hook is not None:
        made_hook(dict(parts))
    for c in rest:
        t = derived.template(c, sizes)
        parts[c] = derived.derive(parts[t], t, c, origins[t], origins[c])
    return [parts[c] for c in range(len(sizes))]


def summary(d: DemoDistrict) -> dict:
    """Counts of the main objects (nodes, edges, households, residents, grids, names ...)."""
    lv = d.areas["level"].value_counts()
    return {
        "nodes": len(d.nodes),
        "edges": len(d.edges),
        "network_km": round(float(d.edges["length_m"].sum()) / 1000, 1),
        "residences": len(d.residences),
        "households": int(d.residences["households"].sum()),
        "residents": int(d.residences["population"].sum()),
        "elderly": int(d.residences["elderly"].sum()),
        "children": int(d.residences["children"].sum()),
        "facilities": len(d.facilities),
        "place_names": len(d.place_names),
        "districts": int(lv.get("district", 0)),
        "towns": int(lv.get("town", 0)),
        "communities": int(lv.get("community", 0)),
        "middle_grids": int(lv.get("grid_middle", 0)),
        "small_grids": int(lv.get("grid_small", 0)),
        "bridges": int(d.edges["bridge"].sum()),
        "planted": len(d.planted),
    }
