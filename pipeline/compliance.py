"""Standard compliance of a coverage run (``geo.standards``) and the district targets.

Per community and life-circle tier: which required facility types are within the circle (at
least ``min_share`` of the community's residents covered), pass/fail and what is missing; the
community service floor area (30 m² per 100 households) of the facilities inside each community;
and the district targets of data/targets.csv (``evaluate_targets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from geo import standards
from layers import queries, store
from pipeline.coverage import evaluate_targets, read_targets
from pipeline.runs import resolve_run


@dataclass
class Compliance:
    """Compliance tables of one run (frames of ``geo.standards``)."""

    run: dict[str, Any]
    min_share: float
    types: pd.DataFrame
    tiers: pd.DataFrame
    communities: pd.DataFrame
    floor_area: pd.DataFrame
    targets: pd.DataFrame


def compliance(
    s: Session, *, run_id: int | None = None, min_share: float = standards.DEFAULT_MIN_SHARE
) -> Compliance:
    """Compliance of run ``run_id`` (default the latest); ``min_share`` in (0, 1]."""
    standards.check_share(min_share)
    run = resolve_run(s, run_id)
    per_area = store.area_results(s, run["run_id"])
    areas = queries.areas(s)
    comm = areas[areas.level == "community"]
    presence = store.presence_results(s, run["run_id"])
    types = standards.type_compliance(
        per_area,
        comm,
        queries.facility_types(s),
        min_share=min_share,
        presence=presence,
        loads=community_loads(s, run["run_id"], comm),
    )
    tiers = standards.tier_compliance(types)
    residences = queries.residences(s)
    households = residences.groupby(standards.community_of(areas, residences.area_id)).households.sum()
    floor = standards.floor_area(comm, queries.facilities(s), households)
    targets = evaluate_targets(
        per_area,
        areas,
        read_targets(),
        presence=store.presence_results(s, run["run_id"]),
        composite=store.composite_results(s, run["run_id"]),
    )
    return Compliance(
        run, float(min_share), types, tiers, standards.community_compliance(tiers), floor, targets
    )


def community_loads(s: Session, run_id: int, communities: pd.DataFrame) -> pd.DataFrame:
    """Per community and type: the highest load of the run's facilities of the type inside it."""
    fac = store.facility_results(s, run_id)
    fac = fac[fac.load.notna()]
    if fac.empty:
        return pd.DataFrame(columns=["area_id", "type_code", "load"])
    inside = standards.community_at(communities, fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    frame = pd.DataFrame(
        {"area_id": inside, "type_code": fac.type_code.to_numpy(), "load": fac.load.to_numpy(float)}
    )
    return frame[frame.area_id >= 0].groupby(["area_id", "type_code"], as_index=False).load.max()


def as_json(c: Compliance) -> dict[str, Any]:
    """JSON-ready compliance: communities with their tiers and floor area, and the targets."""
    floor = {r["area_id"]: r for r in c.floor_area.to_dict("records")}
    tiers: dict[int, list] = {}
    for t in c.tiers.to_dict("records"):
        tiers.setdefault(t["area_id"], []).append(
            {
                "tier": t["tier"],
                "tier_label": t["tier_label"],
                "required": int(t["required"]),
                "within": int(t["within"]),
                "pass": bool(t["pass"]),
                "missing": t["missing"],
                "missing_codes": list(t["missing_codes"]),
            }
        )
    status: dict[int, dict[str, str]] = {}
    for t in c.types.to_dict("records"):
        status.setdefault(t["area_id"], {})[t["type_code"]] = t["status"]
    out = []
    for row in c.communities.to_dict("records"):
        fa = floor[row["area_id"]]
        out.append(
            {
                "area_id": int(row["area_id"]),
                "name": row["name"],
                "circle": row["circle"],
                "pass": bool(row["pass"]),
                "missing": row["missing"],
                "tiers": tiers.get(row["area_id"], []),
                "status": status.get(row["area_id"], {}),
                "floor_area": {
                    "households": int(fa["households"]),
                    "facilities": int(fa["facilities"]),
                    "floor_area_m2": float(fa["floor_area_m2"]),
                    "required_m2": float(fa["required_m2"]),
                    "unknown_area": int(fa["unknown_area"]),
                    "pass": bool(fa["pass"]),
                },
            }
        )
    targets = [
        {
            "code": t["code"],
            "label_zh": t["label_zh"],
            "type_code": t["type_code"],
            "circle": t["circle"],
            "measure": t["measure"],
            "measure_zh": t["measure_zh"],
            "definition_zh": t["definition_zh"],
            "threshold": float(t["threshold"]),
            "value": _number(t["value"]),
            "pass": bool(t["pass"]),
        }
        for t in c.targets.to_dict("records")
    ]
    return {
        "run_id": int(c.run["run_id"]),
        "stale": bool(c.run["stale"]),
        "min_share": c.min_share,
        "definition": DEFINITION,
        "communities": out,
        "targets": targets,
    }


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


DEFINITION = (
    "某类必配设施“在生活圈内”: 社区内至少 min_share (默认 50%) 的居民在该层级时间内可达该类设施; "
    "某层级达标: 该层级全部必配设施均在生活圈内; 社区达标: 各层级均达标. "
    "问题用语: 未设置 = 社区内没有该类设施; 步行可达不足 = 有设施但可达居民不足; 容量不足 = 设施超负荷. "
    "社区服务设施用房: 社区范围内社区服务站、社区综合服务设施、党群服务中心建筑面积合计不低于每百户 30 m²."
)
