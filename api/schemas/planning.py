"""Planner requests and responses: coverage runs, scenarios, siting, compliance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Id, Lat, Lon, Text

TypeCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$",
                                description="设施类型编码 facility type code", examples=["elderly_daycare"])]
Amount = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
Share = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


# --- response examples (OpenAPI) ---

_SCENARIO_LIST_EXAMPLE = {
    "scenarios": [
        {
            "scenario_id": 4,
            "name": "新建日间照料中心",
            "description": "缺口1内新增一处",
            "n_changes": 2,
            "created_by": "planner",
            "evaluated_at": "2026-12-04T09:40:00+08:00",
            "run_id": 15,
            "created_at": "2026-12-04T09:39:00+08:00",
            "updated_at": "2026-12-04T09:40:00+08:00",
        }
    ]
}

_SCENARIO_PUBLIC_EXAMPLE = {
    "scenario_id": 4,
    "name": "新建日间照料中心",
    "description": "缺口1内新增一处",
    "changes": [
        {
            "op": "add",
            "type_code": "elderly_daycare",
            "lon": 115.8846,
            "lat": 21.5703,
            "name": "新日照",
            "capacity": 40,
        }
    ],
    "created_by": "planner",
    "created_at": "2026-12-04T09:39:00+08:00",
    "updated_at": "2026-12-04T09:40:00+08:00",
    "result": {
        "evaluated_at": "2026-12-04T09:40:00+08:00",
        "seconds": 2.1,
        "run_id": 15,
        "data_version": {"facilities": 7},
        "types": ["elderly_daycare"],
        "changes": [{"op": "add", "facility_id": -1, "type_code": "elderly_daycare"}],
        "summary": [
            {
                "type_code": "elderly_daycare",
                "type_name": "日间照料中心",
                "level": "district",
                "before_share": 0.094,
                "after_share": 0.121,
                "population_gained": 5010,
                "population_lost": 0,
            }
        ],
        "areas": [
            {
                "area_id": 1,
                "level": "district",
                "type_code": "elderly_daycare",
                "before_population_covered": 17500,
                "after_population_covered": 22510,
                "population_gained": 5010,
                "population_lost": 0,
            }
        ],
        "facility_load": [],
    },
}

_COMPLIANCE_RESPONSE_EXAMPLE = {
    "run_id": 12,
    "stale": False,
    "min_share": 0.5,
    "definition": "社区至少 50% 的居民可达即视为该类设施在生活圈内",
    "communities": [
        {
            "area_id": 100,
            "name": "一社区",
            "circle": "urban",
            "tier": "15min",
            "required": 6,
            "within": 5,
            "pass": False,
            "missing": ["中学"],
        }
    ],
    "targets": [
        {
            "code": "daycare_communities",
            "label_zh": "日间照料覆盖社区比例",
            "value": 0.62,
            "threshold": 0.8,
            "pass": False,
        }
    ],
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- coverage runs --------------------------------------------------------------------------------


class RunCreate(_Strict):
    """开始一次覆盖分析 start a coverage run (a background job: 202, then poll the run)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"types": ["elderly_daycare"],
                                                                               "full": False}]})

    types: list[TypeCode] | None = Field(None, max_length=60, description="只算这些类型 only these types (default all)")
    full: bool = Field(False, description="全部重算 recompute every type even if only some facilities changed")
    snap_max_m: float | None = Field(None, gt=0, le=5000, description="住宅/设施距可通行道路超过此距离(米)即为不可达 "
                                     "homes and facilities farther than this from every usable street are "
                                     "unreachable (metres; default the MINQING_SNAP_MAX_M setting, 500)")


RUN_EXAMPLE = {
    "run_id": 12, "status": "done", "scenario_id": None,
    "params": {"types": ["elderly_daycare", "kindergarten"], "actor": "planner"},
    "data_version": {"facilities": 7, "residences": 1}, "error": None,
    "summary": {"seconds": 7.9, "types": {"elderly_daycare": {"population": 186000, "population_covered": 17500,
                                                             "share": 0.094}}},
    "started_at": "2026-12-04T09:30:00+08:00", "finished_at": "2026-12-04T09:30:08+08:00", "stale": False}


class RunPublic(BaseModel):
    """覆盖分析运行 a coverage run: queued → running → done | failed (``error`` says why)."""

    model_config = ConfigDict(json_schema_extra={"examples": [RUN_EXAMPLE]})

    run_id: int
    status: Literal["queued", "running", "done", "failed"] = Field(examples=["done"])
    scenario_id: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    data_version: dict[str, Any] = Field(default_factory=dict)
    summary: dict[str, Any] | None = Field(None, description="区级覆盖率与目标 district shares and targets")
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stale: bool = Field(description="数据或设置已变化需重算 the layers, profiles, targets or distances changed since this run")


class GeoJSONFeature(BaseModel):
    """GeoJSON Feature (WGS84) with the attributes listed in the operation's description."""

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None = Field(description="GeoJSON geometry (WGS84, lon/lat)")
    properties: dict[str, Any]


class GeoJSONFeatureCollection(BaseModel):
    """GeoJSON FeatureCollection (RFC 7946, WGS84)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": [[[[113.2, 22.5], [113.25, 22.5],
                                                                                      [113.25, 22.7], [113.2, 22.5]]]]},
            "properties": {"run_id": 12, "area_id": 10001, "code": "4400000010010010001", "name": "第一网格",
                           "level": "grid_small", "type_code": "kindergarten", "households": 597, "population": 1620,
                           "population_covered": 1500, "share": 0.926, "target": 0.8, "pass": True}}]}]})

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[GeoJSONFeature]


# --- scenarios ------------------------------------------------------------------------------------


class AddChange(_Strict):
    """新增拟建设施 add a proposed facility."""

    op: Literal["add"]
    type_code: TypeCode
    lon: Lon
    lat: Lat
    name: Text(200) | None = None
    capacity: Amount | None = None
    floor_area_m2: Amount | None = None


class StatusChange(_Strict):
    """关闭 close / 开放 open a facility."""

    op: Literal["close", "open"]
    facility_id: Id


class MoveChange(_Strict):
    """迁移设施 move a facility."""

    op: Literal["move"]
    facility_id: Id
    lon: Lon
    lat: Lat


class EditChange(_Strict):
    """改变类型或容量 change a facility's type and/or capacity."""

    op: Literal["change"]
    facility_id: Id
    type_code: TypeCode | None = None
    capacity: Amount | None = None


Change = Annotated[AddChange | StatusChange | MoveChange | EditChange, Field(discriminator="op")]


class ScenarioCreate(_Strict):
    """保存情景 save a named set of changes."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "新建日间照料中心", "description": "缺口1内新增一处",
        "changes": [{"op": "add", "type_code": "elderly_daycare", "lon": 115.8846, "lat": 21.5703, "name": "新日照",
                     "capacity": 40}, {"op": "close", "facility_id": 78}], "evaluate": True}]})

    name: Text(120, min_length=1)
    description: Text(2000) | None = None
    changes: list[Change] = Field(min_length=1, max_length=200)
    evaluate: bool = Field(False, description="保存后立即评估 evaluate right away")


class ScenarioSummary(BaseModel):
    scenario_id: int
    name: str
    description: str | None = None
    n_changes: int
    created_by: str | None = None
    evaluated_at: str | None = None
    run_id: int | None = Field(None, description="情景覆盖运行 the scenario's coverage run")
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ScenarioList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SCENARIO_LIST_EXAMPLE]})

    scenarios: list[ScenarioSummary]


class ScenarioResult(BaseModel):
    """评估结果 before/after per area (every level) and residents newly covered or lost."""

    evaluated_at: str
    seconds: float
    run_id: int
    data_version: dict[str, Any]
    types: list[str] = Field(description="受影响的设施类型 affected facility types")
    changes: list[dict[str, Any]] = Field(description="已应用的变更 applied changes (ids of proposed facilities)")
    summary: list[dict[str, Any]] = Field(description="区级 district rows per type")
    areas: list[dict[str, Any]] = Field(description="各区域 rows per area and type: before_*, after_*, *_gained, *_lost")
    facility_load: list[dict[str, Any]] = Field([], description="设施负荷 the changed facilities' capacity, catchment "
                                                                 "and load (1.0 = full) before and after")


class ScenarioPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SCENARIO_PUBLIC_EXAMPLE]})

    scenario_id: int
    name: str
    description: str | None = None
    changes: list[dict[str, Any]]
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    result: ScenarioResult | None = None


# --- siting ---------------------------------------------------------------------------------------


class GapCandidates(_Strict):
    kind: Literal["gaps"] = "gaps"
    spacing_m: float = Field(150.0, ge=20, le=5000, description="候选点间距 spacing of street nodes, metres")


class PointCandidates(_Strict):
    kind: Literal["points"]
    points: list[Annotated[list[Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]],
                           Field(min_length=2, max_length=2)]] = Field(
        min_length=1, max_length=2000, description="候选点 [[lon, lat], ...] (WGS84)")


class ParcelCandidates(_Strict):
    kind: Literal["parcels"]
    parcels: dict[str, Any] = Field(description="公有用地地块 GeoJSON FeatureCollection of polygons (WGS84)")


Candidates = Annotated[GapCandidates | PointCandidates | ParcelCandidates, Field(discriminator="kind")]


class SitingRequest(_Strict):
    """选址 propose sites for one facility type."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"type_code": "elderly_daycare", "k": 3, "target": 0.3, "candidates": {"kind": "gaps", "spacing_m": 150}}]})

    type_code: TypeCode
    k: int | None = Field(3, ge=1, le=200, description="新增设施数 sites to add (maximal covering); null skips")
    target: Share | None = Field(None, description="覆盖率目标 fewest sites reaching this share (set covering)")
    candidates: Candidates = Field(default_factory=GapCandidates)
    weight: Literal["population", "households", "elderly", "children"] = "population"
    solver: Literal["auto", "exact", "greedy"] = "auto"
    max_exact: int = Field(5_000_000, ge=0, le=50_000_000, description="精确求解规模上限 candidates × demand groups")
    time_limit_s: float = Field(30.0, gt=0, le=120, description="MILP 时间上限 seconds")


class SitingPlan(BaseModel):
    gained: float = Field(description="新增覆盖 weight newly covered")
    bound: float = Field(description="MCLP: 上界 upper bound on gained; LSCP: 下界 lower bound on sites")
    gap: float = Field(description="相对最优性差距 relative optimality gap (0 = proven optimal)")
    method: str = Field(examples=["exact"])
    size: int = Field(description="候选点 × 需求组 model size")
    share_after: float
    sites: dict[str, Any] = Field(description="GeoJSON FeatureCollection: service area polygons, site lon/lat and "
                                               "residents gained in properties")


class MaximalPlan(SitingPlan):
    k: int


class CoveringPlan(SitingPlan):
    target: float
    feasible: bool = Field(description="候选点能否达到目标 whether the candidates can reach the target")
    sites_needed: int


class SitingResponse(BaseModel):
    """选址结果 proposals; residents are counted, never listed."""

    type_code: str
    type_name: str
    weight: str
    candidates: dict[str, Any] = Field(description="候选点 source, count, snapped")
    current: dict[str, Any] = Field(description="现状 total, covered, share")
    maximal_covering: MaximalPlan | None = None
    set_covering: CoveringPlan | None = None


class SitingJob(BaseModel):
    """选址任务 a siting job: queued → running → done (``result``) | failed (``error``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "job_id": 3, "kind": "siting", "status": "done", "actor": "planner",
        "params": {"type_code": "elderly_daycare", "k": 3, "candidates": {"kind": "gaps", "spacing_m": 150}},
        "result": {"type_code": "elderly_daycare", "type_name": "日间照料中心", "weight": "population",
                   "candidates": {"source": "gaps", "count": 420, "snapped": 420},
                   "current": {"total": 101000, "covered": 9500, "share": 0.094},
                   "maximal_covering": {"k": 3, "gained": 9557, "bound": 9557, "gap": 0, "method": "exact",
                                        "size": 52000, "share_after": 0.145,
                                        "sites": {"type": "FeatureCollection", "features": []}}},
        "error": None, "created_at": "2026-12-04T09:30:00+08:00", "started_at": "2026-12-04T09:30:00+08:00",
        "finished_at": "2026-12-04T09:30:12+08:00"}]})

    job_id: int
    kind: Literal["siting"] = "siting"
    status: Literal["queued", "running", "done", "failed"]
    actor: str | None = None
    params: dict[str, Any] = Field(description="请求 the request (SitingRequest)")
    result: SitingResponse | None = Field(None, description="选址结果 when done")
    error: str | None = Field(None, description="失败原因 why it failed")
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


# --- compliance -----------------------------------------------------------------------------------


class ComplianceResponse(BaseModel):
    """达标评估 per community and tier; floor area; district targets."""

    model_config = ConfigDict(json_schema_extra={"examples": [_COMPLIANCE_RESPONSE_EXAMPLE]})

    run_id: int
    stale: bool
    min_share: float
    definition: str
    communities: list[dict[str, Any]]
    targets: list[dict[str, Any]]


class TargetVerdict(BaseModel):
    """目标评估 one target of data/targets.csv judged in one area."""

    model_config = ConfigDict(populate_by_name=True)

    target_code: str = Field(examples=["daycare_communities"])
    label_zh: str | None = None
    type_code: str = Field(description="设施类型 facility type ('*': every type, the worst decides)")
    measure: Literal["community_share", "population_share"]
    threshold: float = Field(description="目标值 the share to reach (0..1)")
    area_id: int
    name: str
    level: Literal["district", "town", "community"]
    area_code: str
    value: float | None = Field(description="达到的比例 share of communities reached / of residents covered (0..1); "
                                            "null: no community or resident of the target's circle here")
    pass_: bool | None = Field(alias="pass", description="是否达标 value >= threshold (null without a value)")
    communities: int | None = Field(None, description="社区数 communities judged (share-of-communities targets)")
    communities_reached: int | None = Field(None, description="达到要求的社区数 communities reached")


class TargetList(BaseModel):
    """各区域目标达标 targets judged for the district, every town and (per-resident targets) every community."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"run_id": 12, "targets": [{
        "target_code": "daycare_communities", "label_zh": "老年人日间照料中心覆盖社区比例不低于80%",
        "type_code": "elderly_daycare", "measure": "community_share", "threshold": 0.8, "area_id": 1,
        "name": "澄湾区", "level": "district", "area_code": "440000000000", "value": 0.62, "pass": False,
        "communities": 42, "communities_reached": 26}]}]})

    run_id: int
    targets: list[TargetVerdict]
