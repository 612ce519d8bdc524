"""File imports (GeoJSON, GeoPackage, zipped Shapefile, CSV, XLSX) into a layer, all-or-nothing, as
background jobs on the task queue.

The parsing, CRS conversion (WGS84 / CGCS2000 / GCJ-02 / BD-09) and checks live in
``layers.load.files``; ``pipeline.file_imports`` queues the upload and a worker imports it in one
transaction as the user who uploaded it. This route checks the form at once (4xx), answers 202 with
the job, and ``GET /imports/jobs/{job_id}`` gives its state, progress and report.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from api import access
from api.deps import CurrentUser, SessionDep
from api.errors import ApiError
from api.schemas.common import JobId, errors
from api.schemas.imports import ImportJob
from pipeline import file_imports

router = APIRouter(prefix="/imports", tags=["导入 imports"])

ImportLayer = Literal["facilities", "residences", "grids", "place_names", "addresses"]
CRS_PATTERN = r"^(wgs84|cgcs2000|gcj02|bd09|epsg:[0-9]{4,6})$"
SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".csv", ".xlsx")


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


def _job(row: dict) -> dict:
    params = row.get("params") or {}
    return {
        **row,
        "layer": params.get("layer"),
        "filename": params.get("filename"),
        "dry_run": bool(params.get("dry_run")),
        "url": f"/imports/jobs/{row['job_id']}",
    }


@router.post(
    "/{layer}",
    status_code=202,
    response_model=ImportJob,
    summary="导入文件 import a file into a layer (a background job)",
    description=(
        "Multipart upload (`file`). `crs` is the coordinate system of the file: wgs84, cgcs2000, gcj02 "
        "(Amap/Tencent), bd09 (Baidu) or epsg:NNNN; coordinates are converted to WGS84. The file type, "
        "`crs` and `column_map` are checked at once (400), the size by the server (413, "
        "MINQING_MAX_UPLOAD_MB); then the import is queued on the task queue and the answer is **202** with "
        "the job (`status` queued, `status_zh` 排队中) and `Location: /imports/jobs/{job_id}`. "
        "Poll that URL: `progress` gives the stage and the rows written; when `done`, "
        "`result` is the import report. `dry_run=true` checks and reports without writing "
        "(a read-only transaction; the report is the one the import would give; "
        "the job is `done` whatever it found). A real import writes every row or none: "
        "any problem → the job is `failed`, `error` says nothing was written and how to fix it, "
        "and `result` lists every problem with its row, column and fix. "
        "A file may hold at most MINQING_IMPORT_MAX_ROWS data rows "
        "(default 200,000; a larger one is refused with the limit and the fix). "
        "At most 8 imports wait at a time (503 with Retry-After beyond). The audit log names the uploader. "
        "Roles: facilities/residences: planner, admin; place_names: placename_officer, admin; "
        "addresses (= residences): planner, admin; grids: admin."
    ),
    responses=errors(400, 401, 403, 413, 422, 503),
    generate_unique_id_function=lambda route: "import_file",
)  # the upload body's schema: Body_import_file
def import_layer(
    response: Response,
    s: SessionDep,
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
    row = file_imports.queue_import(
        s,
        layer=layer,
        filename=file.filename or f"upload{suffix}",
        suffix=suffix,
        content=file.file.read(),
        crs=crs,
        dry_run=dry_run,
        column_map=mapping,
        actor=user.username,
    )
    response.headers["Location"] = f"/imports/jobs/{row['job_id']}"
    return _job(row)


@router.get(
    "/jobs/{job_id}",
    response_model=ImportJob,
    summary="导入任务 an import job, its progress and report",
    description="`status` queued (排队中) → running (进行中: `progress`) → done "
    "(已完成: `result` is the report) or failed (失败: `error` names the problem and the fix; "
    "`result` lists the refused rows). Roles: the user who uploaded the file, and admin.",
    responses=errors(401, 403, 404),
)
def import_job(s: SessionDep, user: CurrentUser, job_id: JobId) -> dict:
    return _job(file_imports.import_job(s, job_id, reader=user.username, admin=user.role == "admin"))
