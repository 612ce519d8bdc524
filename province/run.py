"""Run coverage county by county on Dask distributed and merge the results into PostGIS.

Each county is one task (``county_task``): the worker opens its own connection from the database
URL it is given, reads the county's partition (``layers.province.partition_inputs``, buffers of
``province.partition.buffers``), runs ``geo.coverage.run_coverage`` on it and returns the
county's per-home rows with its figures (time, CPU time, peak memory of the task). The client stores each
county's rows in one transaction as its task finishes (so a county is stored whole or not at all), retries a
failed task (Dask ``retries``), reports the counties that still failed, and rolls up to county, city and
province only when every county succeeded.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import pandas as pd

from geo.coverage import run_coverage
from geo.profiles import load_profiles
from layers import province as store
from layers import queries
from layers.db import session
from pipeline.coverage import RunConfig, with_capacity_basis
from province.partition import Buffers, buffers, county_code

Progress = Callable[[str, int, int], None]
"""``progress(county label, counties done, counties in all)``."""
RETRIES = 2


def scheduler_spec(spec: str) -> tuple[str | None, int | None]:
    """``'local'`` or ``'local:N'`` → (None, N workers or None); anything else is a scheduler address."""
    if spec == "local" or spec.startswith("local:"):
        n = spec.partition(":")[2]
        if n and (not n.isdigit() or int(n) < 1):
            raise ValueError(f"--scheduler {spec!r}: write local:N with N a whole number of workers ≥ 1")
        return None, int(n) if n else None
    if "://" not in spec and ":" not in spec:
        raise ValueError(
            f"--scheduler {spec!r} is neither local[:N] nor a scheduler address like tcp://host:8786"
        )
    return spec, None


@contextmanager
def client_for(spec: str, *, processes: bool = True):
    """A Dask ``Client``: a LocalCluster for ``local[:N]`` (one thread per worker), else connected to
    the scheduler at the address ``spec``."""
    # late: dask and psutil load only for a province run
    from distributed import Client, LocalCluster

    address, n = scheduler_spec(spec)
    if address is not None:
        with Client(address) as client:
            yield client
        return
    n = n or max(1, (os.cpu_count() or 1))
    with (
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=":0", silence_logs=40
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


class PeakMemory:
    """Peak resident memory of this process while the ``with`` block runs (``peak_mb``; ``start_mb``
    when it began), sampled every ``interval`` seconds by a thread: per task, unlike the process's
    lifetime high-water mark."""

    def __init__(self, interval: float = 0.05):
        # late: dask and psutil load only for a province run
        import psutil

        self.interval, self._proc, self.peak_mb = interval, psutil.Process(), 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 2**20)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakMemory:
        self._sample()
        self.start_mb = self.peak_mb
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def county_task(
    database_url: str, county: int, code: str, config: Any, types: list[str] | None, bufs: Buffers
) -> dict[str, Any]:
    """Worker side: read county ``county``'s partition from PostGIS, compute, return its per-home rows
    (``rows``) and figures (seconds, homes, partition sizes, peak memory of the worker process)."""

    t0, cpu0 = time.perf_counter(), time.process_time()
    with PeakMemory() as memory:
        with session(database_url, actor="province") as s:
            frames = store.partition_inputs(s, county, network_m=bufs.network_m, facility_m=bufs.facility_m)
            facility_types = with_capacity_basis(queries.facility_types(s), config.facility_types_csv)
        read_s = time.perf_counter() - t0
        result = run_coverage(
            frames["nodes"],
            frames["edges"],
            frames["facilities"],
            frames["residences"],
            frames["areas"],
            facility_types,
            load_profiles(config.profiles_csv),
            types=types,
            max_distance_m=config.snap_max_m,
            gap_link_m=config.gap_link_m,
            with_gaps=False,
        )
    pr = result.per_residence
    population = frames["residences"].set_index("residence_id").population
    rows = pd.DataFrame(
        {  # Int64 kept as a Series: to_numpy() would turn ids with gaps into floats
            "type_code": pr.type_code.astype(str).to_numpy(),
            "circle": pr.circle.astype(str).to_numpy(),
            "residence_id": pr.residence_id.to_numpy(),
            "population": population.reindex(pr.residence_id).to_numpy(),
            "time_s": pr.time_s.to_numpy(),
            "facility_id": pr.facility_id.astype("Int64").reset_index(drop=True),
            "covered": pr.covered.to_numpy(bool),
        }
    )
    figures = {
        "seconds": round(time.perf_counter() - t0, 3),
        "read_seconds": round(read_s, 3),
        "cpu_seconds": round(time.process_time() - cpu0, 3),
        "homes": len(frames["residences"]),
        "edges": len(frames["edges"]),
        "facilities": len(frames["facilities"]),
        "peak_rss_mb": round(memory.peak_mb, 1),
        "start_rss_mb": round(memory.start_mb, 1),
    }
    return {"county": county, "code": code, "rows": rows, "figures": figures}


def run_province(
    database_url: str,
    *,
    scheduler: str = "local",
    config: Any = None,
    types: list[str] | None = None,
    processes: bool = True,
    progress: Progress | None = None,
    task: Callable[..., dict] | None = None,
    retries: int = RETRIES,
) -> dict[str, Any]:
    """Run every county of the database at ``database_url`` as a Dask task and store the results.

    Returns ``{"run_id", "status", "counties": {code: figures}, "failed": [{code, name, error}],
    "seconds", "buffers", "phases"}`` (``phases``: seconds before the cluster, to start it, storing
    the counties' rows, rolling up). ``task`` replaces ``county_task`` (tests of failure handling).
    """
    # late: dask and psutil load only for a province run
    from distributed import as_completed

    config = config or RunConfig.from_settings()
    t0 = time.perf_counter()
    with session(database_url, actor="province") as s:
        counties = store.counties(s)
        facility_types = with_capacity_basis(queries.facility_types(s), config.facility_types_csv)
    bufs = buffers(facility_types, load_profiles(config.profiles_csv), config.snap_max_m, types)
    if counties.empty:
        raise ValueError("no county (district area) is loaded: load the areas first")
    codes = {int(a): county_code(c) for a, c in zip(counties.area_id, counties.code, strict=True)}
    names = dict(zip(counties.area_id.astype(int), counties.name, strict=True))
    with session(database_url, actor="province") as s:
        run_id = store.start_run(
            s,
            {
                "partition": "county",
                "scheduler": scheduler,
                "types": types,
                "buffers": asdict(bufs),
                "snap_max_m": config.snap_max_m,
            },
        )
    done: dict[str, dict] = {}
    failed: list[dict[str, str]] = []
    phases = {"prepare_s": time.perf_counter() - t0, "cluster_start_s": 0.0, "store_s": 0.0}
    t_cluster = time.perf_counter()
    with client_for(scheduler, processes=processes) as client:
        phases["cluster_start_s"] = time.perf_counter() - t_cluster
        futures = {
            client.submit(
                task or county_task,
                database_url,
                area,
                codes[area],
                config,
                types,
                bufs,
                key=f"county-{codes[area]}-run{run_id}",
                retries=retries,
                pure=False,
            ): area
            for area in codes
        }
        for future in as_completed(futures):
            area = futures[future]
            label = f"{names[area]} {codes[area]}"
            if future.status == "error":
                failed.append(
                    {"code": codes[area], "name": names[area], "error": repr(future.exception())[:300]}
                )
                label += " 失败 failed"
            else:
                out = future.result()
                t_store = time.perf_counter()
                with session(database_url, actor="province") as s:
                    store.store_county(s, run_id, codes[area], out["rows"], out["figures"])
                phases["store_s"] += time.perf_counter() - t_store
                done[codes[area]] = out["figures"]
            future.release()
            if progress is not None:
                progress(label, len(done) + len(failed), len(futures))
    t_finish = time.perf_counter()
    with session(database_url, actor="province") as s:
        store.finish_run(s, run_id, failed)
    phases["rollup_s"] = time.perf_counter() - t_finish
    return {
        "run_id": run_id,
        "status": "failed" if failed else "done",
        "counties": done,
        "failed": failed,
        "seconds": round(time.perf_counter() - t0, 3),
        "buffers": asdict(bufs),
        "phases": {k: round(v, 3) for k, v in phases.items()},
    }
