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
those its new rows supersede. Both in the import's own transaction, both reported. Dry runs of
both ask ``superseded_by_new`` instead: the same rule over the stored rows the import keeps and
its new rows, by read queries only.

``:m`` metres are turned into degrees for the bounding-box filters with a margin (1.2 × the
degrees of a metre at the row's latitude); ``ST_DWithin`` on geography then decides exactly.
"""

from __future__ import annotations

from typing import TypedDict

import pandas as pd
import shapely
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
WITH new AS MATERIALIZED (
    SELECT n.i, ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326) AS geom,
           ST_SetSRID(ST_GeomFromWKB(n.footprint), 4326) AS footprint, n.estimated, n.households, n.area_id
    FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[]), CAST(:footprint AS bytea[]),
                CAST(:estimated AS boolean[]), CAST(:households AS bigint[]), CAST(:area AS bigint[]))
         WITH ORDINALITY AS n(lon, lat, footprint, estimated, households, area_id, i)
), kept AS MATERIALIZED (  -- the stored rows the import does not delete first
    SELECT r.residence_id, r.households_estimated AS estimated, r.households, r.geom, r.footprint,
           coalesce(r.area_id, (SELECT a.area_id FROM areas a WHERE a.level = 'grid_small'
                                 AND ST_Contains(a.geom, r.geom) LIMIT 1)) AS area_id
    FROM residences r
    WHERE CASE :keep WHEN 'all' THEN true
                     WHEN 'not_osm' THEN coalesce(r.source, '') NOT LIKE 'osm:%' ELSE false END
), everything AS MATERIALIZED (
    SELECT residence_id, estimated, households, geom, footprint, area_id FROM kept
    UNION ALL
    SELECT -n.i, n.estimated, n.households, n.geom, n.footprint,
           coalesce(n.area_id, (SELECT a.area_id FROM areas a WHERE a.level = 'grid_small'
                                 AND ST_Contains(a.geom, n.geom) LIMIT 1))
    FROM new n
), real_grids AS (
    SELECT DISTINCT area_id FROM everything WHERE NOT estimated AND area_id IS NOT NULL
), near_new_real AS (  -- stored estimates near a new real row: through the index of residences.geom
    SELECT DISTINCT e.residence_id
    FROM new n
    JOIN residences e ON e.households_estimated
         AND e.geom && ST_Expand(n.geom, 1.2 * :m / (111320.0 * cos(radians(ST_Y(n.geom)))) + :reach,
                                 1.2 * :m / 110570.0 + :reach)
         AND ST_DWithin(coalesce(e.footprint, e.geom)::geography, n.geom::geography, :m)
    WHERE NOT n.estimated AND e.residence_id IN (SELECT residence_id FROM kept)
), found AS (
    SELECT e.residence_id, e.households,
           e.residence_id IN (SELECT residence_id FROM near_new_real)
           OR EXISTS (SELECT 1 FROM residences r  -- a stored real row near it
                      WHERE NOT r.households_estimated
                        AND r.geom && ST_Expand(coalesce(e.footprint, e.geom),
                                                1.2 * :m / (111320.0 * cos(radians(ST_Y(e.geom)))),
                                                1.2 * :m / 110570.0)
                        AND ST_DWithin(coalesce(e.footprint, e.geom)::geography, r.geom::geography, :m)
                        AND r.residence_id IN (SELECT residence_id FROM kept)) AS near,
           e.area_id IS NOT NULL AND e.area_id IN (SELECT area_id FROM real_grids) AS in_grid
    FROM everything e
    WHERE e.estimated
)
SELECT count(*) FILTER (WHERE near OR in_grid) AS removed,
       coalesce(sum(households) FILTER (WHERE near OR in_grid), 0) AS households,
       count(*) FILTER (WHERE near) AS near_real,
       (SELECT count(*) FROM everything x WHERE x.area_id IS NULL
          AND x.residence_id NOT IN (SELECT residence_id FROM found WHERE near OR in_grid)) AS outside
FROM found
"""
"""The rule of ``SUPERSEDED_SQL`` before an import's rows are written: the stored rows it keeps
(``:keep``: 'all', 'not_osm' or 'none') plus its new rows (arrays: ``:lon``, ``:lat``,
``:footprint`` WKB, ``:estimated``, ``:households``, ``:area``; negative ids by position).
``:reach`` (degrees) bounds how far a stored estimate's footprint reaches from its point, so that
the index of ``residences.geom`` finds every stored estimate near a new real row. New rows are
either all real (addresses) or all estimates (OSM): new rows are never checked against each other."""


def real_data_radius_m() -> float:
    """The distance of the rule (metres): ``real_data_radius_m`` of data/household_estimate.csv."""
    return read_household_parameters(DATA_DIR / "household_estimate.csv").real_data_radius_m


class Superseded(TypedDict):
    """The estimates that real residences supersede."""

    removed: int
    households: int
    """Their estimated households."""
    near_real: int
    """Rows within ``radius_m`` of a real residence."""
    in_real_grid: int
    """The others: rows in a small grid holding real residences."""
    radius_m: float


class SupersededByNew(Superseded):
    outside: int
    """Residences that would lie in no small grid once the new rows are written."""


def drop_superseded_estimates(s: Session, *, radius_m: float | None = None) -> Superseded:
    """Delete the estimated residences that real residences supersede (see the module).

    Run after the real and estimated rows are written and given their small grids. Returns
    ``removed`` (rows), ``households`` (their estimated households), ``near_real`` (rows within
    ``radius_m`` of a real residence) and ``in_real_grid`` (the others: rows in a small grid
    holding real residences).
    """
    radius = real_data_radius_m() if radius_m is None else radius_m
    rows = s.execute(text(SUPERSEDED_SQL), {"m": float(radius)}).all()
    near = sum(1 for r in rows if r.near)
    return {
        "removed": len(rows),
        "households": int(sum(r.households for r in rows)),
        "near_real": near,
        "in_real_grid": len(rows) - near,
        "radius_m": radius,
    }


def superseded_by_new(
    s: Session, new: pd.DataFrame, *, keep: str, radius_m: float | None = None
) -> SupersededByNew:
    """What ``drop_superseded_estimates`` would remove once ``new`` residences are written, without
    writing: the same figures, plus ``outside``: the residences that would then lie in no small grid.

    Parameters
    ----------
    new : the rows to be written: ``lon``, ``lat`` (WGS84), ``households_estimated``,
        ``households``, and optionally ``area_id`` (their small grid; NA: found by location) and
        ``footprint`` (shapely polygons or None).
    keep : which stored residences stay before the new rows are written: 'all', 'not_osm' (the
        OSM import replaces its earlier estimates) or 'none' (a replacing import).
    """
    radius = real_data_radius_m() if radius_m is None else radius_m
    reach = s.execute(
        text(
            "SELECT coalesce(max(greatest(abs(ST_XMax(footprint) - ST_X(geom)), "
            "abs(ST_XMin(footprint) - ST_X(geom)), abs(ST_YMax(footprint) - ST_Y(geom)), "
            "abs(ST_YMin(footprint) - ST_Y(geom)))), 0) "
            "FROM residences WHERE households_estimated AND footprint IS NOT NULL"
        )
    ).scalar_one()
    n = len(new)
    footprints = new["footprint"] if "footprint" in new.columns else pd.Series([None] * n, index=new.index)
    areas = new["area_id"] if "area_id" in new.columns else pd.Series([None] * n, index=new.index)
    row = s.execute(
        text(SUPERSEDED_BY_NEW_SQL),
        {
            "lon": new["lon"].astype(float).tolist(),
            "lat": new["lat"].astype(float).tolist(),
            "footprint": [None if g is None else shapely.to_wkb(g) for g in footprints],
            "estimated": new["households_estimated"].astype(bool).tolist(),
            "households": new["households"].astype("int64").tolist(),
            "area": [None if a is None or pd.isna(a) else int(a) for a in areas],
            "keep": keep,
            "m": float(radius),
            "reach": float(reach),
        },
    ).one()
    return {
        "removed": int(row.removed),
        "households": int(row.households),
        "near_real": int(row.near_real),
        "in_real_grid": int(row.removed) - int(row.near_real),
        "radius_m": radius,
        "outside": int(row.outside),
    }
