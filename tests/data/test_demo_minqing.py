"""The demo's 民情: believable mixes checked by counting (old town vs villages, seasons), some
overdue and escalated, KPIs in plausible ranges, visits near their households, deterministic."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from geo.deadlines import BEIJING
from layers.db import session

END = datetime(2027, 1, 1, tzinfo=BEIJING)  # six months: July to December 2026


@pytest.fixture(scope="module")
def minqing_db(demo_db):
    from pipeline import minqing_demo

    with session(demo_db, actor="pytest") as s:
        counts = minqing_demo.load(s, end=END)
    assert counts["events"] > 1000 and counts["visits"] > 1000 and counts["key_households"] > 100
    return demo_db


@pytest.fixture(scope="module")
def events(minqing_db) -> pd.DataFrame:
    with session(minqing_db) as s:
        rows = (
            s.execute(
                text(
                    "SELECT e.event_id, e.category, e.status, e.overdue, e.escalations, e.due_at, "
                    "e.reported_at, e.source, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, c.urban "
                    "FROM events e JOIN areas c ON c.area_id = e.community_id"
                )
            )
            .mappings()
            .all()
        )
    return pd.DataFrame([dict(r) for r in rows])


def _share(frame: pd.DataFrame, category: str) -> float:
    return float((frame["category"] == category).mean())


def test_old_town_has_more_sanitation_villages_more_elderly_care(events, minqing_db):
    from data.demo.minqing import old_town_lonlat

    old_town = old_town_lonlat()  # where the district generator drew the old town
    inside = shapely.contains_xy(old_town, events["lon"].to_numpy(), events["lat"].to_numpy())
    old, villages, city = events[inside], events[~events["urban"]], events[events["urban"] & ~inside]
    assert len(old) > 50 and len(villages) > 200
    assert _share(old, "sanitation") > _share(villages, "sanitation")
    assert _share(old, "sanitation") > _share(city, "sanitation")
    assert _share(villages, "elderly_care") > _share(old, "elderly_care")
    assert _share(villages, "elderly_care") > _share(city, "elderly_care")
    # more reports per household in the old town than in the villages
    with session(minqing_db) as s:
        homes = s.execute(
            text(
                "SELECT ST_X(r.geom), ST_Y(r.geom), r.households, c.urban FROM residences r "
                "JOIN areas g ON g.area_id = r.area_id AND g.level = 'grid_small' "
                "JOIN areas m ON m.area_id = g.parent_id JOIN areas c ON c.area_id = m.parent_id"
            )
        ).all()
    frame = pd.DataFrame(homes, columns=["lon", "lat", "households", "urban"])
    home_inside = shapely.contains_xy(old_town, frame["lon"].to_numpy(), frame["lat"].to_numpy())
    per_household_old = len(old) / frame.loc[home_inside, "households"].sum()
    per_household_villages = len(villages) / frame.loc[~frame["urban"], "households"].sum()
    assert per_household_old > per_household_villages


def test_seasons(events):
    month = events["reported_at"].dt.tz_convert("Asia/Shanghai").dt.month
    summer, winter = events[month.isin([7, 8])], events[month.isin([11, 12])]
    assert _share(summer, "sanitation") > _share(winter, "sanitation")
    assert _share(summer, "noise") > _share(winter, "noise")
    assert _share(winter, "elderly_care") > _share(summer, "elderly_care")
    assert len(summer) > len(winter) * 0.8  # reports all year round


def test_some_overdue_and_escalated_and_a_real_flow(events, minqing_db):
    assert 0.03 < events["overdue"].mean() < 0.3
    assert (events["escalations"] > 0).sum() == events["overdue"].sum()  # 超时 is what escalates
    still_open = events[events["status"].isin(["reported", "accepted", "escalated", "assigned", "handling"])]
    assert len(still_open) > 0 and still_open["overdue"].any()  # some still open after running late (超时)
    assert set(events["source"]) == {"public", "staff", "12345"}
    with session(minqing_db) as s:
        broken = s.execute(
            text("""
            SELECT count(*) FROM events e WHERE e.status IS DISTINCT FROM (
              SELECT h.to_status FROM event_history h WHERE h.event_id = e.event_id
              ORDER BY h.at DESC, h.history_id DESC LIMIT 1)""")
        ).scalar_one()
        unstamped = s.execute(
            text("SELECT count(*) FROM event_history WHERE actor = '' OR at IS NULL")
        ).scalar_one()
    assert broken == 0 and unstamped == 0


def test_kpis_are_plausible(minqing_db):
    from pipeline import visits

    with session(minqing_db) as s:
        rows = visits.kpis(
            s, visits.VisitSettings(), by="town", since=END - timedelta(days=184), until=END, now=END
        )
    assert len(rows) >= 3
    for r in rows:
        assert 0.75 <= r["on_time_rate"] <= 0.97, r
        assert r["closed_rate"] >= 0.85, r
        assert 0.7 <= r["satisfied_rate"] <= 0.97, r
        assert 4 <= r["mean_hours_to_resolve"] <= 240, r
        assert 0.6 <= r["visit_rate"] <= 0.99, r


def test_visits_are_near_their_households_and_some_needs_became_events(minqing_db):
    from pipeline.visits import VisitSettings

    with session(minqing_db) as s:
        farthest, linked, owners = s.execute(
            text("SELECT max(distance_m), count(event_id), count(DISTINCT household_id) FROM visits")
        ).one()
        groups = dict(
            s.execute(text("SELECT g, count(*) FROM key_households, unnest(groups) g GROUP BY g")).all()
        )
    assert farthest < VisitSettings().max_distance_m  # the API would accept every demo visit
    assert linked > 10 and owners > 100
    assert set(groups) == {"dibao", "tekun", "elderly_alone", "disabled", "left_behind_child"}


def test_deterministic(minqing_db):
    from data.demo.minqing import generate, old_town_lonlat
    from layers.load.minqing_demo import homes
    from pipeline import events as events_service
    from pipeline import visits as visits_service

    categories, calendar = events_service.tables(events_service.EventSettings())
    plan = visits_service.plan(visits_service.VisitSettings())
    with session(minqing_db) as s:
        where = homes(s, old_town_lonlat().wkt)
    small = where[where["grid_id"].isin(sorted(where["grid_id"].unique())[:8])]
    one = generate(small, categories, calendar, plan, end=END, seed=5)
    two = generate(small, categories, calendar, plan, end=END, seed=5)
    other = generate(small, categories, calendar, plan, end=END, seed=6)
    pd.testing.assert_frame_equal(one.events, two.events)
    pd.testing.assert_frame_equal(one.visits, two.visits)
    assert not one.events[["reported_at", "category"]].equals(other.events[["reported_at", "category"]])


def test_removing_the_demo_takes_its_minqing_along(minqing_db):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from layers.load import clean

    engine = create_engine(minqing_db)
    with Session(engine) as s:  # rolled back: the other tests keep the demo
        removed = clean.remove_demo(s, actor="pytest")
        left = s.execute(
            text(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM key_households), "
                "(SELECT count(*) FROM visits)"
            )
        ).one()
        s.rollback()
    engine.dispose()
    assert removed["events"] > 1000 and tuple(left) == (0, 0, 0)


def test_homes_drawn_from_the_frames_are_those_postgis_reads(demo_db, demo_district):
    """``demo load`` draws the 民情 while the district is stored, from the district's frames: the
    homes must be those read from the stored district (old town by ST_Covers in PostGIS)."""
    from data.demo.minqing import homes, old_town_lonlat
    from layers.load import minqing_demo as rows

    old_town = old_town_lonlat()
    with session(demo_db) as s:
        stored = rows.homes(s, old_town.wkt)
    drawn = homes(demo_district.areas, demo_district.residences, old_town)
    assert len(drawn) > 1000 and set(drawn["kind"]) == {"old_town", "village", "urban"}
    pd.testing.assert_frame_equal(drawn, stored, check_dtype=False)


def test_every_visit_distance_is_the_one_postgis_measures(minqing_db):
    """Distances are measured in Python (GeographicLib) and, near a rounding boundary, in PostGIS: the
    stored metres must be PostGIS's own geodesic, rounded to 0.1 m, for every visit."""
    with session(minqing_db) as s:
        n, differ = s.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE v.distance_m IS DISTINCT FROM round(ST_Distance("
                "v.geom::geography, r.geom::geography)::numeric, 1)::float8) FROM visits v "
                "JOIN key_households h USING (household_id) JOIN residences r USING (residence_id)"
            )
        ).one()
    assert n > 1000 and differ == 0


KEYS = (
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE contype = 'f' AND conrelid = ANY(CAST(:t AS regclass[])) ORDER BY 1, 2"
)


def test_keys_to_the_district_made_after_the_rows_are_the_same_and_still_refuse(minqing_db):
    """With the district stored in the same transaction, the 民情's keys to areas and residences are
    made after the rows: afterwards the same keys exist, and a report in a grid that does not exist
    fails the whole write, leaving the stored 民情 as it was."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    from layers.load import minqing_demo as rows
    from pipeline import minqing_demo

    tables = {"t": ["events", "event_history", "key_households", "visits"]}
    engine = create_engine(minqing_db)
    with Session(engine) as s:
        before = s.execute(text(KEYS), tables).all()
        stored = s.execute(text("SELECT count(*), min(tracking_code) FROM events")).one()
        demo = minqing_demo.draw(rows.homes(s, "POLYGON EMPTY"), end=END, months=1)
        counts = rows.replace_minqing(s, demo, with_district=True)
        assert counts["events"] == len(demo.events) > 0
        assert s.execute(text(KEYS), tables).all() == before
        s.rollback()
        demo.events.loc[demo.events.index[0], "grid_id"] = 9_999_999_999
        with pytest.raises(IntegrityError, match="events_grid_id_fkey"):
            rows.replace_minqing(s, demo, with_district=True)
        s.rollback()
        assert s.execute(text("SELECT count(*), min(tracking_code) FROM events")).one() == stored
        assert s.execute(text(KEYS), tables).all() == before
    engine.dispose()
