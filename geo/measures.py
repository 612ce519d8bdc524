"""The three coverage measures officials use, side by side (../shared/reference/measures.md).

* **presence** (设施覆盖社区比例): does a community have an open facility of the type — one inside
  its boundary (covers, so a point on the border counts for both neighbours), or one assigned by a
  declared service-area rule (``rules``: data/service_areas.csv). Counted per community; urban and
  rural communities are reported separately. Capacity does not enter presence.
* **radius** (服务半径覆盖率): residents whose home lies within the type's service radius in a
  straight line (computed with the network measure in ``geo.coverage``: ``*_in_radius``).
* **network** (步行可达覆盖率 / 半小时可达覆盖率): residents who reach a facility within the life
  circle's time over the street network (``geo.coverage``: ``*_covered``).

The **composite** (the life circle as a whole) counts the residents who reach EVERY required
(应配建) type of their circle over the network; optional types never set it. The limiting types are
the required types ranked by the residents who do not reach them.

Words for what is wrong (``status_word``): 未设置 (no facility), 步行可达不足 (exists, but too few
reach it in time; 可达不足 for the rural half-hour circle), 容量不足 (reached, but over capacity),
达标.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import shapely

from geo.coverage import CIRCLES, Prepared, rollup, rollup_keys, service_tiers
from geo.errors import GeoError, MissingColumnsError

MEASURE_CODES = ("presence", "radius", "network", "composite")
TIERS = {"urban": ("5min", "10min", "15min"), "rural": ("village", "township")}
HEADLINE_TIERS = {"urban": "15min", "rural": "township"}
"""Each circle's headline composite: the 15-minute life circle's own bundle (GB 50180-2018 表B.0.1)
and the rural half-hour circle's township-level bundle (TD/T 1062-2021 乡集镇)."""
RULES = ("town", "assigned")
RULE_COLUMNS = ["type_code", "circle", "rule", "community_code", "served_by_code"]
PRESENCE_COLUMNS = ["area_id", "type_code", "present", "source", "facilities"]

ABSENT = "未设置"
TOO_FAR = "步行可达不足"
TOO_FAR_RURAL = "可达不足"
OVER_CAPACITY = "容量不足"
MET = "达标"


class MeasureError(GeoError):
    """A bad service-area rule or target row."""

    status = 422


def applicable_types(facility_types: pd.DataFrame) -> pd.DataFrame:
    """(type_code, circle) pairs with a service tier: a type counts in a circle only where it has one."""
    return service_tiers(facility_types)[["type_code", "circle"]].drop_duplicates().reset_index(drop=True)


def required_types(facility_types: pd.DataFrame) -> dict[str, list[str]]:
    """Per circle, the required (应配建, ``required`` = 1) types with a tier in that circle."""
    req = facility_types[_flag(facility_types["required"])].code.astype(str)
    tiers = applicable_types(facility_types)
    return {c: sorted(set(tiers[(tiers.circle == c) & tiers.type_code.isin(req)].type_code)) for c in CIRCLES}


def required_bundles(facility_types: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """The required types per (circle, tier) — each level's own bundle — and per (circle, 'all')."""
    all_required = required_types(facility_types)
    out: dict[tuple[str, str], list[str]] = {}
    for circle, tiers in TIERS.items():
        tier_of = dict(zip(facility_types.code.astype(str), facility_types[f"{circle}_tier"], strict=True))
        for tier in tiers:
            codes = [c for c in all_required[circle] if tier_of.get(c) == tier]
            if codes:
                out[(circle, tier)] = codes
        out[(circle, "all")] = all_required[circle]
    return out


def _flag(values: pd.Series) -> np.ndarray:
    """0/1 (or booleans, or their text) as a bool array; anything else is False."""
    return values.map(lambda v: str(v).strip().lower() in ("1", "1.0", "true")).to_numpy(bool)


def presence(
    communities: pd.DataFrame,
    facilities: pd.DataFrame,
    facility_types: pd.DataFrame,
    rules: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per community and applicable type: whether it has an open facility of the type.

    Parameters
    ----------
    communities : ``area_id``, ``code``, ``parent_id`` (its town), ``urban`` (bool) and ``geometry``
        (polygons, EPSG:4326).
    facilities : the OPEN facilities: ``type_code``, ``lon``, ``lat`` (degrees, EPSG:4326).
    facility_types : the type table (tiers say which types apply to which circle).
    rules : service-area rules (``RULE_COLUMNS``): ``town`` — every community of the circle is served
        when its town has a facility of the type in any of its communities; ``assigned`` — the
        community ``community_code`` is served by the facilities inside ``served_by_code``.

    Returns
    -------
    ``PRESENCE_COLUMNS``: ``present`` (bool), ``source`` ('inside', 'town', 'assigned' or None) and
    ``facilities`` (open facilities of the type inside the community).
    """
    _require(communities, ["area_id", "code", "parent_id", "urban", "geometry"], "communities")
    _require(facilities, ["type_code", "lon", "lat"], "facilities")
    comm = communities.reset_index(drop=True)
    circle = np.where(comm.urban.astype(bool), "urban", "rural")
    inside = _inside_counts(comm, facilities)
    pairs = applicable_types(facility_types)
    rows = pd.DataFrame(
        {
            "area_id": comm.area_id.to_numpy(np.int64),
            "circle": circle,
            "town": comm.parent_id.to_numpy(),
            "code": comm.code.astype(str).to_numpy(),
        }
    )
    rows = rows.merge(pairs, on="circle")
    rows["facilities"] = [inside.get((a, t), 0) for a, t in zip(rows.area_id, rows.type_code, strict=True)]
    rows["source"] = pd.Series("inside", index=rows.index, dtype=object).where(rows.facilities > 0, None)
    town_of = dict(zip(comm.area_id.to_numpy(np.int64), comm.parent_id.to_numpy(), strict=True))
    # a town "has" a type when any of its communities holds one, of either class (a 敬老院 in the
    # urban seat community serves the town's villages)
    towns_with = {(town_of[a], t) for (a, t) in inside}
    for rule in _checked_rules(rules, comm, facility_types).to_dict("records"):
        _apply_rule(rows, rule, towns_with)
    rows["present"] = rows.source.notna()
    return rows[PRESENCE_COLUMNS].sort_values(["type_code", "area_id"], ignore_index=True)


def _inside_counts(comm: pd.DataFrame, facilities: pd.DataFrame) -> dict[tuple[int, str], int]:
    """Open facilities per (community, type) whose point the community polygon covers."""
    if len(facilities) == 0 or len(comm) == 0:
        return {}
    pts = shapely.points(facilities.lon.to_numpy(float), facilities.lat.to_numpy(float))
    fac_i, comm_i = shapely.STRtree(np.asarray(comm.geometry.to_numpy(), dtype=object)).query(
        pts, predicate="covered_by"
    )
    keys = pd.DataFrame(
        {
            "area_id": comm.area_id.to_numpy(np.int64)[comm_i],
            "type_code": facilities.type_code.astype(str).to_numpy()[fac_i],
        }
    )
    return {(int(a), str(t)): int(n) for (a, t), n in keys.value_counts().items()}


def _checked_rules(
    rules: pd.DataFrame | None, comm: pd.DataFrame, facility_types: pd.DataFrame
) -> pd.DataFrame:
    if rules is None or len(rules) == 0:
        return pd.DataFrame(columns=RULE_COLUMNS)
    _require(rules, RULE_COLUMNS, "service-area rules")
    rules = rules.astype(object).where(rules.notna(), None)
    problems = []
    known_types = set(facility_types.code.astype(str))
    known_codes = set(comm.code.astype(str))
    for i, r in enumerate(rules.to_dict("records"), start=2):
        if r["type_code"] not in known_types:
            problems.append(f"row {i}: unknown type_code {r['type_code']!r}")
        if r["circle"] not in (*CIRCLES, "both"):
            problems.append(f"row {i}: circle {r['circle']!r} is not urban, rural or both")
        if r["rule"] not in RULES:
            problems.append(f"row {i}: rule {r['rule']!r} is not one of {list(RULES)}")
        if r["rule"] == "assigned":
            for col in ("community_code", "served_by_code"):
                if str(r[col]) not in known_codes:
                    problems.append(f"row {i}: {col} {r[col]!r} is not the code of a stored community")
    if problems:
        raise MeasureError(
            "service-area rules (data/service_areas.csv) are not usable: "
            + "; ".join(problems[:10])
            + ". Fix those rows: rule town needs type_code and circle; rule assigned also "
            "community_code and served_by_code of stored communities"
        )
    return rules


def _apply_rule(rows: pd.DataFrame, rule: dict, towns_with: set[tuple]) -> None:
    """Mark the communities a rule serves (in place); a facility inside always wins as the source."""
    of_type = (rows.type_code == rule["type_code"]) & rows.circle.isin(
        CIRCLES if rule["circle"] == "both" else (rule["circle"],)
    )
    if rule["rule"] == "town":
        served = of_type & pd.Series(
            [(t, rule["type_code"]) in towns_with for t in rows.town], index=rows.index
        )
    else:
        donor = rows[(rows.type_code == rule["type_code"]) & (rows.code == str(rule["served_by_code"]))]
        served = of_type & (rows.code == str(rule["community_code"])) & bool((donor.facilities > 0).any())
    rows.loc[served & rows.source.isna(), "source"] = rule["rule"]


def presence_shares(
    presence_rows: pd.DataFrame, areas: pd.DataFrame, *, levels: tuple[str, ...] = ("district", "town")
) -> pd.DataFrame:
    """Per area of ``levels``, type and circle: communities below it, how many have the type, share.

    ``areas``: ``area_id``, ``parent_id``, ``level``, ``urban``. Returns ``area_id``, ``level``,
    ``type_code``, ``circle``, ``communities``, ``present``, ``share`` (0..1).
    """
    _require(areas, ["area_id", "parent_id", "level", "urban"], "areas")
    holders = community_holders(areas, levels)
    rows = holders.merge(presence_rows, left_on="community", right_on="area_id", suffixes=("", "_c"))
    if rows.empty:
        return pd.DataFrame(
            columns=["area_id", "level", "type_code", "circle", "communities", "present", "share"]
        )
    g = rows.groupby(["holder", "level", "type_code", "circle"], sort=True)
    out = g.agg(communities=("present", "size"), present=("present", "sum")).reset_index()
    out["share"] = out.present / out.communities
    return out.rename(columns={"holder": "area_id"})


def community_holders(areas: pd.DataFrame, levels: tuple[str, ...]) -> pd.DataFrame:
    """(holder area of ``levels``, its level, a community at or below it, that community's circle)."""
    parent = dict(zip(areas.area_id.astype(np.int64), areas.parent_id, strict=True))
    level = dict(zip(areas.area_id.astype(np.int64), areas.level, strict=True))
    comm = areas[areas.level == "community"]
    rows = []
    for c, urban in zip(comm.area_id.astype(np.int64), comm.urban.astype(bool), strict=True):
        a: int | None = int(c)
        for _ in range(32):
            if a is None:
                break
            if level.get(a) in levels:
                rows.append((a, level[a], int(c), "urban" if urban else "rural"))
            up = parent.get(a)
            a = None if up is None or pd.isna(up) else int(up)
    return pd.DataFrame(rows, columns=["holder", "level", "community", "circle"])


def composite(
    prepared: Prepared, per_residence: pd.DataFrame, bundles: dict[tuple[str, str], list[str]]
) -> pd.DataFrame:
    """Residents who reach every type of a bundle of required types, per area, circle and tier.

    Parameters
    ----------
    prepared : the run's prepared data (residences, area tree, large grids).
    per_residence : ``residence_id``, ``type_code``, ``circle``, ``covered`` (network measure) — all
        rows of the run.
    bundles : per (circle, tier) the required type codes (``required_bundles``: each level's own
        bundle, and 'all').

    Returns
    -------
    ``area_id``, ``circle``, ``tier``, ``required_types``, ``households``/``population`` and their
    ``*_covered`` (reaching every type of the bundle), ``share`` (residents, 0..1); areas of every
    level with residents of the circle.
    """
    _require(per_residence, ["residence_id", "type_code", "circle", "covered"], "per_residence")
    res = prepared.residences
    reach = _reach_matrices(res.residence_id.to_numpy(np.int64), per_residence)
    frames = []
    for (circle, tier), codes in sorted(bundles.items()):
        rows = np.flatnonzero(res.urban.to_numpy() == (circle == "urban"))
        if not codes or len(rows) == 0:
            continue
        all_ok = _reaches_all(reach, circle, codes)[rows]
        keys = rollup_keys(prepared, np.zeros(len(rows), np.int64), rows, 1)
        part = {
            "area_id": prepared.areas.area_id.to_numpy(),
            "circle": circle,
            "tier": tier,
            "required_types": len(codes),
        }
        for m in ("households", "population"):
            weight = res[m].to_numpy(float)[rows]
            part[m] = rollup(prepared, keys, weight).astype(np.int64)
            part[f"{m}_covered"] = rollup(prepared, keys, weight * all_ok).astype(np.int64)
        frame = pd.DataFrame(part)
        frames.append(frame[rollup(prepared, keys, np.ones(len(rows))) > 0])
    if not frames:
        return pd.DataFrame(
            columns=[
                "area_id",
                "circle",
                "tier",
                "required_types",
                "households",
                "households_covered",
                "population",
                "population_covered",
                "share",
            ]
        )
    out = pd.concat(frames, ignore_index=True)
    out["share"] = out.population_covered / out.population.where(out.population > 0)
    return out.sort_values(["circle", "tier", "area_id"], ignore_index=True)


class _Reach(NamedTuple):
    """Per circle, (residence row x type) matrices of the per-home rows.

    ``held``: the home has a row of the type in that circle; ``covered``: that row is covered;
    ``types`` maps a type code to its column.
    """

    types: dict[str, int]
    held: dict[str, np.ndarray]
    covered: dict[str, np.ndarray]


def _reach_matrices(ids: np.ndarray, per_residence: pd.DataFrame) -> _Reach:
    """``_Reach`` of ``per_residence`` over the residences ``ids`` (ascending).

    Rows of homes not in ``ids`` are left out.
    """
    type_index, type_names = pd.factorize(per_residence.type_code.astype(str), sort=True)
    circles = per_residence.circle.astype(str).to_numpy()
    rid = per_residence.residence_id.to_numpy(np.int64)
    row = np.minimum(np.searchsorted(ids, rid), max(len(ids) - 1, 0))
    known = (ids[row] == rid) if len(ids) else np.zeros(len(rid), bool)
    covered = per_residence.covered.to_numpy(bool)
    held, ok = {}, {}
    for circle in CIRCLES:
        mine = known & (circles == circle)
        held[circle] = np.zeros((len(ids), len(type_names)), bool)
        ok[circle] = np.zeros((len(ids), len(type_names)), bool)
        held[circle][row[mine], type_index[mine]] = True
        ok[circle][row[mine], type_index[mine]] = covered[mine]
    return _Reach({str(t): i for i, t in enumerate(type_names)}, held, ok)


def _reaches_all(reach: _Reach, circle: str, codes: list[str]) -> np.ndarray:
    """Per residence: it has a covered row of every one of ``codes`` in ``circle``."""
    n = reach.held[circle].shape[0]
    if any(c not in reach.types for c in codes):
        return np.zeros(n, bool)
    cols = [reach.types[c] for c in codes]
    both = reach.held[circle][:, cols] & reach.covered[circle][:, cols]
    return np.asarray(both.all(axis=1), dtype=bool)


def limiting_types(per_area: pd.DataFrame, area_ids, codes: list[str]) -> pd.DataFrame:
    """The required ``codes`` ranked by residents who do NOT reach them over the network, most first.

    Residents of the areas ``area_ids`` (summed; e.g. the communities of one circle). Columns
    ``type_code``, ``population_missing``, ``share`` (reached).
    """
    pa = per_area[per_area.area_id.isin(list(np.atleast_1d(area_ids))) & per_area.type_code.isin(codes)]
    g = pa.groupby("type_code")[["population", "population_covered"]].sum()
    out = pd.DataFrame(
        {
            "type_code": g.index.to_numpy(),
            "population_missing": (g.population - g.population_covered).to_numpy(np.int64),
            "share": (g.population_covered / g.population.where(g.population > 0)).to_numpy(),
        }
    )
    return out.sort_values(["population_missing", "type_code"], ascending=[False, True], ignore_index=True)


def status_word(
    *,
    present: bool | None,
    share: float | None,
    target: float,
    load: float | None = None,
    circle: str = "urban",
) -> str:
    """What is wrong with one type in one community, in the words officials use.

    ``present``: presence measure (False: 未设置); ``share``: network share of residents reaching it
    (below ``target``: 步行可达不足, 可达不足 for the rural circle); ``load``: the highest load of the
    facilities serving it (above 1: 容量不足); otherwise 达标.
    """
    if present is False:
        return ABSENT
    if share is None or not np.isfinite(share):  # nobody of the circle lives there
        return MET
    if share < target - 1e-12:
        return TOO_FAR if circle == "urban" else TOO_FAR_RURAL
    if load is not None and np.isfinite(load) and load > 1.0:
        return OVER_CAPACITY
    return MET


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise MissingColumnsError(name, missing)
