"""Place names: search, reverse lookup, the registry (create, rename, retire, history), checks, signs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from api.schemas.common import AnyGeometry, Id, Lat, Lon, varchar

# --- response examples (OpenAPI) ---

_PLACE_NAME_HIT_EXAMPLE: JsonDict = {
    "name_id": 1,
    "name": "滨河路",
    "pinyin": "Binhe Lu",
    "category": "road",
    "status": "standard",
    "lon": 113.25,
    "lat": 22.55,
    "score": 3,
    "match": "chinese",
    "historical": False,
    "current_name": None,
}

_REVERSE_RESULT_EXAMPLE: JsonDict = {
    "lon": 113.22,
    "lat": 22.551,
    "road": {"name": "滨河路", "source": "network", "highway": "residential", "distance_m": 8.5},
    "place_name": {
        "name_id": 1,
        "name": "滨河路",
        "category": "road",
        "pinyin": "Binhe Lu",
        "status": "standard",
        "distance_m": 8.5,
    },
    "grid": {
        "area_id": 10001,
        "parent_id": 1000,
        "level": "grid_small",
        "code": "4400000010010010001",
        "name": "第一网格",
        "worker_name": "网格员(第一网格)",
        "worker_phone": "0755-0000001",
    },
    "areas": [{"area_id": 1, "level": "district", "code": "440000000000", "name": "测试区"}],
}

_SIGN_TEXT_EXAMPLE: JsonDict = {
    "name_id": 12,
    "chinese": "解放北路",
    "pinyin": "Jiefang Beilu",
    "proper": "解放",
    "generic": "北路",
    "category": "road",
    "sign_type": "街牌",
}

_REGISTRY_NAME_EXAMPLE: JsonDict = {
    "name_id": 12,
    "name": "解放北路",
    "category": "road",
    "area_id": 100,
    "proper": "解放",
    "generic": "北路",
    "pinyin": "Jiefang Beilu",
    "status": "standard",
    "heritage": False,
    "sign_present": True,
    "approval": "X民〔2020〕12号",
    "meaning": None,
    "version": 3,
    "lon": 113.25,
    "lat": 22.55,
    "findings": [],
}

_HISTORY_ENTRY_EXAMPLE: JsonDict = {
    "history_id": 40,
    "action": "rename",
    "old_name": "解放路",
    "new_name": "解放北路",
    "approval": "X民〔2020〕12号",
    "changed_by": "officer",
    "changed_at": "2026-12-04T09:30:00+08:00",
    "before": {"name": "解放路"},
    "after": {"name": "解放北路"},
}

_NAME_CHECK_EXAMPLE: JsonDict = {
    "name_id": 12,
    "name": "维多利亚花园",
    "category": "residential",
    "status": "standard",
    "town": "测试街道",
    "district": "测试区",
    "scope": "同一县级行政区",
    "findings": [
        {
            "code": "foreign",
            "reason": "崇洋媚外（“洋”）：外国人名地名、外文或其音译",
            "rule": "《地名管理条例》第九条",
        }
    ],
}

_SIGN_WORK_ITEM_EXAMPLE: JsonDict = {
    "name_id": 2,
    "name": "山边村",
    "category": "village",
    "category_zh": "村",
    "sign_type": "村牌",
    "sign_chinese": "山边村",
    "sign_pinyin": "Shanbiancun",
    "status": "standard",
    "town": "测试街道",
    "district": "测试区",
    "approval": None,
    "lon": 113.26,
    "lat": 22.58,
}


class PlaceNameHit(BaseModel):
    """地名检索结果 one search hit."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PLACE_NAME_HIT_EXAMPLE]})

    name_id: int
    name: str = Field(examples=["滨河路"])
    pinyin: str | None = Field(None, examples=["Binhe Lu"])
    category: str | None = None
    status: str | None = None
    lon: float | None = None
    lat: float | None = None
    score: int = Field(description="3 完全匹配 exact, 2 前缀 prefix, 1 包含 substring")
    match: str | None = Field(None, description="chinese, pinyin or initials")
    historical: bool = Field(False, description="曾用名 matched a former name")
    current_name: str | None = Field(None, description="现名 the current name when a former name matched")


class NearbyRoad(BaseModel):
    name: str
    source: str | None = Field(None, description="network (街道路网) or registry (地名库的道路名)")
    highway: str | None = None
    name_id: int | None = Field(None, description="地名编号 (registry roads)")
    category: str | None = None
    distance_m: float


class NearbyName(BaseModel):
    name_id: int
    name: str
    category: str | None = None
    pinyin: str | None = None
    status: str | None = None
    distance_m: float


class AreaRef(BaseModel):
    area_id: int
    parent_id: int | None = None
    level: str
    code: str
    name: str
    worker_name: str | None = None
    worker_phone: str | None = None


class ReverseResult(BaseModel):
    """逆地理编码 what lies at a point."""

    model_config = ConfigDict(json_schema_extra={"examples": [_REVERSE_RESULT_EXAMPLE]})

    lon: float
    lat: float
    road: NearbyRoad | None = Field(None, description="最近的有名道路 (≤ 1000 m)")
    place_name: NearbyName | None = Field(None, description="最近的地名 (≤ 2000 m)")
    grid: AreaRef | None = Field(None, description="所在小网格及网格员工作联系方式")
    areas: list[AreaRef] = Field(description="所在区划与网格, 由区到小网格")


# -- the registry (地名库) -------------------------------------------------------------------------


class SignText(BaseModel):
    """地名标志文字 sign text: standard Chinese name and its pinyin (GB 17733-2008, 1984 rules)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SIGN_TEXT_EXAMPLE]})

    name_id: int | None = None
    chinese: str = Field(examples=["解放北路"])
    pinyin: str = Field(examples=["Jiefang Beilu"])
    proper: str = Field(description="专名 (first word of the pinyin)", examples=["解放"])
    generic: str = Field(
        description="通名及方位 (rest of the pinyin; empty for one-word names)", examples=["北路"]
    )
    category: str | None = None
    sign_type: str | None = Field(None, description="标志类型 e.g. 街牌, 村牌")


class Finding(BaseModel):
    """一条待审核意见 one review flag (never a rejection)."""

    code: str = Field(examples=["foreign"])
    reason: str = Field(description="原因", examples=["崇洋媚外（“洋”）：外国人名地名、外文或其音译"])
    reason_en: str | None = None
    rule: str = Field(description="依据")
    detail: str | None = None


class RegistryName(BaseModel):
    """登记的地名 a registered place name (the `ETag` header is its version)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_REGISTRY_NAME_EXAMPLE]})

    name_id: int
    name: str = Field(examples=["解放北路"])
    category: str
    area_id: int | None = None
    proper: str | None = None
    generic: str | None = None
    pinyin: str | None = None
    status: str
    heritage: bool
    sign_present: bool
    approval: str | None = None
    meaning: str | None = None
    version: int
    lon: float
    lat: float
    findings: list[Finding] = Field([], description="名称规则检查 (待审核, 不拒绝)")


class RegistryNameCreate(BaseModel):
    """登记新地名: 位置给 lon/lat (点) 或 geometry (GeoJSON)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "解放北路",
                    "category": "road",
                    "lon": 115.90,
                    "lat": 21.60,
                    "approval": "澄府地〔2026〕12号 2026-03-15",
                }
            ]
        },
    )
    name: Annotated[str, varchar(120, min_length=1)] = Field(description="标准名称")
    category: Annotated[str, varchar(40, min_length=1)] = Field(
        description="类别 code of data/placenames/categories.csv"
    )
    lon: Lon | None = Field(None, description="经度 (WGS84) of a point feature")
    lat: Lat | None = Field(None, description="纬度 (WGS84) of a point feature")
    geometry: AnyGeometry | None = Field(None, description="GeoJSON geometry instead of lon/lat")
    approval: Annotated[str, varchar(200)] | None = Field(
        None,
        description="批复文号与日期; 不填则记为 待审批 (pending approval) until "
        "PATCH /placenames/{id} records one",
    )
    area_id: Id | None = Field(None, description="所属区域 (default: the deepest area containing it)")
    status: Literal["standard", "irregular", "historical"] = "standard"
    heritage: bool = False
    sign_present: bool = False
    meaning: Annotated[str, varchar(4000)] | None = Field(None, description="含义与由来")

    @model_validator(mode="after")
    def _one_location(self) -> RegistryNameCreate:
        point = self.lon is not None and self.lat is not None
        if point == (self.geometry is not None) or (self.lon is None) != (self.lat is None):
            raise ValueError("give the location either as lon and lat or as a GeoJSON geometry (exactly one)")
        return self

    def location(self) -> dict:
        """The location as a GeoJSON geometry."""
        if self.geometry is not None:
            return self.geometry.model_dump()
        return {"type": "Point", "coordinates": [self.lon, self.lat]}


class RenameRequest(BaseModel):
    """更名 (需批复) rename with an approval record."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"new_name": "解放南路", "approval": "澄府地〔2026〕13号 2026-04-01"}]
        },
    )
    new_name: Annotated[str, varchar(120, min_length=1)] = Field(description="新名称")
    approval: Annotated[str, varchar(200, min_length=1)] = Field(description="批复文号与日期")
    heritage_review: Annotated[str, varchar(120)] | None = Field(
        None, description="地名文化遗产更名的专家论证意见文号与日期（文化遗产地名必填）"
    )


class RetireRequest(BaseModel):
    """销名 (需批复): 状态改为历史地名, 仍可检索."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"approval": "澄府地〔2026〕14号 2026-05-01"}]}
    )
    approval: Annotated[str, varchar(200, min_length=1)] = Field(description="批复文号与日期")


class RegistryNameUpdate(BaseModel):
    """修改地名属性 (只改给出的字段; 改名请用 rename)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"sign_present": True}]})
    # null is refused for NOT NULL columns: omit a field to keep it
    category: Annotated[str, varchar(40, min_length=1)] = None  # type: ignore[assignment]
    area_id: Id | None = None
    status: Literal["standard", "irregular"] = None  # type: ignore[assignment]
    heritage: bool = None  # type: ignore[assignment]
    sign_present: bool = None  # type: ignore[assignment]
    approval: Annotated[str, varchar(200)] | None = None
    meaning: Annotated[str, varchar(4000)] | None = None
    geometry: AnyGeometry | None = Field(None, description="新位置 GeoJSON geometry")


class HistoryEntry(BaseModel):
    """沿革 one change of a name."""

    model_config = ConfigDict(json_schema_extra={"examples": [_HISTORY_ENTRY_EXAMPLE]})

    history_id: int
    action: Literal["create", "rename", "retire", "update"]
    old_name: str | None = None
    new_name: str | None = None
    approval: str | None = None
    changed_by: str | None = None
    changed_at: datetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class NameCheck(BaseModel):
    """一个地名的检查结果 the findings of one name."""

    model_config = ConfigDict(json_schema_extra={"examples": [_NAME_CHECK_EXAMPLE]})

    name_id: int
    name: str
    category: str | None = None
    status: str | None = None
    town: str | None = None
    district: str | None = None
    scope: str | None = Field(None, description="重名/同音检查的法定范围")
    review: str | None = Field(None, description="审核决定：整改（仍需处理）；保留、豁免的意见不再列出")
    findings: list[Finding]


class ReviewRequest(BaseModel):
    """审核决定：保留（名称不改）、豁免（该规则不适用）或整改（需要更正）."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"decision": "豁免", "note": "甽为岭南地名用字，经核实为传统地名"}]},
    )
    decision: Literal["保留", "豁免", "整改"] = Field(description="保留 / 豁免 / 整改")
    note: Annotated[str, varchar(500)] | None = Field(None, description="说明")


class ReviewRecord(BaseModel):
    """一个地名的审核决定."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name_id": 233,
                    "name": "㘭背村",
                    "decision": "保留",
                    "codes": ["rare_char"],
                    "reviewed_name": "㘭背村",
                    "note": "岭南方言地名用字，保留",
                    "decided_by": "officer",
                    "decided_at": "2026-12-01T10:00:00+08:00",
                }
            ]
        }
    )

    name_id: int
    name: str
    decision: str
    codes: list[str] = Field(description="决定所涵盖的检查项（之后新出现的其他问题仍会标出）")
    reviewed_name: str
    note: str | None = None
    decided_by: str | None = None
    decided_at: datetime


class RuleGroup(BaseModel):
    """按规则归类的检查结果."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "exaggerated",
                    "reason": "含夸大用词",
                    "flag": "大",
                    "rule": "民发〔2018〕146号",
                    "count": 12,
                    "names": [{"name_id": 88, "name": "环球中心", "town": "澄湾街道", "review": None}],
                }
            ]
        }
    )

    code: str
    reason: str
    flag: str = Field(description="大 / 洋 / 怪 / 重 / other")
    rule: str
    count: int = Field(description="地名数")
    names: list[dict] = Field(description="name_id, name, town, review")


class SignWorkItem(BaseModel):
    """缺少地名标志的地名 a name that needs a sign, with the text to put on it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SIGN_WORK_ITEM_EXAMPLE]})

    name_id: int
    name: str
    category: str
    category_zh: str
    sign_type: str
    sign_chinese: str
    sign_pinyin: str
    status: str
    sign_status: str | None = Field(
        None, description="待设置 / 已设置 / 待更换 / 待拆除 (GET /placenames/signs)"
    )
    size_class: str | None = Field(None, description="规格：小 / 中 / 大 / 特大")
    town: str | None = None
    district: str | None = None
    approval: str | None = None
    lon: float
    lat: float


class JobProgress(BaseModel):
    """进度 how far a running job is."""

    done: int = Field(description="已完成 pages drawn")
    total: int = Field(description="总数 pages to draw")
    unit: str = Field("页", description="单位")


class SignSheetJob(BaseModel):
    """标志工作单任务 the sign sheets (PDF) drawn in the background: queued → running (``progress``) →
    done (download from ``pdf``) | failed (``error``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": 7,
                    "kind": "sign_sheets",
                    "status": "running",
                    "town": None,
                    "sign_status": "待设置",
                    "progress": {"done": 12, "total": 23, "unit": "页"},
                    "pdf": None,
                    "error": None,
                    "actor": "officer",
                    "created_at": "2026-12-07T09:30:00+08:00",
                    "started_at": "2026-12-07T09:30:01+08:00",
                    "finished_at": None,
                }
            ]
        }
    )

    job_id: int
    kind: Literal["sign_sheets"] = "sign_sheets"
    status: Literal["queued", "running", "done", "failed"]
    town: str | None = Field(None, description="镇街 (none: the whole district)")
    sign_status: str | None = Field(None, description="标志状态 filter")
    progress: JobProgress | None = Field(None, description="页数进度 once drawing has started")
    pdf: str | None = Field(None, description="下载地址 the PDF's URL, once done")
    error: str | None = Field(None, description="失败原因 why it failed")
    actor: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
