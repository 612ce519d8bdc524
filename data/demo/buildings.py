"""Building footprints of one copy (local metres): one per residence point and one per facility
site, drawn by the base map.

A residence point stands for a building (a tower, a walk-up slab, a village house ...); its
footprint is a rectangle of the kind's size turned along the nearest street and set back from it
(a village house stands beside its lane, not on it), so blocks read as rows of houses facing their
streets. A footprint never overlaps another one or a street: it
shrinks (``SHRINK``) until it fits, else that point gets none. Only form and
height are kept (``kind``, ``levels``): no household figure.

Facilities come first (``public``: a school, a clinic, a market hall ...; ``grounds``: a sports
ground or a fitness square): a footprint of the type's size (``FACILITY``: the floor area over the
levels, else a fixed site) around the facility's point, set back from the street like a home, on
dry land, covering no residence point (it shrinks first; only its smallest sizes may take a home's
plot, and that home then yields). A facility whose point already lies in (or within
``SHARE_M`` of) another facility's footprint shares that building. Homes are placed after them
and never overlap them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

# residence kind → (width m, depth m, levels low, levels high, building kind)
SIZE = {
    "highrise": (24.0, 24.0, 18, 32, "residential"),
    "compound": (20.0, 26.0, 11, 18, "residential"),
    "midrise": (12.0, 34.0, 6, 7, "residential"),
    "lowrise": (10.0, 13.0, 2, 4, "residential"),
    "urban_village": (9.0, 11.0, 4, 7, "residential"),
    "commercial": (26.0, 30.0, 3, 5, "commercial"),
    "old_town": (7.0, 9.0, 1, 3, "residential"),
    "village": (7.0, 9.0, 2, 3, "residential"),
    "remote": (5.0, 6.0, 1, 1, "residential"),
}
# facility type → (levels, width ÷ depth, footprint m² when the facility has no floor area, kind);
# open-air grounds have no levels (0) and take their whole site
FACILITY = {
    "middle_school": (5, 2.5, 3600.0, "public"),
    "primary_school": (4, 2.5, 2500.0, "public"),
    "kindergarten": (3, 1.6, 800.0, "public"),
    "nursery": (2, 1.4, 220.0, "public"),
    "infant_care": (2, 1.4, 280.0, "public"),
    "health_center": (4, 2.0, 700.0, "public"),
    "health_station": (1, 1.4, 200.0, "public"),
    "nursing_home": (5, 2.2, 900.0, "public"),
    "rural_elderly_home": (3, 2.2, 1200.0, "public"),
    "regional_elderly_center": (3, 2.2, 1200.0, "public"),
    "elderly_complex": (3, 1.8, 600.0, "public"),
    "elderly_daycare": (2, 1.5, 280.0, "public"),
    "elderly_canteen": (1, 1.4, 200.0, "public"),
    "culture_center": (3, 1.8, 1500.0, "public"),
    "culture_station": (1, 1.4, 400.0, "public"),
    "street_service_center": (3, 1.8, 400.0, "public"),
    "subdistrict_office": (5, 2.0, 600.0, "public"),
    "community_service_station": (2, 1.6, 400.0, "public"),
    "party_mass_center": (2, 1.6, 280.0, "public"),
    "community_complex": (3, 1.6, 350.0, "public"),
    "sports_ground_large": (0, 1.6, 19_000.0, "grounds"),
    "sports_ground_medium": (0, 1.6, 7_000.0, "grounds"),
    "fitness_small": (0, 1.2, 700.0, "grounds"),
    "police_station": (4, 2.0, 400.0, "public"),
    "food_market": (1, 1.5, 1500.0, "public"),
    "recycling_point": (1, 1.3, 20.0, "public"),
    "refuse_station": (1, 1.5, 110.0, "public"),
    "public_toilet": (1, 1.3, 90.0, "public"),
    "childrens_home": (1, 1.3, 100.0, "public"),
    "social_work_station": (2, 1.4, 200.0, "public"),
    "village_hall": (1, 1.3, 100.0, "public"),
}
SHRINK = (1.0, 0.75, 0.55)
"""Scales tried in turn for a footprint that meets a street or a footprint already placed."""
FACILITY_SHRINK = (1.0, 0.7, 0.5, 0.35, 0.0, -1.0)
"""Scales tried in turn for a facility's footprint; from ``YIELD_SCALE`` down it may take a home's plot;
never smaller than ``MIN_SIDE_M`` a side (a room let in a small building), and that smallest one
may stand as close as ``TIGHT_CLEARANCE_M`` to a street centreline (a kiosk on a lane corner); the
last try (-1) lets it stand up to ``FAR_M`` from the point (a lane junction in a village with no
room at all)."""
MIN_SIDE_M = 5.0
TIGHT_CLEARANCE_M = 1.0
YIELD_SCALE = 0.5
SHARE_M = 4.0
"""A facility this close to another's footprint shares that building; its own stands this close."""
FAR_M = 10.0
STREET_CLEARANCE_M = 3.0
"""Half the width kept free along every street centreline."""
HOME_CLEARANCE_M = 3.0
"""A facility's footprint keeps this far from residence points (above ``YIELD_SCALE``)."""


@dataclass
class Buildings:
    """Footprints (local metres) with the residence each stands on."""

    geoms: np.ndarray
    kind: np.ndarray
    levels: np.ndarray
    residence: np.ndarray


@dataclass
class FacilityBuildings:
    """Footprints (local metres) of the facilities' buildings and the footprint of every facility
    (an index into them; -1: none, a planned facility)."""

    geoms: list
    kind: list[str]
    levels: list[int]
    of: np.ndarray


def _rectangles(xy: np.ndarray, w: np.ndarray, d: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rectangles ``w`` × ``d`` centred on ``xy``, the ``w`` side along ``angle`` (radians)."""
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    u = corners[None, :, 0] * w[:, None]
    v = corners[None, :, 1] * d[:, None]
    x = xy[:, None, 0] + u * c[:, None] - v * s[:, None]
    y = xy[:, None, 1] + u * s[:, None] + v * c[:, None]
    return shapely.polygons(np.stack([x, y], axis=2))


@dataclass
class _Facing:
    """Where footprints for points stand: the nearest street's direction, the foot of the point on
    it, the unit normal towards the point and the point's distance from the street."""

    angle: np.ndarray
    foot: np.ndarray
    normal: np.ndarray
    dist: np.ndarray

    def centres(self, depth: np.ndarray) -> np.ndarray:
        """Centres of footprints ``depth`` deep: on the point, pushed back from the centreline when
        the point is closer to it than the clearance and half the depth."""
        back = np.maximum(self.dist, STREET_CLEARANCE_M + 0.5 + depth / 2)
        return self.foot + self.normal * back[:, None]

    def take(self, idx: np.ndarray) -> _Facing:
        return _Facing(self.angle[idx], self.foot[idx], self.normal[idx], self.dist[idx])


def _facing(xy: np.ndarray, segments: np.ndarray, tree: shapely.STRtree) -> _Facing:
    points = shapely.points(xy)
    near = tree.query_nearest(points, return_distance=False, all_matches=False)[1]
    a, b = (
        shapely.get_coordinates(shapely.get_point(segments[near], 0)),
        shapely.get_coordinates(shapely.get_point(segments[near], -1)),
    )
    angle = np.arctan2(b[:, 1] - a[:, 1], b[:, 0] - a[:, 0])
    foot = shapely.get_coordinates(
        shapely.line_interpolate_point(segments[near], shapely.line_locate_point(segments[near], points))
    )
    off = xy - foot
    dist = np.hypot(off[:, 0], off[:, 1])
    normal = np.where(
        dist[:, None] > 0.1,
        off / np.maximum(dist, 0.1)[:, None],
        np.column_stack([-np.sin(angle), np.cos(angle)]),
    )
    return _Facing(angle, foot, normal, dist)


def _around(centre: np.ndarray, p: np.ndarray, w: float, d: float, angle: float, reach: float) -> np.ndarray:
    """Candidate centres of a ``w`` × ``d`` footprint turned by ``angle``: ``centre`` first, then
    shifts that keep the point ``p`` inside it or within about ``reach`` of it, the point nearest the
    middle first."""
    reach_u, reach_v = w / 2 + reach - 1.0, d / 2 + reach - 1.0
    steps = 11 if reach <= SHARE_M else 25
    grid_u, grid_v = np.meshgrid(np.linspace(-reach_u, reach_u, steps), np.linspace(-reach_v, reach_v, steps))
    du, dv = grid_u.ravel(), grid_v.ravel()
    order = np.argsort(np.hypot(du / w, dv / d), kind="stable")
    c, s = np.cos(angle), np.sin(angle)
    shifts = np.column_stack([du[order] * c - dv[order] * s, du[order] * s + dv[order] * c])
    return np.vstack([centre[None], p[None] + shifts])


def _first_clear(centres: np.ndarray, w: float, d: float, angle: float, clear, *, chunk: int = 32):
    """The first of the ``w`` × ``d`` footprints at ``centres`` that ``clear`` (a mask of an array of
    footprints) accepts, tried a chunk at a time (most facilities fit at the first); None if none."""
    for k in range(0, len(centres), chunk):
        c = centres[k : k + chunk]
        g = _rectangles(c, np.full(len(c), w), np.full(len(c), d), np.full(len(c), angle))
        ok = clear(g)
        if ok.any():
            return g[np.argmax(ok)]
    return None


def _clear(
    g: np.ndarray,
    p,
    reach: float,
    scale: float,
    dry,
    streets: shapely.STRtree,
    placed: shapely.STRtree,
    homes: shapely.STRtree,
) -> np.ndarray:
    """Which facility footprints ``g`` (tried at ``scale``) stand on dry land within ``reach`` of the
    point ``p``, clear of the streets, of the footprints ``placed`` and (above ``YIELD_SCALE``) of
    the homes."""
    ok = shapely.contains(dry, g) & (shapely.distance(g, p) <= reach)
    gap = STREET_CLEARANCE_M if scale > 0 else TIGHT_CLEARANCE_M
    # each test only on the footprints still standing (the same answer, fewer distances)
    for tree, predicate, distance in (
        (streets, "dwithin", gap),
        (placed, "intersects", None),
        (homes, "dwithin", HOME_CLEARANCE_M if scale > YIELD_SCALE else None),
    ):
        if predicate == "dwithin" and distance is None:
            continue
        left = np.flatnonzero(ok)
        if len(left) == 0:
            break
        ok[left[tree.query(g[left], predicate=predicate, distance=distance)[0]]] = False
    return ok


def facility_footprints(
    xy: np.ndarray,
    types: list[str],
    floor_m2: np.ndarray,
    built: np.ndarray,
    segments: np.ndarray,
    dry,
    homes: np.ndarray,
) -> FacilityBuildings:
    """Footprints of the facilities at ``xy`` (types ``types``, floor areas ``floor_m2``, NaN: none)
    that are ``built`` (not planned), largest first; see the module docstring.

    ``dry``: the land less the water; ``homes``: the residence points (n, 2).
    """
    tree = shapely.STRtree(segments)
    shapely.prepare(dry)
    home_tree = shapely.STRtree(shapely.points(homes))
    spec = [FACILITY[t] for t in types]
    area = np.array(
        [f / s[0] if s[0] and np.isfinite(f) and f > 0 else s[2] for f, s in zip(floor_m2, spec, strict=True)]
    )
    ratio = np.array([s[1] for s in spec])
    w, d = np.sqrt(area * ratio), np.sqrt(area / ratio)
    face = _facing(xy, segments, tree)
    geoms: list = []
    kinds: list[str] = []
    levels: list[int] = []
    of = np.full(len(xy), -1, dtype=np.int64)
    for i in np.argsort(-area, kind="stable"):
        if not built[i]:
            continue
        p = shapely.points(xy[i])
        placed = shapely.STRtree(geoms)
        near = placed.query(p, predicate="dwithin", distance=SHARE_M)
        if len(near):  # it shares the building its point stands in (or beside)
            of[i] = int(near[np.argmin(shapely.distance(np.asarray(geoms, dtype=object)[near], p))])
            continue
        for scale in FACILITY_SHRINK:
            ws, ds = max(w[i] * scale, MIN_SIDE_M), max(d[i] * scale, MIN_SIDE_M)
            reach = SHARE_M if scale >= 0 else FAR_M
            centre = face.take(np.array([i])).centres(np.array([ds]))[0]
            g = _first_clear(
                _around(centre, xy[i], ws, ds, face.angle[i], reach),
                ws,
                ds,
                face.angle[i],
                lambda g, p=p, reach=reach, scale=scale, placed=placed: _clear(
                    g, p, reach, scale, dry, tree, placed, home_tree
                ),
            )
            if g is not None:
                of[i] = len(geoms)
                geoms.append(g)
                kinds.append(spec[i][3])
                levels.append(spec[i][0])
                break
    return FacilityBuildings(geoms, kinds, levels, of)


def build(
    xy: np.ndarray,
    kind: np.ndarray,
    segments: np.ndarray,
    rng: np.random.Generator,
    *,
    taken: list | None = None,
) -> Buildings:
    """Footprints of the residences at ``xy`` (kinds ``kind``) beside the street ``segments``
    (LineStrings of the network, local metres); ``rng``: a stream of its own, for the levels;
    ``taken``: footprints already standing (the facilities'), which no home's overlaps."""
    spec = [SIZE.get(k, SIZE["village"]) for k in kind]
    w = np.array([s[0] for s in spec])
    d = np.array([s[1] for s in spec])
    levels = np.array([rng.integers(s[2], s[3] + 1) for s in spec])
    tree = shapely.STRtree(segments)
    face = _facing(xy, segments, tree)
    order = np.argsort(-w * d, kind="stable")  # large buildings first: they need the room
    kept: list[int] = []
    kept_geoms: list = list(taken or [])
    for scale in SHRINK:
        g = _rectangles(
            face.take(order).centres(d[order] * scale), w[order] * scale, d[order] * scale, face.angle[order]
        )
        clear = np.ones(len(order), dtype=bool)
        clear[tree.query(g, predicate="dwithin", distance=STREET_CLEARANCE_M)[0]] = False
        if kept_geoms:
            clear[shapely.STRtree(kept_geoms).query(g, predicate="intersects")[0]] = False
        a, b = shapely.STRtree(g).query(g, predicate="intersects")
        rivals: dict[int, list[int]] = {}
        for x, y in zip(a[a < b], b[a < b], strict=True):
            rivals.setdefault(int(y), []).append(int(x))  # y yields to x (earlier: larger)
        taken_now = np.zeros(len(order), dtype=bool)
        for k in np.nonzero(clear)[0]:
            taken_now[k] = not any(taken_now[r] for r in rivals.get(int(k), ()))
        kept += order[taken_now].tolist()
        kept_geoms += list(g[taken_now])
        order = order[~taken_now]
    n_taken = len(taken or [])
    idx = np.array(kept, dtype=np.int64)
    back = np.argsort(idx, kind="stable")
    kinds = np.array([spec[i][4] for i in idx])
    return Buildings(
        geoms=np.array(kept_geoms[n_taken:], dtype=object)[back],
        kind=kinds[back],
        levels=levels[idx][back],
        residence=idx[back],
    )
