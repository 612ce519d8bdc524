"""Public service facilities of one copy, planned as a Guangdong district would have them, with a
handful of named gaps (local metres).

Every type code of data/facility_types.csv appears. The required types (``required`` = 1) are
planned by the people they serve (``URBAN_COMMUNITY``, ``RURAL_COMMUNITY``, ``TOWN_LEVEL``): one
社区服务站, 党群服务中心 and 社区综合服务设施 per community at its seat; kindergartens and day care
counted from each urban community's children and elderly and spread over its homes; primary
schools and markets in the larger urban communities; each town's township-level facilities on
public-use blocks near the centres of its urban homes; a 敬老院 per town with villages. Optional
types keep rough per-community probabilities. ``FacilitySet.plan`` records per community and
required type what was placed and which named gap leaves it out (``DemoDistrict.plan``).

Named gaps (each also listed in ``DemoDistrict.planted``; README "演示数据导览" tells the story):

- ``east_bank``: the city's communities east of the river have no community health centre, middle
  school, police station or large sports ground: their people cross one of the few bridges.
- ``new_estate``: the two largest east-bank new estates (not the gated one) have no kindergarten
  and no day care (their premises were never handed over).
- ``no_daycare``: those two estates and the old-town community have no elderly day-care centre;
  ``planned_daycare``: a planned centre in the one with the most elderly (a what-if scenario).
- ``rural_complex_gap``: the two smallest 村 lack a community comprehensive service facility
  (rural presence stays just above the 80 % target).
- ``remote_village``: the 村 of the rural town farthest from its health centre: clinic closed, no
  day care.
- ``closed``: two small 村's kindergartens (falling births), the remote village's clinic, one
  elderly canteen.
- ``regional_centre``: the rural town has no nursing home (its regional elderly-care centre
  serves its villages).
- ``far_elderly_home``: the rural town's 敬老院 stands on a former commune farm in its second
  most remote 村: beyond the half-hour circle of the villages on the far side.
- ``undersized``: one day-care centre of 200 m² (standard 350-750 m²) and one community service
  station of 300 m² (standard 600 m²).
- ``overloaded``: a 90-place kindergarten in the urban community with most children (every other
  kindergarten, day care and primary school has places for all who could reach it in time).
- ``gated_daycare``: a day-care centre inside a gated compound with a single gate.
- ``islet``: the islet village has no facility and no road link (own network component).
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import shapely
from scipy.spatial import cKDTree

from . import settlement as st
from ._geom import weighted_kmeans
from .areas import AreaSet
from .geography import Geography
from .names import Namer
from .residences import Residences

# type → (floor m² range or None, capacity range or None, opening hours, phone?, operator key)
SPEC = {
    "middle_school": ((12000, 25000), (1200, 2400), "Mo-Fr 07:30-17:30", True, "edu"),
    "primary_school": ((6000, 14000), (900, 1800), "Mo-Fr 07:30-17:00", True, "edu"),
    "kindergarten": ((1800, 3600), (180, 360), "Mo-Fr 07:30-17:30", True, "edu"),
    "nursery": ((300, 600), (40, 90), "Mo-Fr 07:30-18:00", True, "private_edu"),
    "infant_care": ((300, 800), (40, 120), "Mo-Sa 07:30-18:30", True, "private_edu"),
    "health_center": ((1700, 4000), (20, 60), "24/7", True, "health"),
    "health_station": ((120, 300), None, "Mo-Su 08:00-20:00", True, "health"),
    "nursing_home": ((2500, 7000), (120, 260), "24/7", True, "private_care"),
    "rural_elderly_home": ((2500, 5000), (150, 220), "24/7", True, "civil"),
    "regional_elderly_center": ((2500, 5000), (80, 150), "24/7", True, "civil"),
    "elderly_complex": ((1200, 2500), (30, 60), "Mo-Su 08:00-20:00", True, "private_care"),
    "elderly_daycare": ((350, 750), (20, 40), "Mo-Su 08:00-18:00", True, "civil"),
    "elderly_canteen": ((100, 300), (60, 200), "Mo-Su 10:30-13:00,17:00-19:00", True, "civil"),
    "culture_center": ((3000, 6000), None, "Tu-Su 09:00-21:00", True, "culture"),
    "culture_station": ((250, 600), None, "Mo-Su 09:00-21:00", False, "local"),
    "street_service_center": ((700, 1500), None, "Mo-Fr 08:30-12:00,14:30-17:30", True, "town"),
    "subdistrict_office": (None, None, "Mo-Fr 08:30-12:00,14:30-17:30", True, "town"),
    "community_service_station": ((600, 1000), None, "Mo-Fr 08:30-12:00,14:30-17:30", True, "local"),
    "party_mass_center": ((300, 800), None, "Mo-Su 08:30-20:00", True, "local"),
    "community_complex": ((600, 1500), None, "Mo-Su 08:30-20:00", True, "local"),
    "sports_ground_large": (None, None, "Mo-Su 06:00-22:00", True, "sport"),
    "sports_ground_medium": (None, None, "Mo-Su 06:00-22:00", False, "sport"),
    "fitness_small": (None, None, "24/7", False, "local"),
    "police_station": ((1000, 2000), None, "24/7", True, "police"),
    "food_market": ((750, 2500), None, "Mo-Su 06:00-19:00", True, "market"),
    "recycling_point": ((10, 30), None, "Mo-Su 08:00-18:00", False, "city"),
    "refuse_station": ((80, 150), None, "Mo-Su 05:00-22:00", False, "city"),
    "public_toilet": ((60, 120), None, "24/7", False, "city"),
    "childrens_home": ((60, 150), None, "Sa-Su 09:00-17:00", False, "local"),
    "social_work_station": ((100, 300), None, "Mo-Fr 09:00-17:30", True, "social"),
    "village_hall": ((60, 150), None, "Mo-Fr 08:30-17:30", False, "local"),
}

# type → published fees (收费标准, fictional): a template whose {a}, {b} are filled from (low, high, step)
# ranges; types not listed publish none (the popup then shows no fee row)
FEES = {
    "nursery": ("保育费 {a}元/月（含午餐、午点）", (2200, 3600, 100), None),
    "infant_care": ("全日托 {a}元/月，半日托 {b}元/月", (2600, 4200, 100), (1400, 2200, 100)),
    "kindergarten": ("保教费 {a}元/月，伙食费 {b}元/天", (600, 1100, 50), (12, 16, 1)),
    "nursing_home": ("床位费 {a}元/月起，护理费按照护等级另计", (1500, 2600, 100), None),
    "rural_elderly_home": ("特困供养人员免费；社会老人 {a}元/月起", (900, 1400, 100), None),
    "regional_elderly_center": ("床位费 {a}元/月起，护理费另计", (1200, 2000, 100), None),
    "elderly_complex": ("日托 {a}元/天，助餐 {b}元/餐", (30, 60, 5), (10, 15, 1)),
    "elderly_daycare": ("日间照料 {a}元/天；午餐 {b}元/餐，80岁以上半价", (15, 30, 5), (8, 12, 1)),
    "elderly_canteen": ("午餐 {a}元/餐，60岁以上本区老人每餐补贴 {b}元", (10, 15, 1), (2, 4, 1)),
    "culture_center": ("免费开放", None, None),
    "culture_station": ("免费开放", None, None),
    "childrens_home": ("免费", None, None),
    "fitness_small": ("免费", None, None),
    "public_toilet": ("免费", None, None),
}


def fees(code: str, name: str) -> str | None:
    """Published fees of a facility (fictional): ``FEES[code]`` filled from the name's checksum, so
    the demo's random draws (and every figure built on them) stay as they were."""
    if code not in FEES:
        return None
    text, a, b = FEES[code]
    h = zlib.crc32(name.encode())

    def pick(spec, salt: int) -> int | None:
        if spec is None:
            return None
        lo, hi, step = spec
        return lo + ((h >> salt) % ((hi - lo) // step + 1)) * step

    return text.format(a=pick(a, 0), b=pick(b, 11))


# Required types (data/facility_types.csv, ``required`` = 1) are planned by the people they serve,
# so that most district figures land where a Guangdong district's would (60-95 % on presence and on
# reach); optional types keep the rougher per-community probabilities below.
# community level, by the community's class: type → (user basis, people per facility, at least);
# ``None`` per facility: exactly one, at the 居委会/村委会 seat
URBAN_COMMUNITY = {
    "community_service_station": ("population", None, 1),
    "party_mass_center": ("population", None, 1),
    "community_complex": ("population", None, 1),
    "kindergarten": ("children", 600, 1),
    "elderly_daycare": ("elderly", 600, 1),
    "primary_school": ("population", 8000, 0),
    "food_market": ("population", 5500, 0),
}
# straight-line reach a planner assumes when spreading several sites over a community (metres):
# about 0.7 of the walking distance of the type's urban life circle
SPREAD_RADIUS = {
    "kindergarten": 230.0,
    "elderly_daycare": 175.0,
    "primary_school": 470.0,
    "food_market": 470.0,
}
RURAL_COMMUNITY = {
    "community_service_station": ("population", None, 1),
    "party_mass_center": ("population", None, 1),
    "community_complex": ("population", None, 1),
    "kindergarten": ("children", None, 1),
    "elderly_daycare": ("elderly", None, 1),
}
# town level (urban 15-minute circle, rural township tier): urban residents of the town per facility
# (at least one per town); sited on public-use blocks near the centres of the town's urban homes
TOWN_LEVEL = {
    "middle_school": 18000,
    "health_center": 20000,
    "nursing_home": 11000,
    "culture_center": 20000,
    "street_service_center": 20000,
}
# optional types per community (urban 社区, rural 村): type → expected count (fraction = probability)
PER_COMMUNITY = {
    "社区": {
        "health_station": 0.85,
        "culture_station": 0.5,
        "fitness_small": 0.7,
        "public_toilet": 0.6,
        "refuse_station": 0.6,
        "recycling_point": 0.3,
        "childrens_home": 0.6,
        "elderly_canteen": 0.45,
        "nursery": 0.1,
        "infant_care": 0.15,
    },
    "村": {
        "health_station": 0.9,
        "culture_station": 0.5,
        "fitness_small": 0.6,
        "public_toilet": 0.6,
        "refuse_station": 0.6,
        "childrens_home": 0.5,
        "elderly_canteen": 0.3,
        "village_hall": 1,
    },
}
# optional types per town (urban core, town seat, rural town): type → count
PER_TOWN = (
    {
        "sports_ground_large": 1,
        "sports_ground_medium": 2,
        "police_station": 1,
        "social_work_station": 1,
        "elderly_complex": 1,
        "nursery": 1,
        "infant_care": 1,
    },
    {
        "sports_ground_large": 1,
        "sports_ground_medium": 1,
        "police_station": 1,
        "social_work_station": 1,
        "elderly_complex": 1,
    },
    {"police_station": 1, "social_work_station": 1, "regional_elderly_center": 1},
)
AT_TOWN_SEAT = {"subdistrict_office"}  # one per town, placed by _Plan._offices
# the east bank of the city has none of these (its people cross one of the few bridges)
EAST_BANK_MISSING = {"middle_school", "health_center", "police_station", "sports_ground_large"}


def _rows(name: str) -> list[dict]:
    with (Path(__file__).resolve().parents[1] / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@cache
def users_per_place() -> dict[str, tuple[str, float]]:
    """``capacity_basis`` and ``basis_per_unit`` of data/facility_types.csv: who uses a type's places
    and how many of them one place serves."""
    return {
        r["code"]: (r["capacity_basis"], float(r["basis_per_unit"]))
        for r in _rows("facility_types.csv")
        if r["basis_per_unit"]
    }


@cache
def reach_m(code: str, circle: str) -> float:
    """The farthest (straight-line metres) anyone of the ``circle`` class can live from a facility of
    ``code`` and still reach it within the life-circle time: the profile's top speed times the time
    (0: the type has no tier for the class)."""
    row = next(r for r in _rows("facility_types.csv") if r["code"] == code)
    profile, minutes = row[f"{circle}_profile"], row[f"{circle}_max_time_min"]
    if not profile or not minutes:
        return 0.0
    top = max(
        float(r["speed_kmh"]) for r in _rows("profiles.csv") if r["profile"] == profile and r["usable"] == "1"
    )
    return top * float(minutes) / 60 * 1000


@dataclass
class Facility:
    type_code: str
    name: str
    xy: np.ndarray
    community: int
    status: str = "open"
    floor_area_m2: float = float("nan")
    capacity: float = float("nan")
    opening_hours: str | None = None
    phone: str | None = None
    operator: str | None = None


@dataclass
class FacilitySet:
    items: list[Facility] = field(default_factory=list)
    planted: list[dict] = field(default_factory=list)
    plan: list[dict] = field(default_factory=list)

    def plant(self, case: str, layer: str, index: int, note: str) -> None:
        """Record a planted case; ``index`` is a local facility/area index resolved to an id later."""
        self.planted.append({"case": case, "layer": layer, "index": index, "note": note})


def _has(geom, p) -> bool:
    return bool(shapely.contains_xy(geom, p[0], p[1]))


class _Placer:
    """Chooses sites and fills in names and attributes."""

    def __init__(
        self,
        geo: Geography,
        s: st.Settlement,
        res: Residences,
        A: AreaSet,
        namer: Namer,
        dname: str,
        rng: np.random.Generator,
    ):
        self.geo, self.s, self.res, self.A, self.namer, self.dname, self.rng = (
            geo,
            s,
            res,
            A,
            namer,
            dname,
            rng,
        )
        self.out = FacilitySet()
        self.public_sites = self._public_sites()
        self.res_comm = np.array([A.ancestor(int(g), "community") for g in A.residence_grid])
        self.res_tree = cKDTree(res.xy)
        self.res_urban = np.array([A.areas[c].urban if c >= 0 else False for c in self.res_comm])

    def _public_sites(self) -> list[np.ndarray]:
        """Centres of public-use blocks of each lattice (schools, clinics, markets go there)."""
        out = []
        for lat in self.s.lattices:
            jj, ii = np.nonzero(np.isin(lat.landuse, (st.PUBLIC, st.COMMERCIAL)))
            pub = lat.landuse[jj, ii] == st.PUBLIC
            order = np.r_[np.nonzero(pub)[0], np.nonzero(~pub)[0]]
            out.append(lat.to_xy(lat.cell_uv(ii[order] + 0.5, jj[order] + 0.5)))
        return out

    def east(self, xy: np.ndarray) -> bool:
        return bool(xy[0] > self.geo.river_x(xy[1]))

    def community_site(self, c: int) -> np.ndarray:
        """A site inside community ``c``: beside one of its residences, else its seat."""
        a = self.A.areas[c]
        idx = np.nonzero(self.res_comm == c)[0]
        shapely.prepare(a.geom)
        for _ in range(20):
            base = self.res.xy[self.rng.choice(idx)] if len(idx) else self.A.seat_of(c)
            p = base + self.rng.normal(0, 12.0, 2)
            if _has(a.geom, p):
                return p
        return np.asarray(a.seat if a.seat is not None else a.geom.representative_point().coords[0])

    def seat_site(self, c: int) -> np.ndarray:
        a = self.A.areas[c]
        for _ in range(20):
            p = self.A.seat_of(c) + self.rng.normal(0, 25.0, 2)
            if _has(a.geom, p):
                return p
        return np.asarray(self.A.seat_of(c))

    def add(
        self, code: str, name: str, xy: np.ndarray, *, status: str = "open", operator: str | None = None
    ) -> int:
        floor, cap, hours, phone, op = SPEC[code]
        f = Facility(
            code, name, np.asarray(xy, dtype=float), self.community_of(xy), status=status, opening_hours=hours
        )
        if floor:
            f.floor_area_m2 = float(np.round(self.rng.uniform(*floor), -1))
        if cap:
            f.capacity = float(np.round(self.rng.uniform(*cap), -1))
        f.operator = operator or self.operator(op, f.community)
        self.out.items.append(f)
        return len(self.out.items) - 1

    def community_of(self, xy: np.ndarray) -> int:
        if not hasattr(self, "_ctree"):
            self._cids = np.array(self.A.of_level("community"))
            self._ctree = shapely.STRtree([self.A.areas[i].geom for i in self._cids])
        hit = self._ctree.query(shapely.points(xy), predicate="intersects")
        return int(self._cids[hit[0]]) if len(hit) else -1

    def operator(self, key: str, c: int) -> str:
        d = self.dname
        town = self.A.areas[self.A.areas[c].parent].name if c >= 0 else d
        com = self.A.areas[c] if c >= 0 else None
        local = f"{com.name}{'居民委员会' if com.kind == '社区' else '村民委员会'}" if com else town
        return {
            "edu": f"{d}教育局",
            "private_edu": f"{d[:2]}启蒙托育服务有限公司",
            "health": f"{d}卫生健康局",
            "private_care": f"{d[:2]}康颐养老服务有限公司",
            "civil": f"{d}民政局",
            "culture": f"{d}文化广电旅游体育局",
            "town": f"{town}办事处" if town.endswith("街道") else f"{town}人民政府",
            "local": local,
            "sport": f"{d}文化广电旅游体育局",
            "police": f"{d[:2]}公安分局",
            "market": f"{town}市场服务中心",
            "city": f"{d}城市管理和综合执法局",
            "social": f"{d}民政局",
        }[key]


CN_NUM = "一二三四五六七八九十"
_USES_PROPER = {
    "primary_school",
    "kindergarten",
    "nursery",
    "infant_care",
    "nursing_home",
    "sports_ground_medium",
    "food_market",
}


def _name(code: str, *, town: str, tproper: str, dproper: str, com: str, proper: str, n: int) -> str:
    """Realistic Chinese facility names from templates (``n`` = running number of the type)."""
    rural = town.endswith("镇")
    short = com[:-2] if com.endswith("社区") else com[:-1]
    t = {
        "middle_school": f"{dproper}区第{CN_NUM[n % 10]}中学" if not rural else f"{tproper}中学",
        "primary_school": f"{proper}小学" if not rural or n else f"{tproper}中心小学",
        "kindergarten": f"{short}幼儿园" if n % 2 == 0 else f"{proper}幼儿园",
        "nursery": f"{proper}托儿所",
        "infant_care": f"{proper}托育中心",
        "health_center": f"{town}卫生院" if rural else f"{town}社区卫生服务中心",
        "health_station": f"{com}卫生站" if com.endswith("村") else f"{com}卫生服务站",
        "nursing_home": f"{dproper}区{proper}养老院",
        "rural_elderly_home": f"{town}敬老院",
        "regional_elderly_center": f"{town}区域性养老服务中心",
        "elderly_complex": f"{town}社区养老服务综合体",
        "elderly_daycare": f"{com}老年人日间照料中心",
        "elderly_canteen": f"{com}长者饭堂",
        "culture_center": f"{town}综合文化活动中心",
        "culture_station": f"{com}文化活动室",
        "street_service_center": f"{town}社区服务中心" if not rural else f"{town}便民服务中心",
        "subdistrict_office": f"{town}办事处" if not rural else f"{town}人民政府",
        "community_service_station": f"{com}服务站",
        "party_mass_center": f"{com}党群服务中心",
        "community_complex": f"{com}综合服务中心",
        "sports_ground_large": f"{tproper}体育公园",
        "sports_ground_medium": f"{proper}运动场",
        "fitness_small": f"{com}健身广场",
        "police_station": f"{dproper}公安分局{tproper}派出所",
        "food_market": f"{proper}市场",
        "recycling_point": f"{com}再生资源回收点",
        "refuse_station": f"{com}垃圾收集站",
        "public_toilet": f"{short}公厕",
        "childrens_home": f"{com}儿童之家",
        "social_work_station": f"{town}社会工作服务站",
        "village_hall": f"{com}议事厅",
    }[code]
    return t


def _count(rng: np.random.Generator, x: float) -> int:
    return int(np.floor(x) + (rng.uniform() < x - np.floor(x)))


def _unique(name: str, seen: set[str]) -> str:
    out, k = name, 1
    while out in seen:
        k += 1
        out = (
            name.replace("市场", f"第{CN_NUM[k - 1]}市场") if "市场" in name else f"{name}（{CN_NUM[k - 1]}）"
        )
    seen.add(out)
    return out


class _Plan(_Placer):
    """The facility plan with its named gaps.

    ``FacilitySet.plan`` records, per community and required type, how many open facilities of the
    type the plan put inside the community (and inside its town) and which named gap, if any,
    leaves it out on purpose.
    """

    def run(self, towns: list[str], dproper: str) -> FacilitySet:
        self.seen: set[str] = set()
        self.nums: dict[str, int] = {}
        self.towns, self.dproper = towns, dproper
        self.left_out: dict[tuple[int, str], str] = {}
        self.fixed_capacity: set[int] = set()  # planted capacities the sizing leaves alone
        comms = self.A.of_level("community")
        self.people = {
            c: {
                m: float(getattr(self.res, m)[self.res_comm == c].sum())
                for m in ("population", "elderly", "children")
            }
            for c in comms
        }
        self._choose_gaps()
        self._choose_far_home()
        for ti in range(3):
            self._town(ti)
        self._choose_remote_village()
        for c in comms:
            self._community(c)
        self._ensure_all_types()
        self._plant_special()
        self._size({"kindergarten", "elderly_daycare", "primary_school"}, self.fixed_capacity)
        self._offices()
        self.out.plan = self._plan_rows()
        return self.out

    # --- the named gaps ------------------------------------------------------------------------

    def _urban(self) -> list[int]:
        return [c for c in self.A.of_level("community") if self.A.areas[c].urban]

    def _rural(self) -> list[int]:
        return [c for c in self.A.of_level("community") if not self.A.areas[c].urban]

    def _choose_gaps(self) -> None:
        """The old-town community and the two largest new estates of the east bank have no day care
        (the estates no kindergarten either: their premises were never handed over); the east bank
        has no township-level health centre, middle school or nursing home; the two smallest 村 have
        no comprehensive service facility; two small 村 closed their kindergartens."""
        A, pop = self.A, self.people
        gated = self._gated_community()
        old = -1
        if not self.geo.old_town.is_empty:
            centre = np.asarray(self.geo.old_town.centroid.coords[0])
            old = next(
                (c for c in self._urban() if A.areas[c].town == 0 and _has(A.areas[c].geom, centre)), -1
            )
        self.east_bank = [
            c
            for c in self._urban()
            if A.areas[c].town == 0 and A.areas[c].kind == "社区" and self.east(A.seat_of(c))
        ]
        estates = sorted(
            (c for c in self.east_bank if c not in (gated, old)), key=lambda c: -pop[c]["population"]
        )
        self.new_estates = estates[:2]
        self.no_daycare = sorted(({old} if old >= 0 else set()) | set(self.new_estates))
        for c in self.no_daycare:
            self.left_out[(c, "elderly_daycare")] = "no_daycare"
        for c in self.new_estates:
            self.left_out[(c, "kindergarten")] = "new_estate"
        for c in self.east_bank:
            for code in sorted(EAST_BANK_MISSING & set(TOWN_LEVEL)):
                self.left_out[(c, code)] = "east_bank"
        rural = sorted(self._rural(), key=lambda c: pop[c]["population"])
        self.no_complex = rural[:2] if len(rural) >= 6 else []
        for c in self.no_complex:
            self.left_out[(c, "community_complex")] = "rural_complex_gap"
        small = sorted(rural, key=lambda c: pop[c]["children"])
        self.kg_closed = [c for c in small if c not in self.no_complex][:2] if len(rural) >= 6 else []
        for c in self.kg_closed:
            self.left_out[(c, "kindergarten")] = "closed"
        for c in A.of_level("community"):
            if A.areas[c].town == 2:  # the rural town has its regional elderly-care centre instead
                self.left_out[(c, "nursing_home")] = "regional_centre"

    def _choose_far_home(self) -> None:
        """The rural town's 敬老院 stands on a former commune farm in the 村 second farthest from the
        town seat: beyond the half-hour circle of the villages on the far side."""
        cun = [c for c in self._rural() if self.A.areas[c].town == 2]
        seat = [c for c in self._urban() if self.A.areas[c].town == 2]
        self.far_home = -1
        if len(cun) >= 3 and seat:
            p = self.A.seat_of(seat[0])
            self.far_home = sorted(cun, key=lambda c: -np.hypot(*(self.A.seat_of(c) - p)))[1]

    def _choose_remote_village(self) -> None:
        """The 村 of the rural town farthest from its health centre: no day care, clinic closed."""
        hc = self._of("health_center", lambda f: f.community >= 0 and self.A.areas[f.community].town == 2)
        cun = [c for c in self._rural() if self.A.areas[c].town == 2]
        self.remote = -1
        if hc and cun:
            p = self.out.items[hc[0]].xy
            self.remote = max(cun, key=lambda c: np.hypot(*(self.A.seat_of(c) - p)))
            self.left_out[(self.remote, "elderly_daycare")] = "remote_village"

    # --- placing -------------------------------------------------------------------------------

    def _ensure_all_types(self) -> None:
        """Every type appears at least once per copy (small copies may miss a rare one)."""
        have = {f.type_code for f in self.out.items}
        comms = self.A.of_level("community")
        big = max(comms, key=lambda c: self.A.households[c])
        for code in SPEC:
            if code not in have and code not in AT_TOWN_SEAT:
                ti = (
                    1 if code in ("rural_elderly_home", "regional_elderly_center") else self.A.areas[big].town
                )
                c = (
                    big
                    if ti == self.A.areas[big].town
                    else next((c for c in comms if self.A.areas[c].town == ti), big)
                )
                self.add(code, self._label(code, c, self.A.areas[c].town), self.community_site(c))

    def _label(self, code: str, c: int, ti: int) -> str:
        n = self.nums.get(code, 0)
        self.nums[code] = n + 1
        tname = self.A.areas[self.A.of_level("town")[ti]].name
        com = self.A.areas[c].name if c >= 0 else tname
        name = _name(
            code,
            town=tname,
            tproper=self.towns[ti],
            dproper=self.dproper,
            com=com,
            proper=self.namer.proper() if code in _USES_PROPER else "",
            n=n,
        )
        return _unique(name, self.seen)

    def _town_sites(self, ti: int) -> np.ndarray:
        sites = self.public_sites[ti]
        town = self.A.areas[self.A.of_level("town")[ti]]
        shapely.prepare(town.geom)
        ok = shapely.contains_xy(town.geom, sites[:, 0], sites[:, 1]) if len(sites) else np.zeros(0, bool)
        return sites[ok]

    def _town(self, ti: int) -> None:
        """Township-level facilities on public-use blocks near the centres of the town's urban homes
        (count from its urban residents), then the optional ones."""
        sites = self._town_sites(ti)
        if len(sites) == 0:
            return
        A = self.A
        urban = [c for c in self._urban() if A.areas[c].town == ti]
        homes = (
            np.isin(self.res_comm, urban)
            if urban
            else np.isin(self.res_comm, [c for c in A.of_level("community") if A.areas[c].town == ti])
        )
        west = np.array([not self.east(p) for p in sites]) if ti == 0 else np.ones(len(sites), bool)
        upop = sum(self.people[c]["population"] for c in urban)
        for code, per in TOWN_LEVEL.items():
            if code == "nursing_home" and ti == 2:
                continue  # the rural town's villages are served by its regional elderly-care centre
            cand = sites[west] if code in EAST_BANK_MISSING else sites
            n = max(1, int(round(upop / per)))
            for p in self._near_centres(cand, self.res.xy[homes], self.res.population[homes], n):
                self.add(code, self._label(code, self.community_of(p), ti), p)
        rural = [c for c in self._rural() if A.areas[c].town == ti]
        if rural:  # the 敬老院 of a town with villages: at its seat, the rural town's on an old farm
            far = ti == 2 and self.far_home >= 0
            p = (
                self.seat_site(self.far_home)
                if far
                else self._near_centres(sites, self.res.xy[homes], self.res.population[homes], 1)[0]
            )
            i = self.add("rural_elderly_home", self._label("rural_elderly_home", self.community_of(p), ti), p)
            if far:
                self.out.plant(
                    "far_elderly_home",
                    "facilities",
                    i,
                    "the rural town's elderly home on a former "
                    "commune farm: beyond the half-hour circle of the villages on the far side",
                )
        used = 0
        for code, n in PER_TOWN[ti].items():
            for _ in range(n):
                cand = sites[west] if code in EAST_BANK_MISSING else sites
                p = cand[used % len(cand)] + self.rng.normal(0, 8.0, 2)
                used += 7
                self.add(code, self._label(code, self.community_of(p), ti), p)

    def _near_centres(self, sites: np.ndarray, xy: np.ndarray, w: np.ndarray, n: int) -> list[np.ndarray]:
        """``n`` different sites, each the one nearest a centre of the weighted homes ``xy``."""
        centres = weighted_kmeans(xy, w.astype(float) + 1e-9, n, self.rng) if len(xy) else sites[:1]
        out, taken = [], set()
        for ctr in centres:
            order = np.argsort(((sites - ctr) ** 2).sum(1))
            j = next((int(j) for j in order if int(j) not in taken), int(order[0]))
            taken.add(j)
            out.append(sites[j] + self.rng.normal(0, 8.0, 2))
        return out

    def _spread(self, c: int, n: int, basis: str, radius: float) -> list[np.ndarray]:
        """``n`` sites inside community ``c`` as a planner picks them: one after another, each beside
        the home with the most not yet served people (``basis``) within ``radius`` metres."""
        a = self.A.areas[c]
        idx = np.nonzero(self.res_comm == c)[0]
        inner = a.geom.buffer(-5.0)
        shapely.prepare(inner)
        xy = self.res.xy[idx]
        ok = shapely.contains_xy(inner, xy[:, 0], xy[:, 1]) if len(idx) else np.zeros(0, bool)
        if not ok.any():
            return [self.seat_site(c) for _ in range(n)]
        w = getattr(self.res, basis)[idx].astype(float) + 1e-6
        near = cKDTree(xy).query_ball_point(xy[ok], radius)
        cand = xy[ok]
        out = []
        for _ in range(n):
            j = int(np.argmax([w[k].sum() for k in near]))
            w[near[j]] = 0.0
            for _ in range(20):
                p = cand[j] + self.rng.normal(0, 10.0, 2)
                if _has(inner, p):
                    break
            else:
                p = cand[j]
            out.append(p)
        return out

    def _community(self, c: int) -> None:
        a = self.A.areas[c]
        spec = URBAN_COMMUNITY if a.urban else RURAL_COMMUNITY
        for code, (basis, per, least) in spec.items():
            if self.left_out.get((c, code), "closed") != "closed":
                continue
            n = 1 if per is None else max(least, int(round(self.people[c][basis] / per)))
            if n == 0:
                continue
            sites = (
                [self.seat_site(c) for _ in range(n)]
                if per is None or not a.urban
                else self._spread(c, n, basis, SPREAD_RADIUS[code])
            )
            for p in sites:
                if not self.on_islet(p):
                    self.add(code, self._label(code, c, a.town), p)
        for code, x in PER_COMMUNITY[a.kind].items():
            for _ in range(_count(self.rng, x)):
                p = self.seat_site(c) if a.kind == "村" else self.community_site(c)
                if self.on_islet(p):
                    continue
                self.add(code, self._label(code, c, a.town), p)

    def _size(self, codes: set[str], fixed: set[int]) -> None:
        """Places of the open facilities of ``codes`` (but ``fixed``) for everyone who may use them:
        every urban user living within ``reach_m`` in a straight line (no catchment over the streets
        is larger) and, with half again as many to spare, the rural users whose straight-line
        nearest it is within their ``reach_m``; at least the bottom of the type's range."""
        for code in sorted(codes & set(users_per_place())):
            idx = [i for i in self._of(code, lambda f: f.status == "open") if i not in fixed]
            capacity = SPEC[code][1]  # the type's capacity range; None: no capacity
            if not idx or not capacity:
                continue
            basis, per = users_per_place()[code]
            users = getattr(self.res, basis).astype(float)
            xy = np.array([self.out.items[i].xy for i in self._of(code, lambda f: f.status == "open")])
            rural = np.flatnonzero(~self.res_urban)
            dist, near = cKDTree(xy).query(self.res.xy[rural])
            ok = dist <= reach_m(code, "rural")
            by_nearest = np.bincount(near[ok], weights=users[rural][ok], minlength=len(xy))
            all_open = self._of(code, lambda f: f.status == "open")
            for i in idx:
                f = self.out.items[i]
                homes = np.asarray(
                    self.res_tree.query_ball_point(f.xy, reach_m(code, "urban")), dtype=np.int64
                )
                need = users[homes[self.res_urban[homes]]].sum() + 1.5 * by_nearest[all_open.index(i)]
                f.capacity = float(max(capacity[0], 10 * np.ceil(need / per / 10)))

    def on_islet(self, p: np.ndarray) -> bool:
        return _has(self.geo.islet.buffer(50), p)

    def _plant_special(self) -> None:
        out, A = self.out, self.A
        for c in self.no_daycare:
            why = (
                "new estate on the east bank: day-care premises not yet handed over"
                if c in self.new_estates
                else "old town: no premises for a day-care centre in the old lanes"
            )
            out.plant("no_daycare", "areas", c, f"urban community without an elderly day-care centre ({why})")
        for c in self.new_estates:
            out.plant(
                "new_estate",
                "areas",
                c,
                "new estate on the east bank: its kindergarten premises were "
                "never handed over (no kindergarten, no day care)",
            )
        for c in self.east_bank:
            out.plant(
                "east_bank",
                "areas",
                c,
                "east bank of the river: no community health centre or middle "
                "school on this side; few bridges",
            )
        for c in self.no_complex:
            out.plant(
                "rural_complex_gap",
                "areas",
                c,
                "small 村 without a community comprehensive service facility (its committee rents a room)",
            )
        towns = A.of_level("town")
        if len(towns) > 2 and any(A.areas[c].town == 2 for c in self._rural()):
            out.plant(
                "regional_centre",
                "areas",
                towns[2],
                "rural town without a nursing home: its villages "
                "rely on the regional rural elderly-care centre",
            )
        if self.no_daycare:
            c = max(self.no_daycare, key=lambda c: self.people[c]["elderly"])
            i = self.add(
                "elderly_daycare",
                self._label("elderly_daycare", c, A.areas[c].town),
                self._spread(c, 1, "elderly", SPREAD_RADIUS["elderly_daycare"])[0],
                status="planned",
            )
            out.plant("planned_daycare", "facilities", i, "planned day care closing a no_daycare gap")
        self._remote_village()
        self._closed_and_sizes()
        self._gated_daycare()
        self._islet()

    def _of(self, code: str, pred=lambda f: True) -> list[int]:
        return [i for i, f in enumerate(self.out.items) if f.type_code == code and pred(f)]

    def _remote_village(self) -> None:
        c = self.remote
        if c < 0:
            return
        clinics = self._of("health_station", lambda f: f.community == c)
        if not clinics:
            clinics = [self.add("health_station", self._label("health_station", c, 2), self.seat_site(c))]
        for i in clinics:
            self.out.items[i].status = "closed"
        self.out.plant(
            "remote_village",
            "areas",
            c,
            "village farthest from the township health centre; its clinic is closed and it has no day care",
        )
        self.out.plant("closed", "facilities", clinics[0], "closed village clinic (remote_village)")

    def _closed_and_sizes(self) -> None:
        items, out = self.out.items, self.out
        for c in self.kg_closed:
            for i in self._of("kindergarten", lambda f, c=c: f.community == c):
                items[i].status = "closed"
                out.plant("closed", "facilities", i, "village kindergarten closed (falling births)")
        can = self._of("elderly_canteen")
        if can:
            items[can[-1]].status = "closed"
            out.plant("closed", "facilities", can[-1], "closed elderly canteen")
        dc = self._of("elderly_daycare", lambda f: f.status == "open")
        if dc:
            items[dc[0]].floor_area_m2, items[dc[0]].capacity = 200.0, 20.0
            self.fixed_capacity.add(dc[0])
            out.plant("undersized", "facilities", dc[0], "day care of 200 m² (standard 350-750 m²)")
        css = self._of("community_service_station")
        if css:
            items[css[0]].floor_area_m2 = 300.0
            out.plant(
                "undersized", "facilities", css[0], "community service station of 300 m² (standard 600 m²)"
            )
        urban = self._urban()
        if urban:
            c = max(urban, key=lambda c: self.people[c]["children"])
            k = self._of("kindergarten", lambda f: f.community == c)
            i = (
                k[0]
                if k
                else self.add(
                    "kindergarten",
                    self._label("kindergarten", c, self.A.areas[c].town),
                    self.community_site(c),
                )
            )
            items[i].capacity, items[i].floor_area_m2 = 90.0, 900.0  # a converted shop floor
            self.fixed_capacity.add(i)
            out.plant(
                "overloaded", "facilities", i, "90-place kindergarten in the community with most children"
            )
        # a few ordinary planned/closed ones
        for i in self.rng.choice(len(items), size=max(1, len(items) // 60), replace=False):
            if items[i].status == "open" and items[i].type_code in (
                "fitness_small",
                "public_toilet",
                "recycling_point",
                "culture_station",
            ):
                items[i].status = "planned"

    def _offices(self) -> None:
        """One 街道办事处 / 乡镇人民政府 per town, beside its community service centre (else at the
        seat of its largest community)."""
        for ti in range(len(self.A.of_level("town"))):
            centre = self._of(
                "street_service_center",
                lambda f, ti=ti: f.community >= 0 and self.A.areas[f.community].town == ti,
            )
            comms = [c for c in self.A.of_level("community") if self.A.areas[c].town == ti]
            if centre:
                p = self.out.items[centre[0]].xy + np.array([25.0, 0.0])
            elif comms:
                p = np.asarray(self.A.seat_of(max(comms, key=lambda c: self.A.households[c])), dtype=float)
            else:
                continue
            self.add("subdistrict_office", self._label("subdistrict_office", self.community_of(p), ti), p)

    def _gated_community(self) -> int:
        """Community of the single-gate compound (it gets a day care inside: not a no_daycare gap)."""
        one = [c for c in self.s.compounds if c.gates == 1]
        if not one:
            return -1
        lat = self.s.lattices[one[0].lattice]
        return self.community_of(np.asarray(one[0].polygon(lat, inset=40.0).representative_point().coords[0]))

    def _gated_daycare(self) -> None:
        one = [c for c in self.s.compounds if c.gates == 1]
        if not one:
            return
        c = one[0]
        lat = self.s.lattices[c.lattice]
        p = np.asarray(c.polygon(lat, inset=40.0).representative_point().coords[0])
        com = self.community_of(p)
        if com < 0:
            return
        i = self.add("elderly_daycare", self._label("elderly_daycare", com, self.A.areas[com].town), p)
        self.out.plant("gated_daycare", "facilities", i, "day care inside a gated compound with one gate")

    def _islet(self) -> None:
        vi = [i for i, v in enumerate(self.s.villages) if v.islet]
        if not vi:
            return
        centre = self.s.villages[vi[0]].centre
        g = [i for i in self.A.of_level("grid_small") if _has(self.A.areas[i].geom, centre)]
        if g:
            self.out.plant("islet", "areas", g[0], "islet village: no facility, no road link (ferry only)")

    def _plan_rows(self) -> list[dict]:
        """Per community and required type of its class: open facilities inside it and inside its
        town, the level the plan provides the type at, and the named gap leaving it out."""
        A = self.A
        open_in: dict[tuple[int, str], int] = {}
        for f in self.out.items:
            if f.status == "open" and f.community >= 0:
                open_in[(f.community, f.type_code)] = open_in.get((f.community, f.type_code), 0) + 1
        rows = []
        for c in A.of_level("community"):
            a = A.areas[c]
            local = URBAN_COMMUNITY if a.urban else RURAL_COMMUNITY
            town_level = list(TOWN_LEVEL) + (
                [] if a.urban else ["primary_school", "food_market", "rural_elderly_home"]
            )
            peers = [k for k in A.of_level("community") if A.areas[k].town == a.town]
            for code in [*local, *town_level]:
                rows.append(
                    {
                        "index": c,
                        "circle": "urban" if a.urban else "rural",
                        "type_code": code,
                        "level": "community" if code in local else "town",
                        "placed": open_in.get((c, code), 0),
                        "town_placed": sum(open_in.get((k, code), 0) for k in peers),
                        "gap": self.left_out.get((c, code), ""),
                    }
                )
        return rows


def build(
    geo: Geography,
    s: st.Settlement,
    res: Residences,
    A: AreaSet,
    namer: Namer,
    towns: list[str],
    district: str,
    rng: np.random.Generator,
) -> FacilitySet:
    """Facilities of one copy with the planted gaps of the module docstring."""
    return _Plan(geo, s, res, A, namer, district, rng).run(towns, district[:2])
