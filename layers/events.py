"""民情事件 in PostGIS: routing a point to its grid, storing events and their history, the lists
and filters of the API, optimistic locking (``version``), possible duplicates and 超时 candidates.

Points are EPSG:4326 (lon, lat); distances in metres on the spheroid (geography).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.areas import SMALLEST_GRID_FIRST
from geo.deadlines import BEIJING
from layers.errors import Conflict, NotFound
from layers.live import notify

POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
GRID_LEVELS = SMALLEST_GRID_FIRST
"""Finest first: an event goes to the finest grid level covering its point."""
GRID_LIST = ", ".join(f"'{level}'" for level in GRID_LEVELS)

FIELDS = (
    "event_id, tracking_code, category, description, status, level, source, grid_id, community_id, town_id, "
    "worker_id, department, address, reporter_phone, reported_by, reported_at, due_at, overdue, escalations, "
    "resolved_at, result_note, satisfaction, duplicate_of, version, external_ref, ST_X(geom) AS lon, "
    "ST_Y(geom) AS lat"
)
STATE_COLUMNS = (
    "status",
    "level",
    "department",
    "due_at",
    "overdue",
    "escalations",
    "resolved_at",
    "result_note",
    "satisfaction",
)


def route(s: Session, lon: float, lat: float) -> dict[str, int | None]:
    """The grid of a point and its community, town and grid worker (all None outside every grid).

    The finest grid level covering the point wins (小网格 before 中网格 before 大网格); a point on
    the boundary of two grids of that level goes to the lower ``area_id`` (deterministic). The
    worker is the active grid_worker account of that grid with the lowest ``user_id``.
    """
    row = s.execute(
        text(f"""
        WITH RECURSIVE grid AS (
            SELECT area_id FROM areas
            WHERE level IN ({GRID_LIST}) AND ST_Covers(geom, {POINT})
            ORDER BY array_position(ARRAY[{GRID_LIST}]::varchar[], level), area_id
            LIMIT 1),
        up AS (
            SELECT a.area_id, a.parent_id, a.level FROM areas a JOIN grid g ON a.area_id = g.area_id
            UNION ALL
            SELECT a.area_id, a.parent_id, a.level FROM areas a JOIN up ON a.area_id = up.parent_id)
        SELECT (SELECT area_id FROM grid),
               (SELECT area_id FROM up WHERE level = 'community' LIMIT 1),
               (SELECT area_id FROM up WHERE level = 'town' LIMIT 1),
               (SELECT min(user_id) FROM users WHERE role = 'grid_worker' AND active
                  AND area_id = (SELECT area_id FROM grid))"""),
        {"lon": lon, "lat": lat},
    ).one()
    grid, community, town, worker = row
    if grid is None:  # outside every grid: still give the community and town of the point
        community, town = s.execute(
            text(f"""
            SELECT max(area_id) FILTER (WHERE level = 'community'), max(area_id) FILTER (WHERE level = 'town')
            FROM (SELECT area_id, level FROM areas
                  WHERE level IN ('community', 'town') AND ST_Covers(geom, {POINT})
                  ORDER BY area_id DESC) a"""),
            {"lon": lon, "lat": lat},
        ).one()
    return {"grid_id": grid, "community_id": community, "town_id": town, "worker_id": worker}


def locate_address(s: Session, address: str) -> dict[str, Any] | None:
    """A point for a written address: a household address (一标三实) contained in it, else the
    longest current place name it contains (road, village, residential area ...); None if neither.
    Returns lon, lat and what matched (``matched``, ``layer``)."""
    row = s.execute(
        text("""
        SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), address, 'residences'
        FROM residences WHERE address IS NOT NULL AND length(address) >= 3 AND strpos(:a, address) > 0
        ORDER BY length(address) DESC, residence_id LIMIT 1"""),
        {"a": address},
    ).first()
    if row is None:
        row = s.execute(
            text("""
            SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), name, 'place_names'
            FROM place_names WHERE status <> 'historical' AND length(name) >= 2 AND strpos(:a, name) > 0
            ORDER BY length(name) DESC, name_id LIMIT 1"""),
            {"a": address},
        ).first()
    if row is None:
        return None
    return {"lon": row[0], "lat": row[1], "matched": row[2], "layer": row[3]}


def insert(s: Session, values: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Store a new event (``values``: the columns, with ``lon``/``lat``) and its first history rows."""
    cols = [c for c in values if c not in ("lon", "lat")]
    event_id = s.execute(
        text(
            f"INSERT INTO events ({', '.join(cols)}, geom) VALUES "
            f"({', '.join(':' + c for c in cols)}, {POINT}) RETURNING event_id"
        ),
        dict(values),
    ).scalar_one()
    for entry in history:
        add_history(s, event_id, entry)
    event = get(s, event_id)
    notify(s, event, "report")  # a new event (its status says whether it went straight to the centre)
    return event


def add_history(s: Session, event_id: int, entry: Mapping[str, Any]) -> None:
    s.execute(
        text(
            "INSERT INTO event_history (event_id, action, from_status, to_status, actor, at, note, "
            "department) VALUES (:e, :action, :from_status, :to_status, :actor, :at, :note, :department)"
        ),
        {
            "e": event_id,
            **{
                k: entry.get(k)
                for k in ("action", "from_status", "to_status", "actor", "at", "note", "department")
            },
        },
    )


def get(s: Session, event_id: int, *, lock: bool = False) -> dict[str, Any]:
    row = (
        s.execute(
            text(f"SELECT {FIELDS} FROM events WHERE event_id = :i{' FOR UPDATE' if lock else ''}"),
            {"i": event_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no event with event_id {event_id}: list events with GET /events")
    return dict(row)


def history(s: Session, event_id: int) -> list[dict[str, Any]]:
    rows = s.execute(
        text(
            "SELECT action, from_status, to_status, actor, at, note, department FROM event_history "
            "WHERE event_id = :i ORDER BY at, history_id"
        ),
        {"i": event_id},
    ).mappings()
    return [dict(r) for r in rows]


def save_state(
    s: Session,
    event_id: int,
    state: Mapping[str, Any],
    *,
    expected_version: int | None,
    entry: Mapping[str, Any],
) -> dict[str, Any]:
    """Write the new flow state of an event and its history row, if its version is still
    ``expected_version`` (None: any); else ``Conflict`` (412): someone changed it meanwhile."""
    sets = ", ".join(f"{c} = :{c}" for c in STATE_COLUMNS)
    guard = "" if expected_version is None else " AND version = :v"
    done = s.execute(
        text(
            f"UPDATE events SET {sets}, version = version + 1, updated_at = now() "
            f"WHERE event_id = :i{guard} RETURNING event_id"
        ),
        {**{c: state[c] for c in STATE_COLUMNS}, "i": event_id, "v": expected_version},
    ).first()
    if done is None:
        get(s, event_id)  # 404 when it does not exist
        raise Conflict(
            f"event {event_id} was changed by someone else (it is no longer version {expected_version}): "
            f"GET /events/{event_id} again and retry with its new ETag"
        )
    add_history(s, event_id, entry)
    event = get(s, event_id)
    notify(s, event, entry["action"])
    return event


def mark_duplicate(s: Session, event_id: int, of: int) -> None:
    s.execute(text("UPDATE events SET duplicate_of = :o WHERE event_id = :i"), {"i": event_id, "o": of})


def listing(
    s: Session,
    *,
    status: Sequence[str] | None = None,
    grid_id: int | None = None,
    category: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    town_id: int | None = None,
    department: str | None = None,
    overdue: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of events, newest first, and the number matching the filters."""
    clauses = ["TRUE"]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for column, value in (
        ("grid_id", grid_id),
        ("category", category),
        ("town_id", town_id),
        ("department", department),
        ("overdue", overdue),
    ):
        if value is not None:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    if status:
        clauses.append("status = ANY(:status)")
        params["status"] = list(status)
    if since is not None:
        clauses.append("reported_at >= :since")
        params["since"] = since
    if until is not None:
        clauses.append("reported_at < :until")
        params["until"] = until
    if bbox is not None:
        clauses.append("geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)")
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
    where = " AND ".join(clauses)
    rows = s.execute(
        text(
            f"SELECT {FIELDS} FROM events WHERE {where} ORDER BY reported_at DESC, event_id DESC "
            "LIMIT :limit OFFSET :offset"
        ),
        params,
    ).mappings()
    total = s.execute(text(f"SELECT count(*) FROM events WHERE {where}"), params).scalar_one()
    return [dict(r) for r in rows], total


def possible_duplicates(
    s: Session,
    *,
    category: str,
    lon: float,
    lat: float,
    at: datetime,
    distance_m: float,
    hours: float,
    exclude: int | None = None,
) -> list[int]:
    """Open events of the same category within ``distance_m`` metres and ``hours`` hours before
    ``at``, nearest first (candidates to merge a new report into)."""
    rows = s.execute(
        text(f"""
        SELECT event_id FROM events
        WHERE category = :c AND status IN ('reported', 'accepted', 'escalated', 'assigned', 'handling')
          AND reported_at BETWEEN :at - make_interval(secs => :h * 3600) AND :at
          AND ST_DWithin(geom::geography, {POINT}::geography, :d)
          AND event_id IS DISTINCT FROM :x
        ORDER BY ST_Distance(geom::geography, {POINT}::geography), event_id LIMIT 10"""),
        {"c": category, "lon": lon, "lat": lat, "at": at, "h": hours, "d": distance_m, "x": exclude},
    )
    return [r[0] for r in rows]


def overdue_candidates(s: Session, now: datetime) -> list[dict[str, Any]]:
    """Open events past their deadline, locked for escalation (rows another run holds are skipped)."""
    rows = s.execute(
        text(
            f"SELECT {FIELDS} FROM events WHERE status IN ('reported', 'accepted', 'escalated', "
            "'assigned', 'handling') AND due_at < :now ORDER BY due_at, event_id "
            "FOR UPDATE SKIP LOCKED"
        ),
        {"now": now},
    ).mappings()
    return [dict(r) for r in rows]


def by_tracking_code(s: Session, code: str) -> dict[str, Any] | None:
    """Status and dates of the event with this tracking code (nothing else)."""
    row = (
        s.execute(
            text(
                "SELECT e.status, e.category, e.reported_at, e.due_at, e.resolved_at, "
                "(SELECT max(at) FROM event_history h WHERE h.event_id = e.event_id) AS updated_at "
                "FROM events e WHERE tracking_code = :c"
            ),
            {"c": code},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def by_external_refs(s: Session, source: str, refs: Sequence[str]) -> dict[str, int]:
    """Events already imported from ``source`` under these work-order numbers: number → event_id."""
    rows = s.execute(
        text("SELECT external_ref, event_id FROM events WHERE source = :s AND external_ref = ANY(:r)"),
        {"s": source, "r": list(refs)},
    )
    return dict(rows.all())


def merged_progress(s: Session, code: str) -> dict[str, Any]:
    """Status and dates of the open or closed event that the merged report ``code`` joined (following a
    chain of merges, at most 20 long)."""
    row = (
        s.execute(
            text("""
        WITH RECURSIVE up AS (
            SELECT event_id, duplicate_of, status, 0 AS depth FROM events WHERE tracking_code = :c
            UNION ALL
            SELECT e.event_id, e.duplicate_of, e.status, up.depth + 1
            FROM events e JOIN up ON e.event_id = up.duplicate_of
            WHERE up.status = 'merged' AND up.depth < 20)
        SELECT e.status, e.category, e.reported_at, e.due_at, e.resolved_at,
               (SELECT max(at) FROM event_history h WHERE h.event_id = e.event_id) AS updated_at
        FROM up JOIN events e USING (event_id) ORDER BY up.depth DESC LIMIT 1"""),
            {"c": code},
        )
        .mappings()
        .one()
    )
    return dict(row)


def public_report_for_photos(s: Session, code: str) -> dict[str, Any] | None:
    """Id, source and report time of the event with this tracking code, locked (photo uploads)."""
    row = (
        s.execute(
            text("SELECT event_id, source, reported_at FROM events WHERE tracking_code = :c FOR UPDATE"),
            {"c": code},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def reports_by_phone(s: Session, phone: str, *, since: datetime) -> int:
    """How many public reports this phone number made since ``since`` (the per-phone spam limit)."""
    return s.execute(
        text(
            "SELECT count(*) FROM events WHERE source = 'public' AND reporter_phone = :p "
            "AND reported_at >= :since"
        ),
        {"p": phone, "since": since},
    ).scalar_one()


def add_photo(s: Session, event_id: int, photo: Mapping[str, Any]) -> None:
    """Record a stored photo of an event (the same bytes twice: one row)."""
    s.execute(
        text(
            "INSERT INTO event_photos (event_id, sha256, content_type, width, height, size_bytes, "
            "uploaded_by) VALUES (:e, :sha256, :content_type, :width, :height, :size_bytes, :uploaded_by) "
            "ON CONFLICT (event_id, sha256) DO NOTHING"
        ),
        {"e": event_id, **photo},
    )


def photos(s: Session, event_id: int) -> list[dict[str, Any]]:
    rows = s.execute(
        text(
            "SELECT sha256, content_type, width, height, size_bytes, uploaded_by, created_at "
            "FROM event_photos WHERE event_id = :e ORDER BY created_at, sha256"
        ),
        {"e": event_id},
    )
    return [dict(r) for r in rows.mappings()]


KPI_LEVELS = {"grid": "grid_id", "community": "community_id", "town": "town_id"}
CLOSED = ("resolved", "reviewed", "archived")


def _whole_days(since: datetime, until: datetime) -> tuple[date, date, datetime, datetime]:
    """The Beijing days lying wholly in [since, until): first and end (exclusive) day, and where the
    part days at each end stop and start (``since``..``a`` and ``b``..``until``; empty when ``a`` is
    ``since`` or ``b`` is ``until``). No whole day: the whole period is one part (``a = b = until``)."""
    local = since.astimezone(BEIJING)
    first = (
        local.date() if local.timetz().replace(tzinfo=None) == time() else local.date() + timedelta(days=1)
    )
    end = until.astimezone(BEIJING).date()
    if first >= end:
        return first, first, until, until
    return first, end, datetime.combine(first, time(), BEIJING), datetime.combine(end, time(), BEIJING)


def kpis(s: Session, *, by: str, since: datetime, until: datetime, now: datetime) -> list[dict[str, Any]]:
    """KPIs of the events reported in [since, until) per grid, community or town, best first.

    * 按期处置率 ``on_time_rate``: resolved by the deadline and never 超时, over the events that are
      due (resolved, or open and past their deadline at ``now``);
    * 结案率 ``closed_rate``: resolved, reviewed or archived over all events reported;
    * 平均办结时长 ``mean_hours_to_resolve``: hours from report to 办结, over resolved events;
    * 群众满意率 ``satisfied_rate``: satisfaction 4 or 5 over the events rated.
    A rate whose denominator is 0 is None (no data, not 0 %). Merged reports (``merged``) count nowhere:
    the event they joined counts once.

    Whole Beijing days come from the daily sums (``event_kpi_days``, kept by triggers in the same
    transaction as every change of an event), the part days at the ends from the events themselves,
    and the open events past their deadline at ``now`` (the only figure that moves with the clock)
    from the index of open events: the same figures as counting every event, in a few thousand rows.
    """
    column = KPI_LEVELS.get(by)
    if column is None:
        raise ValueError(f"unknown KPI level {by!r}: use one of {list(KPI_LEVELS)}")
    since, until = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (since, until))
    first, end, a, b = _whole_days(since, until)
    rows = s.execute(
        text(f"""
        WITH parts AS (
          SELECT {column} AS area_id, count(*) AS events,
                 count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
                 count(*) FILTER (WHERE resolved_at IS NOT NULL AND NOT overdue AND resolved_at <= due_at)
                   AS on_time,
                 count(*) FILTER (WHERE status IN {CLOSED}) AS closed,
                 count(satisfaction) AS rated, count(*) FILTER (WHERE satisfaction >= 4) AS satisfied,
                 coalesce(sum(extract(epoch FROM resolved_at - reported_at)), 0) AS resolve_seconds,
                 0 AS open_due
          FROM events
          WHERE status <> 'merged' AND {column} IS NOT NULL
            AND (reported_at >= :since AND reported_at < :a OR reported_at >= :b AND reported_at < :until)
          GROUP BY {column}),
        days AS (
          SELECT {column} AS area_id, sum(events) AS events, sum(resolved) AS resolved,
                 sum(on_time) AS on_time, sum(closed) AS closed, sum(rated) AS rated,
                 sum(satisfied) AS satisfied, sum(resolve_seconds) AS resolve_seconds, 0 AS open_due
          FROM event_kpi_days WHERE day >= :first AND day < :end AND {column} <> 0 GROUP BY {column}),
        late AS (
          SELECT {column} AS area_id, 0, 0, 0, 0, 0, 0, 0, count(*) AS open_due
          FROM events
          WHERE resolved_at IS NULL AND status <> 'merged' AND reported_at >= :since AND reported_at < :until
            AND due_at < :now AND {column} IS NOT NULL
          GROUP BY {column}),
        k AS (
          SELECT area_id, sum(events) AS events, sum(resolved) + sum(open_due) AS due,
                 sum(on_time) AS on_time, sum(closed) AS closed, sum(rated) AS rated,
                 sum(satisfied) AS satisfied,
                 sum(resolve_seconds) / NULLIF(sum(resolved), 0) / 3600.0 AS mean_hours
          FROM (SELECT * FROM parts UNION ALL SELECT * FROM days UNION ALL SELECT * FROM late) u
          GROUP BY area_id HAVING sum(events) > 0)
        SELECT k.area_id, a.name, k.events::int, k.due::int, k.on_time::int, k.closed::int, k.rated::int,
               k.satisfied::int,
               k.on_time::float / NULLIF(k.due, 0) AS on_time_rate,
               k.closed::float / NULLIF(k.events, 0) AS closed_rate,
               k.mean_hours AS mean_hours_to_resolve,
               k.satisfied::float / NULLIF(k.rated, 0) AS satisfied_rate
        FROM k JOIN areas a ON a.area_id = k.area_id
        ORDER BY on_time_rate DESC NULLS LAST, closed_rate DESC NULLS LAST, k.area_id"""),
        {"since": since, "until": until, "now": now, "a": a, "b": b, "first": first, "end": end},
    ).mappings()
    return [
        {
            **dict(r),
            "mean_hours_to_resolve": None
            if r["mean_hours_to_resolve"] is None
            else float(r["mean_hours_to_resolve"]),
        }
        for r in rows
    ]


def _scope_sql(filters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``AND ...`` clauses restricting to a viewer's scope (``grid_id``, ``town_id``, ``department``)."""
    clauses, params = [], {}
    for column in ("grid_id", "town_id", "department"):
        if filters.get(column) is not None:
            clauses.append(f" AND {column} = :{column}")
            params[column] = filters[column]
    return "".join(clauses), params


POINT_COLUMNS = (
    "event_id",
    "lon",
    "lat",
    "status",
    "category",
    "overdue",
    "level",
    "department",
    "grid_id",
    "reported_at",
    "due_at",
)


def points(s: Session, *, since: datetime, limit: int, **scope: Any) -> tuple[list[tuple], bool]:
    """Every open event and those reported since ``since``, as rows of ``POINT_COLUMNS`` for a map
    (open ones first, then newest); and whether ``limit`` cut the list."""
    where, params = _scope_sql(scope)
    rows = s.execute(
        text(f"""
        SELECT event_id, round(ST_X(geom)::numeric, 6)::float, round(ST_Y(geom)::numeric, 6)::float, status,
               category, overdue, level, department, grid_id, reported_at, due_at
        FROM events
        WHERE (status IN ('reported', 'accepted', 'escalated', 'assigned', 'handling')
               OR reported_at >= :since){where}
        ORDER BY status IN ('reported', 'accepted', 'escalated', 'assigned', 'handling') DESC,
                 reported_at DESC, event_id DESC
        LIMIT :limit"""),
        {**params, "since": since, "limit": limit + 1},
    ).all()
    return [tuple(r) for r in rows[:limit]], len(rows) > limit


def counts(
    s: Session, *, day: datetime, month: datetime, now: datetime, **scope: Any
) -> tuple[dict[str, dict[str, int]], datetime | None]:
    """Counts in a viewer's scope, in one pass, for ``today`` (since ``day``) and ``month`` (since
    ``month``): reported, resolved (办结 in the period); and right now: open, open past their deadline
    (超时 now) and waiting for 分拨 (待分拨), the same in both. Also the next deadline of an open event
    not yet past (None: none): until then, and while no event changes, the counts stay as they are."""
    where, params = _scope_sql(scope)
    row = (
        s.execute(
            text(f"""
        SELECT count(*) FILTER (WHERE reported_at >= :day) AS day_reported,
               count(*) FILTER (WHERE resolved_at >= :day) AS day_resolved,
               count(*) FILTER (WHERE reported_at >= :month) AS month_reported,
               count(*) FILTER (WHERE resolved_at >= :month) AS month_resolved,
               count(*) FILTER (WHERE status IN ('reported', 'accepted', 'escalated', 'assigned', 'handling'))
                 AS open,
               count(*) FILTER (WHERE status IN ('reported', 'accepted', 'escalated', 'assigned', 'handling')
                                AND (due_at < :now OR overdue)) AS overdue,
               count(*) FILTER (WHERE status = 'escalated') AS waiting,
               min(due_at) FILTER (WHERE status IN ('reported', 'accepted', 'escalated', 'assigned',
                                                    'handling')
                                   AND due_at >= :now) AS next_due
        FROM events WHERE (reported_at >= :month OR resolved_at >= :month
                           OR status IN ('reported', 'accepted', 'escalated', 'assigned',
                                         'handling')){where}"""),
            {**params, "day": day, "month": month, "now": now},
        )
        .mappings()
        .one()
    )
    now_counts = {k: int(row[k]) for k in ("open", "overdue", "waiting")}
    return (
        {
            "today": {
                "reported": int(row["day_reported"]),
                "resolved": int(row["day_resolved"]),
                **now_counts,
            },
            "month": {
                "reported": int(row["month_reported"]),
                "resolved": int(row["month_resolved"]),
                **now_counts,
            },
        },
        row["next_due"],
    )


def resolved_per_community(s: Session, *, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Every community with its households and the events resolved (办结) in [since, until), by the time
    of 办结 (a merged report is never resolved itself: the event it joined counts once)."""
    rows = s.execute(
        text("""
        SELECT a.area_id, a.name, a.households, count(e.event_id) AS resolved
        FROM areas a LEFT JOIN events e ON e.community_id = a.area_id AND e.resolved_at >= :since
             AND e.resolved_at < :until AND e.status IN ('resolved', 'reviewed', 'archived')
        WHERE a.level = 'community' GROUP BY a.area_id ORDER BY a.area_id"""),
        {"since": since, "until": until},
    )
    return [dict(r) for r in rows.mappings()]
