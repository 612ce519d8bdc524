"""The place-name map (``/placenames``, placename_officer/admin): every name coloured by its check.

Check results are the registry's findings (``layers.placenames.registry_findings``: 大/洋/怪 lexicons,
script and generic checks, duplicates and homophones within the legal scope; the same as the
officer's XLSX report) and the sign work list of ``geo.placenames.signs``; sign text (Chinese +
pinyin) from ``geo.placenames.pinyin.sign_text``. Popups fetch the name's history from
``/placenames/{id}/history``.

The page itself holds no names: they come in parts of ``PART_ROWS`` rows (``name_parts``, served by
``/map-data/placenames/{part}.json``), fetched together when the page starts, so that no response grows with
the district (about 19,000 names at scale 10), for the popups, lists, search and the workbench. The map
draws the names from the ``place_name_clusters`` vector tiles (made in PostGIS from the check results
stored in ``place_name_results``): below ``NAMES_ZOOM`` a bubble per cell with its count per result, in
the colour of the most serious one, from it each name as its dot; the lines and outlines of named roads,
rivers and estates come from the ``place_name_shapes`` vector tiles.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geo.errors import GeoError
from geo.placenames.pinyin import sign_text
from geo.placenames.report import STATUS_ZH
from geo.placenames.results import check_results
from geo.placenames.tables import default_tables
from layers.placenames import PENDING_APPROVAL
from layers.tiles import PLACE_NAME_CLUSTER_BELOW, SHAPES_MIN_ZOOM
from maps.basemap import add_base_layers
from maps.page import (
    AttachScript,
    DistrictView,
    PageHtml,
    ResponsiveLayerControl,
    add_html,
    finish,
    page_map,
    render,
)
from maps.public import map_centre

# Check result → legend label and colour, in priority order: a name shows its most serious result.
RESULTS: dict[str, tuple[str, str]] = {
    "duplicate": ("重名/同音", "#7b1fa2"),
    "dayangguai": ("大/洋/怪", "#d32f2f"),
    "other": ("其他待审核", "#ef6c00"),
    "missing_sign": ("缺少地名标志", "#1565c0"),
    "historical": ("历史地名(已销名)", "#8d8d8d"),
    "ok": ("规范", "#2e7d32"),
}
NAMES_ZOOM = PLACE_NAME_CLUSTER_BELOW + 1
"""From this map zoom every name is drawn on its own: the ``place_name_clusters`` tiles (512 px: a tile of
zoom z is drawn at map zoom z + 1) hold single names from ``PLACE_NAME_CLUSTER_BELOW`` on; below, a bubble
per cell with its count per check result (``layers.tiles``)."""
SHAPES_ZOOM = SHAPES_MIN_ZOOM
"""Lines and outlines of named roads, rivers and estates are drawn from this zoom on (their tiles start
there)."""
PART_ROWS = 2500
"""Names per part (``name_parts``): a part is about 100 KB gzipped on the wire."""


def _sign(name: str, category: str | None) -> dict[str, str]:
    # an unreadable name still goes on the map, flagged by its checks
    try:
        s = sign_text(name, category=category or None)
    except (
        GeoError,
        ValueError,
        KeyError,
    ):
        return {"chinese": name, "pinyin": ""}
    return {"chinese": s.chinese, "pinyin": s.pinyin}


def _clean(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


NAME_COLUMNS = [
    "id",
    "name",
    "lat",
    "lon",
    "category",
    "status",
    "heritage",
    "sign_present",
    "pending",
    "town",
    "pinyin",
    "result",
    "findings",
    "sign_missing",
]
"""Columns of each embedded name row (rows are lists: the page data stays small on phones). ``findings``
is a list of ``[kinds index, detail]``; ``pinyin`` the sign's pinyin line (its Chinese line is the name);
``pending`` a name registered without approval (待审批)."""


def name_records(names: gpd.GeoDataFrame, checks: pd.DataFrame) -> dict[str, Any]:
    """The names as compact rows (``NAME_COLUMNS``) with the finding kinds they point to.

    Returns ``{"columns", "rows", "kinds"}``: ``kinds`` lists ``[code, flag, reason, rule]`` once per
    distinct finding kind; a row's findings are ``[kind index, detail]``. The label point is a point on
    each feature; the meaning and the current version are read from the registry when a popup opens.
    """
    known = default_tables().categories
    points = shapely.point_on_surface(names.geometry.to_numpy())
    kinds: dict[tuple[str, str, str, str], int] = {}
    rows = []
    towns = names["town"] if "town" in names else pd.Series(None, index=names.index)
    for (i, n), p in zip(names.iterrows(), points, strict=True):
        if p is None or p.is_empty:
            continue
        cat = n["category"] if n["category"] in known else None
        found = [
            [kinds.setdefault((f["code"], f["flag"], f["reason"], f["rule"]), len(kinds)), f["detail"]]
            for f in checks.at[i, "findings"]
        ]
        rows.append(
            [
                _clean(n["name_id"]),
                n["name"],
                round(p.y, 6),
                round(p.x, 6),
                n["category"],
                n["status"],
                bool(n["heritage"]),
                bool(n["sign_present"]) if pd.notna(n["sign_present"]) else False,
                _clean(n["approval"]) == PENDING_APPROVAL,
                _clean(towns[i]),
                _sign(n["name"], cat)["pinyin"],
                checks.at[i, "result"],
                found,
                bool(checks.at[i, "sign_missing"]),
            ]
        )
    return {"columns": NAME_COLUMNS, "rows": rows, "kinds": [list(k) for k in kinds]}


def name_parts(
    names: gpd.GeoDataFrame, checks: pd.DataFrame, *, size: int = PART_ROWS
) -> list[dict[str, Any]]:
    """The names' rows (``name_records``) in parts of at most ``size`` rows, each with the columns and every
    finding kind (at least one part, empty when there are no names)."""
    records = name_records(names, checks)
    rows = records["rows"]
    return [
        {"columns": records["columns"], "kinds": records["kinds"], "rows": rows[i : i + size]}
        for i in range(0, max(len(rows), 1), size)
    ]


def prepare_names(
    names: gpd.GeoDataFrame, findings: pd.DataFrame, towns: pd.Series | None = None
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The names (index reset, with their ``town`` when ``towns`` is given) and their ``check_results``."""
    names = names.reset_index(drop=True)
    if towns is not None:
        names = names.assign(town=names["name_id"].map(towns))
    return names, check_results(names, findings)


def build_placenames_map(
    *,
    district: dict[str, Any],
    names: gpd.GeoDataFrame,
    checks: pd.DataFrame,
    basemap: dict[str, Any],
    names_url: str,
    parts: int,
    shape_tiles: str,
    name_tiles: str,
    only_part: str | None = None,
    tianditu_key: str | None = None,
) -> PageHtml:
    """The place-name officer's page: its HTML and the hashes of its inline scripts (``PageHtml``).

    Parameters
    ----------
    district : ``{"name", "bounds", "demo"}`` (``maps.sources.district``).
    names, checks : every place name and its check results (``prepare_names``), for the legend's counts.
    basemap : ``maps.basemap.offline_data`` output.
    names_url : URL template of the names' parts (``{part}`` stands for 0 … ``parts`` − 1; ``name_parts``).
    parts : how many parts the names come in.
    shape_tiles : URL template of the ``place_name_shapes`` vector tiles.
    name_tiles : URL template of the ``place_name_clusters`` vector tiles (the names as drawn: bubbles with
        their counts per check result below ``NAMES_ZOOM``, each name from it on).
    only_part : when the names fit in one part, that part's JSON (``js_json``): the page carries it as a
        data block, so a district of a few thousand names opens without a second round trip (a phone on
        the demo: 1.5 s instead of 2.2 s); larger registries are fetched in parts.
    tianditu_key : 天地图 ``tk``; when None the 天地图 layers are not offered.
    """
    m = page_map(
        title=f"民情地图 · {district['name']} · 地名管理",
        page="placenames",
        center=map_centre(district.get("bounds")),
        zoom=13,
    )
    if district.get("bounds"):
        m.add_child(DistrictView(district["bounds"]))  # before the base map: its tiles are made for this view
    add_base_layers(m, basemap, tianditu_key=tianditu_key)
    counts = checks["result"].value_counts()
    groups: dict[str, Any] = {}
    m.add_child(ResponsiveLayerControl(position="topright", collapsed=False))
    results = [
        {"code": k, "name": lab, "color": col, "count": int(counts.get(k, 0))}
        for k, (lab, col) in RESULTS.items()
    ]
    data = {
        "district": district,
        "results": results,
        "statuses": STATUS_ZH,
        "shapes_zoom": SHAPES_ZOOM,
        "shape_tiles": shape_tiles,
        "name_tiles": name_tiles,
        "names_below": NAMES_ZOOM,
        "names": {"url": names_url, "parts": parts},
        "sign_categories": [c for c, cat in default_tables().categories.items() if cat.sign_required],
        "placename_categories": {c: cat.name_zh for c, cat in default_tables().categories.items()},
    }
    m.add_child(AttachScript("minqing.placenames", layers=groups, data=data))
    if only_part is not None and parts == 1:
        # a data block, not script: JSON.parse reads the names far faster than a phone compiles a script
        add_html(m, f'<script type="application/json" id="mq-pn-names">{only_part}</script>')
    add_html(
        m,
        render(
            "placenames_panel.html",
            page="placenames",
            district=district["name"],
            subtitle="地名管理",
            demo=district.get("demo", False),
            search=True,
            results=results,
            heritage=int(names["heritage"].fillna(False).astype(bool).sum()),
            total=len(names),
            pending=int(((names["approval"] == PENDING_APPROVAL) & (names["status"] != "historical")).sum()),
        ),
    )
    return finish(m)
