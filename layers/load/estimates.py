"""Estimated residences give way to real ones: the rule shared by the OSM and 一标三实 imports.

A footprint estimate (``residences.households_estimated``) counts the households of a building
that nobody counted. Where real data (一标三实 addresses, any residence whose households are not
estimated) exist, an estimate would count the same households twice. An estimate is superseded
when

* its footprint (its point when it has none) lies within ``radius_m`` metres of a real residence
  (an address point stands at the building's door or its compound's gate), or
* it lies in a small grid that holds real residences: 一标三实 data are collected grid by grid, so
  a grid with real data has all of its households counted (one aggregated point may stand for a
  whole compound of buildings).

The OSM import writes its estimates and then drops the superseded ones; the addresses import drops
those its new rows supersede. Both in the import's own transaction, both reported.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.osm import read_household_parameters
from layers.load.reference import DATA_DIR

SUPERSEDED_SQL = """
WITH found AS (
    SELECT e.residence_id,
           EXISTS (SELECT 1 FROM residences r
                   WHERE NOT r.households_estimated
                     AND r.geom && ST_Expand(coalesce(e.footprint, e.geom), :m / 110000.0,
                                             :m / (111000.0 * cos(radians(ST_Y(e.geom)))))
                     AND ST_DWithin(coalesce(e.footprint, e.geom)::geography, r.geom::geography, :m)) AS near,
           e.area_id IS NOT NULL AND EXISTS (SELECT 1 FROM residences r
                   WHERE NOT r.households_estimated AND r.area_id = e.area_id) AS in_grid
    FROM residences e
    WHERE e.households_estimated
)
DELETE FROM residences d USING found f
WHERE d.residence_id = f.residence_id AND (f.near OR f.in_grid)
RETURNING f.near, f.in_grid, d.households
"""


def real_data_radius_m() -> float:
    """The distance of the rule (metres): ``real_data_radius_m`` of data/household_estimate.csv."""
    return read_household_parameters(DATA_DIR / "household_estimate.csv").real_data_radius_m


def drop_superseded_estimates(s: Session, *, radius_m: float | None = None) -> dict[str, float]:
    """Delete the estimated residences that real residences supersede (see the module).

    Run after the real and estimated rows are written and given their small grids. Returns
    ``removed`` (rows), ``households`` (their estimated households), ``near_real`` (rows within
    ``radius_m`` of a real residence) and ``in_real_grid`` (the others: rows in a small grid
    holding real residences).
    """
    radius = real_data_radius_m() if radius_m is None else radius_m
    rows = s.execute(text(SUPERSEDED_SQL), {"m": float(radius)}).all()
    near = sum(1 for r in rows if r.near)
    return {"removed": len(rows), "households": int(sum(r.households for r in rows)), "near_real": near,
            "in_real_grid": len(rows) - near, "radius_m": radius}
