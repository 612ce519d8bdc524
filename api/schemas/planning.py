"""Planner requests and responses: coverage runs, scenarios, siting, compliance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.schemas.common import Id, Lat, Lon, varchar

TypeCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="设施类型编码 facility type code",
        examples=["elderly_daycare"],
    ),
]
Amount = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
Share = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


# --- response examples (OpenAPI) ---

_SCENARIO_LIST_EXAMPLE: JsonDict = {
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

_SCENARIO_PUBLIC_EXAMPLE: JsonDict = {
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

_COMPLIANCE_RESPONSE_EXAMPLE: JsonDict = {
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
            "missing": "未设置: 初中",
        }
    ],
    "targets": [
        {
            "code": "daycare_presence_urban",
            "label_zh": "城市社区日间照料机构覆盖率不低于80%",
            "measure": "presence",
            "measure_zh": "设施覆盖社区比例",
            "definition_zh": "设有该类开放设施的社区占社区总数的比例",
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

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"types": ["elderly_daycare"], "full": False}]}
    )

    types: list[TypeCode] | None = Field(
        None, max_length=60, description="只算这些类型 only these types (default all)"
    )
    full: bool = Field(
        False, description="全部重算 recompute every type even if only some facilities changed"
    )
    snap_max_m: float | None = Field(
        None,
        gt=0,
        le=5000,
        description="住宅/设施距可通行道路超过此距离(米)即为不可达 "
        "homes and facilities farther than this from every usable street are "
        "unreachable (metres; default the MINQING_SNAP_MAX_M setting, 500)",
    )


RUN_EXAMPLE: JsonDict = {
    "run_id": 12,
    "status": "done",
    "scenario_id": None,
    "params": {"types": ["elderly_daycare", "kindergarten"], "actor": "planner"},
    "data_version": {"facilities": 7, "residences": 1},
    "error": None,
    "summary": {
        "seconds": 7.9,
        "types": {"elderly_daycare": {"population": 186000, "population_covered": 17500, "share": 0.094}},
    },
    "started_at": "2026-12-04T09:30:00+08:00",
    "finished_at": "2026-12-04T09:30:08+08:00",
    "stale": False,
}


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
    stale: bool = Field(
        description="数据或设置已变化需重算 the layers, profiles, targets or distances changed since this run"
    )


class GeoJSONFeature(BaseModel):
    """GeoJSON Feature (WGS84) with the attributes listed in the operation's description."""

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None = Field(description="GeoJSON geometry (WGS84, lon/lat)")
    properties: dict[str, Any]


class GeoJSONFeatureCollection(BaseModel):
    """GeoJSON FeatureCollection (RFC 7946, WGS84)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {
                                "type": "MultiPolygon",
                                "coordinates": [
                                    [[[113.2, 22.5], [113.25, 22.5], [113.25, 22.7], [113.2, 22.5]]]
                                ],
                            },
                            "properties": {
                                "run_id": 12,
                                "area_id": 10001,
                                "code": "4400000010010010001",
                                "name": "第一网格",
                                "level": "grid_small",
                                "type_code": "kindergarten",
                                "households": 597,
                                "population": 1620,
                                "population_covered": 1500,
                                "share": 0.926,
                                "target": 0.8,
                                "pass": True,
                            },
                        }
                    ],
                }
            ]
        }
    )

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[GeoJSONFeature]


# --- scenarios ------------------------------------------------------------------------------------


class AddChange(_Strict):
    """新增拟建设施 add a proposed facility."""

    op: Literal["add"]
    type_code: TypeCode
    lon: Lon
    lat: Lat
    name: Annotated[str, varchar(200)] | None = None
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

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
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
                        },
                        {"op": "close", "facility_id": 78},
                    ],
                    "evaluate": True,
                }
            ]
        },
    )

    name: Annotated[str, varchar(120, min_length=1)]
    description: Annotated[str, varchar(2000)] | None = None
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
    changes: list[dict[str, Any]] = Field(
        description="已应用的变更 applied changes (ids of proposed facilities)"
    )
    summary: list[dict[str, Any]] = Field(description="区级 district rows per type")
    areas: list[dict[str, Any]] = Field(
        description="各区域 rows per area and type: before_*, after_*, *_gained, *_lost"
    )
    facility_load: list[dict[str, Any]] = Field(
        [],
        description="设施负荷 the changed facilities' capacity, catchment "
        "and load (1.0 = full) before and after",
    )


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

CRS = Annotated[
    str,
    Field(
        pattern=r"^(wgs84|cgcs2000|gcj02|bd09|epsg:[0-9]{4,6})$",
        description="坐标系 wgs84, cgcs2000, gcj02 (高德/腾讯), bd09 (百度) or epsg:NNNN",
    ),
]


class IntersectionCandidates(_Strict):
    """路口 street intersections (3 or more streets meet) inside the type's gap areas."""

    kind: Literal["intersections"] = "intersections"
    spacing_m: float = Field(
        100.0,
        ge=0,
        le=5000,
        description="抽稀间距 keep one per square of this size (metres); 0: every junction",
    )


class GapCandidates(_Strict):
    """缺口内街道节点 street nodes inside the type's gap areas, one per square of ``spacing_m``."""

    kind: Literal["gaps"]
    spacing_m: float = Field(150.0, ge=20, le=5000, description="候选点间距 spacing of street nodes, metres")


class FacilityCandidates(_Strict):
    """现有公共建筑 open facilities of other types (co-location in existing public buildings)."""

    kind: Literal["facilities"]
    types: list[TypeCode] | None = Field(
        None, max_length=40, description="只用这些类型的设施 only these types"
    )


class PointCandidates(_Strict):
    """候选点 points (WGS84 unless ``crs``)."""

    kind: Literal["points"]
    points: list[
        Annotated[
            list[Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]],
            Field(min_length=2, max_length=2),
        ]
    ] = Field(min_length=1, max_length=2000, description="候选点 [[lon, lat], ...]")
    crs: CRS = "wgs84"


class ParcelCandidates(_Strict):
    """公有用地地块 parcels: a GeoJSON FeatureCollection of polygons (WGS84)."""

    kind: Literal["parcels"]
    parcels: dict[str, Any] = Field(description="公有用地地块 GeoJSON FeatureCollection of polygons (WGS84)")


class UploadCandidates(_Strict):
    """上传候选地块清单 the text of a planner's CSV (经度/纬度 or lon/lat columns; optional 名称, 容量)
    or GeoJSON (points or polygons) file, in ``crs``."""

    kind: Literal["upload"]
    format: Literal["csv", "geojson"]
    content: str = Field(min_length=1, max_length=2_000_000, description="文件内容 the file's text (UTF-8)")
    crs: CRS = "wgs84"


Candidates = Annotated[
    IntersectionCandidates
    | GapCandidates
    | FacilityCandidates
    | PointCandidates
    | ParcelCandidates
    | UploadCandidates,
    Field(discriminator="kind"),
]


class SitingRequest(_Strict):
    """选址 propose sites for one facility type."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type_code": "elderly_daycare",
                    "k": 5,
                    "target": 0.8,
                    "candidates": {"kind": "intersections"},
                    "capacity": 30,
                    "min_spacing_m": 300,
                },
                {
                    "type_code": "kindergarten",
                    "k": 2,
                    "candidates": {"kind": "facilities", "types": ["community_complex"]},
                },
                {"type_code": "elderly_daycare", "k": 10, "one_per_community": True},
                {
                    "type_code": "elderly_daycare",
                    "k": 3,
                    "candidates": {
                        "kind": "upload",
                        "format": "csv",
                        "crs": "gcj02",
                        "content": "名称,经度,纬度,容量\n西关旧粮站,115.8846,21.5703,40\n",
                    },
                },
            ]
        },
    )

    type_code: TypeCode
    k: int | None = Field(
        3, ge=1, le=200, description="新增设施数 sites to add (maximal covering); null skips"
    )
    target: Share | None = Field(
        None,
        description="覆盖率目标 fewest sites after which this share of the type's "
        "users is served (set covering)",
    )
    candidates: Candidates = Field(default_factory=IntersectionCandidates)
    weight: Literal["users", "population", "households", "elderly", "children"] = Field(
        "users",
        description="需求权重 users: the type's users (elderly for elderly services, children of the age "
        "band for schools and kindergartens, residents otherwise); another count sites without "
        "capacities",
    )
    capacity: float | None = Field(
        None,
        gt=0,
        le=100_000,
        allow_inf_nan=False,
        description="新设施容量 capacity of each new site in the type's unit (places, "
        "seats, beds); default: new_site_capacity of data/facility_types.csv",
    )
    min_spacing_m: float | None = Field(
        None,
        ge=0,
        le=10_000,
        allow_inf_nan=False,
        description="最小间距 least distance between new sites, metres",
    )
    one_per_community: bool = Field(
        False,
        description="每个缺设施社区一处 new sites only in communities without an open facility of the type "
        "inside their boundary, at most one in each (设施覆盖社区比例); plans then count those communities "
        "before → after",
    )
    solver: Literal["auto", "exact", "greedy"] = "auto"
    max_exact: int = Field(
        5_000_000, ge=0, le=50_000_000, description="精确求解规模上限 candidates × demand groups"
    )
    time_limit_s: float = Field(30.0, gt=0, le=120, description="MILP 时间上限 seconds")


class BeforeAfter(BaseModel):
    total: float = Field(description="该类设施适用的总数 applicable total")
    before: float = Field(description="现状 now (reached by the existing facilities)")
    after: float = Field(description="新增设施后 with the new sites")
    share_before: float | None = None
    share_after: float | None = None


class SitingPlan(BaseModel):
    gained: float = Field(description="新增服务 weight newly served (with capacities) or covered")
    bound: float = Field(description="MCLP: 上界 upper bound on gained; LSCP: 下界 lower bound on sites")
    gap: float = Field(description="相对最优性差距 relative optimality gap (0 = proven optimal)")
    method: str = Field(examples=["exact"], description="exact (HiGHS, proven), exact_time_limit or greedy")
    size: int = Field(description="候选点 × 需求组 model size")
    share_after: float
    users: BeforeAfter = Field(
        description="服务对象 the type's users served: now → with the new sites (步行可达覆盖率, "
        "network time; new sites count at most their capacity)"
    )
    residents: BeforeAfter = Field(
        description="居民 residents within reach: now → with the new sites (network time)"
    )
    communities: dict[str, BeforeAfter] | None = Field(
        None,
        description="with one_per_community: 设施覆盖社区比例 communities (urban, rural) "
        "with an open facility of the type inside their boundary, now → with the new sites",
    )
    sites: dict[str, Any] = Field(
        description="GeoJSON FeatureCollection of service areas; properties per site: "
        'rank, name, place ("鹭田镇 西关社区 兴业路以南"), town, community, '
        "road, lon, lat, capacity (unit), capacity_users, users_served, "
        "users_reached, population_gained …"
    )


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
    users: dict[str, Any] = Field(
        description="服务对象 measure (population|elderly|children), label (老年人, 适龄儿童, "
        "居民), band (users per person of the measure), per_unit (users one "
        "unit of capacity serves)"
    )
    capacity: dict[str, Any] = Field(
        description="新设施容量 per_site (unit), unit, users_per_site, min_spacing_m"
    )
    candidates: dict[str, Any] = Field(description="候选点 source, count, snapped")
    current: dict[str, Any] = Field(description="现状 total, covered, share (of the weight)")
    maximal_covering: MaximalPlan | None = None
    set_covering: CoveringPlan | None = None


_SITE_EXAMPLE: JsonDict = {
    "rank": 1,
    "candidate_id": 1,
    "name": "鹭田镇 西关社区 兴业路以南",
    "place": "鹭田镇 西关社区 兴业路以南",
    "town": "鹭田镇",
    "community": "西关社区",
    "road": "兴业路",
    "source": "intersection",
    "lon": 115.8846,
    "lat": 21.5703,
    "capacity": 30,
    "capacity_users": 750,
    "users_served": 750,
    "users_reached": 912,
    "population_gained": 4210,
    "households_gained": 1400,
    "elderly_gained": 912,
    "children_gained": 610,
    "circle": "urban",
    "max_time_min": 5,
    "area_kind": "isochrone",
}


class SitingJob(BaseModel):
    """选址任务 a siting job: queued → running → done (``result``) | failed (``error``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": 3,
                    "kind": "siting",
                    "status": "done",
                    "actor": "planner",
                    "params": {
                        "type_code": "elderly_daycare",
                        "k": 3,
                        "candidates": {"kind": "intersections"},
                    },
                    "result": {
                        "type_code": "elderly_daycare",
                        "type_name": "老年人日间照料中心",
                        "weight": "users",
                        "users": {"measure": "elderly", "label": "老年人", "band": 1.0, "per_unit": 25.0},
                        "capacity": {
                            "per_site": 30,
                            "unit": "托位 places",
                            "users_per_site": 750,
                            "min_spacing_m": None,
                        },
                        "candidates": {"source": "intersections", "count": 420, "snapped": 420},
                        "current": {"total": 30100, "covered": 9500, "share": 0.316},
                        "maximal_covering": {
                            "k": 3,
                            "gained": 2250,
                            "bound": 2250,
                            "gap": 0,
                            "method": "exact",
                            "size": 52000,
                            "share_after": 0.39,
                            "users": {
                                "total": 30100,
                                "before": 9500,
                                "after": 11750,
                                "share_before": 0.316,
                                "share_after": 0.39,
                            },
                            "residents": {
                                "total": 186000,
                                "before": 61000,
                                "after": 73500,
                                "share_before": 0.328,
                                "share_after": 0.395,
                            },
                            "sites": {
                                "type": "FeatureCollection",
                                "features": [
                                    {
                                        "type": "Feature",
                                        "properties": _SITE_EXAMPLE,
                                        "geometry": {
                                            "type": "Polygon",
                                            "coordinates": [
                                                [
                                                    [115.884, 21.570],
                                                    [115.886, 21.570],
                                                    [115.886, 21.572],
                                                    [115.884, 21.570],
                                                ]
                                            ],
                                        },
                                    }
                                ],
                            },
                        },
                    },
                    "error": None,
                    "created_at": "2026-12-04T09:30:00+08:00",
                    "started_at": "2026-12-04T09:30:00+08:00",
                    "finished_at": "2026-12-04T09:30:12+08:00",
                }
            ]
        }
    )

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


class SitingScenarioCreate(_Strict):
    """把选址结果保存为情景 save a finished siting job's proposals as a what-if scenario."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"plan": "maximal_covering", "name": "新增3处日间照料中心", "evaluate": True}]
        },
    )

    plan: Literal["maximal_covering", "set_covering"] = Field(
        "maximal_covering",
        description="保存哪个方案 which plan of the result: k sites or the fewest reaching target",
    )
    name: Annotated[str, varchar(120, min_length=1)] | None = Field(
        None, description="情景名称; default: 选址：新增N处<类型>"
    )
    description: Annotated[str, varchar(2000)] | None = None
    evaluate: bool = Field(False, description="保存后立即评估 evaluate right away")


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

    target_code: str = Field(examples=["daycare_presence_urban"])
    label_zh: str | None = None
    type_code: str = Field(description="设施类型 facility type ('*': the composite of every required type)")
    measure: Literal["presence", "radius", "network", "composite"] = Field(
        description="口径 which measure: presence 设施覆盖社区比例 (share of communities), "
        "radius 服务半径覆盖率, network 步行可达覆盖率 / 半小时可达覆盖率, "
        "composite 全部应配建设施可达 (shares of residents)"
    )
    measure_zh: str = Field(description="口径名称 the measure as officials name it")
    definition_zh: str = Field(description="口径说明 a one-line definition of the measure")
    threshold: float = Field(description="目标值 the share to reach (0..1)")
    area_id: int
    name: str
    level: Literal["district", "town", "community"]
    area_code: str
    value: float | None = Field(
        description="达到的比例 share of communities reached / of residents covered (0..1); "
        "null: no community or resident of the target's circle here"
    )
    pass_: bool | None = Field(alias="pass", description="是否达标 value >= threshold (null without a value)")
    communities: int | None = Field(None, description="社区数 communities judged (presence targets)")
    communities_reached: int | None = Field(
        None, description="设有设施的社区数 communities that have the facility"
    )


class TargetList(BaseModel):
    """各区域目标达标 targets judged for the district, every town and
    (per-resident targets) every community.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": 12,
                    "targets": [
                        {
                            "target_code": "daycare_presence_urban",
                            "label_zh": "城市社区日间照料机构覆盖率不低于80%",
                            "type_code": "elderly_daycare",
                            "measure": "presence",
                            "measure_zh": "设施覆盖社区比例",
                            "definition_zh": "设有该类开放设施的社区占社区总数的比例",
                            "threshold": 0.8,
                            "area_id": 1,
                            "name": "澄湾区",
                            "level": "district",
                            "area_code": "440000000000",
                            "value": 0.62,
                            "pass": False,
                            "communities": 42,
                            "communities_reached": 26,
                        }
                    ],
                }
            ]
        }
    )

    run_id: int
    targets: list[TargetVerdict]
