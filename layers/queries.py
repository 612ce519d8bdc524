"""Read layers into the frames of docs/CONTRACTS.md (pandas / GeoPandas, EPSG:4326)."""

from __future__ import annotations

import io
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.db import cursor_result


def read_frame(s: Session, sql: str, params: dict | None = None) -> pd.DataFrame:
    result = cursor_result(s.execute(text(sql), params or {}))
    columns = list(result.keys())
    rows = result.cursor.fetchall() if result.cursor is not None else []
    return pd.DataFrame.from_records(rows, columns=columns)


def read_copy(s: Session, sql: str, params: tuple = (), *, dtype: dict | None = None) -> pd.DataFrame:
    """The rows of ``sql`` (``%s`` placeholders for ``params``) read with ``COPY ... TO STDOUT`` as CSV
    and parsed by pandas: several times faster than ``read_frame`` for 10^5 rows of numbers. NULL is
    an empty field (NaN in numeric columns); booleans arrive as 't'/'f' (give them no bool dtype)."""
    raw: Any = s.connection().connection.driver_connection
    buf = io.BytesIO()
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT CSV, HEADER)", params) as cp:
        for chunk in cp:
            buf.write(chunk)
    buf.seek(0)
    return pd.read_csv(buf, dtype=dtype)


def to_geoframe(frame: pd.DataFrame, column: str = "wkb") -> gpd.GeoDataFrame:
    geoms = shapely.from_wkb(frame.pop(column).map(bytes).to_numpy()) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index), crs="EPSG:4326")


def nodes(s: Session) -> pd.DataFrame:
    return read_frame(
        s, "SELECT node_id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM network_nodes ORDER BY node_id"
    )


def edges(s: Session, *, with_geometry: bool = True) -> pd.DataFrame:
    geom = ", ST_AsBinary(geom) AS wkb" if with_geometry else ""
    frame = read_frame(
        s,
        "SELECT edge_id, u, v, length_m, highway, oneway, access, foot, bicycle, bridge, name"
        f"{geom} FROM network_edges ORDER BY edge_id",
    )
    return to_geoframe(frame) if with_geometry else frame


def areas(s: Session, *, levels: tuple[str, ...] | None = None, with_geometry: bool = True) -> pd.DataFrame:
    where = "WHERE level = ANY(:levels)" if levels else ""
    geom = ", ST_AsBinary(geom) AS wkb" if with_geometry else ""
    frame = read_frame(
        s,
        "SELECT area_id, parent_id, level, code, name, urban, urban_rural_code, worker_name, worker_phone, "
        f"households{geom} FROM areas {where} ORDER BY area_id",
        {"levels": list(levels)} if levels else None,
    )
    frame["parent_id"] = frame["parent_id"].astype("Int64")
    return to_geoframe(frame) if with_geometry else frame


def facilities(s: Session, *, statuses: tuple[str, ...] = ("open",)) -> pd.DataFrame:
    return read_frame(
        s,
        "SELECT facility_id, type_code, name, ST_X(geom) AS lon, ST_Y(geom) AS lat, status, capacity, "
        "floor_area_m2 FROM facilities WHERE status = ANY(:st) ORDER BY facility_id",
        {"st": list(statuses)},
    )


def residences(s: Session) -> pd.DataFrame:
    return read_frame(
        s,
        "SELECT residence_id, ST_X(geom) AS lon, ST_Y(geom) AS lat, households, population, elderly, "
        "children, area_id, estimated, households_estimated FROM residences ORDER BY residence_id",
    )


def facility_types(s: Session) -> pd.DataFrame:
    return read_frame(s, "SELECT * FROM facility_types ORDER BY code").drop(
        columns=["created_at", "updated_at"]
    )


def data_versions(s: Session) -> dict[str, int]:
    return {r[0]: r[1] for r in s.execute(text("SELECT layer, version FROM data_versions"))}


def data_stamp(s: Session, layers: tuple[str, ...]) -> str:
    """Each of ``layers``' version counter and the time it last changed, as one string: unlike the
    counters alone, it differs between a database and one recreated under the same oid."""
    return str(
        s.execute(
            text(
                "SELECT coalesce(string_agg(layer || ':' || version || ':' || updated_at, ',' "
                "ORDER BY layer), '') FROM data_versions WHERE layer = ANY(:layers)"
            ),
            {"layers": list(layers)},
        ).scalar_one()
    )


def database_identity(s: Session) -> tuple:
    """Server address, port and the database's oid: tells apart two databases whose per-database
    version counters happen to be equal (a recreated database gets a new oid)."""
    row = s.execute(
        text(
            "SELECT coalesce(inet_server_addr()::text, ''), coalesce(inet_server_port(), 0), oid "
            "FROM pg_database WHERE datname = current_database()"
        )
    ).one()
    return (row[0], int(row[1]), int(row[2]))


def counts(s: Session) -> dict[str, int]:
    tables = ["areas", "facilities", "residences", "place_names", "network_nodes", "network_edges", "water"]
    return {t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def district_outline(s: Session) -> pd.DataFrame:
    """The district polygon(s) as WKB (``wkb``), to clip drawn areas to the land of the district."""
    return read_frame(s, "SELECT ST_AsBinary(ST_Union(geom)) AS wkb FROM areas WHERE level = 'district'")
