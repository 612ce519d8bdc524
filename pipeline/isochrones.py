"""Computing an isochrone response, in a thread of this process or in a worker process.

Anonymous isochrones are computed in worker processes (``api.pools``, issue 14.1): there they
neither hold the server's GIL against staff requests nor share its CPU priority (workers run at
``nice`` +10). A worker builds the street network of a profile itself, from the database, and keeps
the last few (``WORKER_NETWORKS``); everything else a computation needs travels with the task.
Logged-in users' isochrones run in threads on the server's own cached networks. Both paths give
the same bytes (``run``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from geo.errors import UnreachablePointError
from geo.isochrone import isochrones
from geo.network import Network

WORKER_NETWORKS = 4
"""Networks a worker process keeps (profile x data version), least recently used dropped."""
WORKER_NICE = 10
"""How much lower the CPU priority of worker processes is than the server's (Unix ``nice``)."""


@dataclass(frozen=True)
class Origin:
    lon: float
    lat: float
    shown: dict  # the response's ``origin`` member
    exclude: int | None = None  # the facility the isochrone starts from (not listed as reached)


@dataclass(frozen=True)
class Task:
    """Everything one computation needs but the network (picklable: it goes to worker processes)."""

    facilities: pd.DataFrame
    origin: Origin
    budgets: tuple[float, ...]
    profile: str
    snap_max_m: float


@dataclass(frozen=True)
class NetworkSource:
    """Where a worker process reads the network of ``profile`` and the key of the version wanted."""

    database_url: str | None
    profiles_csv: str
    profile: str
    key: tuple


def run(network: Network, task: Task) -> tuple[str, bytes | str]:
    """``("ok", body)``, or ``("unreachable", why)`` when the origin is too far from every street."""
    try:
        result = isochrones(network, task.origin.lon, task.origin.lat, minutes=task.budgets,
                            points=task.facilities[["lon", "lat"]], max_distance_m=task.snap_max_m)
    except UnreachablePointError as e:
        return "unreachable", str(e)
    times = result.points["time_s"]  # type: ignore[index]  # points were given, so result.points is set
    reached = task.facilities.assign(time_s=times).dropna(subset=["time_s"])
    if task.origin.exclude is not None:
        reached = reached[reached["facility_id"].to_numpy() != np.int64(task.origin.exclude)]
    reached = reached.sort_values(["time_s", "facility_id"])
    return "ok", body(result.polygons, reached, profile=task.profile, origin=task.origin.shown)


def body(polygons, reached, *, profile: str, origin: dict) -> bytes:
    """The GeoJSON response: one answer for every viewer (the listing holds public fields only)."""
    features = []
    for minutes, geom in zip(polygons["minutes"], polygons.geometry, strict=True):
        geometry = shapely.to_geojson(shapely.set_precision(geom, 1e-6)) if geom is not None else "null"
        props = json.dumps({"minutes": float(minutes), "profile": profile, "kind": "isochrone"})
        features.append(f'{{"type":"Feature","id":"{minutes:g}","geometry":{geometry},"properties":{props}}}')
    listing = [{"facility_id": int(r.facility_id), "name": r.name, "type_code": r.type_code,
                "type_name": r.type_name, "time_s": round(float(r.time_s), 1)} for r in reached.itertuples()]
    extra = json.dumps({"facilities": listing, "origin": origin}, ensure_ascii=False)
    return f'{{"type":"FeatureCollection","features":[{",".join(features)}],{extra[1:]}'.encode()


# --- worker processes -----------------------------------------------------------------------------

_networks: OrderedDict[tuple, Network] = OrderedDict()
_networks_lock = threading.Lock()


def start_worker() -> None:
    """Initialiser of a worker process: lower its CPU priority below the server's."""
    with contextlib.suppress(OSError):  # not permitted here: the worker still runs, at normal priority
        os.nice(WORKER_NICE)


def in_worker(source: NetworkSource, task: Task) -> tuple[str, bytes | str]:
    """``run`` in a worker process, on its own copy of the network (built once per version)."""
    return run(_worker_network(source), task)


def _worker_network(source: NetworkSource) -> Network:
    key = (source.database_url, source.profiles_csv, source.profile, source.key)
    with _networks_lock:
        if key in _networks:
            _networks.move_to_end(key)
            return _networks[key]
    # late: only an isochrone worker builds its network
    from pathlib import Path

    from geo.network import build_network
    from geo.profiles import get_profile, load_profiles
    from layers import queries
    from layers.db import engine, session

    profile = get_profile(load_profiles(Path(source.profiles_csv)), source.profile)
    with session(source.database_url, actor="isochrone-worker") as s:
        nodes, edges = queries.nodes(s), queries.edges(s)
    engine(source.database_url).dispose()  # no idle connection held between builds
    network = build_network(nodes, edges, profile)
    with _networks_lock:
        _networks[key] = network
        while len(_networks) > WORKER_NETWORKS:
            _networks.popitem(last=False)
    return network
