"""Facility isochrones stored with each coverage run (issue 19.3), on a small demo district.

A stored isochrone is the same answer a request would compute (the same bytes), both agree with an
independent networkx truth (tests/geo/demo_truth.py: the open facilities inside each polygon are
exactly those reachable within its minutes; sampled street nodes reachable within the minutes lie
inside it), and an incremental run after a facility moves leaves every stored isochrone equal to a
fresh computation while copying those the move cannot change. No timing is asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "geo"))

from layers import isochrones as stored  # noqa: E402
from layers import lookup, queries, store  # noqa: E402
from layers.db import session  # noqa: E402
from pipeline import coverage as runs  # noqa: E402
from pipeline.isochrones import PUBLIC_MINUTES, PUBLIC_PROFILES, Origin, Task, run, stored_body  # noqa: E402

SCALE = 0.1


@pytest.fixture(scope="module")
def small(fresh_db, stored_isochrones):
    """A small demo district (about 4,000 street nodes, 95 open facilities) and a first (full) run."""
    from data.demo import generate
    from layers.load.demo import load_district

    url = fresh_db("facility_isochrones")
    district = generate(scale=SCALE)
    with session(url, actor="pytest") as s:
        load_district(s, district)
    runs.clear_cache()
    with session(url, actor="pytest") as s:
        first = runs.run_and_store(s, incremental=False)
    return url, first


def _network(s, profile: str):
    from geo.network import build_network
    from geo.profiles import get_profile, load_profiles

    chosen = get_profile(load_profiles(runs.PROFILES_CSV), profile)
    return build_network(queries.nodes(s), queries.edges(s), chosen)


def _fresh(s, network, facility_id: int, profile: str, budgets: tuple[float, ...]) -> bytes:
    """What the facility route computes when nothing is stored (``pipeline.isochrones.run``)."""
    lon, lat = lookup.facility_point(s, facility_id)
    origin = Origin(lon, lat, {"lon": lon, "lat": lat, "facility_id": facility_id}, exclude=facility_id)
    task = Task(
        facilities=lookup.facility_points(s),
        budgets=budgets,
        profile=profile,
        snap_max_m=500.0,
        origin=origin,
    )
    status, out = run(network, task)
    assert status == "ok", out
    return out


def _stored(s, facility_id: int, profile: str, budgets: tuple[float, ...]) -> bytes | None:
    from geo.profiles import load_profiles

    lon, lat = lookup.facility_point(s, facility_id)
    digest = runs.profile_digests(load_profiles(runs.PROFILES_CSV))[profile]
    return stored_body(
        s,
        store.latest_run(s),
        facility_id,
        profile,
        budgets,
        digest=digest,
        snap_max_m=500.0,
        origin={"lon": lon, "lat": lat, "facility_id": facility_id},
    )


def _open_ids(s) -> list[int]:
    return lookup.facility_points(s).facility_id.tolist()


def test_every_open_facility_is_stored_and_equals_a_fresh_isochrone(small):
    url, first = small
    summary = first["summary"]["isochrones"]
    assert summary["minutes"] == list(PUBLIC_MINUTES) and set(summary["profiles"]) == set(PUBLIC_PROFILES)
    with session(url) as s:
        ids = _open_ids(s)
        rows = s.execute(
            text("SELECT count(*), count(DISTINCT facility_id) FROM facility_isochrones WHERE run_id = :r"),
            {"r": first["run_id"]},
        ).one()
        assert rows[0] == summary["computed"] == len(ids) * len(PUBLIC_PROFILES) * len(PUBLIC_MINUTES)
        assert rows[1] == len(ids) and summary["copied"] == 0
        for profile in PUBLIC_PROFILES:
            network = _network(s, profile)
            for fid in ids[::9]:
                for budgets in (PUBLIC_MINUTES, (10.0,), (5.0, 15.0)):
                    assert _stored(s, fid, profile, budgets) == _fresh(s, network, fid, profile, budgets)
            # minutes that are not stored: computed per request
            assert _stored(s, ids[0], profile, (20.0,)) is None


def test_stored_isochrones_agree_with_networkx(small):
    from demo_truth import DemoTruth, read_profiles

    url, first = small
    with session(url) as s:
        nodes, edges = queries.nodes(s), queries.edges(s)
        facilities = lookup.facility_points(s)
        walkable = edges[~edges.highway.isin(["motorway", "motorway_link"])]  # nodes on streets people walk
        street = nodes[nodes.node_id.isin(set(walkable.u) | set(walkable.v))]
        at = facilities.set_index("facility_id")
        origins = [int(f) for f in facilities.facility_id.to_numpy()[[3, 40, 77]]]

        # per origin the 150 street nodes nearest to it (most within its budgets) and 100 anywhere
        def nearest(o: int) -> pd.DataFrame:
            away = np.hypot(street.lon - at.at[o, "lon"], street.lat - at.at[o, "lat"])
            return street.iloc[np.argsort(away.to_numpy())[:150]]

        sample = pd.concat([nearest(o) for o in origins] + [street.sample(100, random_state=3)])
        places = {f"f{f}": (x, y) for f, x, y in at[["lon", "lat"]].itertuples()}
        spots = {f"n{n}": (x, y) for n, x, y in sample[["node_id", "lon", "lat"]].itertuples(index=False)}
        checked = 0
        for profile in PUBLIC_PROFILES:
            truth = DemoTruth(
                nodes,
                edges,
                read_profiles()[profile],
                origins={o: places[f"f{o}"] for o in origins},
                destinations={**places, **spots},
            )
            for fid in origins:
                want = truth.times_from(fid, PUBLIC_MINUTES[-1] * 60 + 5)
                polygons = stored.polygons(s, first["run_id"], fid, profile, list(PUBLIC_MINUTES))
                assert len(polygons) == len(PUBLIC_MINUTES)
                for minutes, polygon in zip(polygons.minutes, polygons.geometry, strict=True):
                    budget = minutes * 60
                    listed = stored.reached(s, first["run_id"], fid, profile, minutes)
                    reach = {
                        int(k[1:]) for k, t in want.items() if k[0] == "f" and k != f"f{fid}" and t <= budget
                    }
                    assert set(listed.facility_id) == reach
                    got = dict(zip(listed.facility_id, listed.time_s, strict=True))
                    assert max((abs(got[f] - want[f"f{f}"]) for f in reach), default=0.0) < 1e-6
                    # the polygon holds exactly the open facilities reachable within its minutes
                    others = facilities[facilities.facility_id != fid]
                    inside = shapely.contains_xy(polygon, others.lon.to_numpy(), others.lat.to_numpy())
                    assert set(others.facility_id[inside]) == reach
                    # and every sampled street node reachable within them
                    near = [k for k, t in want.items() if k[0] == "n" and t <= budget - 1e-6]
                    xy = np.array([spots[k] for k in near]).reshape(-1, 2)
                    assert shapely.contains_xy(polygon, xy[:, 0], xy[:, 1]).all()
                    checked += len(near)
        assert checked > 100, "the sample reaches too few street nodes to check the polygons"


def test_incremental_run_after_a_move_keeps_every_stored_isochrone_right(small):
    url, first = small
    with session(url, actor="pytest") as s:
        ids = _open_ids(s)
        moved = ids[len(ids) // 2]
        before = stored.origins(s, first["run_id"], "walk").set_index("facility_id")
        s.execute(
            text("UPDATE facilities SET geom = ST_Translate(geom, 0.0015, 0.001) WHERE facility_id = :f"),
            {"f": moved},
        )
    with session(url, actor="pytest") as s:
        # between the edit and the next run nothing stored is served: the facilities changed
        assert _stored(s, ids[0], "walk", PUBLIC_MINUTES) is None
        second = runs.run_and_store(s, incremental=True)
    summary = second["summary"]["isochrones"]
    per_facility = len(PUBLIC_PROFILES) * len(PUBLIC_MINUTES)
    assert summary["computed"] >= per_facility  # the moved one at least
    assert summary["copied"] > 0 and summary["computed"] + summary["copied"] == len(ids) * per_facility
    with session(url) as s:
        after = stored.origins(s, second["run_id"], "walk").set_index("facility_id")
        lon, lat = lookup.facility_point(s, moved)
        assert (after.at[moved, "lon"], after.at[moved, "lat"]) == (lon, lat)
        assert (lon, lat) != tuple(before.loc[moved, ["lon", "lat"]])
        for profile in PUBLIC_PROFILES:
            network = _network(s, profile)
            for fid in ids:  # every one: the copied ones too
                fresh = _fresh(s, network, fid, profile, PUBLIC_MINUTES)
                assert _stored(s, fid, profile, PUBLIC_MINUTES) == fresh, (profile, fid)


def test_a_run_without_a_change_copies_every_isochrone(small):
    url, _ = small
    with session(url, actor="pytest") as s:
        last = runs.run_and_store(s, incremental=False)
        n = len(_open_ids(s))
    summary = last["summary"]["isochrones"]
    assert summary["computed"] == 0 and summary["copied"] == n * len(PUBLIC_PROFILES) * len(PUBLIC_MINUTES)
    with session(url) as s:
        # held by reference: the run wrote no polygon of its own, yet reads every one through the view
        own, held = s.execute(
            text(
                "SELECT (SELECT count(*) FROM facility_isochrone_rows WHERE run_id = :r), "
                "(SELECT count(*) FROM facility_isochrones WHERE run_id = :r)"
            ),
            {"r": last["run_id"]},
        ).one()
    assert own == 0 and held == summary["copied"]


def test_closing_a_facility_drops_it_and_updates_who_lists_it(small):
    url, _ = small
    with session(url, actor="pytest") as s:
        previous = store.latest_run(s)
        listing = pd.DataFrame(
            s.execute(
                text(
                    "SELECT facility_id, reached_id FROM facility_isochrones WHERE run_id = :r "
                    "AND profile = 'walk' AND minutes = 15"
                ),
                {"r": previous["run_id"]},
            ).all()
        )
        # a facility that others reach within 15 minutes
        closed = int(pd.Series([f for ids in listing.reached_id for f in ids]).value_counts().index[0])
        s.execute(text("UPDATE facilities SET status = 'closed' WHERE facility_id = :f"), {"f": closed})
    with session(url, actor="pytest") as s:
        latest = runs.run_and_store(s, incremental=True)
        assert _stored(s, closed, "walk", PUBLIC_MINUTES) is None  # not open: computed per request
        listed = s.execute(
            text("SELECT count(*) FROM facility_isochrones WHERE run_id = :r AND :f = ANY(reached_id)"),
            {"r": latest["run_id"], "f": closed},
        ).scalar_one()
        assert listed == 0
        network = _network(s, "walk")
        for fid in _open_ids(s):
            assert _stored(s, fid, "walk", PUBLIC_MINUTES) == _fresh(s, network, fid, "walk", PUBLIC_MINUTES)


def test_runs_in_between_with_another_snapping_distance_or_none_stored_take_nothing_away(small):
    """The isochrones come from the newest run that stored them as they are now: a run with another
    snapping distance, and one that stored none, leave the next run at the usual distance copying
    every one of them, each equal to a fresh computation."""
    url, _ = small
    with session(url, actor="pytest") as s:
        n = len(_open_ids(s))
        # one type is enough: every run stores the isochrones of all open facilities
        one = ["kindergarten"]
        other = runs.run_and_store(s, types=one, config=runs.RunConfig(snap_max_m=1000.0))
        none = runs.run_and_store(s, types=one, config=runs.RunConfig(store_isochrones=False))
        back = runs.run_and_store(s, types=one)
    assert (
        other["summary"]["isochrones"]["snap_max_m"] == 1000.0 and other["summary"]["isochrones"]["computed"]
    )
    assert none["summary"]["isochrones"] is None
    summary = back["summary"]["isochrones"]
    assert summary["computed"] == 0 and summary["copied"] == n * len(PUBLIC_PROFILES) * len(PUBLIC_MINUTES)
    with session(url) as s:
        for profile in PUBLIC_PROFILES:
            network = _network(s, profile)
            for fid in _open_ids(s)[::9]:
                assert _stored(s, fid, profile, PUBLIC_MINUTES) == _fresh(
                    s, network, fid, profile, PUBLIC_MINUTES
                )


def test_what_is_stored_is_what_the_public_map_asks():
    from maps.public import ISOCHRONE_MINUTES, ISOCHRONE_PROFILES

    assert tuple(float(m) for m in ISOCHRONE_MINUTES) == PUBLIC_MINUTES
    assert set(ISOCHRONE_PROFILES) == set(PUBLIC_PROFILES)


def test_a_queued_run_is_shown_before_its_isochrones_are_stored(small, monkeypatch):
    """The job commits the run first (planners see it at once; the route computes meanwhile), then
    stores its isochrones in a second transaction and adds them to the run's summary."""
    from pipeline import jobs

    url, _ = small
    profile = PUBLIC_PROFILES[0]
    with session(url, actor="pytest") as s:
        moved = _open_ids(s)[len(_open_ids(s)) // 2]
        s.execute(
            text("UPDATE facilities SET geom = ST_Translate(geom, 0.001, 0) WHERE facility_id = :f"),
            {"f": moved},
        )
        previous = store.latest_run(s)
        queued = jobs.queue_coverage_run(s, types=None, full=False, actor="pytest")
    seen: dict = {}
    real = jobs.store_run_isochrones

    def observed(s, run_id, **kwargs):
        with session(url) as other:  # what every other transaction (planners, the route) sees now
            row = store.run(other, run_id)
            seen.update(
                status=row["status"],
                held=row["summary"].get("isochrones"),
                rows=len(stored.origins(other, run_id, profile)),
                latest=store.latest_run(other)["run_id"],
                body=_stored(other, moved, profile, PUBLIC_MINUTES),
            )
        return real(s, run_id, **kwargs)

    monkeypatch.setattr(jobs, "store_run_isochrones", observed)
    jobs.run_coverage_job(url, queued["run_id"])
    assert seen == {"status": "done", "held": None, "rows": 0, "latest": queued["run_id"], "body": None}

    with session(url) as s:
        row = store.run(s, queued["run_id"])
        held = row["summary"]["isochrones"]
        assert held["computed"] >= 1 and held["copied"] >= 1  # the move's neighbours again, the rest copied
        for each in PUBLIC_PROFILES:  # every open facility that had isochrones has them in the new run
            now = set(stored.origins(s, row["run_id"], each).facility_id)
            assert now == set(stored.origins(s, previous["run_id"], each).facility_id) and moved in now
        assert row["summary"]["phases_s"]["isochrones"] is not None
        assert _stored(s, moved, profile, PUBLIC_MINUTES) == _fresh(
            s, _network(s, profile), moved, profile, PUBLIC_MINUTES
        )
        assert runs.store_run_isochrones(s, row["run_id"]) is None  # stored once
