"""OGC API - Features documents and the per-layer property models (Create / Update / Public)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.schemas.common import AnyGeometry, AreaGeometry, Count, Id, Link, Measure, PointOnly, varchar
from geo.areas import GridLevel

FacilityStatus = Literal["open", "planned", "closed"]
PlaceNameStatus = Literal["standard", "irregular", "historical"]

AdminLevel = Literal["district", "town", "community"]


# --- response examples (OpenAPI) ---

_COLLECTION_INFO_EXAMPLE: JsonDict = {
    "id": "facilities",
    "title": "公共服务设施 Facilities",
    "description": "社区生活圈公共服务设施",
    "itemType": "feature",
    "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
    "extent": {"spatial": {"bbox": [[113.2, 22.5, 113.4, 22.7]]}},
    "writable": False,
    "links": [{"href": "/collections/facilities/items", "rel": "items", "type": "application/geo+json"}],
}

_COLLECTION_LIST_EXAMPLE: JsonDict = {
    "collections": [
        {
            "id": "facilities",
            "title": "公共服务设施 Facilities",
            "description": "社区生活圈公共服务设施",
            "itemType": "feature",
            "writable": False,
            "links": [{"href": "/collections/facilities", "rel": "self"}],
        }
    ],
    "links": [{"href": "/collections", "rel": "self"}],
}

_FEATURE_COLLECTION_EXAMPLE: JsonDict = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": 1,
            "geometry": {"type": "Point", "coordinates": [113.22, 22.55]},
            "properties": {
                "facility_id": 1,
                "type_code": "kindergarten",
                "type_name": "幼儿园",
                "name": "一号幼儿园",
                "status": "open",
            },
            "links": [],
        }
    ],
    "numberMatched": 1,
    "numberReturned": 1,
    "timeStamp": "2026-12-04T01:30:00Z",
    "links": [
        {"href": "/collections/facilities/items?limit=100", "rel": "self", "type": "application/geo+json"}
    ],
}


class _Props(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- facilities ------------------------------------------------------------------------------------


class FacilityCreate(_Props):
    """新建设施 a new facility."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type_code": "kindergarten",
                    "name": "澄湾第一幼儿园",
                    "address": "澄湾区滨河路12号",
                    "capacity": 270,
                    "floor_area_m2": 2400,
                    "status": "open",
                }
            ]
        },
    )
    type_code: Annotated[str, varchar(40, min_length=1)] = Field(
        description="设施类型 code from facility_types"
    )
    name: Annotated[str, varchar(200, min_length=1)] = Field(description="名称")
    address: Annotated[str, varchar(300)] | None = None
    floor_area_m2: Measure | None = Field(None, description="建筑面积 (m²)")
    capacity: Measure | None = Field(None, description="容量 (places, beds, pupils)")
    opening_hours: Annotated[str, varchar(120)] | None = None
    fees: Annotated[str, varchar(200)] | None = Field(
        None, description="收费标准 fees as published, e.g. 床位费 1800元/月起"
    )
    phone: Annotated[str, varchar(40)] | None = Field(
        None, description="机构电话 the facility's public phone"
    )
    operator: Annotated[str, varchar(200)] | None = None
    status: FacilityStatus = "open"
    source: Annotated[str, varchar(200)] | None = None


class FacilityUpdate(_Props):
    """修改设施 (只改给出的字段) changes to a facility; omitted fields stay."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "closed"}]})
    type_code: Annotated[str, varchar(40, min_length=1)] = None  # type: ignore[assignment]  # null is refused: NOT NULL
    name: Annotated[str, varchar(200, min_length=1)] = None  # type: ignore[assignment]
    address: Annotated[str, varchar(300)] | None = None
    floor_area_m2: Measure | None = None
    capacity: Measure | None = None
    opening_hours: Annotated[str, varchar(120)] | None = None
    fees: Annotated[str, varchar(200)] | None = None
    phone: Annotated[str, varchar(40)] | None = None
    operator: Annotated[str, varchar(200)] | None = None
    status: FacilityStatus = None  # type: ignore[assignment]
    source: Annotated[str, varchar(200)] | None = None


class FacilityPublic(BaseModel):
    """设施 (公开字段; 规划人员另见 source)."""

    facility_id: int
    type_code: str
    type_name: str | None = None
    category: str | None = None
    name: str
    address: str | None = None
    floor_area_m2: float | None = None
    capacity: float | None = None
    opening_hours: str | None = None
    fees: str | None = None
    phone: str | None = None
    operator: str | None = None
    status: str
    source: str | None = None


# -- residences (protected) ---------------------------------------------------------------------


class ResidenceCreate(_Props):
    """新建住户点 (汇总数据, 非公开) a new aggregated residence point."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "address": "滨河路12号",
                    "area_id": 4401,
                    "households": 36,
                    "population": 98,
                    "elderly": 17,
                    "children": 12,
                }
            ]
        },
    )
    address: Annotated[str, varchar(300)] | None = None
    area_id: Id | None = Field(None, description="所属小网格 area_id of its small grid")
    households: Count = 0
    population: Count = 0
    elderly: Count = Field(0, description="60岁及以上")
    children: Count = Field(0, description="0-14岁")
    estimated: bool = False
    source: Annotated[str, varchar(200)] | None = None


class ResidenceUpdate(_Props):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"households": 40}]})
    address: Annotated[str, varchar(300)] | None = None
    area_id: Id | None = None
    households: Count = None  # type: ignore[assignment]
    population: Count = None  # type: ignore[assignment]
    elderly: Count = None  # type: ignore[assignment]
    children: Count = None  # type: ignore[assignment]
    estimated: bool = None  # type: ignore[assignment]
    source: Annotated[str, varchar(200)] | None = None


class ResidencePublic(BaseModel):
    """住户点 (仅规划人员、管理员、本网格网格员可见)."""

    residence_id: int
    address: str | None = None
    area_id: int | None = None
    households: int
    population: int
    elderly: int
    children: int
    estimated: bool
    source: str | None = None


# -- place names -----------------------------------------------------------------------------------


class PlaceNameCreate(_Props):
    """新建地名 a new place name."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "滨河路",
                    "category": "road",
                    "proper": "滨河",
                    "generic": "路",
                    "pinyin": "Binhe Lu",
                    "status": "standard",
                    "sign_present": True,
                }
            ]
        },
    )
    name: Annotated[str, varchar(120, min_length=1)]
    category: Annotated[str, varchar(40, min_length=1)] = Field(description="类别 code (GB/T 18521-based)")
    area_id: Id | None = None
    proper: Annotated[str, varchar(120)] | None = Field(None, description="专名")
    generic: Annotated[str, varchar(40)] | None = Field(None, description="通名")
    pinyin: Annotated[str, varchar(300)] | None = Field(None, description="标志拼音")
    status: PlaceNameStatus = "standard"
    heritage: bool = False
    sign_present: bool = False
    approval: Annotated[str, varchar(200)] | None = Field(None, description="批复文号与日期")
    meaning: str | None = Field(None, max_length=4000, pattern=r"^[^\x00]*$")


class PlaceNameUpdate(_Props):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"sign_present": True}]})
    name: Annotated[str, varchar(120, min_length=1)] = None  # type: ignore[assignment]
    category: Annotated[str, varchar(40, min_length=1)] = None  # type: ignore[assignment]
    area_id: Id | None = None
    proper: Annotated[str, varchar(120)] | None = None
    generic: Annotated[str, varchar(40)] | None = None
    pinyin: Annotated[str, varchar(300)] | None = None
    status: PlaceNameStatus = None  # type: ignore[assignment]
    heritage: bool = None  # type: ignore[assignment]
    sign_present: bool = None  # type: ignore[assignment]
    approval: Annotated[str, varchar(200)] | None = None
    meaning: str | None = Field(None, max_length=4000, pattern=r"^[^\x00]*$")


class PlaceNamePublic(BaseModel):
    name_id: int
    name: str
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


# -- areas and grids -------------------------------------------------------------------------------


class _AreaFields(_Props):
    parent_id: Id | None = None
    code: Annotated[str, varchar(24, min_length=1)] = Field(description="统计/网格编码 (unique)")
    name: Annotated[str, varchar(120, min_length=1)]
    urban: bool = True
    urban_rural_code: Annotated[str, varchar(3)] | None = Field(None, description="城乡分类代码 111..220")
    worker_name: Annotated[str, varchar(60)] | None = Field(None, description="网格员 (岗位称呼, 公开)")
    worker_phone: Annotated[str, varchar(40)] | None = Field(None, description="网格员工作电话 (公开)")
    households: Count | None = None
    source: Annotated[str, varchar(200)] | None = None


class GridCreate(_AreaFields):
    """新建网格 a new grid."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "parent_id": 440,
                    "level": "grid_small",
                    "code": "44010600100100101001",
                    "name": "滨河第1网格",
                    "worker_name": "网格员(滨河第1网格)",
                    "worker_phone": "0755-1234567",
                }
            ]
        },
    )
    level: GridLevel


class AreaCreate(_AreaFields):
    """新建行政区划 a new district / town / community."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"parent_id": 1, "level": "community", "code": "440106001001", "name": "滨河社区"}]
        },
    )
    level: AdminLevel


class _AreaUpdateFields(_Props):
    parent_id: Id | None = None
    code: Annotated[str, varchar(24, min_length=1)] = None  # type: ignore[assignment]
    name: Annotated[str, varchar(120, min_length=1)] = None  # type: ignore[assignment]
    urban: bool = None  # type: ignore[assignment]
    urban_rural_code: Annotated[str, varchar(3)] | None = None
    worker_name: Annotated[str, varchar(60)] | None = None
    worker_phone: Annotated[str, varchar(40)] | None = None
    households: Count | None = None
    source: Annotated[str, varchar(200)] | None = None


class GridUpdate(_AreaUpdateFields):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"worker_phone": "0755-7654321"}]}
    )
    level: GridLevel = None  # type: ignore[assignment]


class AreaUpdate(_AreaUpdateFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "滨河社区"}]})
    level: AdminLevel = None  # type: ignore[assignment]


class AreaPublic(BaseModel):
    """网格或区划 (公开: 网格员工作联系方式; 户数小于阈值时隐藏)."""

    area_id: int
    parent_id: int | None = None
    level: str
    code: str
    name: str
    urban: bool | None = None
    urban_rural_code: str | None = None
    worker_name: str | None = None
    worker_phone: str | None = None
    households: int | None = None
    suppressed: bool | None = None
    source: str | None = None


class CoveragePublic(BaseModel):
    """分区覆盖汇总 (公开时小计数隐藏)."""

    model_config = ConfigDict(extra="allow")
    run_id: int
    area_id: int
    type_code: str
    households: int | None = None
    population: int | None = None
    population_covered: int | None = None
    share: float | None = None
    suppressed: bool | None = None


# -- GeoJSON features ------------------------------------------------------------------------------

P = TypeVar("P")
G = TypeVar("G")


class FeatureIn(BaseModel, Generic[G, P]):
    """GeoJSON Feature to create or replace (PUT): geometry and every property."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Feature"] = "Feature"
    geometry: G
    properties: P


class FeaturePatch(BaseModel, Generic[G, P]):
    """GeoJSON Feature with only what changes (PATCH): geometry and properties are optional."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Feature"] = "Feature"
    geometry: G | None = None
    properties: P | None = None


class Feature(BaseModel, Generic[P]):
    """GeoJSON Feature as read (id, geometry, properties, links)."""

    type: Literal["Feature"] = "Feature"
    id: int | str
    geometry: dict[str, Any] | None
    properties: P
    links: list[Link] = []


def named_feature(generic: Any, *params: Any) -> type[BaseModel]:
    """``generic[*params]`` as a class named after its properties model (``FacilityCreate`` →
    ``FacilityCreateFeature``): the OpenAPI schema name pydantic derives from a parametrised generic
    spells out every type argument, Annotated metadata included, which no reader can use."""
    props = params[-1]
    base = generic[params if len(params) > 1 else params[0]]
    stem = props.__name__ if isinstance(props, type) and issubclass(props, BaseModel) else "Any"
    suffix = "FeaturePatch" if generic is FeaturePatch else "Feature"
    return type(f"{stem}{suffix}", (base,), {"__module__": __name__, "__doc__": generic.__doc__})


if TYPE_CHECKING:  # built at run time (named_feature); mypy checks it as its generic base
    AnyFeature: TypeAlias = Feature[dict[str, Any]]
else:
    AnyFeature = named_feature(Feature, dict[str, Any])


class FeatureCollection(BaseModel):
    """GeoJSON FeatureCollection with OGC paging members."""

    model_config = ConfigDict(json_schema_extra={"examples": [_FEATURE_COLLECTION_EXAMPLE]})

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AnyFeature]
    numberMatched: int = Field(description="符合条件的总数 features matching the query")  # noqa: N815
    numberReturned: int = Field(description="本页条数 features in this page")  # noqa: N815
    timeStamp: str  # noqa: N815
    links: list[Link]


class Extent(BaseModel):
    spatial: dict[str, Any]


class CollectionInfo(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_COLLECTION_INFO_EXAMPLE]})

    id: str = Field(examples=["facilities"])
    title: str
    description: str
    itemType: str = "feature"  # noqa: N815
    crs: list[str] = ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
    extent: Extent | None = None
    writable: bool = Field(False, description="当前用户可否编辑 whether the viewer may write")
    links: list[Link]


class CollectionList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_COLLECTION_LIST_EXAMPLE]})

    collections: list[CollectionInfo]
    links: list[Link]


# geometry type per writable collection, used by the route factory
WRITE_MODELS: dict[str, tuple[Any, type[BaseModel], type[BaseModel], type[BaseModel]]] = {
    "facilities": (PointOnly, FacilityCreate, FacilityUpdate, FacilityPublic),
    "residences": (PointOnly, ResidenceCreate, ResidenceUpdate, ResidencePublic),
    "place_names": (AnyGeometry, PlaceNameCreate, PlaceNameUpdate, PlaceNamePublic),
    "grids": (AreaGeometry, GridCreate, GridUpdate, AreaPublic),
    "areas": (AreaGeometry, AreaCreate, AreaUpdate, AreaPublic),
}
"""collection → (geometry type, Create, Update, Public) models."""

FEATURE_EXAMPLES: dict[str, dict[str, Any]] = {
    "facilities": {
        "type": "Feature",
        "id": 1,
        "geometry": {"type": "Point", "coordinates": [113.22, 22.55]},
        "properties": {
            "facility_id": 1,
            "type_code": "kindergarten",
            "type_name": "幼儿园",
            "name": "一号幼儿园",
            "status": "open",
            "capacity": 100,
            "version": 2,
        },
        "links": [{"href": "/collections/facilities/items/1", "rel": "self", "type": "application/geo+json"}],
    },
    "residences": {
        "type": "Feature",
        "id": 4,
        "geometry": {"type": "Point", "coordinates": [113.35, 22.6]},
        "properties": {
            "residence_id": 4,
            "address": "示例路8号",
            "area_id": 200,
            "households": 400,
            "population": 1100,
            "version": 1,
        },
        "links": [{"href": "/collections/residences/items/4", "rel": "self", "type": "application/geo+json"}],
    },
    "place_names": {
        "type": "Feature",
        "id": 3,
        "geometry": {"type": "Point", "coordinates": [113.33, 22.61]},
        "properties": {
            "name_id": 3,
            "name": "测试公园",
            "category": "park",
            "pinyin": "Ceshi Gongyuan",
            "status": "standard",
            "version": 1,
        },
        "links": [
            {"href": "/collections/place_names/items/3", "rel": "self", "type": "application/geo+json"}
        ],
    },
    "grids": {
        "type": "Feature",
        "id": 10001,
        "geometry": {
            "type": "MultiPolygon",
            "coordinates": [[[[113.2, 22.5], [113.25, 22.5], [113.25, 22.7], [113.2, 22.7], [113.2, 22.5]]]],
        },
        "properties": {
            "area_id": 10001,
            "parent_id": 1000,
            "level": "grid_small",
            "code": "4400000010010010001",
            "name": "第一网格",
            "worker_name": "网格员(第一网格)",
            "worker_phone": "0755-0000001",
            "households": 595,
            "version": 1,
        },
        "links": [{"href": "/collections/grids/items/10001", "rel": "self", "type": "application/geo+json"}],
    },
}
FEATURE_EXAMPLES["areas"] = {
    **FEATURE_EXAMPLES["grids"],
    "id": 100,
    "properties": {
        "area_id": 100,
        "parent_id": 10,
        "level": "community",
        "code": "440000001001",
        "name": "一社区",
        "households": 600,
        "version": 1,
    },
    "links": [{"href": "/collections/areas/items/100", "rel": "self"}],
}
"""collection → an example of one feature as the API returns it (OpenAPI)."""
