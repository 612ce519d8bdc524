"""Computing an isochrone response, in a thread of this process or in a worker process.

Anonymous isochrones are computed in worker processes (``api.pools``, issue 14.1): there they
neither hold the server's GIL against staff requests nor share its CPU priority (workers run at
``nice`` +10). A worker builds the street network of a profile itself, from the database, and keeps
the last few (``WORKER_NETWORKS``); everything else a computation needs travels with the task.
Logged-in users' isochrones run in threads on the server's own cached networks. Both paths give
the same bytes (``run``).

Stored facility isochrones (issue 19.3): every coverage run stores the isochrones the public map asks
of a facility (``PUBLIC_PROFILES`` x ``PUBLIC_MINUTES``) for every open facility (``store_for_run``);
the facility route answers from them (``stored_body``, the same bytes as ``run``) while the street
network, the facilities and the profile are those the run saw. An incremental run copies the stored
isochrones an edit cannot have changed and computes the others again (``affected``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from geo.errors import UnreachablePointError
from geo.isochrone import Isochrone, isochrones, travel_times
from geo.network import Network
from geo.reach import TIE_TOLERANCE_S
from layers import isochrones as stored
from layers import queries, store

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


def _point_times(result: Isochrone) -> pd.DataFrame:
    """The times to the points an isochrone was asked with (``time_s``, ``snapped``)."""
    if result.points is None:
        raise ValueError("the isochrone was computed without points: pass the facilities as points")
    return result.points


def run(network: Network, task: Task) -> tuple[str, bytes | str]:
    """``("ok", body)``, or ``("unreachable", why)`` when the origin is too far from every street."""
    try:
        result = isochrones(
            network,
            task.origin.lon,
            task.origin.lat,
            minutes=task.budgets,
            points=task.facilities[["lon", "lat"]],
            max_distance_m=task.snap_max_m,
        )
    except UnreachablePointError as e:
        return "unreachable", str(e)
    times = _point_times(result)["time_s"]
    reached = task.facilities.assign(time_s=times).dropna(subset=["time_s"])
    if task.origin.exclude is not None:
        reached = reached[reached["facility_id"].to_numpy() != np.int64(task.origin.exclude)]
    reached = reached.sort_values(["time_s", "facility_id"])
    return "ok", body(result.polygons, reached, profile=task.profile, origin=task.origin.shown)


# --- stored facility isochrones --------------------------------------------------------------------

PUBLIC_MINUTES = (5.0, 10.0, 15.0)
"""The budgets of the public map's isochrones (``maps.public``), stored with each coverage run."""
PUBLIC_PROFILES = ("walk", "walk_elderly")
"""The travel profiles the public map offers for isochrones, stored with each coverage run."""
RUN_LAYERS = ("network_nodes", "network_edges", "facilities")
"""Layers a stored isochrone depends on: served only while they are as the run saw them."""
NEAR_M = 25.0
"""An edited facility within this of a stored polygon may change it (a hole is at most 10 m): recomputed."""
REACH_MARGIN_S = 60.0
"""A facility reaching an edited one within the largest budget plus this is recomputed (its listing)."""
STORE_THREADS = 2
"""Threads computing a run's isochrones (the polygon work releases the GIL)."""
NetworkOf = Callable[[str], Network]


def store_for_run(
    s: Session,
    run_id: int,
    *,
    network: NetworkOf,
    facilities: pd.DataFrame,
    digests: dict[str, str],
    snap_max_m: float,
    versions: dict[str, int],
) -> dict[str, Any]:
    """Store the public isochrones of every open facility (``facilities``: facility_id, lon, lat, by
    id) with run ``run_id``. Per profile, from the newest finished run that stored them on the same
    street network, profile, snapping distance and minutes (``layers.store.runs_with_isochrones``),
    those of the facilities no edit since can have changed are copied — in a full run too: they
    depend on nothing else (street network, profile, snapping distance, where the open facilities
    stand), so a copy equals a new computation, whichever run it comes from (a run in between with
    another snapping distance, or storing none, takes nothing away). Returns the summary the run keeps
    (``isochrones``): what the rows depend on, how many were computed and copied, and the seconds it
    took (wall clock and CPU of this process)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    key: dict[str, Any] = {
        "profiles": {p: digests[p] for p in PUBLIC_PROFILES if p in digests},
        "snap_max_m": float(snap_max_m),
        "minutes": list(PUBLIC_MINUTES),
    }
    facilities = facilities.sort_values("facility_id").reset_index(drop=True)
    earlier = store.runs_with_isochrones(s)
    computed = copied = 0
    for profile in key["profiles"]:
        todo = facilities.facility_id.to_numpy()
        previous = next((r for r in earlier if _reusable(r, key, profile, versions)), None)
        if previous is not None:
            todo = affected(
                s,
                previous["run_id"],
                profile,
                functools.partial(network, profile),
                facilities,
                snap_max_m,
            )
            copied += stored.copy(
                s,
                previous["run_id"],
                run_id,
                profile=profile,
                skip=sorted(set(todo) | _gone(s, previous["run_id"], profile, facilities)),
            )
        if len(todo):
            rows = facility_rows(network(profile), facilities, todo, profile=profile, snap_max_m=snap_max_m)
            computed += stored.add(s, run_id, rows)
    return {
        **key,
        "computed": computed,
        "copied": copied,
        "seconds": round(time.perf_counter() - t0, 3),
        "cpu_seconds": round(time.process_time() - cpu0, 3),
    }


def _reusable(
    previous: dict[str, Any] | None, key: dict[str, Any], profile: str, versions: dict[str, int]
) -> bool:
    """Whether ``previous`` stored isochrones of ``profile`` on the same network, profile and distances."""
    if previous is None:
        return False
    then = (previous.get("summary") or {}).get("isochrones") or {}
    seen = previous.get("data_version") or {}
    return (
        then.get("profiles", {}).get(profile) == key["profiles"][profile]
        and then.get("snap_max_m") == key["snap_max_m"]
        and then.get("minutes") == key["minutes"]
        and all(seen.get(k, 0) == versions.get(k, 0) for k in ("network_nodes", "network_edges"))
    )


def _gone(s: Session, run_id: int, profile: str, facilities: pd.DataFrame) -> set[int]:
    return set(stored.origins(s, run_id, profile).facility_id) - set(facilities.facility_id)


def affected(
    s: Session,
    run_id: int,
    profile: str,
    network: Callable[[], Network],
    facilities: pd.DataFrame,
    snap_max_m: float,
) -> np.ndarray:
    """Open facilities whose stored isochrone of ``profile`` in run ``run_id`` may differ from one
    computed now: those added, moved or reopened since, and those whose polygon or listing an
    added, moved or removed facility may change — it was listed as reachable, lies within
    ``NEAR_M`` of a polygon (a hole or a leg around it), or is reachable now within the largest
    budget (plus ``REACH_MARGIN_S``, found by one search towards it). ``network()`` is built only
    when something changed."""
    before = stored.origins(s, run_id, profile)
    both = before.merge(
        facilities[["facility_id", "lon", "lat"]],
        on="facility_id",
        how="outer",
        suffixes=("_then", "_now"),
        indicator=True,
    )
    moved = (both._merge != "both") | (both.lon_then != both.lon_now) | (both.lat_then != both.lat_now)
    changed = both[moved]
    ids = facilities.facility_id.to_numpy()
    out = set(changed.facility_id) & set(ids)
    if not len(changed):
        return np.array(sorted(out), dtype=np.int64)
    out |= stored.reaching(s, run_id, profile, changed.facility_id.tolist())
    points = pd.concat(
        [
            changed[["lon_then", "lat_then"]].set_axis(["lon", "lat"], axis=1),
            changed[["lon_now", "lat_now"]].set_axis(["lon", "lat"], axis=1),
        ]
    ).dropna()
    out |= stored.near(s, run_id, profile, points.lon.tolist(), points.lat.tolist(), NEAR_M)
    limit = PUBLIC_MINUTES[-1] * 60.0 + REACH_MARGIN_S
    for lon, lat in changed[["lon_now", "lat_now"]].dropna().itertuples(index=False):
        with contextlib.suppress(UnreachablePointError):  # no street near it: nobody reaches it
            times = travel_times(
                network(),
                lon,
                lat,
                facilities[["lon", "lat"]],
                direction="to",
                max_distance_m=snap_max_m,
                limit_s=limit,
            )
            out |= set(ids[np.isfinite(times)])
    return np.array(sorted(out & set(ids)), dtype=np.int64)


def facility_rows(
    network: Network, facilities: pd.DataFrame, origins: np.ndarray, *, profile: str, snap_max_m: float
) -> pd.DataFrame:
    """The stored isochrones (``layers.isochrones.add`` rows) of the facilities ``origins``, each with
    every one of ``facilities`` as an exact point: one search per facility for all budgets, in
    ``STORE_THREADS`` threads; a facility too far from every street gets none (the route says why)."""
    at = facilities.set_index("facility_id")
    points = facilities[["lon", "lat"]]
    ids = facilities.facility_id.to_numpy()

    def one(fid: int) -> list[dict[str, Any]]:
        lon, lat = float(at.at[fid, "lon"]), float(at.at[fid, "lat"])
        try:
            result = isochrones(
                network, lon, lat, minutes=PUBLIC_MINUTES, points=points, max_distance_m=snap_max_m
            )
        except UnreachablePointError:
            return []
        times = _point_times(result)["time_s"].to_numpy(float)
        rows = []
        for minutes, geom in zip(result.polygons["minutes"], result.polygons.geometry, strict=True):
            ok = np.isfinite(times) & (times <= minutes * 60.0 + TIE_TOLERANCE_S) & (ids != fid)
            order = np.lexsort((ids[ok], times[ok]))
            rows.append(
                {
                    "facility_id": int(fid),
                    "profile": profile,
                    "minutes": float(minutes),
                    "lon": lon,
                    "lat": lat,
                    "geometry": geom,
                    "reached_id": ids[ok][order].tolist(),
                    "reached_s": times[ok][order].tolist(),
                }
            )
        return rows

    with ThreadPoolExecutor(STORE_THREADS) as pool:
        done = list(pool.map(one, [int(i) for i in origins]))
    return pd.DataFrame(
        [r for rows in done for r in rows],
        columns=["facility_id", "profile", "minutes", "lon", "lat", "geometry", "reached_id", "reached_s"],
    )


def stored_body(
    s: Session,
    run: dict[str, Any] | None,
    facility_id: int,
    profile: str,
    budgets: tuple[float, ...],
    *,
    digest: str,
    snap_max_m: float,
    origin: dict,
) -> bytes | None:
    """The facility's isochrone response read from the finished ``run`` (the latest), the same bytes
    as ``run`` would compute — or None when the run holds no such isochrone or the street network, the
    facilities, the profile (``digest``) or the snapping distance changed since."""
    held = ((run or {}).get("summary") or {}).get("isochrones") or {}
    if (
        run is None
        or held.get("profiles", {}).get(profile) != digest
        or held.get("snap_max_m") != float(snap_max_m)
        or not set(budgets) <= set(held.get("minutes", []))
    ):
        return None
    now, then = queries.data_versions(s), run.get("data_version") or {}
    if any(now.get(k, 0) != then.get(k, 0) for k in RUN_LAYERS):
        return None
    polygons = stored.polygons(s, run["run_id"], facility_id, profile, list(budgets))
    if len(polygons) != len(budgets):
        return None
    reached = stored.reached(s, run["run_id"], facility_id, profile, max(budgets))
    return body(polygons, reached, profile=profile, origin=origin)


def body(polygons, reached, *, profile: str, origin: dict) -> bytes:
    """The GeoJSON response: one answer for every viewer (the listing holds public fields only)."""
    features = []
    for minutes, geom in zip(polygons["minutes"], polygons.geometry, strict=True):
        geometry = shapely.to_geojson(shapely.set_precision(geom, 1e-6)) if geom is not None else "null"
        props = json.dumps({"minutes": float(minutes), "profile": profile, "kind": "isochrone"})
        features.append(f'{{"type":"Feature","id":"{minutes:g}","geometry":{geometry},"properties":{props}}}')
    listing = [
        {
            "facility_id": int(r.facility_id),
            "name": r.name,
            "type_code": r.type_code,
            "type_name": r.type_name,
            "time_s": round(float(r.time_s), 1),
        }
        for r in reached.itertuples()
    ]
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
