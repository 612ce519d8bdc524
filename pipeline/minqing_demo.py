"""The demo's 民情: six months of fictional reports, key households and visits for the loaded demo
district (``data.demo.minqing``), generated from its residences and grids and stored in place of
every event, key household and visit."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from data.demo.minqing import generate_copies, old_town_lonlat
from geo.deadlines import BEIJING
from layers.load import minqing_demo as store
from pipeline import events as events_service
from pipeline import visits as visits_service
from pipeline.errors import Invalid


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

    event_settings, visit_settings = events_service.EventSettings(), visits_service.VisitSettings()
    categories, calendar = events_service.tables(event_settings)
    homes = store.homes(s, old_town_lonlat(scale=scale, seed=seed).wkt)
    if homes.empty:
        raise Invalid(
            "no residence lies in a small grid: there is no district to make 民情 for",
            fix="load the demo district first: `minqing demo load`",
        )
    demo = generate_copies(
        homes,
        categories,
        calendar,
        visits_service.plan(visit_settings),
        end=end or default_end(),
        scale=scale,
        examples=category_examples(event_settings.categories_path),
        months=months,
        seed=seed,
        workers=workers,
    )
    return store.replace_minqing(s, demo)
