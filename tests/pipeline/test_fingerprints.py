"""A type's fingerprint (what an incremental run compares) changes with exactly what its results
depend on: its counted facilities' ids, positions and capacities, its tiers and profiles."""

from __future__ import annotations

import dataclasses

import pytest

from layers.db import session
from pipeline import coverage as service


@pytest.fixture(scope="module")
def inputs(demo_db):
    with session(demo_db) as s:
        return service.read_inputs(s)


def _prints(inputs, facilities=None, facility_types=None):
    changed = dataclasses.replace(
        inputs,
        facilities=inputs.facilities if facilities is None else facilities,
        facility_types=inputs.facility_types if facility_types is None else facility_types,
    )
    types = sorted(set(service.service_tiers(inputs.facility_types).type_code))
    return service.fingerprints(changed, types)


def _changed(before, after):
    return sorted(code for code in before if before[code] != after[code])


def test_each_edit_changes_only_its_own_type(inputs):
    before = _prints(inputs)
    assert before == _prints(inputs)  # the same data: the same fingerprints
    assert len(set(before.values())) == len(before)  # no two types share one
    fac = inputs.facilities
    first = fac[(fac.status == "open") & (fac.type_code == "kindergarten")].index[0]

    moved = fac.copy()
    moved.loc[first, "lon"] += 1e-7  # about a centimetre
    assert _changed(before, _prints(inputs, moved)) == ["kindergarten"]

    bigger = fac.copy()
    bigger.loc[first, "capacity"] = (bigger.loc[first, "capacity"] or 0) + 1
    assert _changed(before, _prints(inputs, bigger)) == ["kindergarten"]

    closed = fac.copy()
    closed.loc[first, "status"] = "closed"  # no longer counted
    assert _changed(before, _prints(inputs, closed)) == ["kindergarten"]

    # a facility of another type that is not open does not count: nothing changes
    planned = fac[fac.status != "open"]
    if len(planned):
        elsewhere = fac.copy()
        elsewhere.loc[planned.index[0], "lon"] += 0.01
        assert _changed(before, _prints(inputs, elsewhere)) == []


def test_a_threshold_edit_changes_its_type(inputs):
    before = _prints(inputs)
    ft = inputs.facility_types.copy()
    row = ft.index[ft.code == "elderly_daycare"][0]
    ft.loc[row, "urban_max_time_min"] = ft.loc[row, "urban_max_time_min"] + 1
    assert _changed(before, _prints(inputs, facility_types=ft)) == ["elderly_daycare"]
