"""重点人群 key households and their 走访 visits in PostGIS: lists with the next due visit, storing
visits with the distance from the household, and 走访完成率 per grid, community or town.

The visit plan (group → interval in days) comes from the caller as ``plan``: a mapping code →
every_days (data/visit_plan.csv through ``geo.visits``); the definitions are those of ``geo.visits``.
A household's place is its residence point (EPSG:4326); distances in metres on the spheroid.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.errors import NotFound

POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
INTERVAL = (
    "(SELECT min(p.d) FROM unnest(CAST(:codes AS text[]), CAST(:days AS int[])) AS p(c, d) "
    "WHERE p.c = ANY(h.groups))"
)
"""A household's visit interval: the shortest of its groups' (SQL, ``h`` the household row)."""
HOUSEHOLD = f"""
    SELECT h.household_id, h.residence_id, h.head_name, h.address, h.groups, h.note, h.grid_id,
           h.community_id, h.town_id, h.registered_at, h.active, h.version,
           ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat,
           v.last_visit_at, {INTERVAL} AS every_days,
           coalesce(v.last_visit_at, h.registered_at) + make_interval(days => {INTERVAL}) AS next_due_at
    FROM key_households h JOIN residences r ON r.residence_id = h.residence_id
    LEFT JOIN LATERAL (SELECT max(visited_at) AS last_visit_at FROM visits
                       WHERE household_id = h.household_id) v
      ON TRUE"""


def _visit_fields(v: str = "visits") -> str:
    return (
        f"{v}.visit_id, {v}.household_id, {v}.worker, {v}.visited_at, {v}.distance_m, {v}.notes, {v}.needs, "
        f"{v}.event_id, ST_X({v}.geom) AS lon, ST_Y({v}.geom) AS lat, {v}.created_at, {v}.client_id"
    )


def _plan(plan: Mapping[str, int]) -> dict[str, list]:
    return {"codes": list(plan), "days": [int(d) for d in plan.values()]}


def residence(s: Session, residence_id: int) -> dict[str, Any]:
    """The residence a household lives in: address, area and point; NotFound otherwise."""
    row = (
        s.execute(
            text(
                "SELECT residence_id, address, area_id, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                "FROM residences WHERE residence_id = :i"
            ),
            {"i": residence_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"no residence with residence_id {residence_id}: find it in GET /collections/residences/items"
        )
    return dict(row)


def insert_household(s: Session, values: Mapping[str, Any]) -> int:
    cols = list(values)
    return s.execute(
        text(
            f"INSERT INTO key_households ({', '.join(cols)}) VALUES "
            f"({', '.join(':' + c for c in cols)}) RETURNING household_id"
        ),
        dict(values),
    ).scalar_one()


def update_household(s: Session, household_id: int, changes: Mapping[str, Any]) -> None:
    if not changes:
        return
    sets = ", ".join(f"{c} = :{c}" for c in changes)
    s.execute(
        text(
            f"UPDATE key_households SET {sets}, version = version + 1, updated_at = now() "
            "WHERE household_id = :i"
        ),
        {**changes, "i": household_id},
    )


def get_household(s: Session, household_id: int, plan: Mapping[str, int]) -> dict[str, Any]:
    row = (
        s.execute(text(f"{HOUSEHOLD} WHERE h.household_id = :i"), {"i": household_id, **_plan(plan)})
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no key household with household_id {household_id}: list them with GET /households")
    return dict(row)


def households(
    s: Session,
    plan: Mapping[str, int],
    *,
    now: datetime,
    grid_id: int | None = None,
    town_id: int | None = None,
    group: str | None = None,
    overdue: bool | None = None,
    active: bool | None = True,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of key households by next due visit (overdue first, then soonest due), and the total."""
    clauses, params = ["TRUE"], {"now": now, "limit": limit, "offset": offset, **_plan(plan)}
    for column, value in (("grid_id", grid_id), ("town_id", town_id), ("active", active)):
        if value is not None:
            clauses.append(f"x.{column} = :{column}")
            params[column] = value
    if group is not None:
        clauses.append(":group = ANY(x.groups)")
        params["group"] = group
    if overdue is not None:
        clauses.append(f"(x.next_due_at < :now) = {'TRUE' if overdue else 'FALSE'}")
    where = " AND ".join(clauses)
    rows = s.execute(
        text(
            f"SELECT x.*, x.next_due_at < :now AS overdue FROM ({HOUSEHOLD}) x WHERE {where} "
            "ORDER BY x.next_due_at, x.household_id LIMIT :limit OFFSET :offset"
        ),
        params,
    ).mappings()
    total = s.execute(text(f"SELECT count(*) FROM ({HOUSEHOLD}) x WHERE {where}"), params).scalar_one()
    return [dict(r) for r in rows], total


def distance_m(s: Session, household_id: int, lon: float, lat: float) -> float:
    """Metres from the household's residence point to (lon, lat)."""
    return float(
        s.execute(
            text(
                f"SELECT ST_Distance(r.geom::geography, {POINT}::geography) FROM key_households h "
                "JOIN residences r USING (residence_id) WHERE h.household_id = :i"
            ),
            {"i": household_id, "lon": lon, "lat": lat},
        ).scalar_one()
    )


def insert_visit(s: Session, values: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Store a visit (``values`` with ``lon``/``lat``: where the worker was); returns it and whether it
    is new. A ``client_id`` stored already (a phone sending its offline visit again, even at the same
    moment) stores nothing and returns the visit stored first."""
    cols = [c for c in values if c not in ("lon", "lat")]
    visit_id = s.execute(
        text(
            f"INSERT INTO visits ({', '.join(cols)}, geom) VALUES "
            f"({', '.join(':' + c for c in cols)}, {POINT}) "
            "ON CONFLICT (client_id) DO NOTHING RETURNING visit_id"
        ),
        dict(values),
    ).scalar()
    if visit_id is None:
        found = by_client_id(s, values["client_id"])
        assert found is not None  # the conflict was on it
        return found, False
    return get_visit(s, visit_id), True


def by_client_id(s: Session, client_id: Any) -> dict[str, Any] | None:
    """The visit a phone sent with ``client_id`` (None: none yet)."""
    row = (
        s.execute(text(f"SELECT {_visit_fields()} FROM visits WHERE client_id = :c"), {"c": client_id})
        .mappings()
        .first()
    )
    return dict(row) if row else None


def get_visit(s: Session, visit_id: int) -> dict[str, Any]:
    row = (
        s.execute(text(f"SELECT {_visit_fields()} FROM visits WHERE visit_id = :i"), {"i": visit_id})
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no visit with visit_id {visit_id}: list them with GET /visits")
    return dict(row)


def link_event(s: Session, visit_id: int, event_id: int) -> None:
    s.execute(
        text("UPDATE visits SET event_id = :e, updated_at = now() WHERE visit_id = :i"),
        {"i": visit_id, "e": event_id},
    )


def visits(
    s: Session,
    *,
    household_id: int | None = None,
    grid_id: int | None = None,
    town_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of visits, newest first (filters combine; grid and town are the household's)."""
    clauses = ["TRUE"]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for column, value in (("v.household_id", household_id), ("h.grid_id", grid_id), ("h.town_id", town_id)):
        if value is not None:
            key = column.split(".")[1]
            clauses.append(f"{column} = :{key}")
            params[key] = value
    if since is not None:
        clauses.append("v.visited_at >= :since")
        params["since"] = since
    if until is not None:
        clauses.append("v.visited_at < :until")
        params["until"] = until
    where = " AND ".join(clauses)
    rows = s.execute(
        text(
            f"SELECT {_visit_fields('v')}, h.head_name, h.grid_id FROM visits v "
            f"JOIN key_households h USING (household_id) WHERE {where} "
            "ORDER BY v.visited_at DESC, v.visit_id DESC LIMIT :limit OFFSET :offset"
        ),
        params,
    ).mappings()
    total = s.execute(
        text(f"SELECT count(*) FROM visits v JOIN key_households h USING (household_id) WHERE {where}"),
        params,
    ).scalar_one()
    return [dict(r) for r in rows], total


KPI_LEVELS = {"grid": "grid_id", "community": "community_id", "town": "town_id"}


def visit_kpis(
    s: Session, plan: Mapping[str, int], *, by: str, since: datetime, until: datetime, now: datetime
) -> list[dict[str, Any]]:
    """走访完成率 per grid, community or town over [since, min(until, now)) (``geo.visits``
    definitions): ``visits_owed``, ``visits_done`` (capped per household) and ``visit_rate``."""
    column = KPI_LEVELS.get(by)
    if column is None:
        raise ValueError(f"unknown KPI level {by!r}: use one of {list(KPI_LEVELS)}")
    rows = s.execute(
        text(f"""
        WITH p AS (SELECT * FROM unnest(CAST(:codes AS text[]), CAST(:days AS int[])) AS p(c, d)),
        iv AS (SELECT g.groups, min(p.d) AS every FROM (SELECT DISTINCT groups FROM key_households) g
               JOIN p ON p.c = ANY(g.groups) GROUP BY g.groups),
        m AS (SELECT household_id, count(*) AS made FROM visits
              WHERE visited_at >= :since AND visited_at < least(:until, :now) GROUP BY household_id),
        d AS (
          SELECT h.{column} AS area_id, coalesce(m.made, 0) AS made,
                 floor(extract(epoch FROM least(:until, :now) - greatest(:since, h.registered_at))
                       / (86400.0 * iv.every))::int AS owed
          FROM key_households h JOIN iv ON iv.groups = h.groups LEFT JOIN m ON m.household_id = h.household_id
          WHERE h.active AND h.{column} IS NOT NULL AND h.registered_at < least(:until, :now))
        SELECT d.area_id, a.name, count(*) AS households_owing, sum(d.owed)::int AS visits_owed,
               sum(least(d.made, d.owed))::int AS visits_done,
               sum(least(d.made, d.owed))::float / NULLIF(sum(d.owed), 0) AS visit_rate
        FROM d JOIN areas a ON a.area_id = d.area_id WHERE d.owed > 0 GROUP BY d.area_id, a.name"""),
        {"since": since, "until": until, "now": now, **_plan(plan)},
    ).mappings()
    return [dict(r) for r in rows]
