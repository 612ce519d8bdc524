"""Coverage targets (data/targets.csv) judged for the whole data, each district, town and community.

Two kinds of target row (``measure``):

* ``community_share`` — the share of communities of the target's circle (``urban``, ``rural`` or
  ``both``) that are *reached*: at least ``community_min_share`` of their residents covered. It is a
  statement about a set of communities, so it is judged for the district and for each town (the
  communities under it), never for one community.
* ``population_share`` — the share of the circle's residents covered; judged for the district,
  each town and each community of the circle.

For ``type_code`` '*' every facility type with results is judged and the worst one decides. A type
with no results in the target's circle is skipped; an area with no community (or no resident) of
the circle gets no value and no verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.errors import MissingColumnsError

CIRCLE_FLAGS = {"urban": (True,), "rural": (False,), "both": (True, False)}
TARGET_COLUMNS = ["code", "type_code", "circle", "measure", "threshold", "community_min_share"]
RESULT_COLUMNS = ["code", "type_code", "circle", "measure", "threshold", "area_id", "level", "value", "pass",
                  "communities", "communities_reached"]


def targets_by_area(per_area: pd.DataFrame, areas: pd.DataFrame, targets: pd.DataFrame, *,
                    levels: tuple[str, ...] = ("district", "town", "community")) -> pd.DataFrame:
    """One row per (target, area) of ``levels`` where the target applies (see the module docstring).

    Parameters
    ----------
    per_area : coverage per (area_id, type_code) with ``population`` and ``population_covered``.
    areas : the area tree: ``area_id``, ``parent_id``, ``level``, ``urban``.
    targets : the targets table (``TARGET_COLUMNS``).

    Returns
    -------
    ``RESULT_COLUMNS``: ``value`` (0..1, NaN without one), ``pass`` (bool, None without a value),
    ``communities``/``communities_reached`` (community_share targets: the communities judged and
    reached, counted for the worst type).
    """
    for name, frame, cols in (("per_area", per_area, ["area_id", "type_code", "population", "population_covered"]),
                              ("areas", areas, ["area_id", "parent_id", "level", "urban"]),
                              ("targets", targets, TARGET_COLUMNS)):
        missing = [c for c in cols if c not in frame]
        if missing:
            raise MissingColumnsError(name, missing)
    holders = _holders(areas, levels)
    rows = [row for t in targets.to_dict("records") for row in _judge(t, per_area, holders)]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def overall(per_area: pd.DataFrame, areas: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Each target judged once over every community of the data (one district: the district's verdict)."""
    comm = areas[areas.level == "community"]
    holders = pd.DataFrame({"holder": -1, "level": "all", "community": comm.area_id.to_numpy(),
                            "urban": comm.urban.to_numpy(bool)})
    return pd.DataFrame([row for t in targets.to_dict("records") for row in _judge(t, per_area, holders)],
                        columns=RESULT_COLUMNS)


def _holders(areas: pd.DataFrame, levels: tuple[str, ...]) -> pd.DataFrame:
    """(holder area, its level, community below or equal to it, the community's urban flag)."""
    parent = dict(zip(areas.area_id.astype(np.int64), areas.parent_id, strict=True))
    level = dict(zip(areas.area_id.astype(np.int64), areas.level, strict=True))
    comm = areas[areas.level == "community"]
    rows = []
    for c, urban in zip(comm.area_id.astype(np.int64), comm.urban.astype(bool), strict=True):
        a: int | None = int(c)
        while a is not None:
            if level[a] in levels:
                rows.append((a, level[a], int(c), bool(urban)))
            up = parent.get(a)
            a = None if up is None or pd.isna(up) else int(up)
    return pd.DataFrame(rows, columns=["holder", "level", "community", "urban"])


def _judge(t: dict, per_area: pd.DataFrame, holders: pd.DataFrame) -> list[dict]:
    in_circle = holders[holders.urban.isin(CIRCLE_FLAGS[t["circle"]])]
    if t["measure"] == "community_share":
        in_circle = in_circle[in_circle.level != "community"]  # a share of communities needs several
    codes = sorted(per_area.type_code.unique()) if t["type_code"] == "*" else [t["type_code"]]
    scores = [s for s in (_score(t, per_area[per_area.type_code == code], in_circle) for code in codes)
              if s is not None]
    out = []
    for (holder, level), _ in in_circle.groupby(["holder", "level"], sort=True):
        mine = [s.loc[holder] for s in scores if holder in s.index and np.isfinite(s.loc[holder, "value"])]
        worst = min(mine, key=lambda r: r["value"]) if mine else None
        value = float(worst["value"]) if worst is not None else np.nan
        out.append({key: t[key] for key in ("code", "type_code", "circle", "measure", "threshold")} | {
            "area_id": None if holder < 0 else int(holder), "level": level, "value": value,
            "pass": None if worst is None else bool(value >= float(t["threshold"]) - 1e-12),
            "communities": None if worst is None or pd.isna(worst["n"]) else int(worst["n"]),
            "communities_reached": None if worst is None or pd.isna(worst["reached"]) else int(worst["reached"]),
        })
    return out


def _score(t: dict, pa: pd.DataFrame, in_circle: pd.DataFrame) -> pd.DataFrame | None:
    """Per holder: ``value`` (and ``n``/``reached`` communities) for one type; None if the type has
    no results in the circle at all."""
    joined = in_circle.merge(pa[["area_id", "population", "population_covered"]], left_on="community",
                             right_on="area_id", how="left")
    if joined.population.isna().all():
        return None
    if t["measure"] == "community_share":
        reached = joined.population.notna() & (
            joined.population_covered >= float(t["community_min_share"]) * joined.population)
        g = joined.assign(reached=reached).groupby("holder")
        return pd.DataFrame({"value": g.reached.mean(), "n": g.size(), "reached": g.reached.sum()})
    g = joined.fillna({"population": 0, "population_covered": 0}).groupby("holder")
    total, covered = g.population.sum(), g.population_covered.sum()
    return pd.DataFrame({"value": (covered / total.where(total > 0)).astype(float), "n": np.nan, "reached": np.nan})
