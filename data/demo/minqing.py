"""Six months of FICTIONAL 民情 for the demo district: key households (重点人群), their visits (走访)
and residents' reports (民情事件) with their whole flow, deterministic for a seed and an end date.

Believable mixes, on purpose and by design (the tests count them):

* more reports per household in the old town (老城区: narrow lanes, old drains, shops below homes),
  and there above all 环境卫生 and 噪音扰民; in the villages more 养老帮扶, 困难救助, 矛盾纠纷 and
  违章搭建, in the rest of the city a middle mix;
* seasons: 环境卫生 and 噪音扰民 peak in summer (heat, rain, open windows), 道路设施 in the typhoon
  season, 养老帮扶 in winter and around the Spring Festival;
* handling follows ``geo.events`` step by step: most grid-level reports are accepted and handled on the
  spot, some go up to the 联勤指挥中心 and a department; durations are drawn around each category's
  time limit, so about one in ten runs late, is flagged 超时 and escalated one level; the last days'
  reports are still open, some past their deadline;
* key households are drawn from the residences' households, elderly and children (more 独居/空巢老人
  in the old town and villages, 留守儿童 in the villages); most grid workers keep to the visit plan,
  some fall behind; about one visit in 25 finds a need, and most needs become reports.

Everything is made up (names too); nothing here is a real person. Pure: no database.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon
from shapely.ops import unary_union

from geo import events as flow
from geo.deadlines import Category, WorkCalendar
from geo.visits import KeyGroup

from . import derived, geography
from .frames import ID_STRIDE
from .names import WORKER_GIVEN, WORKER_SURNAMES

KINDS = ("old_town", "village", "urban")
RATE = {"old_town": 0.020, "village": 0.010, "urban": 0.011}
"""Reports per household per month."""
MIX = {
    "old_town": {
        "sanitation": 30,
        "noise": 14,
        "road": 7,
        "facility_damage": 8,
        "security": 6,
        "dispute": 8,
        "illegal_building": 7,
        "elderly_care": 8,
        "hardship_aid": 4,
        "other": 8,
    },
    "village": {
        "sanitation": 13,
        "noise": 3,
        "road": 11,
        "facility_damage": 7,
        "security": 5,
        "dispute": 13,
        "illegal_building": 11,
        "elderly_care": 20,
        "hardship_aid": 10,
        "other": 7,
    },
    "urban": {
        "sanitation": 19,
        "noise": 15,
        "road": 10,
        "facility_damage": 11,
        "security": 6,
        "dispute": 10,
        "illegal_building": 6,
        "elderly_care": 8,
        "hardship_aid": 4,
        "other": 11,
    },
}
"""Category weights per kind of place (relative, before the season)."""
SEASON = {"sanitation": (0.40, 200), "noise": (0.35, 195), "road": (0.30, 235), "elderly_care": (0.40, 20)}
"""Category → (amplitude, day of year of the peak): weight × (1 + a·cos(2π(doy − peak)/365))."""
SOURCE = (("public", 0.35), ("staff", 0.50), ("12345", 0.15))
ON_SPOT = 0.85
"""Share of grid- and community-level reports the grid worker accepts (the rest go up at once)."""
LATE_MEDIAN, LATE_SIGMA = 0.40, 0.75
"""Handling time as a share of the time left to the deadline: lognormal (≈ 1 in 9 runs late)."""
GROUP_RATES: dict[str, dict[str, tuple[float, float, float]]] = {
    # group → per kind: (per household, per elderly person, per child)
    "dibao": {"old_town": (0.020, 0, 0), "village": (0.028, 0, 0), "urban": (0.010, 0, 0)},
    "tekun": {"old_town": (0.003, 0, 0), "village": (0.006, 0, 0), "urban": (0.0015, 0, 0)},
    "elderly_alone": {"old_town": (0, 0.060, 0), "village": (0, 0.055, 0), "urban": (0, 0.025, 0)},
    "disabled": {"old_town": (0.009, 0, 0), "village": (0.010, 0, 0), "urban": (0.007, 0, 0)},
    "left_behind_child": {"old_town": (0, 0, 0.004), "village": (0, 0, 0.030), "urban": (0, 0, 0.002)},
}
NEED_CATEGORY = {
    "dibao": "hardship_aid",
    "tekun": "hardship_aid",
    "elderly_alone": "elderly_care",
    "disabled": "hardship_aid",
    "left_behind_child": "other",
}
NEEDS = {
    "hardship_aid": ["临时救助申请", "医疗费用困难, 咨询救助政策", "低保年审材料需协助"],
    "elderly_care": ["需要助餐服务", "行动不便, 需要助浴", "家中扶手松动, 需适老化改造"],
    "other": ["孩子学习需要课后托管", "监护人长期外出, 需联系学校关注"],
}
NOTES = [
    "身体状况良好",
    "家中整洁, 无异常",
    "已宣传防诈骗知识",
    "已告知台风天注意事项",
    "与家属电话沟通",
    "了解近期生活情况",
    "提醒按时服药",
]
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
DISPATCHER = "联勤指挥中心值班员"


@dataclass
class MinqingDemo:
    """Rows to load (local indices link them; the loader gives them database ids).

    households: hh, residence_id, groups, head_name, address, grid_id, community_id, town_id, registered_at
    events: ev, residence_id (of its home; not stored), tracking_code, category, description, source,
            grid_id, community_id, town_id, address, reported_by, reported_at, lon, lat and the flow
            state (status, level, department, due_at, overdue, escalations, resolved_at, result_note,
            satisfaction)
    history: ev, action, from_status, to_status, actor, at, note, department
    visits: hh, worker, visited_at, notes, needs, ev (−1: no event), lon, lat
    """

    households: pd.DataFrame
    events: pd.DataFrame
    history: pd.DataFrame
    visits: pd.DataFrame


def _season(category: str, moment: datetime) -> float:
    amplitude, peak = SEASON.get(category, (0.0, 0))
    return 1.0 + amplitude * math.cos(2 * math.pi * (moment.timetuple().tm_yday - peak) / 365.0)


# ``Generator.choice`` costs tens of microseconds a call; these draw the very same numbers from the
# stream (``integers(0, n)`` without weights, ``random()`` against the normalised cumulative weights
# with them), so the rows stay those of the seed.
def _pick(rng: np.random.Generator, options: Sequence):
    """``rng.choice(options)``: the same draw, without the array conversion."""
    return options[int(rng.integers(0, len(options)))]


def _cdf(p) -> np.ndarray:
    """The cumulative weights ``rng.choice(..., p=p)`` draws against."""
    cdf = np.asarray(p, dtype=float).cumsum()
    cdf /= cdf[-1]
    return cdf


def _pick_p(rng: np.random.Generator, options: Sequence, cdf: np.ndarray):
    """``rng.choice(options, p=p)`` with ``cdf = _cdf(p)``: the same draw."""
    return options[int(cdf.searchsorted(rng.random(), side="right"))]


_GIVEN, _SURNAMES = list(WORKER_GIVEN), list(WORKER_SURNAMES)
_SATISFACTION = (5, 4, 3, 2, 1)
_SATISFACTION_CDF = {
    True: _cdf([0.30, 0.35, 0.20, 0.10, 0.05]),
    False: _cdf([0.62, 0.28, 0.07, 0.02, 0.01]),
}
_SOURCES, _SOURCE_CDF = [s for s, _ in SOURCE], _cdf([p for _, p in SOURCE])


def _person(rng: np.random.Generator) -> str:
    given = "".join(_GIVEN[i] for i in rng.integers(0, len(_GIVEN), size=int(rng.integers(1, 3))))
    return str(_pick(rng, _SURNAMES)) + given


class _Simulator:
    """Moves one event through the flow of ``geo.events`` with drawn times, up to ``end``."""

    def __init__(
        self,
        categories: Mapping[str, Category],
        calendar: WorkCalendar,
        end: datetime,
        rng: np.random.Generator,
    ):
        self.categories, self.calendar, self.end, self.rng = categories, calendar, end, rng

    def run(self, category: str, reported_at: datetime, reporter: str, worker: str):
        cat, rng = self.categories[category], self.rng
        state, history = flow.new_event(cat, reported_at=reported_at, actor=reporter, calendar=self.calendar)
        t = reported_at
        on_spot = rng.random() < ON_SPOT

        def escalations_until(moment: datetime) -> None:
            nonlocal state
            while state.status in flow.OPEN and state.due_at < min(moment, self.end):
                result = flow.escalate_overdue(
                    state, cat, now=state.due_at + timedelta(minutes=10), calendar=self.calendar
                )
                if result is None:
                    return
                state, entry = result
                history.append(entry)

        def step(action: str, hours: float, role: str, actor: str, **kw) -> bool:
            nonlocal state, t
            moment = t + timedelta(hours=float(hours))
            before = state.status
            escalations_until(moment)
            if moment >= self.end:
                return False
            if state.status != before:  # 超时 sent it up meanwhile: take the next step from there
                t = history[-1].at
                return True
            moment = max(moment, history[-1].at + timedelta(minutes=1))
            state, entry = flow.apply(state, action, role=role, actor=actor, at=moment, **kw)
            history.append(entry)
            t = moment
            return True

        def handling_hours() -> float:
            left = max((state.due_at - t).total_seconds() / 3600.0, 1.0)
            return left * float(rng.lognormal(math.log(LATE_MEDIAN), LATE_SIGMA))

        for _ in range(12):
            s = state.status
            if s == "reported":
                ok = (
                    step("accept", rng.uniform(0.2, 3), "grid_worker", worker)
                    if on_spot
                    else step(
                        "escalate", rng.uniform(0.5, 6), "grid_worker", worker, note="需联勤指挥中心协调"
                    )
                )
            elif s == "accepted":
                ok = step("resolve", handling_hours(), "grid_worker", worker, note="已现场处置")
            elif s == "escalated":
                ok = step("assign", rng.uniform(0.3, 6), "dispatcher", DISPATCHER, department=cat.department)
            elif s == "assigned":
                ok = step("handle", rng.uniform(0.5, 12), "department", state.department or cat.department)
            elif s == "handling":
                ok = step(
                    "resolve",
                    handling_hours(),
                    "department",
                    state.department or cat.department,
                    note="已处置完毕",
                )
            elif s == "resolved" and rng.random() < 0.75:
                cdf = _SATISFACTION_CDF[bool(state.overdue)]
                ok = step(
                    "review",
                    rng.uniform(2, 72),
                    "grid_worker",
                    worker,
                    note="电话回访",
                    satisfaction=int(_pick_p(rng, _SATISFACTION, cdf)),
                )
            elif s == "reviewed" and rng.random() < 0.85:
                ok = step("archive", rng.uniform(24, 168), "dispatcher", DISPATCHER)
            else:
                ok = False
            if not ok:
                break
        escalations_until(self.end)
        return state, history


def _draw_times(n: int, start: datetime, end: datetime, rng: np.random.Generator) -> list[datetime]:
    """``n`` report times in [start, end): more by day than by night, a little more in summer."""
    span = (end - start).total_seconds()
    out: list[datetime] = []
    while len(out) < n:
        moment = start + timedelta(seconds=float(rng.uniform(0, span)))
        hour = (moment.hour + 8) % 24  # Beijing time
        weight = (1.0 if 7 <= hour <= 21 else 0.25) * (
            1 + 0.15 * math.cos(2 * math.pi * (moment.timetuple().tm_yday - 200) / 365)
        )
        if rng.random() < weight / 1.15:
            out.append(moment)
    return out


def generate(
    homes: pd.DataFrame,
    categories: Mapping[str, Category],
    calendar: WorkCalendar,
    plan: Mapping[str, KeyGroup],
    *,
    end: datetime,
    examples: Mapping[str, Sequence[str]] | None = None,
    months: int = 6,
    seed: int = 20261122,
    stream: tuple[int, ...] = (),
) -> MinqingDemo:
    """The 民情 of ``homes`` for ``months`` months before ``end`` (time-zone aware).

    ``homes``: one row per residence point with residence_id, grid_id, community_id, town_id, kind
    (old_town / village / urban), households, elderly, children, lon, lat, address and worker (the
    grid worker's name). ``examples``: category → example descriptions (the 事项清单's ``examples``).
    The same inputs, ``end``, ``seed`` and ``stream`` (more keys of the random stream) give the same
    rows.
    """
    rng = np.random.default_rng([seed, 16, *stream])
    start = end - timedelta(days=round(months * 30.44))
    homes = homes.sort_values("residence_id").reset_index(drop=True)
    sim = _Simulator(categories, calendar, end, rng)
    events: list[dict] = []
    history: list[dict] = []
    codes: set[str] = set()

    def add_event(category: str, at: datetime, home, source: str, description: str) -> int:
        worker = home.worker or "网格员"
        reporter = {"public": "public", "12345": "12345"}.get(source, worker)
        state, steps = sim.run(category, at, reporter, worker)
        code = "MQ" + "".join(CODE_ALPHABET[i] for i in rng.integers(0, len(CODE_ALPHABET), size=10))
        while code in codes:
            code = "MQ" + "".join(CODE_ALPHABET[i] for i in rng.integers(0, len(CODE_ALPHABET), size=10))
        codes.add(code)
        ev = len(events)
        jitter = rng.normal(0, 0.00004, 2)
        events.append(
            {
                "ev": ev,
                "residence_id": home.residence_id,  # not stored: tells ``_laid_out_like`` the home
                "tracking_code": code,
                "category": category,
                "description": description,
                "source": source,
                "grid_id": home.grid_id,
                "community_id": home.community_id,
                "town_id": home.town_id,
                "address": home.address,
                "reported_by": reporter,
                "reported_at": at,
                "lon": home.lon + jitter[0],
                "lat": home.lat + jitter[1],
                **{
                    k: getattr(state, k)
                    for k in (
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
                },
            }
        )
        history.extend(
            {
                "ev": ev,
                "action": h.action,
                "from_status": h.from_status,
                "to_status": h.to_status,
                "actor": h.actor,
                "at": h.at,
                "note": h.note,
                "department": h.department,
            }
            for h in steps
        )
        return ev

    # residents' reports
    months_f = (end - start).days / 30.44
    mixes: dict[tuple[str, int], np.ndarray] = {}  # (kind, day of the year) → the categories' cdf
    choices = {c: list((examples or {}).get(c) or [categories[c].name_zh]) for m in MIX.values() for c in m}
    for home in homes.itertuples():
        n = int(rng.poisson(RATE[home.kind] * home.households * months_f))
        if n == 0:
            continue
        mix = MIX[home.kind]
        kinds = list(mix)
        for at in _draw_times(n, start, end, rng):
            key = (home.kind, at.timetuple().tm_yday)
            if key not in mixes:  # the season depends on the day only
                weights = np.array([w * _season(c, at) for c, w in mix.items()])
                mixes[key] = _cdf(weights / weights.sum())
            category = str(_pick_p(rng, kinds, mixes[key]))
            source = str(_pick_p(rng, _SOURCES, _SOURCE_CDF))
            description = str(_pick(rng, choices[category]))
            add_event(category, at, home, source, description)

    # key households and their visits
    households: list[dict] = []
    visits: list[dict] = []
    for home in homes.itertuples():
        for group, per_kind in GROUP_RATES.items():
            a, b, c = per_kind[home.kind]
            for _ in range(int(rng.poisson(a * home.households + b * home.elderly + c * home.children))):
                groups = [group]
                if rng.random() < 0.15:
                    extra = str(_pick(rng, [g for g in plan if g != group]))
                    groups.append(extra)
                registered = (
                    start - timedelta(days=float(rng.uniform(30, 900)))
                    if rng.random() < 0.9
                    else start + timedelta(days=float(rng.uniform(0, (end - start).days - 1)))
                )
                households.append(
                    {
                        "hh": len(households),
                        "residence_id": home.residence_id,
                        "groups": [g for g in plan if g in groups],
                        "head_name": _person(rng),
                        "address": home.address,
                        "grid_id": home.grid_id,
                        "community_id": home.community_id,
                        "town_id": home.town_id,
                        "registered_at": registered,
                        "_home": home,
                    }
                )
    diligence = {g: float(rng.beta(6, 1.5)) for g in sorted(homes.grid_id.dropna().unique())}
    for h in households:
        home = h.pop("_home")
        every = min(plan[g].every_days for g in h["groups"])
        keen = diligence.get(home.grid_id, 0.8)
        t = max(h["registered_at"], start - timedelta(days=float(rng.uniform(0, every))))
        while True:
            on_time = rng.random() < keen
            t = t + timedelta(
                days=every * float(rng.uniform(0.55, 1.0) if on_time else rng.uniform(1.1, 2.6))
            )
            # 09:00-18:00 Beijing
            t = t.replace(hour=int(rng.integers(1, 10)), minute=int(rng.integers(0, 60)))
            if t >= end:
                break
            if t < start:
                continue
            need = rng.random() < 0.04
            category = NEED_CATEGORY[h["groups"][0]]
            needs = str(_pick(rng, NEEDS[category])) if need else None
            ev = -1
            if need and rng.random() < 0.6:
                ev = add_event(category, t + timedelta(minutes=20), home, "staff", f"走访发现需求: {needs}")
            jitter = rng.normal(0, 0.00008, 2)
            visits.append(
                {
                    "hh": h["hh"],
                    "worker": home.worker or "网格员",
                    "visited_at": t,
                    "notes": str(_pick(rng, NOTES)),
                    "needs": needs,
                    "ev": ev,
                    "lon": home.lon + jitter[0],
                    "lat": home.lat + jitter[1],
                }
            )
    return MinqingDemo(
        households=pd.DataFrame(households),
        events=pd.DataFrame(events),
        history=pd.DataFrame(history),
        visits=pd.DataFrame(visits),
    )


def generate_copies(
    homes: pd.DataFrame,
    categories: Mapping[str, Category],
    calendar: WorkCalendar,
    plan: Mapping[str, KeyGroup],
    *,
    end: datetime,
    scale: float = 1.0,
    examples: Mapping[str, Sequence[str]] | None = None,
    months: int = 6,
    seed: int = 20261122,
    workers: int = 1,
    pool: Executor | None = None,
    started: Mapping[int, tuple[pd.DataFrame, Future]] | None = None,
) -> MinqingDemo:
    """The 民情 of a demo of ``scale`` copies (``homes`` as for ``generate``), copy by copy (copy c:
    ``residence_id // ID_STRIDE``). Copy 0 is drawn from ``generate``'s stream, so one district gets
    the very rows of ``generate``; another generated copy from a stream of its own (in up to
    ``workers`` processes, or in ``pool``); a copy laid out like another (``derived``) takes that
    copy's 民情 at its own homes: the same reports, flows, key households and visits at the same
    times, with its own addresses, areas, grid workers, tracking codes and household heads (a
    fraction of the time of drawing them). ``started``: copy → (its homes, the future of ``start``) of
    copies whose drawing was started earlier with the same inputs: taken where the homes are these."""
    homes = homes.sort_values("residence_id").reset_index(drop=True)
    copy = homes["residence_id"].to_numpy(np.int64) // ID_STRIDE
    sizes = geography.copy_sizes(scale)
    mine = {int(c): homes[copy == c].reset_index(drop=True) for c in np.unique(copy)}
    source = {}
    for c in mine:
        t = derived.template(c, sizes) if c < len(sizes) else c
        source[c] = t if t in mine and _alike(mine[t], mine[c]) else c
    early = {
        c: f for c, (h, f) in (started or {}).items() if c in mine and source[c] == c and h.equals(mine[c])
    }
    drawn = [c for c in mine if source[c] == c and c not in early]
    jobs = [
        (mine[c], categories, calendar, plan, end, examples, months, seed, () if c == 0 else (c,))
        for c in drawn
    ]
    if pool is not None and len(drawn) > 1:
        made = dict(zip(drawn, pool.map(_generate, *zip(*jobs, strict=True)), strict=True))
    elif workers > 1 and len(drawn) > 1:
        with ProcessPoolExecutor(
            min(workers, len(drawn)), mp_context=multiprocessing.get_context("forkserver")
        ) as pool:
            made = dict(zip(drawn, pool.map(_generate, *zip(*jobs, strict=True)), strict=True))
    else:
        made = {c: _generate(*job) for c, job in zip(drawn, jobs, strict=True)}
    made.update({c: f.result() for c, f in early.items()})
    parts = [
        made[c]
        if source[c] == c
        else _laid_out_like(made[source[c]], mine[source[c]], mine[c], np.random.default_rng([seed, 16, c]))
        for c in mine
    ]
    return _joined(parts, np.random.default_rng([seed, 17]))


def start(
    homes: pd.DataFrame,
    copy: int,
    categories: Mapping[str, Category],
    calendar: WorkCalendar,
    plan: Mapping[str, KeyGroup],
    pool: Executor,
    *,
    end: datetime,
    examples: Mapping[str, Sequence[str]] | None = None,
    months: int = 6,
    seed: int = 20261122,
) -> tuple[pd.DataFrame, Future]:
    """Start drawing the 民情 of copy ``copy`` (its ``homes`` only) in ``pool``, as ``generate_copies``
    draws a copy it does not lay out like another: for its ``started``."""
    mine = homes.sort_values("residence_id").reset_index(drop=True)
    job = (mine, categories, calendar, plan, end, examples, months, seed, () if copy == 0 else (copy,))
    return mine, pool.submit(_generate, *job)


def _generate(homes, categories, calendar, plan, end, examples, months, seed, stream) -> MinqingDemo:
    """``generate`` with positional arguments (a job of a process pool)."""
    return generate(
        homes, categories, calendar, plan, end=end, examples=examples, months=months, seed=seed, stream=stream
    )


def _alike(src: pd.DataFrame, dst: pd.DataFrame) -> bool:
    """Whether home i of ``dst`` is home i of ``src`` laid out elsewhere (same kind and figures)."""
    same = ["kind", "households", "elderly", "children"]
    return len(src) == len(dst) and src[same].reset_index(drop=True).equals(dst[same].reset_index(drop=True))


def _laid_out_like(demo: MinqingDemo, src: pd.DataFrame, dst: pd.DataFrame, rng) -> MinqingDemo:
    """``demo`` (the 民情 of the homes ``src``) moved to the homes ``dst`` of a copy laid out alike
    (home i of ``dst`` is home i of ``src``: ``_alike``)."""
    at = pd.Index(src["residence_id"])
    src_worker = src["worker"].fillna("网格员").to_numpy(object)
    dst_worker = dst["worker"].fillna("网格员").to_numpy(object)
    areas = ["grid_id", "community_id", "town_id", "address"]

    def moved(frame: pd.DataFrame, home: np.ndarray, worker: str | None) -> pd.DataFrame:
        out = frame.copy()
        for col in areas + ["residence_id"]:
            if col in out:
                out[col] = dst[col].to_numpy()[home]
        if "lon" in out:  # the same offset from the home
            out["lon"] = out["lon"].to_numpy() + (dst["lon"].to_numpy() - src["lon"].to_numpy())[home]
            out["lat"] = out["lat"].to_numpy() + (dst["lat"].to_numpy() - src["lat"].to_numpy())[home]
        if worker is not None:
            mine = out[worker].to_numpy(object) == src_worker[home]
            out[worker] = np.where(mine, dst_worker[home], out[worker].to_numpy(object))
        return out

    ev_home = at.get_indexer(demo.events["residence_id"]) if len(demo.events) else np.empty(0, np.int64)
    hh_home = (
        at.get_indexer(demo.households["residence_id"]) if len(demo.households) else np.empty(0, np.int64)
    )
    events = moved(demo.events, ev_home, "reported_by")
    events["tracking_code"] = _codes(rng, len(events))
    history = (
        moved(demo.history, ev_home[demo.history["ev"].to_numpy(np.int64)], "actor")
        if len(demo.history)
        else demo.history.copy()
    )
    households = moved(demo.households, hh_home, None)
    households["head_name"] = [_person(rng) for _ in range(len(households))]
    visits = (
        moved(demo.visits, hh_home[demo.visits["hh"].to_numpy(np.int64)], "worker")
        if len(demo.visits)
        else demo.visits.copy()
    )
    return MinqingDemo(households=households, events=events, history=history, visits=visits)


_CODE_LETTERS = np.array(list(CODE_ALPHABET))


def _codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` tracking codes (MQ + 10 characters of ``CODE_ALPHABET``) drawn at once."""
    letters = _CODE_LETTERS[rng.integers(0, len(CODE_ALPHABET), size=(n, 10))]
    return np.char.add("MQ", letters.view("<U10").ravel()).astype(object)


def _joined(parts: list[MinqingDemo], rng: np.random.Generator) -> MinqingDemo:
    """The copies' 民情 as one, local indices renumbered; a tracking code drawn twice is drawn again."""
    if len(parts) == 1:
        return parts[0]
    ev = np.cumsum([0] + [len(p.events) for p in parts])
    hh = np.cumsum([0] + [len(p.households) for p in parts])

    def shift(frame: pd.DataFrame, col: str, by: int, keep_negative: bool = False) -> pd.DataFrame:
        if col not in frame or not len(frame):
            return frame
        v = frame[col].to_numpy(np.int64)
        return frame.assign(**{col: np.where(v >= 0, v + by, v) if keep_negative else v + by})

    events = pd.concat([shift(p.events, "ev", int(ev[i])) for i, p in enumerate(parts)], ignore_index=True)
    codes = events["tracking_code"]
    while (twice := codes.duplicated()).any():
        codes = codes.mask(twice, pd.Series(_codes(rng, len(codes)), index=codes.index))
    events["tracking_code"] = codes
    return MinqingDemo(
        households=pd.concat(
            [shift(p.households, "hh", int(hh[i])) for i, p in enumerate(parts)], ignore_index=True
        ),
        events=events,
        history=pd.concat(
            [shift(p.history, "ev", int(ev[i])) for i, p in enumerate(parts)], ignore_index=True
        ),
        visits=pd.concat(
            [
                shift(shift(p.visits, "hh", int(hh[i])), "ev", int(ev[i]), keep_negative=True)
                for i, p in enumerate(parts)
            ],
            ignore_index=True,
        ),
    )


def homes(areas: pd.DataFrame, residences: pd.DataFrame, old_town) -> pd.DataFrame:
    """The homes ``generate`` reads, from a district's frames (``DemoDistrict.areas`` and
    ``residences``) as ``layers.load.minqing_demo.homes`` reads them from the stored district: each
    residence point of a small grid (in a middle grid, a community and a town) with its areas, figures,
    grid worker and ``kind`` (old_town where ``old_town`` covers it, village in a rural community,
    urban), in the order of residence_id. No database: the 民情 can be drawn while the district is
    stored."""
    a = areas.set_index("area_id")
    level, parent = a["level"], a["parent_id"]
    r = residences[residences["area_id"].map(level).eq("grid_small").to_numpy()]
    middle = r["area_id"].map(parent)
    community = middle.map(parent)
    keep = (middle.map(level).eq("grid_middle") & community.map(level).eq("community")).to_numpy()
    r, community = r[keep], community[keep].astype(np.int64)
    town = community.map(parent)
    keep = town.map(level).eq("town").to_numpy()
    r, community, town = r[keep], community[keep], town[keep].astype(np.int64)
    xy = shapely.get_coordinates(np.asarray(r.geometry, dtype=object))
    points = shapely.points(xy)
    urban = community.map(a["urban"]).to_numpy(bool)
    kind = np.where(shapely.covers(old_town, points), "old_town", np.where(urban, "urban", "village"))
    worker = r["area_id"].map(a["worker_name"]).astype(object)
    out = pd.DataFrame(
        {
            "residence_id": r["residence_id"].to_numpy(np.int64),
            "grid_id": r["area_id"].to_numpy(np.int64),
            "community_id": community.to_numpy(np.int64),
            "town_id": town.to_numpy(np.int64),
            "kind": kind.astype(object),
            "households": r["households"].to_numpy(np.int64),
            "elderly": r["elderly"].to_numpy(np.int64),
            "children": r["children"].to_numpy(np.int64),
            "lon": xy[:, 0],
            "lat": xy[:, 1],
            "address": r["address"].astype(object).to_numpy(),
            "worker": worker.where(worker.notna(), None).to_numpy(object),
        }
    )
    return out.sort_values("residence_id").reset_index(drop=True)


def old_town_lonlat(*, scale: float = 1.0, seed: int = 20261122):
    """The old-town polygons (EPSG:4326) of the demo district's copies for ``scale`` and ``seed``:
    where the generator puts 老城区 (``data.demo.geography``)."""

    sizes = geography.copy_sizes(scale)
    origins = geography.layout(len(sizes))
    parts, towns = [], {}
    for copy, origin in enumerate(origins):
        t = derived.template(copy, sizes)  # a derived copy has its template's old town, moved
        if t not in towns:
            towns[t] = geography.build(t, sizes[t], origins[t], np.random.default_rng([seed, t, 1])).old_town
        if not towns[t].is_empty:
            parts.append(geography.to_lonlat(np.array([towns[t]], dtype=object), origin)[0])
    merged = unary_union(parts) if parts else MultiPolygon()
    return merged
