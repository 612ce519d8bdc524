"""Assemble one copy of the demo district into EPSG:4326 frames with stable int64 ids."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon

from . import addresses, areas, buildings, facilities, geography, network, placenames, residences, settlement
from ._geom import polygonal
from .names import Namer, district, town_propers

SOURCE = "虚构演示数据 fictional demo data"
ID_STRIDE = 10_000_000
CRS = "EPSG:4326"


def ids(copy: int, n: int) -> np.ndarray:
    """Ids of ``n`` objects of copy ``copy``: unique across copies and layers' own sequences."""
    return copy * ID_STRIDE + np.arange(1, n + 1, dtype=np.int64)


def _streams(seed: int, copy: int):
    return lambda k: np.random.default_rng([seed, copy, k])


def copy_frames(copy: int, size: float, origin: tuple[float, float], seed: int) -> dict:
    """All frames of one copy (a dict keyed like ``DemoDistrict``'s fields)."""
    rng = _streams(seed, copy)
    dname, dcode = district(copy)
    towns = town_propers(copy)
    geo = geography.build(copy, size, origin, rng(1))
    s = settlement.build(geo, rng(2))
    namer = Namer(rng(3))
    vnames, special = placenames.village_names(s, namer, rng(3))
    net = network.build(geo, s, namer, vnames, towns, f"{towns[0][0]}{towns[2][0]}高速", rng(4))
    road_plants = placenames.plant_roads(net, namer, rng(8), copy=copy)
    res = residences.build(geo, s, rng(5))
    A = areas.build(geo, s, res, vnames, namer, (dname, dcode), towns, rng(6), streets=net.streets())
    F = facilities.build(geo, s, res, A, namer, towns, dname, rng(7))
    N, estate_names, water_names = placenames.build(
        geo, s, res, A, net, F, namer, vnames, special, road_plants, copy, dname[:2], rng(9)
    )
    # planted last, so that the rest of the district is the same with or without them
    res, remote = residences.with_remote_homes(res, geo, net.xy, net.u, net.v)
    areas.file_residences(A, res.xy[remote], res.households[remote])
    ctx = _Ctx(copy, geo, A, net, res, F, N, dname)
    out = {"areas": ctx.areas(), "nodes": ctx.nodes(), "edges": ctx.edges()}
    out["residences"], out["facilities"] = ctx.addressed(estate_names)
    out["place_names"] = ctx.place_names()
    out["water"] = ctx.water(water_names)
    out["buildings"] = ctx.buildings(rng(10))
    far = [
        {
            "case": "far_from_road",
            "layer": "residences",
            "index": i,
            "note": "fish-pond watch house (塘寮) farther than 500 m from every road: reported unreachable",
        }
        for i in remote
    ]
    out["planted"] = ctx.planted(F.planted + N.planted + far, road_plants)
    out["plan"] = ctx.plan(F.plan)
    return out


class _Ctx:
    """Converts the metric objects of one copy into frames."""

    def __init__(self, copy, geo, A, net, res, F, N, dname):
        self.copy, self.geo, self.A, self.net, self.res, self.F, self.N, self.dname = (
            copy,
            geo,
            A,
            net,
            res,
            F,
            N,
            dname,
        )
        self.area_ids = ids(copy, len(A.areas))
        self.node_ids = ids(copy, len(net.xy))
        self.lon, self.lat = geography.xy_to_lonlat(net.xy, geo.origin)

    def ll(self, geoms):
        return geography.to_lonlat(np.asarray(geoms, dtype=object), self.geo.origin)

    def ll_multi(self, geoms, *, step: float = 25.0):
        """Polygons → densified (see ``areas``) EPSG:4326 MultiPolygons."""
        dense = shapely.segmentize(np.array([polygonal(g) for g in geoms], dtype=object), step)
        ll = self.ll(dense)
        # grids made of street blocks may touch themselves at a block corner; projected, such a
        # point can open into a nanometre crossing: repair those (a change far below a square metre)
        bad = ~shapely.is_valid(ll)
        ll[bad] = [polygonal(g) for g in shapely.make_valid(ll[bad])]
        return [MultiPolygon(list(shapely.get_parts(g))) for g in ll]

    def areas(self) -> gpd.GeoDataFrame:
        A, c = self.A, self.copy
        parent = pd.array(
            [self.area_ids[a.parent] if a.parent >= 0 else None for a in A.areas], dtype="Int64"
        )
        # densify before projecting: a cut point on a long straight metric edge would otherwise sit
        # off the projected chord of the parent's edge and open slivers between parent and children
        geoms = self.ll_multi([a.geom for a in A.areas])
        return gpd.GeoDataFrame(
            {
                "area_id": self.area_ids,
                "parent_id": parent,
                "level": [a.level for a in A.areas],
                "code": [a.code for a in A.areas],
                "name": [a.name for a in A.areas],
                "urban": np.array([a.urban for a in A.areas], dtype=bool),
                "urban_rural_code": [a.urban_rural_code for a in A.areas],
                "worker_name": [a.worker for a in A.areas],
                "worker_phone": [f"0660-0{c * 10_000 + i:06d}" for i in range(len(A.areas))],
                "households": A.households.astype(np.int64),
                "source": SOURCE,
            },
            geometry=geoms,
            crs=CRS,
        )

    def nodes(self) -> pd.DataFrame:
        return pd.DataFrame({"node_id": self.node_ids, "lon": self.lon, "lat": self.lat})

    def edges(self) -> gpd.GeoDataFrame:
        net = self.net
        r = net.roads
        col = {
            k: np.array([getattr(x, k) for x in r] + [None], dtype=object)[:-1][net.road]
            for k in ("highway", "access", "foot", "bicycle", "name")
        }
        ll = np.column_stack([self.lon, self.lat])
        geoms = shapely.linestrings(np.stack([ll[net.u], ll[net.v]], axis=1))
        return gpd.GeoDataFrame(
            {
                "edge_id": ids(self.copy, len(net.u)),
                "u": self.node_ids[net.u],
                "v": self.node_ids[net.v],
                "length_m": net.length(),
                "highway": col["highway"],
                "oneway": net.oneway.astype(bool),
                "access": col["access"],
                "foot": col["foot"],
                "bicycle": col["bicycle"],
                "bridge": net.bridge.astype(bool),
                "name": col["name"],
            },
            geometry=geoms,
            crs=CRS,
        )

    def _prefix(self, comm: np.ndarray) -> list[str]:
        A = self.A
        out = []
        for c in comm:
            if c < 0:
                out.append(self.dname)
                continue
            out.append(self.dname + A.areas[A.areas[c].parent].name + A.areas[c].name)
        return out

    def addressed(self, estate_names: list[str]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        """Residence and facility frames with standard addresses (numbered together)."""
        res, F, A = self.res, self.F, self.A
        fxy = np.array([f.xy for f in F.items]).reshape(-1, 2)
        road, num = addresses.numbers_appended(
            self.net, np.vstack([res.xy, fxy]), np.flatnonzero(res.kind == residences.REMOTE_KIND)
        )
        rname = np.array([r.name for r in self.net.roads], dtype=object)[road]
        street = [f"{n}{k}号" for n, k in zip(rname, num, strict=True)]
        rcomm = np.array([A.ancestor(int(g), "community") for g in A.residence_grid])
        bno = addresses.building_numbers(res.estate)
        est = [f"{estate_names[e]}{b}栋" if e >= 0 else "" for e, b in zip(res.estate, bno, strict=True)]
        raddr = [p + s + e for p, s, e in zip(self._prefix(rcomm), street[: len(res)], est, strict=True)]
        rgeom = self.ll(shapely.points(res.xy))
        rframe = gpd.GeoDataFrame(
            {
                "residence_id": ids(self.copy, len(res)),
                "address": raddr,
                "area_id": self.area_ids[A.residence_grid],
                "households": res.households.astype(np.int64),
                "population": res.population.astype(np.int64),
                "elderly": res.elderly.astype(np.int64),
                "children": res.children.astype(np.int64),
                "estimated": np.zeros(len(res), dtype=bool),
                "source": SOURCE,
            },
            geometry=rgeom,
            crs=CRS,
        )
        return rframe, self._facilities(street[len(res) :])

    def _facilities(self, street: list[str]) -> gpd.GeoDataFrame:
        F = self.F
        fcomm = np.array([f.community for f in F.items], dtype=np.int64)
        phone = [
            f"0660-0{500_000 + self.copy * 10_000 + i:06d}" if facilities.SPEC[f.type_code][3] else None
            for i, f in enumerate(F.items)
        ]
        return gpd.GeoDataFrame(
            {
                "facility_id": ids(self.copy, len(F.items)),
                "type_code": [f.type_code for f in F.items],
                "name": [f.name for f in F.items],
                "address": [p + s for p, s in zip(self._prefix(fcomm), street, strict=True)],
                "floor_area_m2": np.array([f.floor_area_m2 for f in F.items], dtype=float),
                "capacity": np.array([f.capacity for f in F.items], dtype=float),
                "opening_hours": [f.opening_hours for f in F.items],
                "fees": [facilities.fees(f.type_code, f.name) for f in F.items],
                "phone": phone,
                "operator": [f.operator for f in F.items],
                "status": [f.status for f in F.items],
                "source": SOURCE,
            },
            geometry=self.ll(shapely.points(np.array([f.xy for f in F.items]).reshape(-1, 2))),
            crs=CRS,
        )

    def place_names(self) -> gpd.GeoDataFrame:
        N = self.N.items
        return gpd.GeoDataFrame(
            {
                "name_id": ids(self.copy, len(N)),
                "name": [p.name for p in N],
                "category": [p.category for p in N],
                "area_id": self.area_ids[[p.area for p in N]],
                "proper": [p.proper for p in N],
                "generic": [p.generic for p in N],
                "status": [p.status for p in N],
                "heritage": np.array([p.heritage for p in N], dtype=bool),
                "sign_present": np.array([p.sign_present for p in N], dtype=bool),
                "approval": [p.approval for p in N],
                "meaning": [p.meaning for p in N],
            },
            geometry=self.ll([p.geom for p in N]),
            crs=CRS,
        )

    def water(self, names: dict[str, str]) -> gpd.GeoDataFrame:
        geo = self.geo
        geoms = [polygonal(geo.river), polygonal(geo.lake), geography.sea(geo)]
        return gpd.GeoDataFrame(
            {
                "water_id": ids(self.copy, 3),
                "kind": ["river", "lake", "sea"],
                "name": [names["river"], names["lake"], names["sea"]],
            },
            geometry=self.ll_multi(geoms),
            crs=CRS,
        )

    def buildings(self, rng: np.random.Generator) -> gpd.GeoDataFrame:
        """Footprints beside the streets (``buildings``): the facilities' first, then one per
        residence point that has room."""
        net, geo, items = self.net, self.geo, self.F.items
        segments = shapely.linestrings(np.stack([net.xy[net.u], net.xy[net.v]], axis=1))
        dry = shapely.difference(geo.land, shapely.union_all([geo.river, geo.lake]))
        f = buildings.facility_footprints(
            np.array([x.xy for x in items]).reshape(-1, 2),
            [x.type_code for x in items],
            np.array([x.floor_area_m2 for x in items], dtype=float),
            np.array([x.status != "planned" for x in items], dtype=bool),
            segments,
            dry,
            self.res.xy,
        )
        b = buildings.build(self.res.xy, self.res.kind, segments, rng, taken=f.geoms)
        geoms = np.r_[np.array(f.geoms, dtype=object), b.geoms]
        return gpd.GeoDataFrame(
            {
                "building_id": ids(self.copy, len(geoms)),
                "kind": np.r_[np.array(f.kind, dtype=object), b.kind],
                "levels": np.r_[np.array(f.levels, dtype=np.int64), b.levels.astype(np.int64)],
                "source": SOURCE,
            },
            geometry=self.ll(geoms),
            crs=CRS,
        )

    def plan(self, rows: list[dict]) -> pd.DataFrame:
        """The facility plan of the required types (``facilities.FacilitySet.plan``) by area id."""
        out = pd.DataFrame(
            rows, columns=["index", "circle", "type_code", "level", "placed", "town_placed", "gap"]
        )
        out.insert(0, "area_id", self.area_ids[out.pop("index").to_numpy(dtype=np.int64)])
        return out.astype({"area_id": np.int64, "placed": np.int64, "town_placed": np.int64})

    def planted(self, rows: list[dict], road_plants: dict) -> pd.DataFrame:
        """Planted cases with the ids of their objects (plus gates, bridges and the islet component)."""
        layer_ids = {
            "areas": self.area_ids,
            "facilities": ids(self.copy, len(self.F.items)),
            "place_names": ids(self.copy, len(self.N.items)),
            "residences": ids(self.copy, len(self.res)),
        }
        names = {
            "areas": [a.name for a in self.A.areas],
            "facilities": [f.name for f in self.F.items],
            "place_names": [p.name for p in self.N.items],
            "residences": [None] * len(self.res),
        }
        out = [
            {
                "case": r["case"],
                "layer": r["layer"],
                "object_id": int(layer_ids[r["layer"]][r["index"]]),
                "name": names[r["layer"]][r["index"]],
                "note": r["note"],
            }
            for r in rows
        ]
        for g in self.net.gates:
            out.append(
                {
                    "case": "gate",
                    "layer": "nodes",
                    "object_id": int(self.node_ids[g]),
                    "name": None,
                    "note": "gate node of a gated compound: the only contact of private and public roads",
                }
            )
        edge_ids = ids(self.copy, len(self.net.u))
        for e in np.nonzero(self.net.bridge)[0]:
            out.append(
                {
                    "case": "bridge",
                    "layer": "edges",
                    "object_id": int(edge_ids[e]),
                    "name": self.net.roads[self.net.road[e]].name,
                    "note": "bridge segment over the river",
                }
            )
        on_islet = shapely.contains_xy(self.geo.islet.buffer(5), self.net.xy[:, 0], self.net.xy[:, 1])
        if on_islet.any():
            out.append(
                {
                    "case": "islet_component",
                    "layer": "nodes",
                    "object_id": int(self.node_ids[np.nonzero(on_islet)[0][0]]),
                    "name": None,
                    "note": "intended separate network component (islet, ferry only)",
                }
            )
        return pd.DataFrame(out, columns=["case", "layer", "object_id", "name", "note"]).astype(
            {"object_id": np.int64}
        )
