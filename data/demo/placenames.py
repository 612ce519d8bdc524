"""Place names of one copy, with irregular, historical and heritage names planted on purpose.

Categories are the codes of data/placenames/categories.csv (GB/T 18521-based): county, town,
community, village, natural_village, trunk_road, road, lane, estate, building, bridge, station,
park, scenic, zone, mountain, water, island.

Planted cases (status ``irregular`` unless noted; each also listed in ``DemoDistrict.planted``):

- 大 exaggerated: estates ``世界城`` and ``中央公馆``, building ``环球中心``; generic oversize:
  a 100 m old-town lane named ``金龙大道`` (category lane).
- 洋 foreign: estates ``威尼斯花园``, ``维也纳小区``, ``香榭丽舍``; building ``曼哈顿广场``.
- 怪 odd: estate ``皇庭御府`` (feudal), ``EE新城`` (Latin letters), ``8号公馆`` (digit),
  ``澄灣花园`` (traditional 灣 mixed with simplified 园), road ``東湖路`` (traditional form) next
  to ``东湖公园``; a rare character (outside GB 2312 and the regional table): natural village ``𣒍坑``
  and the lanes named after it.
- 重 duplicate/homophone: ``新华路`` in the city and again in the town seat (duplicate in the
  district); ``新华路`` and ``新桦路`` in the same town and ``康宁街`` / ``康凝街`` (homophones);
  estate ``翠苑`` twice in the city.
- control (must NOT be flagged as rare): natural village ``湴田`` uses 湴, a local character
  accepted in data/placenames/extra_common_chars.txt, and ``㘭背`` uses 㘭, a Lingnan place-name
  character of data/placenames/regional_chars.csv.
- history (``HISTORIES``, written by the loader as place_name_history rows with their dates and
  approval numbers 文号): ``打铁街`` was renamed ``兴业路`` in 1993, ``上林堡`` became ``上林`` in 2004,
  the market ``鹭田墟`` became the town ``鹭田镇`` in 1987; Qing-era names (``永济桥``, ``盐埠老街``,
  ``文昌阁``) were registered by the 1984 place-name census. Other names are dated by their approval.
- retired (status ``historical``): lane ``鹭田墟巷``, demolished in 2021, whose sign is still up
  (sign status 待拆除).
- heritage: natural village ``上林`` (古村), old-town lane ``盐埠老街``, pavilion ``文昌阁``, the
  Qing-dynasty stone bridge on the rural crossing (``永济桥``).
- no sign (``sign_present`` False): about a fifth of names at random, plus every natural village
  of the ``remote_village`` 村 (case ``no_sign``).

Only copy 0 (澄湾区) plants the fixed examples; every copy plants its own rare-character,
heritage and no-sign villages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from . import settlement as st
from ._geom import ellipse, poisson_points
from .areas import AreaSet
from .facilities import FacilitySet
from .geography import Geography
from .names import GENERICS, Namer, split_generic
from .network import Network
from .residences import Residences

CENSUS = "澄湾县地名普查登记（1984）"
"""Approval of the names registered by the 1984 place-name census (第一次全国地名普查)."""
CENSUS_DATE = "1984-06-30"
HISTORIES: dict[str, tuple[tuple[str, str | None, str, str, str], ...]] = {
    "兴业路": (
        ("create", None, "打铁街", CENSUS, CENSUS_DATE),
        ("rename", "打铁街", "兴业路", "澄府〔1993〕27号 1993-03-18", "1993-03-18"),
    ),
    "上林": (
        ("create", None, "上林堡", CENSUS, CENSUS_DATE),
        ("rename", "上林堡", "上林", "澄府地〔2004〕8号 2004-11-02", "2004-11-02"),
    ),
    "鹭田镇": (
        ("create", None, "鹭田墟", CENSUS, CENSUS_DATE),
        ("rename", "鹭田墟", "鹭田镇", "粤府函〔1987〕112号 1987-09-01", "1987-09-01"),
    ),
    "永济桥": (("create", None, "永济桥", CENSUS, CENSUS_DATE),),
    "盐埠老街": (("create", None, "盐埠老街", CENSUS, CENSUS_DATE),),
    "文昌阁": (("create", None, "文昌阁", CENSUS, CENSUS_DATE),),
    "鹭田墟巷": (
        ("create", None, "鹭田墟巷", CENSUS, CENSUS_DATE),
        ("retire", None, "鹭田墟巷", "澄府地〔2021〕9号 2021-06-30", "2021-06-30"),
    ),
}
"""History of the copy-0 names (current name → rows action, old_name, new_name, approval, date; oldest
first): the loader writes them as place_name_history instead of a registration on the load date."""
HISTORY_COLUMNS = ["name_id", "action", "old_name", "new_name", "approval", "changed_at"]


def history_rows(names: pd.DataFrame) -> pd.DataFrame:
    """place_name_history rows of the demo: ``HISTORIES`` for the copy-0 names they name, else one
    ``create`` row dated by the name's approval (``YYYY-MM-DD`` in it) or, without one, None (the
    load date). Columns ``HISTORY_COLUMNS``.

    ``names`` is the place_names frame (name_id, name, approval).
    """
    rows: list[tuple[int, str, str | None, str, str | None, str | None]] = []
    for r in names.itertuples():
        known = HISTORIES.get(r.name)
        if known:
            rows += [(int(r.name_id), *entry) for entry in known]
            continue
        approval = r.approval if isinstance(r.approval, str) else None
        found = re.search(r"\d{4}-\d{2}-\d{2}", approval or "")
        rows.append((int(r.name_id), "create", None, r.name, approval, found.group() if found else None))
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


RARE = ("𣒍坑",)
"""Planted rare-character village names; a 村 is never named after them (see ``areas``)."""
REGIONAL = ("㘭背",)
"""Planted village names with a regional character (regional_chars.csv): local, not flagged."""
SIGN_RATE = {
    "county": 1.0,
    "town": 0.95,
    "community": 0.0,
    "village": 0.9,
    "natural_village": 0.7,
    "trunk_road": 0.95,
    "road": 0.88,
    "lane": 0.72,
    "estate": 0.9,
    "building": 0.85,
    "bridge": 0.95,
    "station": 0.98,
    "park": 0.95,
    "scenic": 0.9,
    "zone": 0.8,
    "mountain": 0.3,
    "water": 0.6,
    "island": 0.5,
}


@dataclass
class PlaceName:
    name: str
    category: str
    geom: BaseGeometry
    area: int = -1
    proper: str | None = None
    generic: str | None = None
    status: str = "standard"
    heritage: bool = False
    sign_present: bool = True
    approval: str | None = None
    meaning: str | None = None


@dataclass
class NameSet:
    items: list[PlaceName] = field(default_factory=list)
    planted: list[dict] = field(default_factory=list)

    def add(self, p: PlaceName, *, case: str | None = None, note: str = "") -> int:
        self.items.append(p)
        if case:
            self.planted.append(
                {"case": case, "layer": "place_names", "index": len(self.items) - 1, "note": note or p.name}
            )
        return len(self.items) - 1


def village_names(
    s: st.Settlement, namer: Namer, rng: np.random.Generator
) -> tuple[list[str], dict[str, int]]:
    """Names of the natural villages; a few planted: rare characters, heritage and a control case."""
    names = [namer.village() for _ in s.villages]
    cand = [i for i, v in enumerate(s.villages) if not v.islet]
    picks = rng.choice(cand, size=min(4, len(cand)), replace=False)
    special = {}
    for i, nm in zip(picks, RARE + REGIONAL + ("上林", "湴田"), strict=False):
        names[i] = nm
        namer.used.add(nm)
        special[nm] = int(i)
    return names, special


# --- planting on roads --------------------------------------------------------------------------


def _roads_where(net: Network, pred) -> list[int]:
    return [i for i, r in enumerate(net.roads) if pred(r)]


def _rename(net: Network, rid: int, name: str, namer: Namer, *, keep: set[int]) -> None:
    """Give road ``rid`` the name ``name``; another unplanted road holding it gets a fresh name."""
    for j, r in enumerate(net.roads):
        if r.name == name and j != rid and j not in keep:
            r.name = namer.road(split_generic(r.name, ("大道", "路", "街"))[1] or "路")
    net.roads[rid].name = name
    keep.add(rid)


def _edge_count(net: Network) -> np.ndarray:
    return np.bincount(net.road, minlength=len(net.roads))


def plant_roads(net: Network, namer: Namer, rng: np.random.Generator, *, copy: int) -> dict[str, list[int]]:
    """Rename some roads to the planted irregular/heritage names (copy 0 only)."""
    if copy != 0:
        return {}
    cnt = _edge_count(net)
    city = _roads_where(net, lambda r: r.kind == "lattice:city" and r.highway in ("residential", "tertiary"))
    city = [r for r in city if cnt[r] >= 6]
    seat = [r for r in _roads_where(net, lambda r: r.kind == "lattice:seat") if cnt[r] >= 6]
    lanes = [r for r in _roads_where(net, lambda r: r.kind == "lane") if cnt[r] >= 3]
    keep: set[int] = set()
    out: dict[str, list[int]] = {}
    pick = [int(x) for x in rng.choice(city, size=min(6, len(city)), replace=False)]
    for rid, nm in zip(pick, ("新华路", "新桦路", "康宁街", "康凝街", "東湖路", "兴业路"), strict=False):
        _rename(net, rid, nm, namer, keep=keep)
        out[nm] = [rid]
    if seat:
        rid = int(rng.choice(seat))
        _rename(net, rid, "新华路", namer, keep=keep)
        out["新华路"] = out.get("新华路", []) + [rid]
    for rid, nm in zip(lanes[:2], ("金龙大道", "盐埠老街"), strict=False):
        _rename(net, rid, nm, namer, keep=keep)
        out[nm] = [rid]
    return out


# --- building the names ------------------------------------------------------------------------


def _road_key(r) -> tuple[str, str]:
    """Roads of one name in one setting form one place name (rural links, bridge spans)."""
    return r.name, "lattice:city" if r.kind == "bridge" else r.kind


def _road_geoms(net: Network) -> dict[int, LineString]:
    """One LineString per named road: its merged edges (longest piece if split by the river).

    Keyed by the first road index of each (name, setting) group.
    """
    named = [
        i for i, r in enumerate(net.roads) if r.name is not None and r.kind not in ("motorway", "greenway")
    ]
    first: dict[tuple, int] = {}
    group = np.full(len(net.roads), -1)
    for i in named:
        group[i] = first.setdefault(_road_key(net.roads[i]), i)
    g = group[net.road]
    sel = np.nonzero(g >= 0)[0]
    order = sel[np.argsort(g[sel], kind="stable")]
    roads, starts = np.unique(g[order], return_index=True)
    out = {}
    for r, part in zip(roads, np.split(order, starts[1:]), strict=True):
        segs = np.stack([net.xy[net.u[part]], net.xy[net.v[part]]], axis=1)
        merged = shapely.line_merge(shapely.multilinestrings(shapely.linestrings(segs)))
        parts = shapely.get_parts(merged)
        out[int(r)] = parts[np.argmax(shapely.length(parts))]
    return out


def _category(name: str, highway: str) -> str:
    if name.endswith(("巷", "里", "坊", "老街")):
        return "lane"
    return "trunk_road" if name.endswith("大道") else "road"


class _Names:
    """Collects the place names of one copy."""

    def __init__(
        self,
        geo: Geography,
        s: st.Settlement,
        res: Residences,
        A: AreaSet,
        net: Network,
        F: FacilitySet,
        namer: Namer,
        vnames: list[str],
        special: dict[str, int],
        road_plants: dict[str, list[int]],
        copy: int,
        dproper: str,
        rng: np.random.Generator,
    ):
        self.geo, self.s, self.res, self.A, self.net, self.F = geo, s, res, A, net, F
        self.namer, self.vnames, self.special, self.road_plants = namer, vnames, special, road_plants
        self.copy, self.dproper, self.rng = copy, dproper, rng
        self.N = NameSet()

    def sign(self, cat: str) -> bool:
        return bool(self.rng.uniform() < SIGN_RATE[cat])

    def approval(self) -> str:
        year = int(self.rng.integers(2008, 2024))
        return (
            f"{self.dproper}府地〔{year}〕{int(self.rng.integers(1, 60))}号 "
            f"{year}-{int(self.rng.integers(1, 13)):02d}-15"
        )

    def _approval(self, name: str, status: str) -> str | None:
        """The latest approval of a name with a known history (``HISTORIES``), else a random one for
        standard names (the random stream is drawn either way, so the rest of the district is unchanged)."""
        drawn = self.approval() if status == "standard" else None
        return HISTORIES[name][-1][3] if name in HISTORIES else drawn

    def add(
        self,
        name: str,
        cat: str,
        geom,
        *,
        area: int = -1,
        status: str = "standard",
        heritage: bool = False,
        meaning: str | None = None,
        case: str | None = None,
        note: str = "",
        sign: bool | None = None,
    ) -> int:
        proper, generic = split_generic(name, GENERICS)
        p = PlaceName(
            name=name,
            category=cat,
            geom=geom,
            area=area,
            proper=proper,
            generic=generic,
            status=status,
            heritage=heritage,
            sign_present=self.sign(cat) if sign is None else sign,
            approval=self._approval(name, status),
            meaning=meaning,
        )
        return self.N.add(p, case=case, note=note)

    def run(self) -> NameSet:
        self._admin()
        self._villages()
        self._roads()
        self._estates_buildings()
        self._bridges()
        self._nature()
        self._stations()
        self._areas()
        return self.N

    # --- administrative units and villages ----------------------------------------------------

    def _admin(self) -> None:
        A, geo = self.A, self.geo
        zones = (geo.city, geo.seat, geo.rural_seat)
        self.add(
            A.areas[0].name,
            "county",
            Point(zones[0].centroid),
            area=0,
            meaning=f"以{self.dproper}海湾得名（虚构演示）",
        )
        for ti, t in enumerate(A.of_level("town")):
            self.add(A.areas[t].name, "town", Point(zones[ti].centroid), area=t)
        if self.copy == 0:  # a lane of the old 鹭田墟 market, demolished in 2021; its sign is still up
            c = zones[2].centroid
            self.sign("lane")  # the draw of the former 鹭田墟 record: the rest of the district stays the same
            self.add(
                "鹭田墟巷",
                "lane",
                LineString([(c.x - 40, c.y + 30), (c.x + 40, c.y + 30)]),
                status="historical",
                meaning="鹭田墟旧街巷，2021年旧墟改造时灭失",
                case="historical",
                sign=True,
                note="retired lane whose sign is still up (待拆除)",
            )
        for c in A.of_level("community"):
            a = A.areas[c]
            self.add(a.name, "community" if a.kind == "社区" else "village", Point(a.seat), area=c)

    def _villages(self) -> None:
        remote = [p["index"] for p in self.F.planted if p["case"] == "remote_village"]
        for i, (v, nm) in enumerate(zip(self.s.villages, self.vnames, strict=True)):
            kw: dict = {}
            if nm in RARE and self.special.get(nm) == i:
                kw = {"status": "irregular", "case": "rare_char", "note": f"{nm}: character outside GB 2312"}
            elif nm == "上林" and self.special.get(nm) == i:
                kw = {
                    "heritage": True,
                    "meaning": "明代建村，原名上林堡，存清代民居群的古村落",
                    "case": "heritage",
                }
                # the draw of the former separate 上林堡 record: the district stays the same
                self.sign("natural_village")
            elif nm == "湴田" and self.special.get(nm) == i:
                kw = {
                    "case": "control_local_char",
                    "note": "湴 is an accepted local character: not irregular",
                }
            elif nm in REGIONAL and self.special.get(nm) == i:
                kw = {
                    "case": "control_regional_char",
                    "note": f"{nm}: a Lingnan place-name character, not irregular",
                }
            if remote and shapely.contains_xy(self.A.areas[remote[0]].geom, *v.centre):
                kw.update(sign=False)
                kw.setdefault("case", "no_sign")
                kw.setdefault("note", "natural village of the remote 村 without a sign")
            self.add(nm, "natural_village", Point(v.centre), **kw)

    # --- roads, estates, buildings, bridges ------------------------------------------------------

    def _roads(self) -> None:
        geoms = _road_geoms(self.net)
        plants = {rid: nm for nm, rids in self.road_plants.items() for rid in rids}
        seat_dup = set(self.road_plants.get("新华路", [])[1:])
        for rid, g in geoms.items():
            r = self.net.roads[rid]
            if r.kind == "greenway":  # 绿道 is no place-name generic: the name stays on the edges only
                continue
            if r.name is None:  # _road_geoms holds named roads only
                continue
            kw: dict = {}
            nm = plants.get(rid)
            if nm == "東湖路":
                kw = {
                    "status": "irregular",
                    "case": "traditional",
                    "note": "東湖路: traditional form next to 东湖公园",
                }
            elif nm in ("新桦路", "康凝街"):
                kw = {"status": "irregular", "case": "homophone", "note": f"{nm}: homophone in the same town"}
            elif rid in seat_dup:
                kw = {"status": "irregular", "case": "duplicate", "note": "新华路 again in the town seat"}
            elif nm == "金龙大道":
                kw = {"status": "irregular", "case": "generic_oversize", "note": "a short lane called 大道"}
                self.add(r.name, "lane", g, **kw)
                continue
            elif nm == "盐埠老街":
                self.add(r.name, "road", g, heritage=True, meaning="清代盐运埠头老街", case="heritage")
                continue
            elif r.kind == "village" and r.name.startswith(RARE):
                kw = {
                    "status": "irregular",
                    "case": "rare_char",
                    "note": f"{r.name}: lane named after a rare-character village",
                }
            elif nm == "兴业路":
                self.sign("road")  # the draw of the former separate 打铁街 record
                kw = {
                    "meaning": "原名打铁街（旧时打铁铺聚集），1993年更名兴业路",
                    "case": "renamed",
                    "note": "renamed from 打铁街 in 1993 (HISTORIES)",
                }
            self.add(r.name, _category(r.name, r.highway), g, **kw)

    def _estate_geom(self, e: dict):
        lat = self.s.lattices[e["lattice"]]
        if e["compound"] >= 0:
            return self.s.compounds[e["compound"]].polygon(lat)
        g = shapely.union_all([lat.cell_polygon(i, j) for i, j in e["cells"]]).buffer(0.5)
        return g if isinstance(g, Polygon) else g.convex_hull

    def _estates_buildings(self) -> None:
        res = self.res
        hh = np.bincount(
            res.estate[res.estate >= 0], weights=res.households[res.estate >= 0], minlength=len(res.estates)
        )
        names = [self.namer.estate() for _ in res.estates]
        cases: list[str | None] = [None] * len(names)
        if self.copy == 0 and len(names) >= 12:
            order = list(np.argsort(-hh))
            plant = [
                ("世界城", "exaggerated"),
                ("中央公馆", "exaggerated"),
                ("威尼斯花园", "foreign"),
                ("维也纳小区", "foreign"),
                ("香榭丽舍", "foreign"),
                ("皇庭御府", "feudal"),
                ("EE新城", "latin_or_digit"),
                ("8号公馆", "latin_or_digit"),
                ("澄灣花园", "mixed_script"),
                ("翠苑", None),
                ("翠苑", "duplicate"),
            ]
            for k, (nm, case) in enumerate(plant):
                names[order[k]], cases[order[k]] = nm, case
        self.estate_names = names
        for e, nm, case in zip(res.estates, names, cases, strict=True):
            kw: dict[str, Any] = {"status": "irregular", "case": case} if case else {}
            self.add(nm, "estate", self._estate_geom(e), **kw)
        self._buildings()

    def _buildings(self) -> None:
        commercial: list[np.ndarray] = []
        for lat in self.s.lattices:
            jj, ii = np.nonzero(lat.landuse == st.COMMERCIAL)
            commercial.append(lat.to_xy(lat.cell_uv(ii + 0.5, jj + 0.5)))
            jj, ii = np.nonzero(lat.landuse == st.URBAN_VILLAGE)
            for i, j in zip(ii[::3], jj[::3], strict=True):
                # old village cores swallowed by the city (城中村) keep their village names
                self.add(
                    self.namer.village(),
                    "natural_village",
                    Point(lat.to_xy(lat.cell_uv(i + 0.5, j + 0.5))[0]),
                )
        pts = np.vstack(commercial)
        for k, p in enumerate(pts):
            kw: dict = {}
            if self.copy == 0 and k == 0:
                nm, kw = "环球中心", {"status": "irregular", "case": "exaggerated"}
            elif self.copy == 0 and k == 1:
                nm, kw = "曼哈顿广场", {"status": "irregular", "case": "foreign"}
            else:
                nm = self.namer.building()
            self.add(nm, "building", Point(p), **kw)

    def _bridges(self) -> None:
        river = self.river_name()
        for b in self.net.bridges:
            if b["kind"] == "road":
                street = split_generic(b["street"], ("大道", "路", "街"))[0]
                nm = (
                    f"{river}大桥"
                    if not any(x.name == f"{river}大桥" for x in self.N.items)
                    else f"{street}大桥"
                )
                self.add(nm, "bridge", b["line"])
            elif b["kind"] == "foot":
                self.add(f"{self.namer.proper()}桥", "bridge", b["line"], meaning="人行桥")
            elif self.copy == 0:
                self.add(
                    "永济桥",
                    "bridge",
                    b["line"],
                    heritage=True,
                    meaning="清代石拱桥，今为乡道桥",
                    case="heritage",
                )
            else:
                self.add(f"{self.namer.proper()}桥", "bridge", b["line"])
        mw = np.array([r.kind == "motorway" for r in self.net.roads])[self.net.road] & self.net.bridge
        if mw.any():
            segs = np.stack([self.net.xy[self.net.u[mw]], self.net.xy[self.net.v[mw]]], axis=1)
            line = shapely.line_merge(shapely.multilinestrings(shapely.linestrings(segs)))
            parts = shapely.get_parts(line)
            self.add(f"{river}特大桥", "bridge", parts[np.argmax(shapely.length(parts))])

    def river_name(self) -> str:
        return "澄江" if self.copy == 0 else f"{self.dproper[0]}江"

    # --- nature, parks, zones, stations --------------------------------------------------------

    def water_names(self) -> dict[str, str]:
        return {"river": self.river_name(), "lake": self.lake_name, "sea": self.dproper + "海域"}

    def _nature(self) -> None:
        geo = self.geo
        river_line = shapely.intersection(geo.river_line, geo.main)
        parts = shapely.get_parts(river_line)
        self.add(
            self.river_name(),
            "water",
            parts[np.argmax(shapely.length(parts))],
            meaning="江水清澈得名（虚构）",
        )
        peaks = []
        for p in poisson_points(geo.hills.buffer(-300), max(3, int(round(8 * geo.size))), 1500.0, self.rng):
            nm = self.namer.mountain()
            peaks.append(nm)
            self.add(nm, "mountain", Point(p))
        self.lake_name = (
            split_generic(peaks[0], ("山", "嶂", "峰"))[0] if peaks else self.namer.proper()
        ) + "水库"
        self.add(self.lake_name, "water", geo.lake)
        bay = (
            ellipse(0.60 * geo.w, 0.0, 0.07 * geo.w, 0.07 * geo.h)
            .intersection(shapely.box(*geo.main.bounds))
            .difference(geo.main)
        )
        bay = max(shapely.get_parts(bay), key=lambda g: g.area) if not bay.is_empty else geo.main.envelope
        self.add(self.dproper, "water", bay, meaning="区名所自（虚构演示）")
        self.add(f"{self.dproper}岛", "island", geo.main)
        self.islet_name = "鹭屿" if self.copy == 0 else f"{self.namer.proper()[0]}屿"
        self.add(self.islet_name, "island", geo.islet)
        self._parks()

    def _parks(self) -> None:
        lat = self.s.lattices[0]
        if self.s.park is not None:
            i0, j0, ni, nj = self.s.park
            self.add(
                "东湖公园" if self.copy == 0 else f"{self.namer.proper()}公园",
                "park",
                lat.cell_polygon(i0, j0, n=3),
            )
        jj, ii = np.nonzero(lat.landuse == st.GREEN)
        for i, j in list(zip(ii, jj, strict=True))[:6]:
            self.add(f"{self.namer.proper()}公园", "park", lat.cell_polygon(int(i), int(j)))
        for li, label in (
            (0, f"{self.dproper}工业园"),
            (1, f"{self.A.areas[self.A.of_level('town')[1]].name[:2]}产业园"),
        ):
            lt = self.s.lattices[li]
            jj, ii = np.nonzero(lt.landuse == st.INDUSTRIAL)
            if len(ii):
                g = shapely.union_all([lt.cell_polygon(int(i), int(j)) for i, j in zip(ii, jj, strict=True)])
                self.add(label, "zone", g.convex_hull)
        if not self.geo.old_town.is_empty:
            self.add(
                "文昌阁",
                "scenic",
                Point(self.geo.old_town.centroid),
                heritage=True,
                meaning="清代魁星楼阁（虚构）",
                case="heritage",
            )

    def _stations(self) -> None:
        """Bus stops every ~450 m on main roads (named after the cross street) and one per village."""
        net, seen = self.net, {x.name for x in self.N.items}
        named = np.array([r.name is not None and r.kind != "motorway" for r in net.roads])
        sel = np.nonzero(named[net.road])[0]
        mids = (net.xy[net.u[sel]] + net.xy[net.v[sel]]) / 2
        tree = shapely.STRtree(shapely.points(mids))
        main = {"primary", "secondary", "tertiary"}
        planted = {r for rids in self.road_plants.values() for r in rids}  # stops keep clear of odd names
        for rid, r in enumerate(net.roads):
            if r.highway not in main or r.name is None:
                continue
            idx = np.nonzero(net.road == rid)[0]
            if len(idx) == 0:
                continue
            pts = net.xy[np.unique(np.r_[net.u[idx], net.v[idx]])]
            for p in self._every(pts, 350.0):
                near = tree.query(Point(p), predicate="dwithin", distance=150.0)
                other = [
                    net.roads[net.road[sel[k]]].name
                    for k in near
                    if net.road[sel[k]] != rid and net.road[sel[k]] not in planted
                ]
                nm = f"{other[0]}口站" if other else None
                if nm and nm not in seen:
                    seen.add(nm)
                    self.add(nm, "station", Point(p))
        for v, nm in zip(self.s.villages, self.vnames, strict=True):
            if not v.islet and f"{nm}站" not in seen:
                seen.add(f"{nm}站")
                station: dict[str, Any] = {"status": "irregular", "case": "rare_char"} if nm in RARE else {}
                self.add(f"{nm}站", "station", Point(v.centre + 25.0), **station)
        self.add(f"{self.dproper}汽车客运站", "station", Point(self.geo.city.centroid.coords[0]))
        self.add(f"{self.dproper}港客运码头", "station", Point(self._coast_point()))
        icx, icy = self.geo.islet.centroid.coords[0]
        self.add(f"{self.islet_name}码头", "station", Point(icx, icy))

    @staticmethod
    def _every(pts: np.ndarray, step: float) -> list[np.ndarray]:
        """Points about ``step`` metres apart along the principal axis of ``pts``."""
        c = pts - pts.mean(axis=0)
        axis = np.linalg.svd(c, full_matrices=False)[2][0]
        t = c @ axis
        order = np.argsort(t)
        out, last = [], -np.inf
        for i in order:
            if t[i] - last >= step:
                out.append(pts[i])
                last = t[i]
        return out

    def _coast_point(self) -> np.ndarray:
        c = np.asarray(self.geo.city.centroid.coords[0])
        ring = self.geo.main.exterior
        return np.asarray(ring.interpolate(ring.project(Point(c))).coords[0]) + [0.0, 30.0]

    def _areas(self) -> None:
        """Area of every name: its own area for divisions, else the small grid it lies in."""
        small = np.array(self.A.of_level("grid_small"))
        tree = shapely.STRtree([self.A.areas[i].geom for i in small])
        todo = [k for k, p in enumerate(self.N.items) if p.area < 0]
        rep = [
            shapely.line_interpolate_point(p.geom, 0.5, normalized=True)
            if p.geom.geom_type == "LineString"
            else p.geom.representative_point()
            for p in (self.N.items[k] for k in todo)
        ]
        pi, gi = tree.query(np.array(rep, dtype=object), predicate="intersects")
        first = np.unique(pi, return_index=True)[1]
        for k in todo:
            self.N.items[k].area = 0
        for a, b in zip(pi[first], gi[first], strict=True):
            self.N.items[todo[a]].area = int(small[b])


def build(
    geo: Geography,
    s: st.Settlement,
    res: Residences,
    A: AreaSet,
    net: Network,
    F: FacilitySet,
    namer: Namer,
    vnames: list[str],
    special: dict[str, int],
    road_plants: dict[str, list[int]],
    copy: int,
    dproper: str,
    rng: np.random.Generator,
) -> tuple[NameSet, list[str], dict[str, str]]:
    """Place names of one copy, the estate names (for addresses) and the water names."""
    b = _Names(geo, s, res, A, net, F, namer, vnames, special, road_plants, copy, dproper, rng)
    out = b.run()
    return out, b.estate_names, b.water_names()
