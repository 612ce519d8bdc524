"""SQL of province runs: read one county's partition, store its per-home rows, roll up.

A partition (``province.partition``) is one county's homes with the streets and facilities within
a buffer of the county (its bounding box grown by the buffer: a superset of the polygon's
buffer, selected through the GiST indexes). ``province_residence`` is LIST-partitioned by county code, one
native partition per county (``ensure_partition``); ``store_county`` writes a county's rows in the caller's
transaction.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers import queries
from layers.load.bulk import copy_plain

RESIDENCE_COLS = [
    "county_code",
    "run_id",
    "type_code",
    "circle",
    "residence_id",
    "population",
    "time_s",
    "facility_id",
    "covered",
]
_SUBTREE = (
    "WITH RECURSIVE sub AS (SELECT area_id FROM areas WHERE area_id = :county "
    "UNION ALL SELECT a.area_id FROM areas a JOIN sub ON a.parent_id = sub.area_id) "
)
_METRES_PER_DEGREE = 110_574.0


def counties(s: Session) -> pd.DataFrame:
    """The counties (``district`` areas): ``area_id, code, name, homes`` (homes in their subtree)."""
    return queries.read_frame(
        s,
        """
        WITH RECURSIVE sub AS (SELECT area_id, area_id AS county FROM areas WHERE level = 'district'
            UNION ALL SELECT a.area_id, sub.county FROM areas a JOIN sub ON a.parent_id = sub.area_id)
        SELECT d.area_id, d.code, d.name, count(r.residence_id) AS homes
        FROM areas d LEFT JOIN sub ON sub.county = d.area_id LEFT JOIN residences r ON r.area_id = sub.area_id
        WHERE d.level = 'district' GROUP BY d.area_id, d.code, d.name ORDER BY d.code""",
    )


def _near(table: str) -> str:
    """WHERE clause: ``table.geom`` inside the county's bounding box grown by the buffer on every side
    (a superset of the points within the buffer of the polygon; served by the GiST index)."""
    return f"{table}.geom && ST_Expand(c.geom, :{table}_dx, :{table}_dy)"


def _expand_params(s: Session, county: int, metres: float, table: str) -> dict[str, float]:
    top = s.execute(
        text("SELECT greatest(abs(ST_YMin(geom)), abs(ST_YMax(geom))) FROM areas WHERE area_id = :c"),
        {"c": county},
    ).scalar_one()
    lat = min(float(top or 0.0) + metres / _METRES_PER_DEGREE, 89.0)
    dy = metres / _METRES_PER_DEGREE * 1.01
    return {f"{table}_dx": dy / math.cos(math.radians(lat)), f"{table}_dy": dy}


def partition_inputs(
    s: Session, county: int, *, network_m: float, facility_m: float, statuses: tuple[str, ...] = ("open",)
) -> dict[str, pd.DataFrame]:
    """Frames (docs/CONTRACTS.md) of one county's partition: its homes and area subtree (with the
    county's ancestors), the edges within ``network_m`` and their nodes, the facilities within
    ``facility_m`` of the county: inside the county's bounding box grown by that many metres on
    every side (degrees of longitude at the box's highest latitude, +1 %), a superset of the
    polygon's buffer, so the partition is exact a fortiori and the GiST indexes serve it."""
    has_geom = s.execute(
        text("SELECT geom IS NOT NULL FROM areas WHERE area_id = :c AND level = 'district'"), {"c": county}
    ).scalar()
    if not has_geom:
        raise ValueError(
            f"area {county} is not a county (district) with a polygon: load the district boundary"
        )
    county_cte = "c AS (SELECT geom FROM areas WHERE area_id = :county) "
    p = {
        "county": county,
        **_expand_params(s, county, network_m, "e"),
        **_expand_params(s, county, facility_m, "f"),
    }
    edges = queries.read_frame(
        s,
        f"WITH {county_cte} SELECT e.edge_id, e.u, e.v, e.length_m, e.highway, e.oneway, "
        "e.access, e.foot, e.bicycle, e.bridge, e.name, ST_AsBinary(e.geom) AS wkb "
        f"FROM network_edges e, c WHERE {_near('e')} ORDER BY e.edge_id",
        p,
    )
    edges = queries.to_geoframe(edges)
    # the edges' end nodes, selected by the same box in SQL (no id list sent back and forth)
    nodes = queries.read_frame(
        s,
        f"WITH {county_cte}, ends AS (SELECT e.u AS node_id FROM network_edges e, c "
        f"WHERE {_near('e')} UNION SELECT e.v FROM network_edges e, c WHERE {_near('e')}) "
        "SELECT n.node_id, ST_X(n.geom) AS lon, ST_Y(n.geom) AS lat FROM network_nodes n "
        "JOIN ends USING (node_id) ORDER BY n.node_id",
        p,
    )
    facilities = queries.read_frame(
        s,
        f"WITH {county_cte} SELECT f.facility_id, f.type_code, f.name, ST_X(f.geom) AS lon, "
        "ST_Y(f.geom) AS lat, f.status, f.capacity, f.floor_area_m2 FROM facilities f, c "
        f"WHERE f.status = ANY(:st) AND {_near('f')} ORDER BY f.facility_id",
        {**p, "st": list(statuses)},
    )
    residences = queries.read_frame(
        s,
        _SUBTREE + "SELECT residence_id, ST_X(geom) AS lon, ST_Y(geom) AS lat, households, "
        "population, elderly, children, area_id, estimated, households_estimated "
        "FROM residences WHERE area_id IN (SELECT area_id FROM sub) ORDER BY residence_id",
        p,
    )
    areas = queries.read_frame(
        s,
        _SUBTREE
        + """, up AS (SELECT area_id, parent_id FROM areas WHERE area_id = :county
            UNION ALL SELECT a.area_id, a.parent_id FROM areas a JOIN up ON a.area_id = up.parent_id)
        SELECT area_id, parent_id, level, code, name, urban,
               CASE WHEN level = 'grid_large' THEN ST_AsBinary(geom) END AS wkb FROM areas
        WHERE area_id IN (SELECT area_id FROM sub) OR area_id IN (SELECT area_id FROM up) ORDER BY area_id""",
        p,
    )
    areas["parent_id"] = areas["parent_id"].astype("Int64")
    wkb = areas.pop("wkb")
    areas["geometry"] = [shapely.from_wkb(bytes(b)) if b is not None else None for b in wkb]
    return {
        "nodes": nodes,
        "edges": edges,
        "facilities": facilities,
        "residences": residences,
        "areas": areas,
    }


def start_run(s: Session, params: dict[str, Any]) -> int:
    """A new province run (status running); returns its id."""
    return int(
        s.execute(
            text("INSERT INTO province_runs (params) VALUES (CAST(:p AS jsonb)) RETURNING run_id"),
            {"p": json.dumps(params, ensure_ascii=False)},
        ).scalar_one()
    )


def ensure_partition(s: Session, county_code: str) -> str:
    """The native partition of ``province_residence`` for ``county_code`` (created if missing)."""
    if not (len(county_code) == 6 and county_code.isdigit()):
        raise ValueError(f"county code {county_code!r} must be 6 digits")
    name = f"province_residence_c{county_code}"
    s.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF province_residence "
            f"FOR VALUES IN ('{county_code}')"
        )
    )
    return name


def store_county(
    s: Session, run_id: int, county_code: str, rows: pd.DataFrame, figures: dict[str, Any]
) -> int:
    """Replace the rows of ``county_code`` in run ``run_id`` by ``rows`` (``RESIDENCE_COLS`` but the
    first two) and record the county's figures on the run; in the caller's transaction."""
    ensure_partition(s, county_code)
    s.execute(
        text("DELETE FROM province_residence WHERE county_code = :c AND run_id = :r"),
        {"c": county_code, "r": run_id},
    )
    frame = rows.assign(county_code=county_code, run_id=run_id)
    n = copy_plain(s, "province_residence", frame, columns=RESIDENCE_COLS)
    s.execute(
        text(
            "UPDATE province_runs SET counties = counties || jsonb_build_object(CAST(:c AS text), "
            "CAST(:f AS jsonb)) WHERE run_id = :r"
        ),
        {"c": county_code, "f": json.dumps(figures), "r": run_id},
    )
    return n


def finish_run(s: Session, run_id: int, failed: list[dict[str, Any]]) -> None:
    """Mark the run done and roll it up to county, city and province, or failed (no roll-up) when
    any county failed."""
    if failed:
        s.execute(
            text(
                "UPDATE province_runs SET status = 'failed', finished_at = now(), failed = CAST(:f AS jsonb) "
                "WHERE run_id = :r"
            ),
            {"f": json.dumps(failed, ensure_ascii=False), "r": run_id},
        )
        return
    s.execute(
        text("""
        INSERT INTO province_rollup (run_id, level, code, type_code, circle, homes, population,
                                     population_covered, share)
        SELECT :r, CASE WHEN GROUPING(county_code) = 0 THEN 'county'
                        WHEN GROUPING(left(county_code, 4)) = 0 THEN 'city' ELSE 'province' END,
               coalesce(county_code, left(county_code, 4), left(county_code, 2)),
               type_code, circle, count(*), sum(population),
               coalesce(sum(population) FILTER (WHERE covered), 0),
               coalesce(sum(population) FILTER (WHERE covered), 0)::float8 / nullif(sum(population), 0)
        FROM province_residence WHERE run_id = :r
        GROUP BY type_code, circle,
                 GROUPING SETS ((county_code), (left(county_code, 4)), (left(county_code, 2)))"""),
        {"r": run_id},
    )
    s.execute(
        text("UPDATE province_runs SET status = 'done', finished_at = now() WHERE run_id = :r"), {"r": run_id}
    )


def residence_rows(s: Session, run_id: int) -> pd.DataFrame:
    """Stored per-home rows of a run."""
    return queries.read_frame(
        s,
        "SELECT county_code, residence_id, type_code, circle, time_s, facility_id, covered, "
        "population FROM province_residence WHERE run_id = :r",
        {"r": run_id},
    )


def rollup(s: Session, run_id: int) -> pd.DataFrame:
    """Roll-up rows of a run (county, city, province)."""
    return queries.read_frame(
        s,
        "SELECT level, code, type_code, circle, homes, population, population_covered, share "
        "FROM province_rollup WHERE run_id = :r ORDER BY level, code, type_code, circle",
        {"r": run_id},
    )


def run_row(s: Session, run_id: int) -> dict[str, Any]:
    row = s.execute(text("SELECT * FROM province_runs WHERE run_id = :r"), {"r": run_id}).mappings().one()
    return dict(row)
