"""The demo's 民情 copy by copy (data.demo.minqing.generate_copies): one district gets the rows of
``generate``; a copy laid out like another (data.demo.derived) gets that copy's 民情 at its own homes,
areas and grid workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from data.demo import derived
from data.demo.frames import ID_STRIDE, copy_frames
from data.demo.geography import layout
from data.demo.minqing import DISPATCHER, generate, generate_copies, start
from data.demo.names import district
from geo.deadlines import BEIJING

END = datetime(2027, 1, 1, tzinfo=BEIJING)
ORIGINS = layout(3)


def _homes(frames: dict) -> pd.DataFrame:
    """What ``layers.load.minqing_demo.homes`` reads, from a copy's frames (no old town here)."""
    areas = frames["areas"].set_index("area_id")
    r = frames["residences"]
    grid = r["area_id"].to_numpy()
    community = (
        areas.loc[areas.loc[grid, "parent_id"].astype(np.int64), "parent_id"].astype(np.int64).to_numpy()
    )
    town = areas.loc[community, "parent_id"].astype(np.int64).to_numpy()
    xy = r.get_coordinates().to_numpy()
    return pd.DataFrame(
        {
            "residence_id": r["residence_id"].to_numpy(),
            "grid_id": grid,
            "community_id": community,
            "town_id": town,
            "kind": np.where(areas.loc[community, "urban"].to_numpy(), "urban", "village"),
            "households": r["households"].to_numpy(),
            "elderly": r["elderly"].to_numpy(),
            "children": r["children"].to_numpy(),
            "lon": xy[:, 0],
            "lat": xy[:, 1],
            "address": r["address"].to_numpy(),
            "worker": areas.loc[grid, "worker_name"].to_numpy(),
        }
    )


@pytest.fixture(scope="module")
def tables():
    from pipeline import events as events_service
    from pipeline import visits as visits_service

    categories, calendar = events_service.tables(events_service.EventSettings())
    return categories, calendar, visits_service.plan(visits_service.VisitSettings())


@pytest.fixture(scope="module")
def homes() -> tuple[pd.DataFrame, pd.DataFrame]:
    one = copy_frames(1, 0.2, ORIGINS[1], 5)
    two = derived.derive(one, 1, 2, ORIGINS[1], ORIGINS[2])
    return _homes(one), _homes(two)


@pytest.fixture(scope="module")
def both(homes, tables):
    return generate_copies(pd.concat(homes), *tables, end=END, scale=3.0, seed=5)


def test_one_district_gets_the_rows_of_generate(homes, tables):
    one = homes[0].copy()
    for col in ("residence_id", "grid_id", "community_id", "town_id"):
        one[col] -= ID_STRIDE  # as copy 0
    a = generate_copies(one, *tables, end=END, scale=1.0, seed=5)
    b = generate(one, *tables, end=END, seed=5)
    for name in ("events", "history", "households", "visits"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def _copy_of(frame: pd.DataFrame, col: str) -> np.ndarray:
    return frame[col].to_numpy(np.int64) // ID_STRIDE


def test_the_copy_laid_out_alike_gets_the_same_minqing_at_its_homes(both, homes, tables):
    src, dst = homes
    ev_copy = _copy_of(both.events, "grid_id")
    assert set(ev_copy) == {1, 2}
    # copy 1 is drawn from a stream of its own
    alone = generate(src, *tables, end=END, seed=5, stream=(1,))
    assert len(alone.events) == (ev_copy == 1).sum() > 100
    assert both.events["tracking_code"].is_unique
    # every row of copy 2 at a copy-2 home, its areas and address those of the home
    for name, frame in (("events", both.events), ("households", both.households)):
        two = frame[_copy_of(frame, "grid_id") == 2]
        home = dst.set_index("residence_id").loc[two["residence_id"]]
        for col in ("grid_id", "community_id", "town_id", "address"):
            assert (two[col].to_numpy() == home[col].to_numpy()).all(), (name, col)
        assert two["address"].str.startswith(district(2)[0]).all()
    # the same flows with each copy's own grid workers: equal once the grid worker is named "W"
    workers = pd.concat(homes).set_index("grid_id")["worker"].groupby(level=0).first()

    def flows(c: int) -> pd.DataFrame:
        ev = both.events[ev_copy == c]
        h = both.history[both.history["ev"].isin(ev["ev"])]
        mine = workers.loc[ev.set_index("ev").loc[h["ev"], "grid_id"]].to_numpy()
        actor = np.where(h["actor"].to_numpy() == mine, "W", h["actor"].to_numpy())
        cols = ["action", "from_status", "to_status", "at", "note", "department"]
        return h[cols].assign(actor=actor).reset_index(drop=True)

    one, two = flows(1), flows(2)
    pd.testing.assert_frame_equal(one, two)
    assert (one["actor"] == "W").sum() > 100 and DISPATCHER in set(one["actor"])
    # visits by their own grid's worker, next to their household's home
    hh = both.households.set_index("hh")
    v = both.visits
    grid = hh.loc[v["hh"], "grid_id"].to_numpy()
    assert (v["worker"].to_numpy() == workers.loc[grid].fillna("网格员").to_numpy()).all()
    home = pd.concat(homes).set_index("residence_id").loc[hh.loc[v["hh"], "residence_id"]]
    far = np.hypot(v["lon"].to_numpy() - home["lon"].to_numpy(), v["lat"].to_numpy() - home["lat"].to_numpy())
    assert far.max() < 0.001  # ≈ 100 m
    assert (grid // ID_STRIDE == 2).sum() == (grid // ID_STRIDE == 1).sum() > 100
    linked = v["ev"].to_numpy()
    assert (
        _copy_of(both.events.set_index("ev").loc[linked[linked >= 0]], "grid_id")
        == grid[linked >= 0] // ID_STRIDE
    ).all()


def test_copies_drawn_in_processes_give_the_same_rows(homes, tables, both):
    # copy 2 drawn on its own (not laid out like copy 1: one home's figures differ) beside copy 1
    other = homes[1].copy()
    other.loc[0, "households"] += 1
    one = generate_copies(pd.concat([homes[0], other]), *tables, end=END, scale=3.0, seed=5)
    two = generate_copies(pd.concat([homes[0], other]), *tables, end=END, scale=3.0, seed=5, workers=2)
    for name in ("events", "history", "households", "visits"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(two, name))
    # copy 1's rows as when copy 2 was laid out like it; copy 2's drawn from its own stream
    first = one.events[one.events["grid_id"] // ID_STRIDE == 1].drop(columns="ev")
    pd.testing.assert_frame_equal(
        first.reset_index(drop=True),
        both.events[both.events["grid_id"] // ID_STRIDE == 1].drop(columns="ev").reset_index(drop=True),
    )
    alone = generate(other, *tables, end=END, seed=5, stream=(2,))
    assert (one.events["grid_id"] // ID_STRIDE == 2).sum() == len(alone.events)


def test_copies_started_early_give_the_same_rows(homes, tables, both):
    """A copy whose drawing was started before the others were laid out (``start``) is taken as it
    is; one started for other homes is drawn again: the rows are those drawn at once."""
    with ThreadPoolExecutor(1) as pool:
        started = {1: start(homes[0], 1, *tables, pool, end=END, seed=5)}
        early = generate_copies(pd.concat(homes), *tables, end=END, scale=3.0, seed=5, started=started)
        wrong = homes[0].copy()
        wrong["households"] *= 3  # not copy 1's homes: its rows must not be taken
        stale = {1: start(wrong, 1, *tables, pool, end=END, seed=5)}
        again = generate_copies(pd.concat(homes), *tables, end=END, scale=3.0, seed=5, started=stale)
    for name in ("events", "history", "households", "visits"):
        pd.testing.assert_frame_equal(getattr(early, name), getattr(both, name))
        pd.testing.assert_frame_equal(getattr(again, name), getattr(both, name))
    assert len(stale[1][1].result().events) > 2 * len(started[1][1].result().events)  # they differ
