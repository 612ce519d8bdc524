"""The 摘要 of a coverage run in sentences an official can hand up: the district against each target
(its measure named, 达标/未达标), the communities that need attention most and why (未设置 /
步行可达不足 / 可达不足 / 容量不足), the recommended sites of siting done on the run's data, and the
largest gaps with their place names.

The XLSX report (its first sheet) and the one-page PDF print the same ``Summary``. Chinese only:
facility types and measures by their Chinese names, no codes, paths or notes for the tables' editors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from data import DEMO_LABEL
from geo import measures
from layers import jobs, labels, planning, queries, store
from pipeline import compliance as comp
from pipeline import spreadsheets
from pipeline.coverage import measure_table

WORST = 5
"""Communities named in the 摘要."""
GAPS_LISTED = 10
"""Gaps listed per type in the report (the largest by residents); the rest are counted."""
CIRCLE_COMMUNITY = {"urban": "城市社区", "rural": "农村社区", "both": "城乡社区"}
NAMED = 4
"""Types named per word in a community's reasons (the rest counted)."""
WORD_ORDER = (measures.ABSENT, measures.TOO_FAR, measures.TOO_FAR_RURAL, measures.OVER_CAPACITY)


@dataclass
class Summary:
    """The 摘要 of one run: a title, facts about the run, and sections of sentences."""

    title: str
    district: str
    run_id: int
    finished: str
    data_date: str
    demo: bool
    stale: bool
    targets: list[tuple[str, bool | None]] = field(default_factory=list)
    """One sentence per target and its verdict (None: no value)."""
    worst: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    """One line per measure: its Chinese name and definition."""
    notes: list[str] = field(default_factory=list)
    gap_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Every gap of the run (unlabelled)."""
    largest: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The GAPS_LISTED largest gaps per type, labelled (``largest_gaps``)."""

    def facts(self) -> str:
        """The run in one line: run, finish time, data date, stale and demo warnings."""
        parts = [
            f"覆盖分析第 {self.run_id} 次运行",
            f"完成于 {self.finished}（北京时间）",
            f"数据日期 {self.data_date}",
        ]
        if self.stale:
            parts.append("运行后数据已有变化，建议重新计算")
        if self.demo:
            parts.append(DEMO_LABEL)
        return "；".join(parts)

    def lines(self) -> list[tuple[str, bool]]:
        """Every line in reading order, ``(text, heading)``."""
        out: list[tuple[str, bool]] = [(self.title, True), (self.facts(), False)]
        sections = (
            ("一、全区对照目标", [t for t, _ in self.targets] or ["目标表中没有目标。"]),
            ("二、最需关注的社区", self.worst or ["所有社区的应配设施均已达标。"]),
            ("三、建议新增设施选址", self.sites),
            ("四、覆盖缺口", self.gaps),
            ("五、指标说明", self.measures),
            ("说明", self.notes),
        )
        for heading, body in sections:
            if body:
                out.append((heading, True))
                out.extend((line, False) for line in body)
        return out


def type_names(s: Session) -> dict[str, str]:
    """Facility type code → Chinese name; ``*`` (the composite: every required type) → 全部应配建设施."""
    types = queries.facility_types(s)
    return {"*": "全部应配建设施", **dict(zip(types.code, types.name_zh, strict=True))}


def required_codes(s: Session) -> list[str]:
    """The required (应配建) facility types of either circle (``geo.measures.required_types``)."""
    return sorted({c for codes in measures.required_types(queries.facility_types(s)).values() for c in codes})


def town_names(s: Session) -> dict[int, str]:
    """Area id → the name of the town above it (the area's own name for a town)."""
    areas = queries.areas(s, with_geometry=False)
    name = dict(zip(areas.area_id.astype(int), areas.name, strict=True))
    level = dict(zip(areas.area_id.astype(int), areas.level, strict=True))
    parent = dict(zip(areas.area_id.astype(int), areas.parent_id, strict=True))
    out = {}
    for a in name:
        b: Any = a
        for _ in range(16):
            if b is None or pd.isna(b) or level.get(int(b)) == "town":
                break
            b = parent.get(int(b))
        out[a] = name[int(b)] if b is not None and not pd.isna(b) and int(b) in name else ""
    return out


def build(s: Session, run: dict[str, Any], c: comp.Compliance) -> Summary:
    """The 摘要 of ``run`` (``pipeline.runs.resolve_run``) with its compliance ``c``."""
    district = planning.district_name(s) or "本区"
    names = type_names(s)
    out = Summary(
        title=f"{district}社区生活圈公共服务设施覆盖情况报告",
        district=district,
        run_id=int(run["run_id"]),
        finished=spreadsheets.beijing_minute(run.get("finished_at")),
        data_date=spreadsheets.beijing_minute(run.get("started_at"))[:10],
        demo=planning.is_demo(s),
        stale=bool(run.get("stale")),
    )
    out.targets = target_sentences(c.targets) + composite_sentences(
        (run.get("summary") or {}).get("composite") or {}
    )
    towns = town_names(s)
    out.worst = worst_communities(
        c.types, store.composite_results(s, out.run_id, level="community"), names, towns
    )
    out.sites = site_sentences(jobs.siting_after_run(s, out.run_id))
    out.gap_rows = store.gap_results(s, out.run_id, labelled=False)
    out.largest = largest_gaps(out.gap_rows, s, per_type=GAPS_LISTED)
    required = required_codes(s)
    out.gaps = gap_sentences(out.gap_rows[out.gap_rows.type_code.isin(required)], names, out.largest)
    out.measures = [
        f"{m['name_zh']}（农村：{m['name_rural_zh']}）：{m['definition_zh']}"
        if m["name_rural_zh"] != m["name_zh"]
        else f"{m['name_zh']}：{m['definition_zh']}"
        for m in measure_table().values()
    ]
    out.notes.append(
        f"社区某类应配设施“达标”：社区至少 {c.min_share:.0%} 的居民在生活圈时限内可达，设施已设置且未超负荷。"
    )
    if out.demo:
        out.notes.append("本报告使用虚构的演示区县数据，仅供演示，不代表任何真实地区。")
    out.notes.append(estimate_sentence(s, out.run_id))
    return out


def percent(value: float | None, digits: int = 1) -> str:
    """0.564 → 56.4%; None/NaN → 无数据."""
    if value is None or not np.isfinite(value):
        return "无数据"
    return f"{value:.{digits}%}"


def target_sentences(targets: pd.DataFrame) -> list[tuple[str, bool | None]]:
    """One sentence per target row (``pipeline.coverage.evaluate_targets``): the target, the
    value of its measure (communities counted for presence), and 达标/未达标."""
    out: list[tuple[str, bool | None]] = []
    for t in targets.to_dict("records"):
        value = t.get("value")
        value = None if value is None or pd.isna(value) else float(value)
        counted = ""
        if t.get("measure") == "presence" and not pd.isna(t.get("communities")) and t.get("communities"):
            counted = f"（{int(t['communities_reached'])}/{int(t['communities'])} 个{_unit(t)}）"
        if value is None:
            out.append(
                (f"{t['label_zh']}：{t['measure_zh']}暂无数据（本次运行未计算该类设施），不作判定。", None)
            )
            continue
        verdict = "达标" if t["pass"] else "未达标"
        out.append(
            (
                f"{t['label_zh']}：{t['measure_zh']} {percent(value)}{counted}，{verdict}"
                f"（目标 {percent(float(t['threshold']), 0)}）。",
                bool(t["pass"]),
            )
        )
    return out


def composite_sentences(composite: dict[str, Any]) -> list[tuple[str, bool | None]]:
    """Per circle (the run summary's ``composite``): residents reaching every required type, and the
    required types most often out of reach (最常缺的是…). No verdict: the targets above judge it."""
    out: list[tuple[str, bool | None]] = []
    for circle, who in (("urban", "城市社区"), ("rural", "农村社区")):
        part = composite.get(circle)
        if not part:
            continue
        limiting = "、".join(
            f"{r['name_zh']}（{r['population_missing']:,} 人到达不了）" for r in part["limiting"][:3]
        )
        out.append(
            (
                f"{who}：{part['measure_zh']} {percent(part.get('share'))}，"
                f"即 {part['population']:,} 名居民中 {part['population_covered']:,} 人可到达全部 "
                f"{part['required_types']} 类应配建设施"
                + (f"；最常缺的是{limiting}。" if limiting else "。"),
                None,
            )
        )
    return out


def _unit(target: dict) -> str:
    return {"urban": "城市社区", "rural": "行政村"}.get(target.get("circle", ""), "社区")


def worst_communities(
    types: pd.DataFrame,
    composite: pd.DataFrame,
    names: dict[str, str],
    towns: dict[int, str],
    *,
    n: int = WORST,
) -> list[str]:
    """The ``n`` communities with most required types short of standard (then the fewest residents
    reaching every required type), each with what is wrong per type.

    ``types``: ``pipeline.compliance`` type rows (area_id, name, circle, type_code, share,
    status, load); ``composite``: composite rows of the communities (area_id, share).
    """
    if types.empty:
        return []
    short = types.assign(bad=types.status != measures.MET)
    sums = composite.groupby("area_id")[["population", "population_covered"]].sum()
    whole = (sums.population_covered / sums.population.where(sums.population > 0)).to_dict()
    per = short.groupby("area_id").agg(
        name=("name", "first"),
        circle=("circle", "first"),
        bad=("bad", "sum"),
        required=("type_code", "size"),
        population=("population", "max"),
    )
    per = per[per.bad > 0]
    per["whole"] = [float(whole.get(a, np.nan)) for a in per.index]
    per = per.sort_values(["bad", "whole", "population"], ascending=[False, True, False], na_position="last")
    lines = []
    for rank, (area_id, row) in enumerate(per.head(n).iterrows(), start=1):
        reasons = _reasons(short[(short.area_id == area_id) & short.bad], names)
        town = towns.get(int(area_id), "")
        people = "" if pd.isna(row.population) else f"，{int(row.population):,} 人"
        whole_text = "" if np.isnan(row.whole) else f"可到达全部应配设施的居民 {percent(row.whole, 0)}。"
        lines.append(
            f"{rank}. {town} {row['name']}（{CIRCLE_COMMUNITY.get(row.circle, '社区')}{people}）："
            f"{int(row.required)} 类应配设施中 {int(row.bad)} 类未达标——{reasons}。{whole_text}".replace(
                "  ", " "
            )
        )
    return lines


def _reasons(rows: pd.DataFrame, names: dict[str, str]) -> str:
    """ "未设置：托儿所、幼儿园；步行可达不足：社区卫生服务站（可达 32%）" — types grouped by their word."""
    parts = []
    for word in [*WORD_ORDER, *sorted(set(rows.status) - set(WORD_ORDER))]:
        part = rows[rows.status == word]
        if part.empty:
            continue
        shown = []
        for r in part.to_dict("records"):
            name = names.get(r["type_code"], r["type_code"])
            if (
                word in (measures.TOO_FAR, measures.TOO_FAR_RURAL)
                and r.get("share") is not None
                and np.isfinite(r["share"])
            ):
                name += f"（可达 {percent(r['share'], 0)}）"
            elif word == measures.OVER_CAPACITY and r.get("load") is not None and np.isfinite(r["load"]):
                name += f"（负荷 {percent(r['load'], 0)}）"
            shown.append(name)
        more = f"等 {len(shown)} 类" if len(shown) > NAMED else ""
        parts.append(f"{word}：{'、'.join(shown[:NAMED])}{more}")
    return "；".join(parts)


def site_sentences(found: list[dict[str, Any]]) -> list[str]:
    """One sentence per facility type with a finished siting job on the run's data (the newest
    job of the type): the proposed sites by place name and capacity, and users served before → after."""
    if not found:
        return [
            "本次运行之后尚未计算选址。在规划地图上选择设施类型并按“计算”，再重新生成报告，即可列出建议选址。"
        ]
    seen: set[str] = set()
    lines = []
    for job in found:
        result = job["result"] or {}
        code = result.get("type_code")
        plan = result.get("maximal_covering") or result.get("set_covering")
        if not code or code in seen or not plan:
            continue
        seen.add(code)
        lines.append(_site_sentence(result, plan))
    return lines


def _site_sentence(result: dict[str, Any], plan: dict[str, Any]) -> str:
    sites = plan.get("sites") or {}
    rows = (
        [f.get("properties", {}) for f in sites.get("features", [])]
        if isinstance(sites, dict)
        else list(sites)
    )
    unit = str((result.get("capacity") or {}).get("unit") or "").split(" ")[0]
    listed = []
    for r in rows[:6]:
        place = r.get("place") or r.get("name") or "（未命名位置）"
        capacity = r.get("capacity")
        listed.append(f"{place}（{capacity:.0f} {unit}）" if capacity is not None and unit else str(place))
    more = f"等 {len(rows)} 处" if len(rows) > 6 else ""
    users = (result.get("users") or {}).get("label") or "居民"
    served = plan.get("users") or {}
    before, after = served.get("share_before"), served.get("share_after")
    change = (
        f"；{users}可获得服务的比例由 {percent(before)} 提高到 {percent(after)}"
        if before is not None and after is not None
        else ""
    )
    name = result.get("type_name") or result.get("type_code")
    if not rows:
        return f"{name}：本次选址未找到能增加覆盖的新址。"
    return f"{name}：建议新增 {len(rows)} 处——{'、'.join(listed)}{more}{change}。"


def largest_gaps(gaps: pd.DataFrame, s: Session, *, per_type: int) -> pd.DataFrame:
    """The ``per_type`` gaps of each type with the most residents (of ``gaps``: ``store.gap_results``),
    labelled with ``town``, ``community``, ``road`` and ``place`` (``layers.labels``): only these
    are looked up, not the thousands of small ones."""
    top = (
        gaps.sort_values(["type_code", "population", "households"], ascending=[True, False, False])
        .groupby("type_code", sort=True)
        .head(per_type)
        .reset_index(drop=True)
    )
    names = (
        labels.polygon_labels(s, top.geometry.to_numpy())
        if len(top)
        else pd.DataFrame(columns=["town", "community", "road", "label"])
    )
    for column in ("town", "community", "road"):
        top[column] = names[column].to_numpy(object)
    top["place"] = names["label"].to_numpy(object)
    return top


def gap_sentences(
    gaps: pd.DataFrame, names: dict[str, str], largest: pd.DataFrame, *, types: int = 5
) -> list[str]:
    """The gaps of the required types (``gaps``) in numbers: how many in all, then the ``types`` types
    with the most residents in gaps, each with its largest gap (``largest``: ``largest_gaps``) by place."""
    if gaps.empty:
        return ["应配建设施没有覆盖缺口：每类应配建设施在生活圈内都能到达所有住户。"]
    total = (
        f"应配建设施共有 {len(gaps):,} 处覆盖缺口（生活圈内到达不了某类设施的住户集中区），涉及 "
        f"{gaps.type_code.nunique()} 类设施；各类缺口的人口可能重叠，不宜相加。"
    )
    per = gaps.groupby("type_code").agg(count=("population", "size"), population=("population", "sum"))
    per = per.sort_values("population", ascending=False)
    lines = [total]
    for code, row in per.head(types).iterrows():
        biggest = largest[largest.type_code == code].sort_values("population", ascending=False).iloc[0]
        where = biggest.place or "位置见缺口表"
        lines.append(
            f"{names.get(code, code)}：{int(row['count'])} 处缺口，{int(row.population):,} 人；"
            f"人口最多的在{where}（{int(biggest.population):,} 人）。"
        )
    return lines


def estimate_sentence(s: Session, run_id: int) -> str:
    """How much of the district's households and residents are estimates, in one sentence."""
    top = store.area_results(s, run_id, level="district")
    if top.empty or not (top.households_estimated.max() or top.population_estimated.max()):
        return "户数和人口均为实有人口数据（一标三实）。"
    households, estimated, people = (
        int(top[c].max()) for c in ("households", "households_estimated", "population_estimated")
    )
    share = f"（{estimated / households:.0%}）" if households else ""
    return (
        f"其中 {estimated:,} 户{share}、{people:,} 人为估算数：由建筑轮廓的占地面积和层数、"
        "或按普查比例由户数推算，仅供参考；导入一标三实实有人口数据后自动替换。"
    )
