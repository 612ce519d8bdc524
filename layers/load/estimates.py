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
those its new rows supersede. Both in the import's own transaction, both reported. A dry run of
the addresses import asks ``superseded_by_new`` instead: the same rule over the stored rows and
the file's rows, by read queries only.

``:m`` metres are turned into degrees for the bounding-box filters with a margin (1.2 × the
degrees of a metre at the row's latitude); ``ST_DWithin`` on geography then decides exactly.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.osm import read_household_parameters
from layers.load.reference import DATA_DIR

SUPERSEDED_SQL = """
WITH found AS (
    SELECT e.residence_id,
           EXISTS (SELECT 1 FROM residences r
                   WHERE NOT r.households_estimated
                     AND r.geom && ST_Expand(coalesce(e.footprint, e.geom),
                                             1.2 * :m / (111320.0 * cos(radians(ST_Y(e.geom)))),
                                             1.2 * :m / 110570.0)
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


SUPERSEDED_BY_NEW_SQL = """
WITH new AS (
    SELECT n.i, ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326) AS geom, n.area_id
    FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[]), CAST(:area AS bigint[]))
         WITH ORDINALITY AS n(lon, lat, area_id, i)
), new_placed AS (
    SELECT n.i, n.geom, coalesce(n.area_id, (SELECT a.area_id FROM areas a WHERE a.level = 'grid_small'
                                               AND ST_Contains(a.geom, n.geom) LIMIT 1)) AS area_id
    FROM new n
), stored AS MATERIALIZED (
    SELECT r.residence_id, r.households_estimated, r.households, r.geom, r.footprint,
           coalesce(r.area_id, (SELECT a.area_id FROM areas a WHERE a.level = 'grid_small'
                                 AND ST_Contains(a.geom, r.geom) LIMIT 1)) AS area_id
    FROM residences r
    WHERE NOT :replace
), real_grids AS (
    SELECT area_id FROM stored WHERE NOT households_estimated AND area_id IS NOT NULL
    UNION SELECT area_id FROM new_placed WHERE area_id IS NOT NULL
), near_new AS (  -- estimates near a new row: from each new row through the index of residences
    SELECT DISTINCT e.residence_id
    FROM new_placed n
    JOIN residences e ON NOT :replace AND e.households_estimated
         AND e.geom && ST_Expand(n.geom, 1.2 * :m / (111320.0 * cos(radians(ST_Y(n.geom)))) + :reach,
                                 1.2 * :m / 110570.0 + :reach)
         AND ST_DWithin(coalesce(e.footprint, e.geom)::geography, n.geom::geography, :m)
), found AS (
    SELECT e.residence_id, e.households, e.area_id,
           e.residence_id IN (SELECT residence_id FROM near_new)
           OR EXISTS (SELECT 1 FROM residences r
                      WHERE NOT r.households_estimated
                        AND r.geom && ST_Expand(coalesce(e.footprint, e.geom),
                                                1.2 * :m / (111320.0 * cos(radians(ST_Y(e.geom)))),
                                                1.2 * :m / 110570.0)
                        AND ST_DWithin(coalesce(e.footprint, e.geom)::geography, r.geom::geography, :m)) AS near,
           e.area_id IS NOT NULL AND e.area_id IN (SELECT area_id FROM real_grids) AS in_grid
    FROM stored e
    WHERE e.households_estimated
)
SELECT count(*) FILTER (WHERE near OR in_grid) AS removed,
       coalesce(sum(households) FILTER (WHERE near OR in_grid), 0) AS households,
       count(*) FILTER (WHERE near) AS near_real,
       (SELECT count(*) FROM stored s WHERE s.area_id IS NULL
          AND s.residence_id NOT IN (SELECT residence_id FROM found WHERE near OR in_grid))
       + (SELECT count(*) FROM new_placed WHERE area_id IS NULL) AS outside
FROM found
"""
"""The rule of ``SUPERSEDED_SQL`` before the file's rows are written: stored rows (none when the
import replaces them) plus the new real rows (``:lon``, ``:lat``, ``:area``: arrays); ``:reach``
(degrees) bounds how far an estimate's footprint reaches from its point, so that the index of
``residences.geom`` finds every estimate near a new row."""


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


def superseded_by_new(s: Session, lon, lat, area_id, *, replace: bool,
                      radius_m: float | None = None) -> dict[str, float]:
    """What ``drop_superseded_estimates`` would remove once real residences at ``lon``/``lat``
    (WGS84 degrees; ``area_id``: their small grid, None/NA where unknown) are written, without
    writing: the same figures, plus ``outside``: the residences that would then lie in no small
    grid. ``replace``: the stored residences would be removed first."""
    radius = real_data_radius_m() if radius_m is None else radius_m
    reach = s.execute(text(
        "SELECT coalesce(max(greatest(abs(ST_XMax(footprint) - ST_X(geom)), abs(ST_XMin(footprint) - ST_X(geom)), "
        "abs(ST_YMax(footprint) - ST_Y(geom)), abs(ST_YMin(footprint) - ST_Y(geom)))), 0) "
        "FROM residences WHERE households_estimated AND footprint IS NOT NULL")).scalar_one()
    areas = [None if a is None or a is pd.NA or pd.isna(a) else int(a) for a in area_id]
    row = s.execute(text(SUPERSEDED_BY_NEW_SQL), {
        "lon": [float(v) for v in lon], "lat": [float(v) for v in lat], "area": areas, "replace": bool(replace),
        "m": float(radius), "reach": float(reach)}).one()
    return {"removed": int(row.removed), "households": int(row.households), "near_real": int(row.near_real),
            "in_real_grid": int(row.removed) - int(row.near_real), "radius_m": radius, "outside": int(row.outside)}
