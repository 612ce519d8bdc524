"""File imports (GeoJSON, GeoPackage, zipped Shapefile, CSV, XLSX) into a layer, all-or-nothing.

The parsing, CRS conversion (WGS84 / CGCS2000 / GCJ-02 / BD-09) and checks live in
``layers.load.files``; this route stores the upload in a temporary file, runs the import in one
transaction as the logged-in user, and rolls it back for a dry run or when any row has a problem.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from api import access
from api.deps import CurrentUser
from api.errors import ApiError
from api.schemas.common import errors
from api.schemas.imports import ImportResult
from layers.db import session
from layers.errors import ValidationFailed
from layers.load.files import import_file

router = APIRouter(prefix="/imports", tags=["导入 imports"])

ImportLayer = Literal["facilities", "residences", "grids", "place_names", "addresses"]
CRS_PATTERN = r"^(wgs84|cgcs2000|gcj02|bd09|epsg:[0-9]{4,6})$"
SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".csv", ".xlsx")


class _RollBack(Exception):
    """Leave the transaction without writing (dry run, or a report with problems)."""

    def __init__(self, report: Any):
        self.report = report


def _suffix(filename: str | None) -> str:
    name = (filename or "").lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise ApiError(
        f"cannot import a file named {filename!r}: the type is not supported",
        fix=f"upload one of {', '.join(SUFFIXES)} (a Shapefile as one .zip with .shp/.shx/.dbf/.prj)",
    )


def _column_map(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    try:
        mapping = json.loads(raw)
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ApiError(
            f"column_map {raw[:100]!r} is not a JSON object of column names",
            fix='send e.g. {"机构名称": "name", "经度": "lon", "纬度": "lat"}',
        )
    return mapping


def _run(
    url: str | None,
    layer: str,
    path: Path,
    *,
    crs: str,
    dry_run: bool,
    actor: str,
    column_map: dict[str, str] | None,
):

    try:
        with session(url, actor=actor) as s:
            report = import_file(s, layer, path, crs=crs, dry_run=dry_run, actor=actor, column_map=column_map)
            if dry_run or not report.ok:
                raise _RollBack(report)
    except _RollBack as rolled_back:
        return rolled_back.report
    return report


def _result(layer: str, dry_run: bool, report: Any) -> dict:
    return {
        "layer": layer,
        "dry_run": dry_run,
        "ok": bool(report.ok),
        "rows": int(report.rows),
        "written": 0 if dry_run or not report.ok else int(report.written),
        "problems": [dict(p) for p in report.problems],
        "warnings": [dict(w) for w in getattr(report, "warnings", [])],
        "summary": dict(getattr(report, "summary", {}) or {}),
    }


@router.post(
    "/{layer}",
    response_model=ImportResult,
    summary="导入文件 import a file into a layer",
    description=(
        "Multipart upload (`file`). `crs` is the coordinate system of the file: wgs84, cgcs2000, gcj02 "
        "(Amap/Tencent), bd09 (Baidu) or epsg:NNNN; coordinates are converted to WGS84. `dry_run=true` checks and "
        "reports without writing (a read-only transaction; the report is the one the import would give). A real "
        "import writes every row or none: any problem → 422 listing every problem with its row, column and fix. "
        "A file may hold at most MINQING_IMPORT_MAX_ROWS data rows (default 200,000; a larger one is refused with "
        "the limit and the fix). The import runs within the request, not as a background job: progress bars are "
        "shown by the command line (`minqing import`) only. Roles: facilities/residences: planner, admin; "
        "place_names: placename_officer, admin; addresses (= residences): planner, admin; grids: admin."
    ),
    responses=errors(401, 403, 413, 422),
    generate_unique_id_function=lambda route: "import_file",
)  # the upload body's schema: Body_import_file
def import_layer(
    request: Request,
    layer: ImportLayer,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="GeoJSON, GPKG, zipped SHP, CSV or XLSX")],
    crs: Annotated[
        str,
        Query(
            description="文件坐标系 wgs84, cgcs2000, gcj02 (高德/腾讯), bd09 (百度) or epsg:NNNN",
            pattern=CRS_PATTERN,
            examples=["gcj02"],
        ),
    ] = "wgs84",
    dry_run: Annotated[bool, Query(description="只检查不写入 check only")] = False,
    column_map: Annotated[
        str | None, Form(description='列名映射 JSON, e.g. {"机构名称": "name"}', max_length=10_000)
    ] = None,
) -> dict:
    access.import_allowed(user, layer)
    suffix = _suffix(file.filename)
    mapping = _column_map(column_map)
    with tempfile.TemporaryDirectory(prefix="minqing-import-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        report = _run(
            request.app.state.database_url,
            layer,
            path,
            crs=crs,
            dry_run=dry_run,
            actor=user.username,
            column_map=mapping,
        )
    result = _result(layer, dry_run, report)
    if not dry_run and not result["ok"]:
        raise ValidationFailed(
            f"{len(result['problems'])} problem(s) in the file: nothing was written; "
            "fix every listed row and upload again (or try dry_run=true first)",
            problems=result["problems"],
        )
    return result
