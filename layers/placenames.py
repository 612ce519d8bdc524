"""The place-name registry (地名库) in PostGIS: changes with history, checks, sign work list, lookups.

Every change to a registered name goes through this module and leaves one ``place_name_history``
row (action ``create``, ``rename``, ``retire`` or ``update``) with the approval record, the actor
and the row before and after; the audit triggers (migration 0002) record the same actor in
``audit_log``. Sign text, proper part (专名) and generic part (通名) are computed by
:mod:`geo.placenames` on every create and rename. A rename keeps the old name in the history,
where the search index (``layers.lookup.place_name_rows``) finds it as a former name; a retired
name keeps its row with status ``historical``.

A name registered without an approval record is recorded as ``待审批`` (pending approval) in
its approval column and history, never as silently approved; ``update`` with an ``approval``
records the approval later.

The editable tables are the shipped ``data/placenames/`` read under the folder of the
``MINQING_PLACENAME_TABLES`` setting (:func:`configured_tables`); after editing them,
:func:`recompute_sign_text` (``minqing names recompute-pinyin``) brings the stored sign text up to
date.

Optimistic locking: writes may name the ``version`` they read; a stale version changes nothing
and raises ``Conflict`` (HTTP 412). Geometries are EPSG:4326 (lon, lat); distances are metres on
the WGS84 spheroid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.areas import ORDER
from geo.crs import utm_crs_for
from geo.placenames.checks import FINDING_COLUMNS, check_names, duplicates, homophones, legal_scope
from geo.placenames.errors import UnknownCategoryError
from geo.placenames.pinyin import sign_text
from geo.placenames.search import NameIndex, build_index
from geo.placenames.signs import sign_plan as geo_sign_plan
from geo.placenames.signs import sign_worklist
from geo.placenames.tables import PlaceNameTables
from layers import features, ids, labels, lookup
from layers.errors import Conflict, LayersError, NotFound, ValidationFailed
from layers.models import PLACE_NAME_STATUS, REVIEW_DECISIONS
from layers.nametables import road_categories
from layers.nametables import tables_in_use as _tables
from layers.queries import read_frame, to_geoframe

ACTOR = "coalesce(nullif(current_setting('minqing.actor', true), ''), session_user)"
"""Who writes: the same expression the audit triggers use."""
POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
PENDING_APPROVAL = "待审批"
"""Approval column and history value of a name registered without an approval record."""
UPDATABLE = ("category", "area_id", "status", "heritage", "sign_present", "approval", "meaning")
"""Columns ``update`` may change; the name changes only through ``rename`` (it needs an approval)."""
CLEARING = ("保留", "豁免")
"""Review decisions that stop the reviewed findings from being flagged (整改 keeps them)."""
PIECE_GAP_M = 20.0
"""Features of one name closer than this (metres) are one feature registered in pieces (a road in
segments), not duplicates."""
RECORD_SQL = (
    "SELECT name_id, name, category, area_id, proper, generic, pinyin, status, heritage, sign_present, "
    "approval, meaning, version, ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat "
    "FROM place_names WHERE name_id = :id"
)
SNAPSHOT_SQL = (
    "SELECT to_jsonb(p) - 'geom' - 'created_at' - 'updated_at' || jsonb_build_object("
    "'lon', ST_X(ST_PointOnSurface(p.geom)), 'lat', ST_Y(ST_PointOnSurface(p.geom))) "
    "FROM place_names p WHERE name_id = :id"
)


class RegistryConflict(LayersError):
    """The change does not fit the name's state (e.g. renaming or retiring a retired name)."""

    status = 409

    def __init__(self, message: str, *, fix: str):
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class PlaceNameRecord:
    """One registered name; ``lon``/``lat`` is a point on the feature (EPSG:4326)."""

    name_id: int
    name: str
    category: str
    area_id: int | None
    proper: str | None
    generic: str | None
    pinyin: str | None
    status: str
    heritage: bool
    sign_present: bool
    approval: str | None
    meaning: str | None
    version: int
    lon: float
    lat: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- tables ----------------------------------------------------------------------------------------


# -- sign text -------------------------------------------------------------------------------------


def sign_parts(
    name: str, category: str | None, *, tables: PlaceNameTables | None = None
) -> dict[str, str | None]:
    """Proper part, generic part and pinyin of ``name`` (``geo.placenames.pinyin.sign_text``).

    Raises ``UnknownCategoryError`` (422) for a category not in data/placenames/categories.csv.
    """
    text_ = sign_text(name, category=category, tables=tables)
    return {"proper": text_.proper or None, "generic": text_.generic or None, "pinyin": text_.pinyin}


def sign_columns(
    names: Sequence[str], categories: Sequence[str | None], *, tables: PlaceNameTables | None = None
) -> list[dict[str, str | None]]:
    """``sign_parts`` of each name as ``fill_pinyin`` fills it (a category not in the tables: split
    without one); for loaders that write the sign text with the rows."""
    t = _tables(tables)
    parts: dict[tuple[str, str | None], dict[str, str | None]] = {}  # a name repeated is split once
    out = []
    for n, c in zip(names, categories, strict=True):
        key = (n, c if c in t.categories else None)
        if key not in parts:
            parts[key] = sign_parts(key[0], key[1], tables=t)
        out.append(dict(parts[key]))
    return out


def fill_pinyin(
    s: Session, *, name_ids: Sequence[int] | None = None, tables: PlaceNameTables | None = None
) -> int:
    """Fill proper part, generic part and pinyin (the sign text) of names that lack them.

    The one function for loaders: insert the rows (with any pinyin the file supplies), then call
    this on the same session. A row is filled when its pinyin or proper part is missing (NULL or
    blank); a pinyin already there — the file's, or an officer's authority spelling — is kept, and
    proper and generic parts are computed for it. Names of a category not in categories.csv are
    split without one.

    Parameters
    ----------
    s
        The session that inserted the rows (same transaction).
    name_ids
        Only these names (e.g. the ids a loader just inserted); None: every name.
    tables
        Editable tables (default: :func:`configured_tables`).

    Returns
    -------
    int
        The number of rows filled.
    """
    t = _tables(tables)
    where = "(nullif(btrim(pinyin), '') IS NULL OR nullif(btrim(proper), '') IS NULL)"
    params: dict[str, Any] = {}
    if name_ids is not None:
        where += " AND name_id = ANY(:ids)"
        params["ids"] = [int(i) for i in name_ids]
    rows = s.execute(text(f"SELECT name_id, name, category FROM place_names WHERE {where}"), params).all()
    parts = sign_columns([n for _, n, _ in rows], [c for _, _, c in rows], tables=t)
    filled = [{"id": i, **p} for (i, _, _), p in zip(rows, parts, strict=True)]
    if filled:
        s.execute(
            text(
                "UPDATE place_names SET proper = :proper, generic = :generic, "
                "pinyin = coalesce(nullif(btrim(pinyin), ''), :pinyin) WHERE name_id = :id"
            ),
            filled,
        )
    return len(filled)


def recompute_sign_text(
    s: Session, *, dry_run: bool = False, tables: PlaceNameTables | None = None
) -> pd.DataFrame:
    """Recompute the stored sign text of every registered name after a table edit.

    Proper part, generic part and pinyin are derived again with the tables in use; names with an
    authority spelling in fixed_spellings.csv keep that spelling (the table is the authority: a
    spelling is protected from recomputation by listing it there). Unless ``dry_run``, each changed
    name is written with a version bump and a history entry (action ``update``, before and after).

    Returns
    -------
    DataFrame
        One row per name whose stored text changes (would change): name_id, name, category,
        status, fixed (authority spelling), old_pinyin, new_pinyin, old_proper, new_proper,
        old_generic, new_generic; ordered by name_id.
    """
    t = _tables(tables)
    rows = (
        s.execute(
            text(
                "SELECT name_id, name, category, status, proper, generic, pinyin FROM place_names "
                "ORDER BY name_id"
            )
        )
        .mappings()
        .all()
    )
    changes = []
    for row in rows:
        new = sign_parts(row["name"], row["category"] if row["category"] in t.categories else None, tables=t)
        if any(new[k] != row[k] for k in ("proper", "generic", "pinyin")):
            changes.append(
                {
                    "name_id": row["name_id"],
                    "name": row["name"],
                    "category": row["category"],
                    "status": row["status"],
                    "fixed": row["name"] in t.fixed,
                    **{
                        f"{age}_{k}": (new if age == "new" else row)[k]
                        for k in ("pinyin", "proper", "generic")
                        for age in ("old", "new")
                    },
                }
            )
    if not dry_run:
        for change in changes:
            sets = {k: change[f"new_{k}"] for k in ("proper", "generic", "pinyin")}
            _change(s, int(change["name_id"]), "update", sets, expected_version=None, approval=None)
    columns = [
        "name_id",
        "name",
        "category",
        "status",
        "fixed",
        "old_pinyin",
        "new_pinyin",
        "old_proper",
        "new_proper",
        "old_generic",
        "new_generic",
    ]
    return pd.DataFrame(changes, columns=columns)


# -- reading ---------------------------------------------------------------------------------------


def _missing(name_id: int) -> NotFound:
    return NotFound(f"place name {name_id} does not exist: search for it with GET /placenames/search?q=")


def get(s: Session, name_id: int) -> PlaceNameRecord:
    """The registered name ``name_id`` (``NotFound`` when there is none)."""
    row = s.execute(text(RECORD_SQL), {"id": name_id}).mappings().first()
    if row is None:
        raise _missing(name_id)
    return PlaceNameRecord(**row)


def history(s: Session, name_id: int) -> list[dict[str, Any]]:
    """The name's history, oldest first: action, old_name, new_name, approval, changed_by, changed_at,
    before, after."""
    get(s, name_id)
    rows = s.execute(
        text(
            "SELECT history_id, action, old_name, new_name, approval, changed_by, changed_at, before, after "
            "FROM place_name_history WHERE name_id = :id ORDER BY changed_at, history_id"
        ),
        {"id": name_id},
    )
    return [dict(r) for r in rows.mappings()]


# -- writing ---------------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned or len(cleaned) > 120 or any(ord(c) < 32 for c in cleaned):
        raise ValidationFailed(
            f"place name {name!r} is empty, longer than 120 characters or holds control "
            "characters: send the standard Chinese name, e.g. 人民路"
        )
    return cleaned


def _require_approval(approval: str | None, action: str) -> str:
    cleaned = (approval or "").strip()
    if not cleaned or len(cleaned) > 200:
        raise ValidationFailed(
            f"{action} needs an approval record (document number and date, at most 200 "
            f"characters), got {approval!r}: e.g. 澄府地〔2026〕12号 2026-03-15"
        )
    return cleaned


def _check_category(category: str, tables: PlaceNameTables) -> str:
    if category not in tables.categories:
        raise UnknownCategoryError([category], list(tables.categories))
    return category


def _snapshot(s: Session, name_id: int, *, lock: bool = False) -> dict[str, Any]:
    row = s.execute(text(SNAPSHOT_SQL + (" FOR UPDATE" if lock else "")), {"id": name_id}).scalar()
    if row is None:
        raise _missing(name_id)
    return row


def _check_version(before: Mapping[str, Any], expected: int | None) -> None:
    if expected is not None and int(before["version"]) != int(expected):
        raise Conflict(
            f"place name {before['name_id']} has changed since you read it (your version {expected}, "
            f"current version {before['version']}): nothing was written. Read it again, reapply "
            "your change and send the new version (If-Match)."
        )


def _record(
    s: Session,
    name_id: int,
    action: str,
    *,
    approval: str | None,
    before: Any,
    after: Any,
    old_name: str | None = None,
    new_name: str | None = None,
) -> None:
    s.execute(
        text(
            "INSERT INTO place_name_history (name_id, action, old_name, new_name, approval, changed_by, "
            f"before, after) VALUES (:id, :action, :old, :new, :approval, {ACTOR}, CAST(:before AS jsonb), "
            "CAST(:after AS jsonb))"
        ),
        {
            "id": name_id,
            "action": action,
            "old": old_name,
            "new": new_name,
            "approval": approval,
            "before": None if before is None else json.dumps(before, ensure_ascii=False),
            "after": json.dumps(after, ensure_ascii=False),
        },
    )


def deepest_area(s: Session, geometry: shapely.Geometry) -> int | None:
    """The deepest area (small grid first) containing a point on ``geometry`` (EPSG:4326)."""
    depth = " ".join(f"WHEN '{level}' THEN {d}" for level, d in ORDER.items())
    return s.execute(
        text(
            "SELECT area_id FROM areas "
            "WHERE ST_Intersects(geom, ST_PointOnSurface(ST_GeomFromWKB(:g, 4326))) "
            f"ORDER BY CASE level {depth} END DESC, area_id LIMIT 1"
        ),
        {"g": shapely.to_wkb(geometry)},
    ).scalar()


def create(
    s: Session,
    *,
    name: str,
    category: str,
    geometry: Mapping[str, Any],
    approval: str | None = None,
    area_id: int | None = None,
    status: str = "standard",
    heritage: bool = False,
    sign_present: bool = False,
    meaning: str | None = None,
    tables: PlaceNameTables | None = None,
) -> PlaceNameRecord:
    """Register a name (history action ``create``); sign text and parts come from ``geo.placenames``.

    Parameters
    ----------
    name, category
        The standard Chinese name and its category (data/placenames/categories.csv).
    geometry
        GeoJSON geometry (EPSG:4326, lon/lat) inside the district.
    approval
        Approval record (document number and date); without one the name is recorded as
        ``PENDING_APPROVAL`` (待审批) until an ``update`` records the approval.
    area_id
        Area of the name; default: the deepest area containing a point on the feature.
    """
    t = _tables(tables)
    name = _clean_name(name)
    approval = (
        PENDING_APPROVAL
        if not (approval or "").strip()
        else _require_approval(approval, "registering a name")
    )
    if status not in PLACE_NAME_STATUS:
        raise ValidationFailed(f"status {status!r} is unknown: use one of {list(PLACE_NAME_STATUS)}")
    parts = sign_parts(name, _check_category(category, t), tables=t)
    lay = features.layer("place_names")
    geom = features.check_geometry(s, lay, geometry)
    ids.advance(s, "place_names")
    name_id = s.execute(
        text(
            "INSERT INTO place_names (name, category, area_id, proper, generic, pinyin, status, heritage, "
            "sign_present, approval, meaning, geom) VALUES (:name, :category, :area_id, :proper, :generic, "
            ":pinyin, :status, :heritage, :sign_present, :approval, :meaning, ST_GeomFromWKB(:geom, 4326)) "
            "RETURNING name_id"
        ),
        {
            "name": name,
            "category": category,
            "area_id": deepest_area(s, geom) if area_id is None else area_id,
            **parts,
            "status": status,
            "heritage": heritage,
            "sign_present": sign_present,
            "approval": approval,
            "meaning": meaning,
            "geom": shapely.to_wkb(geom),
        },
    ).scalar_one()
    _record(s, name_id, "create", approval=approval, before=None, after=_snapshot(s, name_id), new_name=name)
    return get(s, name_id)


def _change(
    s: Session,
    name_id: int,
    action: str,
    sets: Mapping[str, Any],
    *,
    expected_version: int | None,
    approval: str | None,
    geometry: shapely.Geometry | None = None,
    check=None,
) -> PlaceNameRecord:
    """Apply ``sets`` (trusted column names) to one row, bump its version and record the history."""
    before = _snapshot(s, name_id, lock=True)
    _check_version(before, expected_version)
    if check is not None:
        check(before)
    clauses = [f"{column} = :{column}" for column in sets] + ["version = version + 1"]
    params = {**sets, "id": name_id}
    if geometry is not None:
        clauses.append("geom = ST_GeomFromWKB(:geom, 4326)")
        params["geom"] = shapely.to_wkb(geometry)
    s.execute(text(f"UPDATE place_names SET {', '.join(clauses)} WHERE name_id = :id"), params)
    after = _snapshot(s, name_id)
    old, new = {"rename": (before["name"], after["name"]), "retire": (before["name"], None)}.get(
        action, (None, after["name"])
    )
    _record(s, name_id, action, approval=approval, before=before, after=after, old_name=old, new_name=new)
    return get(s, name_id)


def _not_retired(action: str):
    def check(before: Mapping[str, Any]) -> None:
        if before["status"] == "historical":
            raise RegistryConflict(
                f"place name {before['name_id']} ({before['name']}) is retired (historical): "
                f"it cannot {action}",
                fix="register the new name with POST /placenames, or reinstate this one with "
                "PATCH status=standard first",
            )

    return check


def rename(
    s: Session,
    name_id: int,
    new_name: str,
    *,
    approval: str,
    expected_version: int | None = None,
    heritage_review: str | None = None,
    tables: PlaceNameTables | None = None,
) -> PlaceNameRecord:
    """Rename (history action ``rename``: old_name → new_name); the old name stays searchable.

    Sign text and parts are recomputed for the new name; ``approval`` becomes the name's approval. A
    heritage name (地名文化遗产) is flagged: renaming it needs ``heritage_review``, the record of the
    expert assessment (论证意见), which is kept with the approval in its history.
    """
    t = _tables(tables)
    new_name = _clean_name(new_name)
    approval = _require_approval(approval, "renaming")
    current = get(s, name_id)
    if current.name == new_name:
        raise ValidationFailed(
            f"place name {name_id} is already called {new_name}: send a different new name"
        )
    if current.heritage:
        review = (heritage_review or "").strip()
        if not review:
            raise RegistryConflict(
                f"place name {name_id} ({current.name}) is on the heritage register (地名文化遗产): "
                "a rename needs an expert assessment",
                fix="send heritage_review with the assessment's number and date "
                "(论证意见文号与日期), or keep the name",
            )
        approval = f"{approval}；地名文化遗产论证：{review}"[:200]
    sets = {
        "name": new_name,
        "approval": approval,
        **sign_parts(new_name, current.category if current.category in t.categories else None, tables=t),
    }
    return _change(
        s,
        name_id,
        "rename",
        sets,
        expected_version=expected_version,
        approval=approval,
        check=_not_retired("be renamed"),
    )


def retire(
    s: Session, name_id: int, *, approval: str, expected_version: int | None = None
) -> PlaceNameRecord:
    """Retire a name (status → ``historical``; history action ``retire``); it stays searchable."""
    approval = _require_approval(approval, "retiring a name")
    return _change(
        s,
        name_id,
        "retire",
        {"status": "historical", "approval": approval},
        expected_version=expected_version,
        approval=approval,
        check=_not_retired("be retired again"),
    )


def update(
    s: Session,
    name_id: int,
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    geometry: Mapping[str, Any] | None = None,
    tables: PlaceNameTables | None = None,
) -> PlaceNameRecord:
    """Change attributes (``UPDATABLE``) and/or the geometry (history action ``update``).

    A new category recomputes the sign text (the category decides how the name is split).
    ``status`` may be ``standard`` or ``irregular`` here (``retire`` makes a name historical).
    """
    t = _tables(tables)
    bad = sorted(set(changes) - set(UPDATABLE))
    if bad:
        fix = (
            "use POST /placenames/{id}/rename for a new name" if "name" in bad else f"change only {UPDATABLE}"
        )
        raise ValidationFailed(f"place-name field(s) {bad} cannot be changed here: {fix}")
    if not changes and geometry is None:
        raise ValidationFailed("nothing to change: send at least one field or a geometry")
    if changes.get("status", "standard") not in ("standard", "irregular"):
        raise ValidationFailed(
            f"status {changes['status']!r} cannot be set here: use standard or irregular "
            "(retire a name with POST /placenames/{id}/retire)"
        )
    sets = dict(changes)
    if "category" in sets:
        sets.update(sign_parts(get(s, name_id).name, _check_category(sets["category"], t), tables=t))
    geom = None if geometry is None else features.check_geometry(s, features.layer("place_names"), geometry)
    return _change(
        s,
        name_id,
        "update",
        sets,
        expected_version=expected_version,
        approval=sets.get("approval"),
        geometry=geom,
    )


# -- writes through the generic feature API (/collections/place_names/items) ---------------------------


def before_feature_write(s: Session, name_id: int, props: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse a rename on the generic path and return the row before the change (for the history).

    A new name needs an approval record and keeps the old name searchable: that is ``rename``.
    """
    before = _snapshot(s, name_id, lock=True)
    if "name" in props and props["name"] is not None and _clean_name(props["name"]) != before["name"]:
        raise ValidationFailed(
            f"place name {name_id} ({before['name']}) cannot be renamed by PUT/PATCH: use "
            "POST /placenames/{id}/rename with the new name and an approval record"
        )
    return before


def after_feature_write(
    s: Session, name_id: int, *, before: Mapping[str, Any] | None, tables: PlaceNameTables | None = None
) -> None:
    """Apply the registry's rules to a row just written through ``layers.features``.

    Refuses a new or changed category not in categories.csv (``UnknownCategoryError``, 422: the
    transaction is rolled back, as on POST /placenames), fills the area (deepest containing area) when none
    was given, computes proper and generic parts and pinyin when missing or when the category changed (a
    pinyin the writer sent is kept), records a new name without approval as ``PENDING_APPROVAL`` and
    records the history entry (``create`` or ``update``) with the actor and the row before and after.
    """
    t = _tables(tables)
    row = _snapshot(s, name_id)
    if before is None or before["category"] != row["category"]:
        _check_category(row["category"], t)
    sets: dict[str, Any] = {}
    if before is None and not (row.get("approval") or "").strip():
        sets["approval"] = PENDING_APPROVAL
    if row.get("area_id") is None:
        geom = s.execute(
            text("SELECT ST_AsBinary(geom) FROM place_names WHERE name_id = :id"), {"id": name_id}
        ).scalar_one()
        area = deepest_area(s, shapely.from_wkb(bytes(geom)))
        if area is not None:
            sets["area_id"] = area
    recategorised = before is not None and before["category"] != row["category"]
    if recategorised or row.get("pinyin") is None or row.get("proper") is None:
        parts = sign_parts(
            row["name"], row["category"] if row["category"] in t.categories else None, tables=t
        )
        pinyin_sent = row.get("pinyin") is not None and (
            before is None or row["pinyin"] != before.get("pinyin")
        )
        if pinyin_sent:
            parts.pop("pinyin")
        sets.update(parts)
    if sets:
        s.execute(
            text(f"UPDATE place_names SET {', '.join(f'{c} = :{c}' for c in sets)} WHERE name_id = :id"),
            {**sets, "id": name_id},
        )
        row = _snapshot(s, name_id)
    action = "create" if before is None else "update"
    _record(s, name_id, action, approval=row.get("approval"), before=before, after=row, new_name=row["name"])


# -- the registry as a frame -----------------------------------------------------------------------

TREE_SQL = """
WITH RECURSIVE up(area_id, ancestor) AS (
    SELECT area_id, area_id FROM areas
    UNION ALL
    SELECT up.area_id, a.parent_id FROM up JOIN areas a ON a.area_id = up.ancestor
    WHERE a.parent_id IS NOT NULL
), tree AS (
    SELECT up.area_id, min(a.name) FILTER (WHERE a.level = 'town') AS town,
           min(a.name) FILTER (WHERE a.level = 'district') AS district
    FROM up JOIN areas a ON a.area_id = up.ancestor GROUP BY up.area_id
)"""


def metric_srid(s: Session) -> int:
    """EPSG code of the UTM zone at the centre of the district (or of the names when no district)."""
    row = s.execute(
        text(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(coalesce("
            "(SELECT ST_Extent(geom)::geometry FROM areas WHERE level = 'district'), "
            "(SELECT ST_Extent(geom)::geometry FROM place_names))) AS c) x"
        )
    ).one()
    lon, lat = (row[0], row[1]) if row[0] is not None else (113.0, 23.0)
    return int(utm_crs_for(lon, lat).to_epsg() or 32650)  # UTM zones always have an EPSG code


def registry(s: Session, *, current: bool = True, with_geometry: bool = False) -> pd.DataFrame:
    """The registered names with their town and district (area-tree ancestors of ``area_id``).

    Columns: name_id (index), name, category, status, heritage, sign_present, approval, area_id,
    town, district, piece (names of the same text closer than ``PIECE_GAP_M`` share a piece
    number: one feature registered in segments), lon, lat (a point on the feature), and a
    ``geometry`` (EPSG:4326 GeoDataFrame) when ``with_geometry``. ``current`` drops historical names.
    """
    where = "WHERE p.status <> 'historical'" if current else ""
    geom = ", ST_AsBinary(p.geom) AS wkb" if with_geometry else ""
    frame = read_frame(
        s,
        TREE_SQL
        + (
            " SELECT p.name_id, p.name, p.category, p.status, p.heritage, p.sign_present, p.approval, "
            "p.area_id, t.town, t.district, ST_ClusterDBSCAN(ST_Transform(p.geom, :srid), eps := :gap, "
            "minpoints := 1) OVER (PARTITION BY p.name) AS piece, ST_X(ST_PointOnSurface(p.geom)) AS lon, "
            f"ST_Y(ST_PointOnSurface(p.geom)) AS lat{geom} FROM place_names p LEFT JOIN tree t "
            f"ON t.area_id = p.area_id {where} ORDER BY p.name_id"
        ),
        {"srid": metric_srid(s), "gap": PIECE_GAP_M},
    )
    frame["area_id"] = frame["area_id"].astype("Int64")
    frame = to_geoframe(frame) if with_geometry else frame
    return frame.set_index("name_id")


# -- checks ------------------------------------------------------------------------------------------


def scope_columns(names: pd.DataFrame) -> pd.DataFrame:
    """Admin columns from which ``geo.placenames.checks.legal_scope`` derives each name's legal scope.

    ``county`` is the district; ``town`` its town (the district for names above town level);
    ``city`` — the scope of streets, estates and buildings ("within a city or town") — is the
    district when it is a city district (name ending in 区, which stands for its city), else the town.
    """
    district = names["district"].fillna("?").astype(str)
    town = names["town"].fillna(district).astype(str)
    city = district.where(district.str.endswith("区"), town)
    return pd.DataFrame({"county": district, "city": city, "town": town}, index=names.index)


def registry_findings(names: pd.DataFrame, *, tables: PlaceNameTables | None = None) -> pd.DataFrame:
    """Rule checks on registered names (see ``registry``), every finding flagged for review.

    Per-name checks (大/洋/怪 words, scripts, rare characters, generic fit) run on each row;
    duplicates and homophones within the legal scope run on features (pieces of one feature count
    once) and are reported on every piece. Unknown categories are checked without one.

    Returns
    -------
    DataFrame
        One row per finding: name_id, name, category, status, town, district, scope and the
        columns of ``geo.placenames.checks.FINDING_COLUMNS`` after ``name``; sorted by name_id, code.
    """
    t = _tables(tables)
    frame = names.assign(category=names["category"].where(names["category"].isin(list(t.categories)), ""))
    frame = frame.assign(**scope_columns(frame))
    frame["scope"] = legal_scope(frame, tables=t)
    frame["feature"] = frame.groupby(["name", "piece"], sort=False).ngroup()
    features_ = frame.drop_duplicates("feature")
    shared = pd.concat([duplicates(features_, tables=t), homophones(features_, tables=t)], ignore_index=True)
    members = frame.reset_index()[["name_id", "feature"]]
    shared = (
        shared.assign(feature=frame.loc[shared["row"].to_numpy(), "feature"].to_numpy())
        .drop(columns="row")
        .merge(members, on="feature")
        .drop(columns="feature")
        .rename(columns={"name_id": "row"})
    )
    own = check_names(frame, size_rank=None, tables=t)
    found = pd.concat(
        [p for p in (own, shared) if len(p)] or [pd.DataFrame(columns=FINDING_COLUMNS)], ignore_index=True
    ).rename(columns={"row": "name_id"})
    about = names.loc[found["name_id"].to_numpy(), ["category", "status", "town", "district"]]
    found = found.join(about.reset_index(drop=True)).assign(
        scope=frame.loc[found["name_id"], "scope"].to_numpy()
    )
    columns = ["name_id", "name", "category", "status", "town", "district", "scope", *FINDING_COLUMNS[2:]]
    return found[columns].sort_values(["name_id", "code"], kind="stable").reset_index(drop=True)


def reviews(s: Session) -> pd.DataFrame:
    """The officers' review decisions (index name_id): decision, codes, reviewed_name, note, decided_by,
    decided_at."""
    frame = read_frame(
        s,
        "SELECT name_id, decision, codes, reviewed_name, note, decided_by, decided_at "
        "FROM place_name_reviews ORDER BY name_id",
    )
    return frame.set_index("name_id")


def apply_reviews(found: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Findings after the officers' decisions: a finding reviewed 保留 or 豁免 (same code, name unchanged
    since) is dropped; the others gain a ``review`` column (整改, or empty when not reviewed)."""
    d = decisions.reindex(found["name_id"])
    same = d["reviewed_name"].to_numpy() == found["name"].to_numpy()
    covered = [
        isinstance(codes, list) and code in codes
        for codes, code in zip(d["codes"], found["code"], strict=True)
    ]
    reviewed = same & pd.Series(covered, dtype=bool).to_numpy()
    cleared = reviewed & d["decision"].isin(CLEARING).to_numpy()
    out = found.assign(
        review=pd.Series(d["decision"].to_numpy(), index=found.index).where(reviewed, "").fillna("")
    )
    return out[~cleared].reset_index(drop=True)


def check_registry(
    s: Session, *, tables: PlaceNameTables | None = None, reviewed: bool = True
) -> pd.DataFrame:
    """``registry_findings`` over every current (not historical) registered name; with ``reviewed``
    the officers' decisions apply (``apply_reviews``)."""
    found = registry_findings(registry(s), tables=tables)
    return apply_reviews(found, reviews(s)) if reviewed else found.assign(review="")


def review(
    s: Session, name_id: int, *, decision: str, note: str | None = None, tables: PlaceNameTables | None = None
) -> dict[str, Any]:
    """Record an officer's decision (保留 / 豁免 / 整改) on the current findings of one name.

    The decision covers the finding codes the name has now; a later finding of another code, or a
    rename, flags the name again. Replaces an earlier decision (both are kept in the audit log).
    Raises ``ValidationFailed`` for an unknown decision or a name with nothing flagged.
    """
    if decision not in REVIEW_DECISIONS:
        raise ValidationFailed(f"decision {decision!r} is unknown: use one of {'、'.join(REVIEW_DECISIONS)}")
    record = get(s, name_id)
    if record.status == "historical":
        raise RegistryConflict(
            f"place name {name_id} ({record.name}) is retired: it is no longer checked",
            fix="review a current name",
        )
    found = check_registry(s, tables=tables, reviewed=False)
    codes = sorted(set(found.loc[found["name_id"] == name_id, "code"]))
    if not codes:
        raise ValidationFailed(f"place name {name_id} ({record.name}) has no finding to review")
    s.execute(
        text(
            "INSERT INTO place_name_reviews (name_id, decision, codes, reviewed_name, note, decided_by, "
            f"decided_at) VALUES (:id, :decision, :codes, :name, :note, {ACTOR}, now()) "
            "ON CONFLICT (name_id) DO UPDATE SET decision = EXCLUDED.decision, codes = EXCLUDED.codes, "
            "reviewed_name = EXCLUDED.reviewed_name, note = EXCLUDED.note, "
            "decided_by = EXCLUDED.decided_by, decided_at = now()"
        ),
        {"id": name_id, "decision": decision, "codes": codes, "name": record.name, "note": note},
    )
    return reviews(s).loc[name_id].to_dict() | {"name_id": name_id, "name": record.name}


HERITAGE_COLUMNS = [
    "name",
    "category",
    "town",
    "first_recorded",
    "former_names",
    "renamed",
    "meaning",
    "approval",
    "lon",
    "lat",
]


def heritage_register(s: Session) -> pd.DataFrame:
    """The heritage register (地名文化遗产保护名录): current names marked heritage, with the criteria shown
    — age (``first_recorded``, the earliest date in their history), continuity (``former_names`` and
    ``renamed``, how often the name changed) and cultural value (``meaning``). Index name_id; columns
    ``HERITAGE_COLUMNS``; oldest first."""
    names = registry(s)
    names = names[names["heritage"].astype(bool)]
    if names.empty:
        return pd.DataFrame(columns=HERITAGE_COLUMNS, index=pd.Index([], name="name_id"))
    hist = read_frame(
        s,
        "SELECT h.name_id, min(h.changed_at)::date::text AS first_recorded, "
        "string_agg(DISTINCT h.old_name, '、') FILTER (WHERE h.old_name IS NOT NULL) AS former_names, "
        "count(*) FILTER (WHERE h.action = 'rename') AS renamed, max(p.meaning) AS meaning "
        "FROM place_name_history h JOIN place_names p USING (name_id) WHERE h.name_id = ANY(:ids) "
        "GROUP BY h.name_id",
        {"ids": [int(i) for i in names.index]},
    ).set_index("name_id")
    out = names.join(hist)
    out["renamed"] = out["renamed"].fillna(0).astype(int)
    return out.sort_values(["first_recorded", "name"], kind="stable")[HERITAGE_COLUMNS]


# -- signs -------------------------------------------------------------------------------------------

SIGN_COLUMNS = [
    "name",
    "category",
    "category_zh",
    "sign_type",
    "sign_chinese",
    "sign_pinyin",
    "status",
    "town",
    "district",
    "approval",
    "lon",
    "lat",
]


def missing_signs(
    s: Session, *, with_geometry: bool = False, tables: PlaceNameTables | None = None
) -> pd.DataFrame:
    """Current names of sign-required categories without a sign (GB 17733-2008), with the sign text.

    Index name_id; columns ``SIGN_COLUMNS`` (plus ``geometry`` when ``with_geometry``), ordered by
    the category table, then by name (``geo.placenames.signs.sign_worklist``).
    """
    t = _tables(tables)
    names = registry(s, with_geometry=with_geometry)
    todo = sign_worklist(names[names["category"].isin(list(t.categories))], tables=t)
    return todo[SIGN_COLUMNS + (["geometry"] if with_geometry else [])]


SIGN_PLAN_COLUMNS = [
    "name",
    "sign_status",
    "category",
    "category_zh",
    "sign_type",
    "size_class",
    "sign_chinese",
    "sign_pinyin",
    "status",
    "town",
    "district",
    "approval",
    "lon",
    "lat",
]


def sign_plan(
    s: Session,
    *,
    town: str | None = None,
    sign_status: str | None = None,
    tables: PlaceNameTables | None = None,
) -> pd.DataFrame:
    """The sign work list per 镇街 (``geo.placenames.signs.sign_plan``): every name of a sign-required
    category, current or retired, with its sign status (待设置 / 已设置 / 待更换 / 待拆除), sign text, size
    class and location. Index name_id; columns ``SIGN_PLAN_COLUMNS``; ``town`` / ``sign_status`` filter."""
    t = _tables(tables)
    names = registry(s, current=False)
    last = read_frame(
        s,
        "SELECT DISTINCT ON (name_id) name_id, action FROM place_name_history "
        "ORDER BY name_id, history_id DESC",
    ).set_index("name_id")["action"]
    names = names[names["category"].isin(list(t.categories))].assign(
        last_action=lambda f: last.reindex(f.index)
    )
    if town:
        names = names[names["town"] == town]
    plan = geo_sign_plan(names.assign(last_action=names["last_action"].fillna("")), tables=t)
    if sign_status:
        plan = plan[plan["sign_status"] == sign_status]
    return plan[SIGN_PLAN_COLUMNS]


# -- nearest features --------------------------------------------------------------------------------


def _box_degrees(radius_m: float, lat: float) -> tuple[float, float]:
    """Half-widths (lon, lat degrees) of a box holding every point within ``radius_m`` of latitude ``lat``."""
    dlat = radius_m / 110_574.0 * 1.01 + 1e-7  # 110,574 m: the shortest degree of latitude
    widest = min(abs(lat) + dlat, 89.0)
    return radius_m / (111_320.0 * math.cos(math.radians(widest))) * 1.01 + 1e-7, dlat


def _nearest(
    s: Session,
    source: str,
    columns: str,
    lon: float,
    lat: float,
    max_m: float,
    params: Mapping[str, Any] | None = None,
    tiebreak: str = "1",
) -> dict[str, Any] | None:
    """The feature of ``source`` (a FROM clause aliased ``t``, with filters) nearest in metres.

    The KNN operator orders by planar degrees, which is not metric order; its first hit bounds the
    true distance, and every feature in a box of that radius is then ranked on the spheroid.
    """
    p = {"lon": lon, "lat": lat, **(params or {})}
    bound = s.execute(
        text(
            f"SELECT ST_Distance(t.geom::geography, {POINT}::geography) FROM {source} "
            f"ORDER BY t.geom <-> {POINT} LIMIT 1"
        ),
        p,
    ).scalar()
    if bound is None:
        return None
    dlon, dlat = _box_degrees(min(bound, max_m), lat)
    row = (
        s.execute(
            text(
                f"SELECT * FROM (SELECT {columns}, ST_Distance(t.geom::geography, "
                f"{POINT}::geography) AS distance_m, {tiebreak} AS tiebreak FROM {source} "
                f"AND t.geom && ST_Expand({POINT}, :dlon, :dlat)) c WHERE distance_m <= :max_m "
                "ORDER BY distance_m, tiebreak LIMIT 1"
            ),
            {**p, "dlon": dlon, "dlat": dlat, "max_m": max_m},
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    out = {k: v for k, v in row.items() if k != "tiebreak"}
    out["distance_m"] = round(float(out["distance_m"]), 1)
    return out


def nearest_road(
    s: Session, lon: float, lat: float, *, max_m: float = 1000.0, tables: PlaceNameTables | None = None
) -> dict[str, Any] | None:
    """The nearest named road within ``max_m`` metres: a named street edge or a registered road name.

    Returns name, source (``network`` or ``registry``), highway (network), name_id and category
    (registry), distance_m; None when nothing is that close. The one nearest-road lookup: place
    labels of gaps and proposed sites use the same query (``layers.labels.nearest_roads``).
    """
    row = labels.nearest_roads(s, [lon], [lat], categories=road_categories(tables), max_m=max_m).iloc[0]
    if not isinstance(row["road"], str):
        return None
    return {
        "name": row["road"],
        "source": row["road_source"],
        "highway": _value(row["highway"]),
        "name_id": None if pd.isna(row["road_name_id"]) else int(row["road_name_id"]),
        "category": _value(row["road_category"]),
        "distance_m": float(row["road_distance_m"]),
    }


def nearest_place_name(
    s: Session, lon: float, lat: float, *, max_m: float = 2000.0, max_area_m2: float = 1e6
) -> dict[str, Any] | None:
    """The nearest current place name within ``max_m`` metres.

    Regions larger than ``max_area_m2`` (the island, a bay, a development zone) contain a point
    rather than name its neighbourhood, so they are left out; among names at the same distance
    (e.g. inside an estate) the smallest feature wins.
    """
    source = (
        "place_names t WHERE t.status <> 'historical' AND NOT (ST_Dimension(t.geom) = 2 "
        "AND ST_Area(t.geom::geography) > :max_area)"
    )
    return _nearest(
        s,
        source,
        "t.name_id, t.name, t.category, t.pinyin, t.status",
        lon,
        lat,
        max_m,
        {"max_area": max_area_m2},
        tiebreak="ST_Area(t.geom::geography)",
    )


def reverse(s: Session, lon: float, lat: float, *, tables: PlaceNameTables | None = None) -> dict[str, Any]:
    """What lies at a point (EPSG:4326 lon/lat): the nearest named road (≤ 1000 m), the nearest
    place name (≤ 2000 m), the small grid and every area containing the point (district first).

    The one reverse lookup of the API (GET /reverse) and the CLI (``minqing names reverse``);
    distances in metres on the WGS84 spheroid.
    """
    areas = lookup.areas_at(s, lon, lat)
    return {
        "lon": lon,
        "lat": lat,
        "road": nearest_road(s, lon, lat, tables=tables),
        "place_name": nearest_place_name(s, lon, lat),
        "grid": next((a for a in areas if a["level"] == "grid_small"), None),
        "areas": areas,
    }


# -- search --------------------------------------------------------------------------------------------


def name_index(s: Session, *, tables: PlaceNameTables | None = None) -> tuple[NameIndex, pd.DataFrame]:
    """The search index over every registered name and its former names, and the names by id
    (``lookup.place_name_rows``: current row per id, with category, pinyin, status, lon, lat)."""
    rows = lookup.place_name_rows(s)
    return build_index(rows, tables=_tables(tables)), rows.drop_duplicates("id").set_index("id")


def _value(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def search(
    index: NameIndex,
    names: pd.DataFrame,
    query: str,
    *,
    limit: int = 10,
    tables: PlaceNameTables | None = None,
) -> list[dict[str, Any]]:
    """Registry search hits of ``query`` (Chinese substring, full pinyin or initials), best first.

    ``index`` and ``names`` come from :func:`name_index` (the API keeps them cached). A former
    name (from the history) comes back with its own sign text, status ``historical`` and the
    ``current_name``. The one search of the API (GET /placenames/search) and the CLI
    (``minqing names find``).
    """
    t = _tables(tables)
    hits = []
    for hit in index.query(query, limit=limit).itertuples():
        row = names.loc[hit.id]
        former = hit.name != row["name"]
        category = row["category"] if row["category"] in t.categories else None
        hits.append(
            {
                "name_id": int(hit.id),
                "name": hit.name,
                "pinyin": sign_text(hit.name, category=category, tables=t).pinyin
                if former
                else _value(row["pinyin"]),
                "category": _value(row["category"]),
                "status": "historical" if hit.historical else _value(row["status"]),
                "lon": _value(row["lon"]),
                "lat": _value(row["lat"]),
                "score": int(hit.score),
                "match": hit.field,
                "historical": bool(hit.historical),
                "current_name": row["name"] if former else None,
            }
        )
    return hits


features.register_hooks(
    "place_names", features.WriteHooks(before=before_feature_write, after=after_feature_write)
)


# -- stored check results (migration 0039) -------------------------------------------------------------


def results_basis(s: Session) -> str | None:
    """The data versions the stored check results were computed on (None: none stored)."""
    return s.execute(text("SELECT basis FROM place_name_results LIMIT 1")).scalar()


def lock_results(s: Session) -> None:
    """Take the lock of the stored check results until the transaction ends (one recomputation at a time)."""
    s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('minqing.place_name_results', 0))"))


def store_results(s: Session, results: pd.Series, basis: str) -> None:
    """Replace every stored check result by ``results`` (name_id → result), computed on ``basis``."""
    s.execute(text("DELETE FROM place_name_results"))
    if len(results):
        s.execute(
            text(
                "INSERT INTO place_name_results (name_id, result, basis) "
                "SELECT u.i, u.r, :b FROM unnest(CAST(:ids AS bigint[]), CAST(:rs AS text[])) AS u(i, r)"
            ),
            {"ids": [int(i) for i in results.index], "rs": [str(r) for r in results], "b": basis},
        )
