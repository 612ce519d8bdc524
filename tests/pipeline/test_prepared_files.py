"""Prepared networks kept on disk: read back in a new process unchanged, never stale, never fatal."""

from __future__ import annotations

import dataclasses
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.coverage import run_coverage
from layers.db import session
from pipeline import coverage as runs
from pipeline import prepared_files
from settings import coverage_settings


def _result(inputs: runs.Inputs, prepared) -> dict:
    r = run_coverage(
        None, None, inputs.facilities, None, None, inputs.facility_types, inputs.profiles, prepared=prepared
    )
    return {
        "per_residence": r.per_residence,
        "per_area": r.per_area,
        "gaps": pd.DataFrame(r.gaps.drop(columns="geometry")),
        "gap_wkb": shapely.to_wkb(r.gaps.geometry.to_numpy()),
    }


def _same(a: dict, b: dict) -> None:
    for key in ("per_residence", "per_area", "gaps"):
        pd.testing.assert_frame_equal(a[key], b[key])
    assert list(a["gap_wkb"]) == list(b["gap_wkb"])


@pytest.fixture()
def kept_in(tmp_path, monkeypatch):
    monkeypatch.setenv("MINQING_PREPARED_DIR", str(tmp_path))
    coverage_settings.cache_clear()
    runs.clear_cache()
    yield tmp_path
    prepared_files.wait()
    coverage_settings.cache_clear()
    runs.clear_cache()


def test_pickled_prepared_networks_give_the_same_coverage(demo_db):
    with session(demo_db) as s:
        inputs = runs.read_inputs(s)
    prepared = runs.prepared_for(inputs)
    again = pickle.loads(pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL))
    for name, net in prepared.networks.items():
        assert shapely.equals_exact(again.networks[name].edge_geometry, net.edge_geometry, 0).all()
        assert (again.networks[name].forward != net.forward).nnz == 0
    assert shapely.equals_exact(again.gap_index.discs, prepared.gap_index.discs, 0).all()
    _same(_result(inputs, prepared), _result(inputs, again))


def test_a_new_process_reads_the_networks_kept_and_prepares_after_a_change(demo_db, kept_in, monkeypatch):
    calls = []
    real = runs.prepare

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "prepare", counted)
    with session(demo_db) as s:
        inputs = runs.read_inputs(s)
    assert inputs.stamp and inputs.database
    first = runs.prepared_for(inputs)
    prepared_files.wait()
    files = sorted(p.name for p in kept_in.iterdir())
    assert len(calls) == 1 and files == [prepared_files.name_of((inputs.prepared_key(), inputs.stamp))]

    runs.clear_cache()  # as a new process: nothing in memory, and the street network is not read
    with monkeypatch.context() as m:
        m.setattr(runs.queries, "edges", lambda *a, **k: pytest.fail("the street network was read"))
        with session(demo_db) as s:
            inputs = runs.read_inputs(s)
            kept = runs.prepared_for(inputs)
    assert len(calls) == 1 and kept is not first
    _same(_result(inputs, first), _result(inputs, kept))

    runs.clear_cache()  # a base layer changed since: another name, prepared again
    changed = dataclasses.replace(inputs, stamp=inputs.stamp + "!")
    runs.prepared_for(changed)
    prepared_files.wait()
    assert len(calls) == 2 and len(list(kept_in.iterdir())) == 2


def test_an_unreadable_file_is_prepared_again_and_replaced(demo_db, kept_in):
    with session(demo_db) as s:
        inputs = runs.read_inputs(s)
    name = prepared_files.name_of((inputs.prepared_key(), inputs.stamp))
    (kept_in / name).write_bytes(b"not a pickle")
    prepared = runs.prepared_for(inputs)
    assert prepared.networks
    prepared_files.wait()
    assert isinstance(prepared_files.read(kept_in, name), runs.Prepared)


def test_without_a_folder_nothing_is_kept(demo_db, tmp_path, monkeypatch):
    monkeypatch.setenv("MINQING_PREPARED_DIR", "")
    coverage_settings.cache_clear()
    runs.clear_cache()
    try:
        assert coverage_settings().prepared_dir is None
        with session(demo_db) as s:
            runs.prepared_for(runs.read_inputs(s))
        prepared_files.wait()
    finally:
        coverage_settings.cache_clear()
    assert not prepared_files._writing


def test_only_the_newest_files_are_kept(tmp_path):
    for i in range(prepared_files.KEEP + 2):
        path = tmp_path / f"{i:02d}{prepared_files.SUFFIX}"
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    stale = tmp_path / ".old.tmp"
    stale.write_bytes(b"x")
    os.utime(stale, (1_000_000, 1_000_000))
    prepared_files._evict(tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [f"{i:02d}{prepared_files.SUFFIX}" for i in range(2, prepared_files.KEEP + 2)]


def test_geometry_arrays_survive_packing_whatever_their_kinds():
    from geo.pickled import packed, unpacked

    lines = np.array([shapely.LineString([(0, 0), (1, 1)]), shapely.LineString([(2, 2), (3, 1), (4, 4)])])
    mixed = np.array([shapely.Point(1, 2), shapely.box(0, 0, 1, 1), None], dtype=object)
    for geoms in (lines, mixed, np.empty(0, dtype=object)):
        back = unpacked(pickle.loads(pickle.dumps(packed(geoms))))
        assert back.dtype == object and len(back) == len(geoms)
        assert all(
            (a is None and b is None) or shapely.equals_exact(a, b, 0)
            for a, b in zip(geoms, back, strict=True)
        )
    assert packed(lines)[0] == "ragged" and packed(mixed)[0] == "wkb"
