"""Place names: search, reverse lookup and sign text (public); the registry, its checks and the sign
work list (placename_officer / admin).

Registry writes go through ``layers.placenames`` (history row with approval and actor, audit, version
bump); responses carry the name's version as ``ETag``. Rule findings are flagged for review, never
used to refuse a name.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from api.deps import OptionalUser, PrivacyDep, SessionDep, require_role, role_of
from api.errors import ApiError, PreconditionRequired
from api.routes.isochrones import require_in_district
from api.schemas.common import GEOJSON, JobId, Lat, Lon, errors, varchar
from api.schemas.placenames import (
    HistoryEntry,
    NameCheck,
    PlaceNameHit,
    RegistryName,
    RegistryNameCreate,
    RegistryNameUpdate,
    RenameRequest,
    RetireRequest,
    ReverseResult,
    ReviewRecord,
    ReviewRequest,
    RuleGroup,
    SignSheetJob,
    SignText,
    SignWorkItem,
)
from geo.placenames.checks import check_name
from geo.placenames.pinyin import sign_text
from geo.placenames.report import findings_sheets, signs_sheets
from geo.placenames.tables import default_tables
from layers import placenames
from layers.cache import Cache, versioned_key
from layers.placenames import PlaceNameRecord
from layers.users import Account
from pipeline import jobs
from pipeline.signsheets import sign_sheets_now
from pipeline.spreadsheets import workbook_bytes

router = APIRouter(tags=["地名 place_names"])
Officer = Annotated[Account, Depends(require_role("placename_officer", "admin"))]
NameId = Annotated[int, Path(ge=1, le=2**63 - 1, description="地名编号 name_id")]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", max_length=80, description='读取时的 ETag (the version), e.g. "3"')
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"
SIGNS_GEOJSON_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": 2,
            "geometry": {"type": "Point", "coordinates": [113.26, 22.58]},
            "properties": {
                "name_id": 2,
                "name": "山边村",
                "category": "village",
                "sign_type": "村牌",
                "sign_chinese": "山边村",
                "sign_pinyin": "Shanbiancun",
            },
        }
    ],
}


def _value(value):
    """NaN (pandas' missing value) → None; numpy scalars → Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def _known(category) -> str | None:
    """The category when data/placenames/categories.csv knows it (else the name is split without one)."""
    return category if isinstance(category, str) and category in default_tables().categories else None


@router.get(
    "/placenames/search",
    response_model=list[PlaceNameHit],
    summary="地名检索 search place names",
    description="Chinese substring (`q=滨河`), full pinyin with or without tones (`q=binhelu`) or "
    "initials (`q=bhl`). Exact matches first, then prefixes, then substrings; current names before "
    "former names.",
    responses=errors(),
)
def search(
    request: Request,
    s: SessionDep,
    user: OptionalUser,
    privacy: PrivacyDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=50,
            pattern=r"^[^\x00]*$",
            description="检索词 Chinese, pinyin or initials",
            examples=["滨河"],
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100, description="最多条数")] = 10,
) -> list[dict]:
    index, names = request.app.state.engines.name_index(s)
    return privacy.payload(placenames.search(index, names, q, limit=limit), role=role_of(user))


@router.get(
    "/reverse",
    response_model=ReverseResult,
    summary="逆地理编码 what is at this point",
    description="The nearest named road (≤ 1000 m; a named street or a registered road name), the "
    "nearest place name (≤ 2000 m; regions over 1 km² such as the island are left out), the small grid "
    "with its grid worker's public work contact, and every area containing the point. Distances in metres "
    "on the WGS84 spheroid.",
    responses=errors(422),
)
def reverse(
    s: SessionDep,
    user: OptionalUser,
    privacy: PrivacyDep,
    lon: Annotated[Lon, Query(description="经度 longitude (WGS84)", examples=[113.25])],
    lat: Annotated[Lat, Query(description="纬度 latitude (WGS84)", examples=[22.55])],
) -> dict:
    require_in_district(s, lon, lat)
    return privacy.payload(placenames.reverse(s, lon, lat), role=role_of(user))


# -- sign text (public) ------------------------------------------------------------------------------


def _sign_dict(name: str, category: str | None, *, name_id: int | None = None) -> dict:
    """Sign text of ``name``; an unknown ``category`` raises UnknownCategoryError (422)."""
    text_ = sign_text(name, category=category)
    sign_type = default_tables().categories[category].sign_type if category else ""
    return {
        "name_id": name_id,
        "chinese": text_.chinese,
        "pinyin": text_.pinyin,
        "proper": text_.proper,
        "generic": text_.generic,
        "category": category,
        "sign_type": sign_type or None,
    }


@router.get(
    "/placenames/pinyin",
    response_model=SignText,
    summary="地名拼音 sign text of any name",
    description="Pinyin per the 1984 place-name romanization rules (人民路 → Renmin Lu); the category "
    "decides one-word names and which generic terms split (data/placenames/categories.csv).",
    responses=errors(),
)
def pinyin(
    name: Annotated[
        Annotated[str, varchar(120, min_length=1)], Query(description="标准名称", examples=["解放北路"])
    ],
    category: Annotated[
        Annotated[str, varchar(40)] | None, Query(description="类别 e.g. road, village")
    ] = None,
) -> dict:
    if not name.strip():
        raise ApiError("name is blank", fix="send a standard Chinese place name, e.g. name=人民路")
    return _sign_dict(name, category or None)


# -- officers: checks and sign work list ------------------------------------------------------------


def _findings(found) -> list[dict]:
    """``geo.placenames.checks.Finding`` objects as the API's Finding model."""
    return [
        {
            "code": f.code,
            "reason": f.reason_zh,
            "reason_en": f.reason_en,
            "rule": f.rule,
            "detail": f.detail or None,
        }
        for f in found
    ]


def _registry_checks(request: Request, s: SessionDep) -> pd.DataFrame:
    """The district's findings, rebuilt only after place names or areas changed."""
    state = request.app.state
    cache = getattr(state, "placename_checks", None)
    if cache is None:
        cache = state.placename_checks = Cache(2)
    key = versioned_key(s, ("place_names", "areas", "place_name_reviews"))
    return cache.get(key, lambda: placenames.check_registry(s))


@router.get(
    "/placenames/checks",
    response_model=list[NameCheck],
    summary="地名检查 findings per name",
    description="Roles: placename_officer / admin. Every current name with at least one finding "
    "(大/洋/怪 words, scripts, rare characters, generic fit, duplicates and homophones within the legal "
    "scope of its category). Findings are flagged for review, never rejections.",
    responses=errors(401, 403),
)
def checks(
    request: Request,
    s: SessionDep,
    _: Officer,
    code: Annotated[
        Annotated[str, varchar(40)] | None, Query(description="只看某类问题 e.g. foreign, duplicate")
    ] = None,
) -> list[dict]:
    found = _registry_checks(request, s)
    if code:
        found = found[found["code"] == code]
    out = []
    for name_id, rows in found.groupby("name_id", sort=True):
        first = rows.iloc[0]
        findings = [
            {
                "code": r.code,
                "reason": r.reason_zh,
                "reason_en": r.reason_en,
                "rule": r.rule,
                "detail": r.detail or None,
            }
            for r in rows.itertuples()
        ]
        out.append(
            {
                "name_id": int(name_id),
                "name": first["name"],
                "category": first["category"],
                "status": first["status"],
                "town": _value(first["town"]),
                "district": _value(first["district"]),
                "scope": first["scope"],
                "review": first["review"] or None,
                "findings": findings,
            }
        )
    return out


@router.get(
    "/placenames/checks/rules",
    response_model=list[RuleGroup],
    summary="按规则归类 findings by rule",
    description="Roles: placename_officer / admin. The current findings grouped by rule (most names "
    "first), each with its 大/洋/怪/重 flag and the names it flags; reviewed findings (保留/豁免) "
    "are left out.",
    responses=errors(401, 403),
)
def checks_by_rule(request: Request, s: SessionDep, _: Officer) -> list[dict]:
    found = _registry_checks(request, s)
    rules = default_tables().rules
    out = []
    for code, rows in found.groupby("code", sort=False):
        rows = rows.drop_duplicates("name_id")
        rule = rules.get(str(code))
        out.append(
            {
                "code": code,
                "reason": rows["reason_zh"].iloc[0],
                "rule": rows["rule"].iloc[0],
                "flag": rule.flag if rule else "other",
                "count": len(rows),
                "names": [
                    {
                        "name_id": int(r.name_id),
                        "name": r.name,
                        "town": _value(r.town),
                        "review": r.review or None,
                    }
                    for r in rows.itertuples()
                ],
            }
        )
    return sorted(out, key=lambda g: (-g["count"], g["code"]))


def _download(body: bytes, filename: str) -> Response:
    return Response(
        body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get(
    "/placenames/checks.xlsx",
    response_class=Response,
    summary="地名检查报告 check report (XLSX)",
    description="Roles: placename_officer / admin. Sheet 检查结果 (one row per finding: name, category, "
    "scope and problem in Chinese) and 汇总 (per problem); text that a spreadsheet would "
    "evaluate is kept as text.",
    responses={
        200: {
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
            "description": "XLSX workbook",
        },
        **errors(401, 403),
    },
)
def checks_xlsx(request: Request, s: SessionDep, _: Officer) -> Response:
    return _download(workbook_bytes(findings_sheets(_registry_checks(request, s))), "placename-checks.xlsx")


def _sign_geojson(worklist) -> Response:
    features = [
        {
            "type": "Feature",
            "id": int(name_id),
            "geometry": shapely.geometry.mapping(row["geometry"]),
            "properties": {"name_id": int(name_id), **{k: _value(row[k]) for k in placenames.SIGN_COLUMNS}},
        }
        for name_id, row in worklist.iterrows()
    ]
    return Response(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode(),
        media_type=GEOJSON,
    )


@router.get(
    "/placenames/signs/missing",
    response_model=None,
    summary="缺少地名标志 sign work list",
    description="Roles: placename_officer / admin. Current names of categories that need a sign "
    "(GB 17733-2008; data/placenames/categories.csv) whose sign is missing, with the Chinese and pinyin "
    "text for the sign. `format`: json (default), geojson (the features) or xlsx.",
    responses={
        200: {
            "model": list[SignWorkItem],
            "description": "work list",
            "content": {
                GEOJSON: {
                    "schema": {"$ref": "#/components/schemas/GeoJSONFeatureCollection"},
                    "example": SIGNS_GEOJSON_EXAMPLE,
                },
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **errors(401, 403),
    },
)
def signs_missing(
    s: SessionDep,
    _: Officer,
    format: Annotated[Literal["json", "geojson", "xlsx"], Query(description="输出格式")] = "json",
):
    worklist = placenames.missing_signs(s, with_geometry=format == "geojson")
    if format == "geojson":
        return _sign_geojson(worklist)
    if format == "xlsx":
        return _download(workbook_bytes(signs_sheets(worklist)), "placename-signs-missing.xlsx")
    return [{"name_id": int(i), **{k: _value(v) for k, v in row.items()}} for i, row in worklist.iterrows()]


Town = Annotated[Annotated[str, varchar(60)] | None, Query(description="镇街名称")]
SignStatus = Annotated[Literal["待设置", "已设置", "待更换", "待拆除"] | None, Query(description="标志状态")]
PDF_RESPONSE = {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}, "description": "PDF"}


def _pdf(body: bytes) -> Response:
    return Response(
        body, media_type=PDF, headers={"Content-Disposition": 'attachment; filename="placename-signs.pdf"'}
    )


SIGN_PLAN_HEADERS = {
    "name_id": "编号",
    "name": "标准名称",
    "sign_status": "标志状态",
    "category_zh": "类别",
    "sign_type": "标志类型",
    "size_class": "规格",
    "sign_chinese": "标志汉字",
    "sign_pinyin": "标志拼音",
    "town": "镇街",
    "district": "区县",
    "approval": "批复文号",
    "lon": "经度",
    "lat": "纬度",
}


@router.get(
    "/placenames/signs",
    response_model=None,
    summary="地名标志工作单 sign work list per town",
    description="Roles: placename_officer / admin. Every name of a category that needs a sign "
    "(GB 17733-2008), current or retired, with its sign status — 待设置 (none yet), 已设置, "
    "待更换 (the sign shows a former name), 待拆除 (retired name, sign still up) — "
    "the Chinese and pinyin text, size class and location. `town` and `status` filter; `format=xlsx`: "
    "one sheet per 镇街 for contractors; `format=pdf`: printable A4 sheets per 镇街, "
    "each with a small map of the town and its signs numbered, "
    "drawn here when they are at most 10 pages (413 otherwise: "
    "`POST /placenames/signs/jobs` draws any size in the background).",
    responses={
        200: {
            "model": list[SignWorkItem],
            "description": "work list",
            "content": {
                XLSX: {"schema": {"type": "string", "format": "binary"}},
                PDF: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **errors(401, 403, 413, 503),
    },
)
def signs(
    s: SessionDep,
    _: Officer,
    town: Town = None,
    status: SignStatus = None,
    format: Annotated[Literal["json", "xlsx", "pdf"], Query(description="输出格式")] = "json",
):
    if format == "pdf":
        return _pdf(sign_sheets_now(s, town=town, sign_status=status))
    plan = placenames.sign_plan(s, town=town, sign_status=status)
    if format == "xlsx":
        columns = [c for c in SIGN_PLAN_HEADERS if c != "town"]
        frame = plan.reset_index()
        sheets = {
            str(t or "未定镇街")[:31]: rows[columns].rename(columns=SIGN_PLAN_HEADERS)
            for t, rows in frame.groupby(frame["town"].fillna("未定镇街"), sort=True)
        }
        return _download(
            workbook_bytes(sheets or {"标志工作单": frame[columns].rename(columns=SIGN_PLAN_HEADERS)}),
            "placename-signs.xlsx",
        )
    return [{"name_id": int(i), **{k: _value(v) for k, v in row.items()}} for i, row in plan.iterrows()]


def _sign_job(row: dict) -> dict:
    params = row.get("params") or {}
    done = row["status"] == "done"
    return {
        **row,
        "town": params.get("town"),
        "sign_status": params.get("sign_status"),
        "pdf": f"/placenames/signs/jobs/{row['job_id']}/pdf" if done else None,
    }


@router.post(
    "/placenames/signs/jobs",
    status_code=202,
    response_model=SignSheetJob,
    summary="生成标志工作单 draw the sign sheets (PDF) in the background",
    description="Roles: placename_officer / admin. Queues the printable sheets of `GET /placenames/signs?"
    "format=pdf` (same `town` / `status` filters; none: the whole district, about a hundred pages and a "
    "minute) on the task queue and answers 202 at once with the job and `Location`. Poll `GET "
    "/placenames/signs/jobs/{job_id}`: `progress` counts the pages drawn; when `done`, `pdf` is the "
    "download URL (kept a day). The same sheets asked again while queued or running give the same job; an "
    "unknown `town` is 400.",
    responses=errors(400, 401, 403, 422),
)
def start_sign_sheets(
    response: Response, s: SessionDep, user: Officer, town: Town = None, status: SignStatus = None
) -> dict:
    row = jobs.queue_sign_sheets(s, town=town, sign_status=status, actor=user.username)
    response.headers["Location"] = f"/placenames/signs/jobs/{row['job_id']}"
    return _sign_job(row)


@router.get(
    "/placenames/signs/jobs/{job_id}",
    response_model=SignSheetJob,
    summary="标志工作单任务 a sign-sheet job",
    description="Roles: placename_officer / admin. Status and progress (pages drawn / total); "
    "`pdf` once done.",
    responses=errors(401, 403, 404),
)
def sign_sheets_job(s: SessionDep, _: Officer, job_id: JobId) -> dict:
    return _sign_job(jobs.sign_sheets_job(s, job_id))


@router.get(
    "/placenames/signs/jobs/{job_id}/pdf",
    response_class=Response,
    summary="下载标志工作单 the job's PDF",
    description="Roles: placename_officer / admin. The finished job's PDF; "
    "409 while it is still being drawn, 400 when it failed, "
    "404 when it is unknown or finished more than a day ago.",
    responses={200: PDF_RESPONSE, **errors(400, 401, 403, 404, 409)},
)
def sign_sheets_pdf(s: SessionDep, _: Officer, job_id: JobId) -> Response:
    return _pdf(jobs.sign_sheets_pdf(s, job_id))


HERITAGE_HEADERS = {
    "name_id": "编号",
    "name": "名称",
    "category": "类别",
    "town": "镇街",
    "first_recorded": "始见记载",
    "former_names": "曾用名",
    "renamed": "更名次数",
    "meaning": "含义与历史文化价值",
    "approval": "批复文号",
    "lon": "经度",
    "lat": "纬度",
}


@router.get(
    "/placenames/heritage",
    response_model=None,
    summary="地名文化遗产保护名录 heritage register",
    description="Roles: placename_officer / admin. Current names on the heritage register (古镇, 古村落, "
    "老街, 老地名…) with the criteria: age (始见记载, the earliest date of their history), continuity "
    "(曾用名, 更名次数) and cultural value (含义). A rename of one of them needs an expert assessment "
    "(heritage_review). `format=xlsx` exports the protection list.",
    responses={
        200: {
            "description": "the register (JSON) or its XLSX export",
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"type": "object"}},
                    "example": [
                        {
                            "name_id": 41,
                            "name": "兴业路",
                            "category": "road",
                            "first_recorded": "1993-05-12",
                            "former_names": "打铁街",
                            "renames": 1,
                            "meaning": "清代打铁作坊集中之街",
                        }
                    ],
                },
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        },
        **errors(401, 403),
    },
)
def heritage(
    s: SessionDep,
    _: Officer,
    format: Annotated[Literal["json", "xlsx"], Query(description="输出格式")] = "json",
):
    register = placenames.heritage_register(s)
    if format == "xlsx":
        frame = register.reset_index().rename(columns=HERITAGE_HEADERS)
        return _download(workbook_bytes({"地名文化遗产保护名录": frame}), "placename-heritage.xlsx")
    return [{"name_id": int(i), **{k: _value(v) for k, v in row.items()}} for i, row in register.iterrows()]


# -- the registry -------------------------------------------------------------------------------------


def _registered(response: Response, record: PlaceNameRecord) -> dict:
    """The record with its own findings; its version goes out as the ETag."""
    response.headers["ETag"] = f'"{record.version}"'
    found = check_name(record.name, category=_known(record.category))
    return {**record.as_dict(), "findings": _findings(found)}


def _required_version(if_match: str | None, name_id: int) -> int:
    version = _version(if_match, name_id)
    if version is None:
        raise PreconditionRequired(
            f"changing place name {name_id} needs an If-Match header",
            fix=f"GET /placenames/{name_id}, then send its ETag header value as If-Match",
        )
    return version


def _version(if_match: str | None, name_id: int) -> int | None:
    """The version named by an If-Match header (None without one)."""
    if not if_match:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 9:
        raise ApiError(
            f"If-Match {if_match!r} is not the version of a place name",
            fix=f'send the ETag of GET /placenames/{name_id}, e.g. "3"',
        )
    return int(value)


@router.post(
    "/placenames",
    response_model=RegistryName,
    status_code=201,
    summary="登记地名 register a name",
    description="Roles: placename_officer / admin. Sign text, proper and generic parts are computed; the "
    "history records `create` with the approval; `findings` lists rule flags for review.",
    responses=errors(401, 403, 409, 422),
)
def create(body: RegistryNameCreate, response: Response, s: SessionDep, _: Officer) -> dict:
    record = placenames.create(
        s,
        name=body.name,
        category=body.category,
        geometry=body.location(),
        approval=body.approval,
        area_id=body.area_id,
        status=body.status,
        heritage=body.heritage,
        sign_present=body.sign_present,
        meaning=body.meaning,
    )
    response.headers["Location"] = f"/placenames/{record.name_id}"
    return _registered(response, record)


@router.get(
    "/placenames/{name_id}",
    response_model=RegistryName,
    summary="查看地名 one registered name",
    description="Public. The `ETag` header is the version to send in `If-Match` when changing it.",
    responses=errors(404),
)
def get_name(name_id: NameId, response: Response, s: SessionDep) -> dict:
    return _registered(response, placenames.get(s, name_id))


@router.get(
    "/placenames/{name_id}/sign",
    response_model=SignText,
    summary="地名标志文字 sign text of a name",
    description="Public. Standard Chinese name and pinyin for the sign (GB 17733-2008).",
    responses=errors(404),
)
def sign(name_id: NameId, s: SessionDep) -> dict:
    record = placenames.get(s, name_id)
    return {**_sign_dict(record.name, _known(record.category), name_id=name_id), "category": record.category}


@router.post(
    "/placenames/{name_id}/rename",
    response_model=RegistryName,
    summary="地名更名 rename (approval)",
    description="Roles: placename_officer / admin. The old name stays in the history and in search "
    "(as a former name). `If-Match` (optional) guards against renaming a name changed since read: 412.",
    responses=errors(401, 403, 404, 409, 412, 422),
)
def rename(
    name_id: NameId,
    body: RenameRequest,
    response: Response,
    s: SessionDep,
    _: Officer,
    if_match: IfMatch = None,
) -> dict:
    record = placenames.rename(
        s,
        name_id,
        body.new_name,
        approval=body.approval,
        expected_version=_version(if_match, name_id),
        heritage_review=body.heritage_review,
    )
    return _registered(response, record)


@router.post(
    "/placenames/{name_id}/retire",
    response_model=RegistryName,
    summary="地名销名 retire (approval)",
    description="Roles: placename_officer / admin. Status becomes historical; the name stays searchable. "
    "`If-Match` optional (412 when stale).",
    responses=errors(401, 403, 404, 409, 412, 422),
)
def retire(
    name_id: NameId,
    body: RetireRequest,
    response: Response,
    s: SessionDep,
    _: Officer,
    if_match: IfMatch = None,
) -> dict:
    record = placenames.retire(
        s, name_id, approval=body.approval, expected_version=_version(if_match, name_id)
    )
    return _registered(response, record)


@router.patch(
    "/placenames/{name_id}",
    response_model=RegistryName,
    summary="修改地名属性 change attributes",
    description="Roles: placename_officer / admin. Only the given fields change (the name only through "
    "rename). `If-Match` required: 428 without it, 412 when someone changed the name since.",
    responses=errors(401, 403, 404, 409, 412, 422, 428),
)
def update(
    name_id: NameId,
    body: RegistryNameUpdate,
    response: Response,
    s: SessionDep,
    _: Officer,
    if_match: IfMatch = None,
) -> dict:
    expected = _required_version(if_match, name_id)
    changes = body.model_dump(exclude_unset=True, exclude={"geometry"})
    geometry = body.geometry.model_dump() if body.geometry is not None else None
    record = placenames.update(s, name_id, changes, expected_version=expected, geometry=geometry)
    return _registered(response, record)


@router.post(
    "/placenames/{name_id}/review",
    response_model=ReviewRecord,
    summary="审核决定 record a review",
    description="Roles: placename_officer / admin. Records 保留 / 豁免 / 整改 on the name's current "
    "findings; 保留 and 豁免 stop them from being flagged, until the name is renamed or a new kind of "
    "finding appears. Audited; a later decision replaces it.",
    responses=errors(401, 403, 404, 409, 422),
)
def review(name_id: NameId, body: ReviewRequest, s: SessionDep, _: Officer) -> dict:
    return placenames.review(s, name_id, decision=body.decision, note=body.note)


@router.get(
    "/placenames/{name_id}/history",
    response_model=list[HistoryEntry],
    summary="地名沿革 history",
    description="Roles: placename_officer / admin. Every change, oldest first, with approval, actor and "
    "the row before and after.",
    responses=errors(401, 403, 404),
)
def name_history(name_id: NameId, s: SessionDep, _: Officer) -> list[dict]:
    return placenames.history(s, name_id)
