"""Coverage targets (data/targets.csv) judged for the whole data, each district, town and community.

Every target names its measure (``geo.measures``; measures.md):

* ``presence`` — the share of communities of the target's circle (``urban``, ``rural`` or
  ``both``) that have an open facility of the type (inside, or by a service-area rule). A share of
  communities: judged for the district and each town, never for one community.
* ``radius`` — the share of the circle's residents within the type's service radius (straight line).
* ``network`` — the share of the circle's residents reaching the type within the circle's time.
* ``composite`` — the share of the circle's residents reaching every required type of one level's
  bundle (``type_code`` '*'; optional column ``tier``: 5min, 10min, 15min, village, township or all;
  default the circle's headline level, ``geo.measures.HEADLINE_TIERS``).

Resident measures are judged for the district, each town and each community of the circle. A type
with no results in the target's circle, or an area with no community (or resident) of the circle,
gets no value and no verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.errors import MissingColumnsError
from geo.measures import HEADLINE_TIERS, MEASURE_CODES, TIERS, MeasureError, community_holders

CIRCLE_NAMES = {"urban": ("urban",), "rural": ("rural",), "both": ("urban", "rural")}
TARGET_COLUMNS = ["code", "type_code", "circle", "measure", "threshold"]
RESULT_COLUMNS = [
    "code",
    "type_code",
    "circle",
    "measure",
    "threshold",
    "area_id",
    "level",
    "value",
    "pass",
    "communities",
    "communities_reached",
]
_RESIDENT_COLUMN = {"radius": "population_in_radius", "network": "population_covered"}


def check_targets(targets: pd.DataFrame) -> pd.DataFrame:
    """The targets table checked.

    Known measures and circles, thresholds in (0, 1], '*' only for the composite. Raises
    ``MeasureError`` naming the rows and the fix.
    """
    missing = [c for c in TARGET_COLUMNS if c not in targets]
    if missing:
        raise MissingColumnsError("targets", missing)
    problems = []
    for i, t in enumerate(targets.to_dict("records"), start=2):
        if t["measure"] not in MEASURE_CODES:
            problems.append(
                f"row {i} ({t['code']}): measure {t['measure']!r} is not one of {list(MEASURE_CODES)}"
            )
        if t["circle"] not in CIRCLE_NAMES:
            problems.append(f"row {i} ({t['code']}): circle {t['circle']!r} is not urban, rural or both")
        threshold = pd.to_numeric(pd.Series([t["threshold"]]), errors="coerce").iloc[0]
        if not 0 < threshold <= 1:
            problems.append(f"row {i} ({t['code']}): threshold {t['threshold']!r} must be a share in (0, 1]")
        if (t["type_code"] == "*") != (t["measure"] == "composite"):
            problems.append(f"row {i} ({t['code']}): type_code '*' goes with measure composite only")
        tier = _tier(t)
        allowed = {"all", *(x for c in CIRCLE_NAMES.get(t["circle"], ()) for x in TIERS[c])}
        if tier is not None and tier not in allowed:
            problems.append(f"row {i} ({t['code']}): tier {tier!r} is not one of {sorted(allowed)}")
    if problems:
        raise MeasureError("the targets table (data/targets.csv) has bad rows: " + "; ".join(problems[:10]))
    return targets


def _tier(t: dict) -> str | None:
    tier = t.get("tier")
    return (
        None
        if tier is None or (isinstance(tier, float) and np.isnan(tier)) or str(tier).strip() == ""
        else str(tier).strip()
    )


def targets_by_area(
    per_area: pd.DataFrame,
    areas: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    presence: pd.DataFrame | None = None,
    composite: pd.DataFrame | None = None,
    levels: tuple[str, ...] = ("district", "town", "community"),
) -> pd.DataFrame:
    """One row per (target, area) of ``levels`` where the target applies (see the module docstring).

    Parameters
    ----------
    per_area : coverage per (area_id, type_code) with ``population``, ``population_covered`` and
        ``population_in_radius``.
    areas : the area tree: ``area_id``, ``parent_id``, ``level``, ``urban``.
    targets : the targets table (``TARGET_COLUMNS``).
    presence : per community and type (``geo.measures.presence``): ``area_id``, ``type_code``,
        ``present``; needed by presence targets.
    composite : per area and circle (``geo.measures.composite``); needed by composite targets.

    Returns
    -------
    ``RESULT_COLUMNS``: ``value`` (0..1, NaN without one), ``pass`` (bool, None without a value),
    ``communities``/``communities_reached`` (presence targets: the communities judged and those with
    the facility).
    """
    for name, frame, cols in (
        ("per_area", per_area, ["area_id", "type_code", "population", "population_covered"]),
        ("areas", areas, ["area_id", "parent_id", "level", "urban"]),
    ):
        missing = [c for c in cols if c not in frame]
        if missing:
            raise MissingColumnsError(name, missing)
    check_targets(targets)
    holders = community_holders(areas, levels)
    return _judged(targets, holders, per_area, presence, composite)


def overall(
    per_area: pd.DataFrame,
    areas: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    presence: pd.DataFrame | None = None,
    composite: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each target judged once over every community of the data (one district: the district's verdict)."""
    check_targets(targets)
    comm = areas[areas.level == "community"]
    holders = pd.DataFrame(
        {
            "holder": -1,
            "level": "all",
            "community": comm.area_id.to_numpy(np.int64),
            "circle": np.where(comm.urban.astype(bool), "urban", "rural"),
        }
    )
    return _judged(targets, holders, per_area, presence, composite)


def _judged(targets, holders, per_area, presence, composite) -> pd.DataFrame:
    rows = [
        row for t in targets.to_dict("records") for row in _judge(t, holders, per_area, presence, composite)
    ]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _judge(
    t: dict,
    holders: pd.DataFrame,
    per_area: pd.DataFrame,
    presence: pd.DataFrame | None,
    composite: pd.DataFrame | None,
) -> list[dict]:
    circles = CIRCLE_NAMES[t["circle"]]
    in_circle = holders[holders.circle.isin(circles)]
    if t["measure"] == "presence":
        in_circle = in_circle[in_circle.level != "community"]  # a share of communities needs several
    score = _score(t, in_circle, per_area, presence, composite)
    scores = {} if score is None else score.to_dict("index")
    out = []
    pairs = in_circle[["holder", "level"]].drop_duplicates().sort_values(["holder", "level"])
    for holder, level in pairs.itertuples(index=False, name=None):
        row = scores.get(holder)
        value = np.nan if row is None else float(row["value"])
        known = row is not None and np.isfinite(value)
        n = None if row is None or not known or pd.isna(row["n"]) else int(row["n"])
        reached = None if row is None or n is None else int(row["reached"])
        out.append(
            {key: t[key] for key in ("code", "type_code", "circle", "measure")}
            | {
                "threshold": float(t["threshold"]),
                "area_id": None if holder < 0 else int(holder),
                "level": level,
                "value": value,
                "pass": bool(value >= float(t["threshold"]) - 1e-12) if known else None,
                "communities": n,
                "communities_reached": reached,
            }
        )
    return out


def _score(
    t: dict,
    in_circle: pd.DataFrame,
    per_area: pd.DataFrame,
    presence: pd.DataFrame | None,
    composite: pd.DataFrame | None,
) -> pd.DataFrame | None:
    """Per holder: ``value`` (and ``n``/``reached`` communities for presence); None without data."""
    if t["measure"] == "presence":
        if presence is None:
            raise MeasureError(f"target {t['code']}: presence results are needed to judge a presence target")
        mine = presence[presence.type_code == t["type_code"]][["area_id", "present"]]
        joined = in_circle.merge(mine, left_on="community", right_on="area_id", how="inner")
        if joined.empty:
            return None
        g = joined.groupby("holder")
        return pd.DataFrame(
            {"value": g.present.mean().astype(float), "n": g.size(), "reached": g.present.sum()}
        )
    if t["measure"] == "composite":
        if composite is None:
            raise MeasureError(
                f"target {t['code']}: composite results are needed to judge a composite target"
            )
        tier = _tier(t)
        wanted = composite.circle.map(HEADLINE_TIERS) if tier is None else tier
        comp = composite[composite.tier == wanted] if "tier" in composite else composite
        comp = comp[["area_id", "circle", "population", "population_covered"]]
        joined = in_circle.merge(
            comp, left_on=["community", "circle"], right_on=["area_id", "circle"], how="left"
        )
        covered_col = "population_covered"
    else:
        column = _RESIDENT_COLUMN[t["measure"]]
        if column not in per_area:
            raise MissingColumnsError("per_area", [column])
        pa = per_area[per_area.type_code == t["type_code"]][["area_id", "population", column]]
        joined = in_circle.merge(pa, left_on="community", right_on="area_id", how="left")
        covered_col = column
    if joined.population.isna().all():
        return None
    g = joined.fillna({"population": 0, covered_col: 0}).groupby("holder")
    total, covered = g.population.sum(), g[covered_col].sum()
    return pd.DataFrame(
        {"value": (covered / total.where(total > 0)).astype(float), "n": np.nan, "reached": np.nan}
    )
