"""The demo's 民情: six months of fictional reports, key households and visits for the loaded demo
district (``data.demo.minqing``), generated from its residences and grids and stored in place of
every event, key household and visit."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from concurrent.futures import Executor, Future
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from data.demo.minqing import MinqingDemo, generate_copies, old_town_lonlat
from data.demo.minqing import homes as demo_homes
from data.demo.minqing import start as start_copy
from geo.deadlines import BEIJING, WorkCalendar
from layers.load import minqing_demo as store_rows
from pipeline import events as events_service
from pipeline import visits as visits_service
from pipeline.errors import Invalid

if TYPE_CHECKING:
    from data.demo import DemoDistrict


def category_examples(path: Path) -> dict[str, list[str]]:
    """Category → its example descriptions (the 事项清单's ``examples`` column, 、-separated)."""
    with Path(path).open(encoding="utf-8-sig", newline="") as f:
        return {
            row["code"]: [e.strip() for e in (row.get("examples") or "").split("、") if e.strip()]
            for row in csv.DictReader(f)
        }


def default_end(now: datetime | None = None) -> datetime:
    """Midnight (Beijing time) at the start of today: the demo is the same all day."""
    today = (now or datetime.now(UTC)).astimezone(BEIJING)
    return today.replace(hour=0, minute=0, second=0, microsecond=0)


def load(
    s: Session,
    *,
    scale: float = 1.0,
    seed: int = 20261122,
    end: datetime | None = None,
    months: int = 6,
    workers: int = 1,
) -> dict[str, int]:
    """Generate and store the demo's 民情 for the loaded district (``scale`` and ``seed`` of the
    district: they place its old town and tell which copies are laid out alike; the copies drawn
    anew in up to ``workers`` processes); replaces every event, key household and visit."""

    homes = store_rows.homes(s, old_town_lonlat(scale=scale, seed=seed).wkt)
    return store_rows.replace_minqing(
        s, draw(homes, scale=scale, seed=seed, end=end, months=months, workers=workers)
    )


def draw_for(
    district: DemoDistrict,
    *,
    scale: float = 1.0,
    seed: int = 20261122,
    end: datetime | None = None,
    months: int = 6,
    pool: Executor | None = None,
    started: Mapping[int, tuple[pd.DataFrame, Future]] | None = None,
) -> MinqingDemo:
    """The 民情 ``load`` would store once ``district`` (``data.demo.generate(scale=scale,
    seed=seed)``) is stored, drawn from its frames without the database (the copies drawn anew in
    ``pool``): to draw it while the district is being stored, then ``store`` it in the same
    transaction."""
    homes = demo_homes(district.areas, district.residences, old_town_lonlat(scale=scale, seed=seed))
    return draw(homes, scale=scale, seed=seed, end=end, months=months, pool=pool, started=started)


def draw(
    homes: pd.DataFrame,
    *,
    scale: float = 1.0,
    seed: int = 20261122,
    end: datetime | None = None,
    months: int = 6,
    workers: int = 1,
    pool: Executor | None = None,
    started: Mapping[int, tuple[pd.DataFrame, Future]] | None = None,
) -> MinqingDemo:
    """The demo's 民情 for ``homes`` (``data.demo.minqing.generate_copies``) with the configured
    categories, calendar and visit plan, ending at ``end`` (default: ``default_end``); ``started``:
    the copies ``start_copies`` started."""
    if homes.empty:
        raise Invalid(
            "no residence lies in a small grid: there is no district to make 民情 for",
            fix="load the demo district first: `minqing demo load`",
        )
    categories, calendar, plan, examples = _inputs()
    return generate_copies(
        homes,
        categories,
        calendar,
        plan,
        end=end or default_end(),
        scale=scale,
        examples=examples,
        months=months,
        seed=seed,
        workers=workers,
        pool=pool,
        started=started,
    )


def _inputs() -> tuple[dict, WorkCalendar, dict, dict[str, list[str]]]:
    """The configured categories, calendar, visit plan and the categories' examples."""
    event_settings, visit_settings = events_service.EventSettings(), visits_service.VisitSettings()
    categories, calendar = events_service.tables(event_settings)
    return (
        categories,
        calendar,
        visits_service.plan(visit_settings),
        category_examples(event_settings.categories_path),
    )


def start_copies(
    parts: Mapping[int, dict],
    pool: Executor,
    *,
    end: datetime,
    scale: float = 1.0,
    seed: int = 20261122,
    months: int = 6,
) -> dict[int, tuple[pd.DataFrame, Future]]:
    """Start drawing, in ``pool``, the 民情 of the copies just generated (``parts``: copy → its frames,
    ``data.demo.generate``'s ``made``) while the others are laid out: for ``draw``'s ``started``
    (``end`` as given to it)."""
    old_town = old_town_lonlat(scale=scale, seed=seed)
    categories, calendar, plan, examples = _inputs()
    out = {}
    for copy, frames in parts.items():
        homes = demo_homes(frames["areas"], frames["residences"], old_town)
        if not homes.empty:
            out[copy] = start_copy(
                homes,
                copy,
                categories,
                calendar,
                plan,
                pool,
                end=end,
                examples=examples,
                months=months,
                seed=seed,
            )
    return out


def column_kinds(s: Session) -> dict[str, dict[str, str]]:
    """What ``draw_ready`` needs of the database: the column types of the 民情's tables."""
    return store_rows.column_kinds(s)


def draw_ready(
    district: DemoDistrict,
    kinds: dict[str, dict[str, str]],
    *,
    scale: float = 1.0,
    seed: int = 20261122,
    end: datetime | None = None,
    months: int = 6,
    pool: Executor | None = None,
    started: Mapping[int, tuple[pd.DataFrame, Future]] | None = None,
) -> store_rows.Ready:
    """``draw_for``, its rows made ready for COPY (``layers.load.minqing_demo.ready``, column types
    ``kinds``: ``column_kinds``) with the visits' distances from ``district``'s residences: all of
    it while the district is stored."""
    demo = draw_for(district, scale=scale, seed=seed, end=end, months=months, pool=pool, started=started)
    residences = district.residences
    points = np.asarray(residences.geometry, dtype=object)
    homes = pd.DataFrame(
        {
            "residence_id": residences["residence_id"].to_numpy(np.int64),
            "x": shapely.get_x(points),
            "y": shapely.get_y(points),
        }
    )
    return store_rows.ready(demo, kinds, homes)


def store(s: Session, demo: MinqingDemo | store_rows.Ready) -> dict[str, int]:
    """Replace every event, key household and visit with ``demo`` (``draw`` or ``draw_ready``) in the
    transaction that has just stored its district (``layers.load.demo.load_district``); row counts."""
    return store_rows.replace_minqing(s, demo, with_district=True)
