"""Compliance with GB 50180-2018 and TD/T 1062-2021, per community and life-circle tier.

Definitions (editable through the keyword options and data/facility_types.csv):

* Tiers: an urban community is checked against the 5-, 10- and 15-minute tiers (``urban_tier``
  of data/facility_types.csv), a rural one against the village/group and township-seat tiers
  (``rural_tier``).
* Required types: rows with ``required`` = 1 whose tier for the community's class is set.
* A required type is *within the circle* of a community when at least ``min_share`` (default 50%)
  of the community's residents (population) reach a facility of that type within the tier's time
  (the coverage run's ``population_covered`` / ``population`` of the community).
* A tier passes when every required type of it is within the circle; a community passes overall
  only when all its tiers pass (GB 50180: a higher level does not replace a lower one).
* What is wrong with a type is said in the officials' words (``geo.measures.status_word``):
  未设置 (the community has no facility of the type: presence), 步行可达不足 / 可达不足 (it has one,
  but fewer than ``min_share`` of residents reach one in time), 容量不足 (reached, but a facility
  of the type in the community is over capacity).
* Floor area: the community service facilities (``COMMUNITY_SERVICE_TYPES``, open) located inside
  the community polygon together need ``m2_per_100_households`` (30) m² per 100 households of the
  community's residences; a missing ``floor_area_m2`` counts as 0 and is reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely

from geo.errors import GeoError, MissingColumnsError
from geo.measures import MET, TIERS, status_word

DEFAULT_MIN_SHARE = 0.5
COMMUNITY_SERVICE_TYPES = ("community_service_station", "community_complex", "party_mass_center")
M2_PER_100_HOUSEHOLDS = 30.0
TIER_LABELS = {
    "5min": "5分钟生活圈",
    "10min": "10分钟生活圈",
    "15min": "15分钟生活圈",
    "village": "村/组级生活圈",
    "township": "乡集镇级生活圈",
}


class StandardsError(GeoError):
    """Bad compliance option."""

    status = 422


def check_share(min_share: float) -> float:
    """``min_share`` as a float in (0, 1]; ``StandardsError`` naming it otherwise."""
    try:
        value = float(min_share)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value <= 1:
        raise StandardsError(f"min_share {min_share!r} must be in (0, 1]: e.g. 0.5 for half of the residents")
    return value


def required_types(facility_types: pd.DataFrame) -> pd.DataFrame:
    """One row per (circle, tier, required type): ``circle``, ``tier``, ``type_code``, ``name_zh``."""
    rows = []
    for circle, tiers in TIERS.items():
        tier = facility_types[f"{circle}_tier"].fillna("").astype(str).str.strip()
        req = pd.to_numeric(facility_types["required"], errors="coerce").fillna(0).astype(int) == 1
        part = facility_types[req & tier.isin(tiers)]
        rows.append(
            pd.DataFrame(
                {
                    "circle": circle,
                    "tier": tier[part.index],
                    "type_code": part.code.astype(str),
                    "name_zh": part.name_zh.astype(str),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    order = {t: i for tiers in TIERS.values() for i, t in enumerate(tiers)}
    return out.sort_values(
        ["circle", "tier", "type_code"],
        key=lambda s: s.map(order) if s.name == "tier" else s,
        ignore_index=True,
    )


def type_compliance(
    per_area: pd.DataFrame,
    communities: pd.DataFrame,
    facility_types: pd.DataFrame,
    *,
    min_share: float = DEFAULT_MIN_SHARE,
    presence: pd.DataFrame | None = None,
    loads: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per community and required type of its class: whether the residents reach it.

    Columns ``share`` of residents covered, ``within``, ``present`` and ``status`` (the word for what
    is wrong, 达标 when nothing is).

    ``per_area``: coverage rows (``area_id``, ``type_code``, ``population``,
    ``population_covered``) of a run; ``communities``: ``area_id``, ``name``, ``urban``;
    ``presence``: ``area_id``, ``type_code``, ``present`` (``geo.measures.presence``; without it
    presence is unknown); ``loads``: ``area_id``, ``type_code``, ``load`` (the highest load of the
    type's facilities in the community). ``share`` is NaN (and ``within`` False) when the community
    has no residents.
    """
    _require(per_area, ["area_id", "type_code", "population", "population_covered"], "per_area")
    _require(communities, ["area_id", "name", "urban"], "communities")
    min_share = check_share(min_share)
    req = required_types(facility_types)
    comm = communities[["area_id", "name", "urban", *[c for c in ("code",) if c in communities]]].copy()
    comm["circle"] = np.where(comm.urban.astype(bool), "urban", "rural")
    rows = comm.merge(req, on="circle")
    cov = per_area[["area_id", "type_code", "population", "population_covered"]]
    rows = rows.merge(cov, on=["area_id", "type_code"], how="left")
    rows["share"] = rows.population_covered / rows.population.where(rows.population > 0)
    rows["within"] = rows.share >= float(min_share)
    rows = _joined(rows, presence, "present")
    rows = _joined(rows, loads, "load")
    rows["status"] = [
        status_word(
            present=None if pd.isna(p) else bool(p),
            share=None if pd.isna(sh) else float(sh),
            target=float(min_share),
            load=None if pd.isna(ld) else float(ld),
            circle=c,
        )
        for p, sh, ld, c in zip(rows.present, rows.share, rows.load, rows.circle, strict=True)
    ]
    return rows.sort_values(["area_id", "type_code"], ignore_index=True)


def _joined(rows: pd.DataFrame, extra: pd.DataFrame | None, column: str) -> pd.DataFrame:
    if extra is None or column not in extra:
        return rows.assign(**{column: np.nan})
    return rows.merge(extra[["area_id", "type_code", column]], on=["area_id", "type_code"], how="left")


def tier_compliance(types: pd.DataFrame) -> pd.DataFrame:
    """Per community and tier (from ``type_compliance``): whether the tier is met.

    Columns ``required``, ``within`` counts, ``pass``, ``missing`` (the required types that fall short,
    grouped by what is wrong: "未设置: 幼儿园、…; 步行可达不足: …") and ``missing_codes``;
    ``tier_label`` in Chinese.
    """

    def one(group: pd.DataFrame) -> pd.Series:
        short = group[~group.within]
        words = (
            short.status.where(short.status != MET, "可达不足")
            if "status" in short
            else pd.Series("可达不足", index=short.index)
        )
        parts = [f"{word}: {'、'.join(short.name_zh[words == word])}" for word in dict.fromkeys(words)]
        return pd.Series(
            {
                "required": len(group),
                "within": int(group.within.sum()),
                "pass": bool(group.within.all()),
                "missing": "; ".join(parts),
                "missing_codes": list(short.type_code),
            }
        )

    keys = ["area_id", "name", "circle", "tier"]
    if types.empty:
        return pd.DataFrame(
            columns=[*keys, "tier_label", "required", "within", "pass", "missing", "missing_codes"]
        )
    out = types.groupby(keys, sort=False).apply(one, include_groups=False).reset_index()
    out.insert(4, "tier_label", out.tier.map(TIER_LABELS))
    order = {t: i for tiers in TIERS.values() for i, t in enumerate(tiers)}
    return out.sort_values(
        ["area_id", "tier"], key=lambda s: s.map(order) if s.name == "tier" else s, ignore_index=True
    )


def community_compliance(tiers: pd.DataFrame) -> pd.DataFrame:
    """Per community: ``pass`` when every tier passes, ``missing`` as ``tier: names`` lines."""

    def one(group: pd.DataFrame) -> pd.Series:
        failed = group[~group["pass"]]
        lines = [f"{r.tier_label}（{r.missing}）" for r in failed.itertuples()]
        return pd.Series(
            {
                "tiers": len(group),
                "tiers_passed": int(group["pass"].sum()),
                "pass": failed.empty,
                "missing": "; ".join(lines),
            }
        )

    keys = ["area_id", "name", "circle"]
    if tiers.empty:
        return pd.DataFrame(columns=[*keys, "tiers", "tiers_passed", "pass", "missing"])
    return tiers.groupby(keys, sort=True).apply(one, include_groups=False).reset_index()


def community_of(areas: pd.DataFrame, area_ids: Sequence[int]) -> np.ndarray:
    """The community (nearest ``community`` ancestor, itself included) of each area id; -1 if none."""
    _require(areas, ["area_id", "parent_id", "level"], "areas")
    parent = dict(zip(areas.area_id.astype(np.int64), areas.parent_id, strict=True))
    level = dict(zip(areas.area_id.astype(np.int64), areas.level, strict=True))
    found: dict[int, int] = {}
    out = np.full(len(area_ids), -1, np.int64)
    for i, start in enumerate(np.asarray(area_ids, np.int64)):
        if start not in found:
            node, hops = start, 0
            while node in level and level[node] != "community" and hops < 32:
                p = parent.get(node)
                node, hops = (-1 if p is None or pd.isna(p) else int(p)), hops + 1
            found[start] = node if level.get(node) == "community" else -1
        out[i] = found[start]
    return out


def community_at(communities: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The ``area_id`` of the community polygon holding each point (degrees, EPSG:4326).

    A point on a shared border goes to the first community in ``communities``' order; -1 outside every
    one.
    """
    polys = np.asarray(communities.geometry.to_numpy(), dtype=object)
    inside, comm = shapely.STRtree(polys).query(shapely.points(lon, lat), predicate="covered_by")
    order = np.lexsort((comm, inside))
    inside, comm = inside[order], comm[order]
    first = np.unique(inside, return_index=True)[1]
    out = np.full(len(lon), -1, np.int64)
    out[inside[first]] = communities.area_id.to_numpy(np.int64)[comm[first]]
    return out


def floor_area(
    communities: pd.DataFrame,
    facilities: pd.DataFrame,
    households: pd.Series,
    *,
    types: Sequence[str] = COMMUNITY_SERVICE_TYPES,
    m2_per_100_households: float = M2_PER_100_HOUSEHOLDS,
) -> pd.DataFrame:
    """Community service floor area against ``m2_per_100_households`` m² per 100 households.

    Parameters
    ----------
    communities : ``area_id``, ``name`` and ``geometry`` (polygons, EPSG:4326).
    facilities : open facilities: ``type_code``, ``lon``, ``lat`` (degrees), ``floor_area_m2``.
    households : households per community ``area_id`` (index).
    types : facility types that count as community service facilities.

    Returns
    -------
    Per community: ``households``, ``facilities`` (count inside), ``unknown_area`` (count without
    a floor area), ``floor_area_m2``, ``required_m2``, ``m2_per_100_households``, ``pass``.
    """
    fac = facilities[facilities.type_code.isin(list(types))]
    polys = np.asarray(communities.geometry.to_numpy(), dtype=object)
    pts = shapely.points(fac.lon.to_numpy(float), fac.lat.to_numpy(float))
    inside, comm = shapely.STRtree(polys).query(pts, predicate="within")
    first = np.unique(inside, return_index=True)[1]  # a point on a shared border counts once
    inside, comm = inside[first], comm[first]
    area = pd.to_numeric(fac.floor_area_m2, errors="coerce").to_numpy(float)[inside]
    n = len(communities)
    out = communities[["area_id", "name"]].reset_index(drop=True)
    out["households"] = households.reindex(out.area_id).fillna(0).astype(np.int64).to_numpy()
    out["facilities"] = np.bincount(comm, minlength=n)
    out["unknown_area"] = np.bincount(comm, weights=np.isnan(area), minlength=n).astype(np.int64)
    out["floor_area_m2"] = np.bincount(comm, weights=np.nan_to_num(area), minlength=n)
    out["required_m2"] = out.households * float(m2_per_100_households) / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["m2_per_100_households"] = out.floor_area_m2 / out.households.where(out.households > 0) * 100.0
    out["pass"] = out.floor_area_m2 >= out.required_m2
    return out


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise MissingColumnsError(name, missing)


def area_targets(
    rows: pd.DataFrame, targets: pd.DataFrame, *, default: float = DEFAULT_MIN_SHARE
) -> np.ndarray:
    """Target share (0..1) of residents for each coverage row (``type_code``, ``urban`` True/False/None).

    From the targets table (data/targets.csv): the threshold of a resident target of the type
    (measure ``network``, else ``radius``) for the row's circle; an area of unknown class (town,
    district) takes the type's first such target of any circle; rows without one get ``default``
    (the share a community must reach to count as served).
    """
    usable = targets[targets.measure.isin(["network", "radius"]) & (targets.type_code != "*")].copy()
    usable["value"] = pd.to_numeric(usable.threshold, errors="coerce")
    usable = usable.sort_values("measure", key=lambda m: m != "network", kind="stable")
    table: dict[tuple[str, str | None], float] = {}
    for t in usable.itertuples():
        for circle in ["urban", "rural"] if t.circle == "both" else [t.circle]:
            table.setdefault((t.type_code, circle), float(t.value))
            table.setdefault((t.type_code, None), float(t.value))
    circle = rows.urban.map({True: "urban", False: "rural"}).astype(object)
    keys = zip(rows.type_code, circle.where(circle.notna(), None), strict=True)
    return np.array([table.get(k, default) for k in keys], dtype=float)
