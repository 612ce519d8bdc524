"""The place-name map (``/placenames``, placename_officer/admin): every name coloured by its check.

Check results come from the rule library ``geo.placenames`` (大/洋/怪 lexicons, script and generic
checks, duplicates and homophones within the legal scope, sign work list); sign text (Chinese +
pinyin) from ``geo.placenames.pinyin.sign_text``. Popups fetch the name's history from
``/placenames/{id}/history``.
"""

from __future__ import annotations

import math
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import shapely

from geo.errors import GeoError
from geo.placenames.pinyin import sign_text
from geo.placenames.report import check_report
from geo.placenames.signs import sign_worklist
from geo.placenames.tables import default_tables
from maps.basemap import add_base_layers, simplify
from maps.page import AttachScript, ResponsiveLayerControl, add_html, page_map, render
from maps.public import _centre

# Check result → legend label and colour, in priority order: a name shows its most serious result.
RESULTS: dict[str, tuple[str, str]] = {
    "duplicate": ("重名/同音", "#7b1fa2"),
    "dayangguai": ("大/洋/怪", "#d32f2f"),
    "other": ("其他待审核", "#ef6c00"),
    "missing_sign": ("缺少地名标志", "#1565c0"),
    "ok": ("规范", "#2e7d32"),
}
DUPLICATE_CODES = {"duplicate", "homophone"}
DAYANGGUAI_CODES = {"exaggerated", "foreign", "odd"}
STATUS_ZH = {"standard": "标准地名", "irregular": "不规范地名", "historical": "历史地名"}


def _scoped(names: pd.DataFrame, *, district: str, town_of: dict[int, str]) -> pd.DataFrame:
    """Names with the columns the legal-scope rule reads: one district is one city and one county."""
    known = set(default_tables().categories)
    return pd.DataFrame({
        "name": names["name"].astype(str),
        "category": names["category"].where(names["category"].isin(known), ""),
        "county": district,
        "city": district,
        "town": names["area_id"].map(lambda a: town_of.get(int(a), "") if pd.notna(a) else ""),
    }, index=names.index)


def check_results(names: pd.DataFrame, *, district: str, town_of: dict[int, str]) -> pd.DataFrame:
    """Per name: ``result`` (a key of RESULTS), ``findings`` (list of dicts) and ``sign_missing``.

    Parameters
    ----------
    names : place names (name, category, area_id, sign_present), any index.
    district : the district's name (the scope of county- and city-wide uniqueness).
    town_of : area_id → name of the town (镇/街道) the area lies in.
    """
    frame = _scoped(names, district=district, town_of=town_of)
    found = check_report(frame, name="name", category="category", tables=default_tables())
    findings: dict[Any, list[dict[str, str]]] = {i: [] for i in names.index}
    for r in found.itertuples():
        findings[r.row].append({"code": r.code, "reason": r.reason_zh, "rule": r.rule, "detail": r.detail or "",
                                "group": getattr(r, "group", "") or ""})
    known = frame[frame["category"] != ""]
    signs = known.assign(sign_present=names.loc[known.index, "sign_present"].fillna(False).astype(bool))
    missing = set(sign_worklist(signs, tables=default_tables()).index)

    def result(i: Any) -> str:
        codes = {f["code"] for f in findings[i]}
        if codes & DUPLICATE_CODES:
            return "duplicate"
        if codes & DAYANGGUAI_CODES:
            return "dayangguai"
        if codes:
            return "other"
        return "missing_sign" if i in missing else "ok"

    return pd.DataFrame({"result": [result(i) for i in names.index],
                         "findings": [findings[i] for i in names.index],
                         "sign_missing": [i in missing for i in names.index]}, index=names.index)


def _sign(name: str, category: str | None) -> dict[str, str]:
    try:
        s = sign_text(name, category=category or None)
    except (GeoError, ValueError, KeyError):  # an unreadable name still goes on the map, flagged by its checks
        return {"chinese": name, "pinyin": ""}
    return {"chinese": s.chinese, "pinyin": s.pinyin}


def _clean(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def name_records(names: gpd.GeoDataFrame, checks: pd.DataFrame) -> list[dict[str, Any]]:
    """One JSON-ready record per name: label point, attributes, sign text, check result."""
    known = default_tables().categories
    points = shapely.point_on_surface(names.geometry.to_numpy())
    out = []
    for (i, n), p in zip(names.iterrows(), points, strict=True):
        if p is None or p.is_empty:
            continue
        cat = n["category"] if n["category"] in known else None
        out.append({
            "id": _clean(n["name_id"]), "name": n["name"], "lat": round(p.y, 6), "lon": round(p.x, 6),
            "category": n["category"], "category_zh": known[cat].name_zh if cat else n["category"],
            "status": n["status"], "status_zh": STATUS_ZH.get(n["status"], n["status"]),
            "heritage": bool(n["heritage"]), "sign_present": bool(n["sign_present"]) if pd.notna(n["sign_present"])
            else False, "approval": _clean(n["approval"]), "meaning": _clean(n["meaning"]),
            "pinyin": _clean(n["pinyin"]), "sign": _sign(n["name"], cat),
            "result": checks.at[i, "result"], "findings": checks.at[i, "findings"],
            "sign_missing": bool(checks.at[i, "sign_missing"]),
        })
    return out


def shapes(names: gpd.GeoDataFrame, checks: pd.DataFrame) -> dict[str, Any]:
    """Lines and polygons of named features (roads, rivers, estates), simplified, with ``id``/``r``."""
    lines = names[~names.geometry.geom_type.isin(["Point", "MultiPoint"]) & names.geometry.notna()]
    if lines.empty:
        return {"type": "FeatureCollection", "features": []}
    geoms = simplify(lines, tolerance_m=4.0)
    feats = [{"type": "Feature", "properties": {"id": _clean(n["name_id"]), "r": checks.at[i, "result"]},
              "geometry": g.__geo_interface__}
             for (i, n), g in zip(lines.iterrows(), geoms, strict=True) if g is not None and not g.is_empty]
    return {"type": "FeatureCollection", "features": feats}


def build_placenames_map(*, district: dict[str, Any], names: gpd.GeoDataFrame, town_of: dict[int, str],
                         basemap: dict[str, Any], tianditu_key: str | None = None) -> str:
    """The place-name officer's page as one HTML string.

    Parameters
    ----------
    district : ``{"name", "bounds", "demo"}`` (``maps.sources.district``).
    names : every place name (``maps.sources.place_names``), EPSG:4326.
    town_of : area_id → town name, for the legal scope of town-wide uniqueness.
    basemap : ``maps.basemap.offline_data`` output.
    tianditu_key : 天地图 ``tk``; when None the 天地图 layers are not offered.
    """
    names = names.reset_index(drop=True)
    checks = check_results(names, district=district["name"], town_of=town_of)
    m = page_map(title=f"民情地图 · {district['name']} · 地名管理", page="placenames",
                 center=_centre(district.get("bounds")), zoom=13)
    add_base_layers(m, basemap, tianditu_key=tianditu_key)
    counts = checks["result"].value_counts()
    groups: dict[str, Any] = {}
    for key, (label, color) in RESULTS.items():
        g = folium.FeatureGroup(name=f'<span class="mq-dot" style="background:{color}"></span>{label} '
                                     f'<span class="mq-count">{int(counts.get(key, 0))}</span>', show=True,
                              control=False)  # toggled by the panel's checkboxes
        m.add_child(g)
        groups[f"r_{key}"] = g
    heritage = folium.FeatureGroup(name="历史文化地名", show=True, control=False)
    m.add_child(heritage)
    groups["heritage"] = heritage
    m.add_child(ResponsiveLayerControl(position="topright", collapsed=False))
    results = [{"code": k, "name": lab, "color": col, "count": int(counts.get(k, 0))} for k, (lab, col) in RESULTS.items()]
    data = {"district": district, "results": results, "names": name_records(names, checks),
            "shapes": shapes(names, checks),
            "placename_categories": {c: cat.name_zh for c, cat in default_tables().categories.items()}}
    m.add_child(AttachScript("minqing.placenames", layers=groups, data=data))
    add_html(m, render("placenames_panel.html", page="placenames", district=district["name"], subtitle="地名管理",
                       demo=district.get("demo", False), search=True, results=results,
                       heritage=int(names["heritage"].fillna(False).astype(bool).sum()), total=len(names)))
    return m.get_root().render()
