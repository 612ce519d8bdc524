"""Planner routes (planner/admin): coverage runs, scenarios, siting, compliance, reports, exports.

Thin: parse, call ``pipeline`` (shared with ``minqing plan``), shape. Planners see
unsuppressed aggregates; no residence id or point ever appears in a response.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import shapely
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response

from api import compressed
from api.deps import SessionDep, require_role
from api.errors import ApiError
from api.routes.tiles import data_version
from api.schemas.common import GeoJSONResponse, JobId, errors
from api.schemas.planning import (
    ComplianceResponse,
    GeoJSONFeatureCollection,
    RunCreate,
    RunPublic,
    ScenarioCreate,
    ScenarioList,
    ScenarioPublic,
    SitingJob,
    SitingRequest,
    SitingScenarioCreate,
    TargetList,
)
from geo.areas import Level
from geo.crs import simplify_m
from layers import jobs as job_table
from layers import queries, store
from layers import scenarios as scenario_table
from layers.cache import versioned_key
from layers.errors import NotFound
from layers.users import Account
from maps.planner import first_view
from pipeline import compliance as compliance_service
from pipeline import jobs, reports, scenarios, siting
from pipeline.circles import Circle, areas_in_circle
from pipeline.coverage import is_stale, read_inputs, target_table
from pipeline.runs import catchments_table, known_types, resolve_run
from settings import coverage_settings

TAGS = [
    {
        "name": "覆盖分析 coverage",
        "description": "生活圈覆盖分析运行与结果 coverage runs, areas, gaps, facilities",
    },
    {"name": "规划工具 planning", "description": "情景、选址、达标评估 scenarios, siting, compliance"},
    {"name": "报告导出 reports", "description": "Excel 报告、缺口图、GIS 导出 XLSX, PNG, GeoJSON/GPKG/CSV"},
]
COVERAGE, PLANNING, REPORTS = (t["name"] for t in TAGS)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter()
Planner = Annotated[Account, Depends(require_role("planner", "admin"))]
RunId = Annotated[int, Path(ge=1, le=2**63 - 1, description="覆盖分析运行编号 run id", examples=[1])]
ScenarioId = Annotated[int, Path(ge=1, le=2**63 - 1, description="情景编号 scenario id", examples=[1])]

TypeQuery = Annotated[
    str | None,
    Query(
        alias="type",
        max_length=40,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="设施类型编码 facility type code",
        examples=["elderly_daycare"],
    ),
]
MinShare = Annotated[
    float,
    Query(
        gt=0,
        le=1,
        description="社区居民覆盖比例下限 share of a community's residents "
        "that must be covered for a type to count (0..1]",
    ),
]
PROTECTED = errors(401, 403, 404, 422)
GEOJSON_200 = {
    200: {"model": GeoJSONFeatureCollection, "description": "GeoJSON FeatureCollection (WGS84)"},
    **PROTECTED,
}


def register(app: FastAPI) -> None:
    """Add the planner router and its OpenAPI tags to ``app``."""
    app.openapi_tags = [*(app.openapi_tags or []), *TAGS]
    app.include_router(router)


RUN_LAYERS = ("areas", "facilities", "facility_types", "residences", "place_names", "network_edges")
"""What a run's responses read besides the run's own stored rows: names and outlines of areas, facilities
and types, households (floor area), and the streets and place names that label gaps."""
GEOJSON = "application/geo+json"


def _run_response(
    request: Request,
    s,
    run: dict[str, Any],
    what: str,
    build: Callable[[], bytes],
    *params: Hashable,
    media_type: str = GEOJSON,
) -> Response:
    """A finished run's response, built once per run and data version and kept in the one response cache
    (``engines.responses``): a stored run never changes, only the names and outlines it is shown with
    (``RUN_LAYERS``), the settings it is judged by and whether it is stale. The ETag names all of them;
    ``If-None-Match`` with it answers 304."""
    key = versioned_key(
        s,
        RUN_LAYERS,
        "run",
        what,
        int(run["run_id"]),
        bool(run.get("stale")),
        coverage_settings().model_dump_json(),
        *params,
    )
    etag = f'W/"run{int(run["run_id"])}-{what}-{data_version(repr(key))}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "Vary": "Authorization, Cookie, Accept-Encoding",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    cache = request.app.state.engines.responses
    return compressed.response(
        request, cache, key, cache.get(key, build), media_type=media_type, headers=headers
    )


# --- coverage runs --------------------------------------------------------------------------------


@router.post(
    "/coverage/runs",
    tags=[COVERAGE],
    status_code=202,
    response_model=RunPublic,
    responses={**PROTECTED, **errors(409)},
    summary="开始覆盖分析 start a coverage run",
    description="Queues a run and answers 202 at once with the run (status `queued`) and its URL in "
    "`Location`; poll `GET /coverage/runs/{run_id}`: queued → running → done, or failed with "
    "`error`. One run at a time for the whole service: while one is queued or running, 409 "
    "names it. Only the facility types whose data changed are recomputed unless `full`.",
)
def start_run(
    response: Response, s: SessionDep, user: Planner, body: RunCreate | None = None
) -> dict[str, Any]:
    body = body or RunCreate()
    if body.types:
        for code in body.types:
            known_types(s, code, tiered=True)
    row = jobs.queue_coverage_run(
        s, types=body.types, full=body.full, actor=user.username, snap_max_m=body.snap_max_m
    )
    response.headers["Location"] = f"/coverage/runs/{row['run_id']}"
    return {**row, "stale": False}


Simplify = Annotated[
    float | None,
    Query(
        ge=1,
        le=500,
        description="化简 simplify geometries for drawing: lines move at most this many metres, then "
        "coordinates are rounded to 1e-5° (about 1 m); default: as stored, to 1e-6°",
    ),
]


@router.get(
    "/coverage/runs/latest",
    tags=[COVERAGE],
    response_model=RunPublic,
    responses=PROTECTED,
    summary="最新覆盖分析 the latest coverage run",
    description="The newest finished base run.",
)
def latest_run(s: SessionDep, user: Planner) -> dict[str, Any]:
    return resolve_run(s, None)


@router.get(
    "/coverage/runs/{run_id}",
    tags=[COVERAGE],
    response_model=RunPublic,
    responses=PROTECTED,
    summary="覆盖分析运行 one coverage run",
    description="Any run, whatever its status: `queued`, `running`, `done` or `failed` (with `error`).",
)
def get_run(s: SessionDep, user: Planner, run_id: RunId) -> dict[str, Any]:
    jobs.reap(s)  # a run the task queue gave up on shows failed, not running forever
    row = store.run(s, run_id)
    if row is None:
        raise NotFound(f"coverage run {run_id} does not exist: GET /coverage/runs/latest gives the newest")
    return {**row, "stale": row["status"] == "done" and is_stale(s, row)}


@router.get(
    "/coverage/runs/{run_id}/areas",
    tags=[COVERAGE],
    response_class=GeoJSONResponse,
    responses=GEOJSON_200,
    summary="各区域覆盖率 coverage per area (GeoJSON)",
    description="With `type`: one feature per area of `level` for that facility type with `households, "
    "population, population_covered, share, target, pass` and the elderly/children counts "
    "(unsuppressed). Without `type`: one feature per area with per-type columns "
    "`<type>__covered, <type>__share, <type>__pass`.",
)
def run_areas(
    request: Request,
    s: SessionDep,
    user: Planner,
    run_id: RunId,
    type_code: TypeQuery = None,
    level: Annotated[Level | None, Query(description="区域层级 area level")] = None,
    circle: Annotated[
        Circle | None,
        Query(
            description="生活圈 only the residents of the urban or rural circle (their community's class); "
            "needs `type`; areas without such residents get `in_circle: false`"
        ),
    ] = None,
    simplify: Simplify = None,
) -> Response:
    run = resolve_run(s, run_id)
    if type_code is None and circle is not None:
        raise ApiError(f"circle={circle} needs a facility type", fix="add type=<facility type code>")
    known_types(s, type_code)

    def build() -> bytes:
        if type_code is None:
            return _geojson_bytes(reports.areas_wide(s, run_id, level=level), simplify)
        if circle is not None:
            frame = areas_in_circle(s, run_id, level=level, type_code=type_code, circle=circle)
            return _geojson_bytes(frame, simplify)
        return _geojson_bytes(reports.areas_table(s, run_id, level=level, type_code=type_code), simplify)

    return _run_response(request, s, run, "areas", build, type_code, level, circle, simplify)


@router.get(
    "/coverage/runs/{run_id}/gaps",
    tags=[COVERAGE],
    response_class=GeoJSONResponse,
    responses=GEOJSON_200,
    summary="覆盖缺口 gap areas (GeoJSON)",
    description="Gap polygons ranked by population: `rank, households, population, elderly, children`, "
    'and where each lies: `town`, `community`, `road` and `place` (e.g. "鹭田镇 西关社区 '
    '兴业路以南": the nearest named road as `GET /reverse` finds it, and the side of it — '
    "以东/以西/以南/以北, 沿线 on it, 甲路与乙路路口 at a crossing), labelled when read. With "
    "`geometry=false` each feature carries its `bbox` [west, south, east, north] and no geometry: the "
    "planner map lists and names the gaps from it and draws their shapes from the `gaps` vector tiles.",
)
def run_gaps(
    request: Request,
    s: SessionDep,
    user: Planner,
    run_id: RunId,
    type_code: TypeQuery = None,
    simplify: Simplify = None,
    geometry: Annotated[bool, Query(description="含几何 with the polygons (false: only their bbox)")] = True,
) -> Response:
    run = resolve_run(s, run_id)
    known_types(s, type_code)

    def build() -> bytes:
        gaps = reports.gaps_table(s, run_id, type_code=type_code)
        return _geojson_bytes(gaps, simplify) if geometry else _bbox_features(gaps)

    return _run_response(request, s, run, "gaps", build, type_code, simplify, geometry)


@router.get(
    "/coverage/runs/{run_id}/facilities",
    tags=[COVERAGE],
    response_class=GeoJSONResponse,
    responses=GEOJSON_200,
    summary="设施服务人口与负荷 facilities with catchment and load (GeoJSON)",
    description="Facility points with `catchment_population, catchment_households, capacity, load`; "
    "`load` = the catchment of the type's capacity basis / (capacity × people per unit) from "
    "data/facility_types.csv (1.0 = full), null when the type's capacity has no basis.",
)
def run_facilities(
    request: Request, s: SessionDep, user: Planner, run_id: RunId, type_code: TypeQuery = None
) -> Response:
    run = resolve_run(s, run_id)
    known_types(s, type_code)
    return _run_response(
        request,
        s,
        run,
        "facilities",
        lambda: _geojson_bytes(store.facility_results(s, run_id, type_code=type_code)),
        type_code,
    )


@router.get(
    "/coverage/runs/{run_id}/catchments",
    tags=[COVERAGE],
    response_class=GeoJSONResponse,
    responses=GEOJSON_200,
    summary="设施服务范围 catchment areas of one facility type (GeoJSON)",
    description="One polygon per facility of `type` around the homes it serves (covered residents whose "
    "nearest facility of the type it is): homes closer than the run's gap link distance (default "
    "250 m) form groups, each group's concave hull buffered by half that, as for gap areas, "
    "clipped to the district; with `points, "
    "population, households, elderly, children, capacity, load`.",
)
def run_catchments(
    request: Request,
    s: SessionDep,
    user: Planner,
    run_id: RunId,
    type_code: Annotated[
        str,
        Query(
            alias="type",
            max_length=40,
            pattern=r"^[a-z][a-z0-9_]*$",
            description="设施类型编码 facility type code",
        ),
    ],
    simplify: Simplify = None,
) -> Response:
    run = resolve_run(s, run_id)
    known_types(s, type_code)
    return _run_response(
        request,
        s,
        run,
        "catchments",
        lambda: _geojson_bytes(catchments_table(s, run_id, type_code), simplify),
        type_code,
        simplify,
    )


@router.get(
    "/coverage/runs/{run_id}/targets",
    tags=[COVERAGE],
    response_model=TargetList,
    responses=PROTECTED,
    summary="各区域目标达标 targets per district, town and community",
    description="Each target of data/targets.csv judged in the district, every town and — for resident "
    "measures (`radius`, `network`, `composite`) — every community of its circle: `value`, "
    "`threshold`, `pass`, the measure's Chinese name `measure_zh` and one-line definition "
    "`definition_zh`. A presence target (设施覆盖社区比例, e.g. day care in >= 80% of urban "
    "communities) is judged per town over the town's communities, with `communities` / "
    "`communities_reached` (those that have the facility).",
)
def run_targets(
    request: Request,
    s: SessionDep,
    user: Planner,
    run_id: RunId,
    level: Annotated[
        Literal["district", "town", "community"] | None, Query(description="区域层级 area level")
    ] = None,
    code: Annotated[
        str | None, Query(max_length=40, pattern=r"^[a-z][a-z0-9_]*$", description="目标编码 target code")
    ] = None,
) -> Response:
    run = resolve_run(s, run_id)
    return _run_response(
        request,
        s,
        run,
        "targets",
        lambda: _json_bytes(
            TargetList, {"run_id": run_id, "targets": target_table(s, run_id, level=level, code=code)}
        ),
        level,
        code,
        media_type="application/json",
    )


def _bbox_features(frame: gpd.GeoDataFrame) -> bytes:
    """The frame as GeoJSON features without geometry, each with its ``bbox`` (degrees, to 1e-5)."""
    props = json.loads(frame.drop(columns="geometry").to_json(orient="records", force_ascii=False))
    boxes = shapely.bounds(frame.geometry.to_numpy()).round(5).tolist() if len(frame) else []
    features = [
        {"type": "Feature", "bbox": None if np.isnan(box).any() else box, "geometry": None, "properties": p}
        for p, box in zip(props, boxes, strict=True)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()


def _geojson_bytes(frame: gpd.GeoDataFrame, simplify_to_m: float | None = None) -> bytes:
    """The frame as GeoJSON, coordinates to 1e-6 degrees (about 0.1 m), or simplified to ``simplify_to_m``
    metres and then to 1e-5 degrees (about 1 m)."""
    frame = frame.copy()
    if len(frame):
        geoms, grid = frame.geometry, 1e-6
        if simplify_to_m is not None:
            geoms = geoms if geoms.crs is not None else geoms.set_crs(4326)
            geoms, grid = simplify_m(geoms, simplify_to_m), 1e-5
        frame["geometry"] = shapely.set_precision(geoms.to_numpy(), grid)
    text = (
        frame.to_json(na="null", drop_id=True, ensure_ascii=False, default=str)
        if len(frame)
        else '{"type": "FeatureCollection", "features": []}'
    )
    return text.encode()


# --- scenarios ------------------------------------------------------------------------------------


@router.get(
    "/scenarios",
    tags=[PLANNING],
    response_model=ScenarioList,
    responses=PROTECTED,
    summary="情景列表 saved scenarios",
)
def list_scenarios(
    s: SessionDep,
    user: Planner,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> dict[str, Any]:
    return {"scenarios": scenario_table.listing(s, limit=limit, offset=offset)}


@router.post(
    "/scenarios",
    tags=[PLANNING],
    status_code=201,
    response_model=ScenarioPublic,
    responses=PROTECTED,
    summary="保存情景 save a scenario",
    description="Facilities added, closed/opened, moved or changed, evaluated without touching the base "
    "layers (`evaluate: true` evaluates right away).",
)
def create_scenario(s: SessionDep, user: Planner, body: ScenarioCreate) -> dict[str, Any]:
    changes = [c.model_dump(exclude_none=True) for c in body.changes]
    row = scenarios.create(
        s, name=body.name, description=body.description, changes=changes, actor=user.username
    )
    if body.evaluate:
        row = scenarios.evaluate(s, row["scenario_id"], actor=user.username)
    return _scenario(row)


@router.get(
    "/scenarios/{scenario_id}",
    tags=[PLANNING],
    response_model=ScenarioPublic,
    responses=PROTECTED,
    summary="情景与前后对比 a scenario with coverage before/after per area",
)
def get_scenario(
    s: SessionDep,
    user: Planner,
    scenario_id: ScenarioId,
    level: Annotated[Level | None, Query(description="只列此层级 only areas of this level")] = None,
    type_code: TypeQuery = None,
) -> dict[str, Any]:
    return _scenario(scenario_table.get(s, scenario_id), level=level, type_code=type_code)


@router.post(
    "/scenarios/{scenario_id}/evaluate",
    tags=[PLANNING],
    response_model=ScenarioPublic,
    responses=PROTECTED,
    summary="评估情景 evaluate a scenario",
    description="Recomputes the affected facility types with the changes and stores the result and a "
    "scenario coverage run.",
)
def evaluate_scenario(s: SessionDep, user: Planner, scenario_id: ScenarioId) -> dict[str, Any]:
    return _scenario(scenarios.evaluate(s, scenario_id, actor=user.username))


def _scenario(
    row: dict[str, Any], *, level: str | None = None, type_code: str | None = None
) -> dict[str, Any]:
    """A scenario with its per-area rows as objects (``before_*``/``after_*`` keys)."""
    result = row.get("result")
    if result:
        areas = scenarios.area_records(result, level=level, type_code=type_code)
        result = {
            **result,
            "areas": [_prefixed(r) for r in areas],
            "summary": [_prefixed(r) for r in result["summary"]],
        }
    return {**row, "result": result}


def _prefixed(record: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in record.items():
        for when in ("before", "after"):
            if key.endswith(f"_{when}"):
                key = f"{when}_{key[: -len(when) - 1]}"
        out[key] = value
    return out


# --- siting and compliance ------------------------------------------------------------------------


@router.post(
    "/siting",
    tags=[PLANNING],
    status_code=202,
    response_model=SitingJob,
    responses={**PROTECTED, **errors(503)},
    summary="设施选址 propose sites for new facilities",
    description="Maximal covering (`k` sites serving the most of the type's users) and/or set covering (the "
    "fewest sites after which `target` of its users are served), existing facilities fixed. "
    "Demand is the type's users (`weight: users`: the elderly for elderly services, children of "
    "the age band for schools and kindergartens, residents otherwise; data/facility_types.csv). "
    "Each new site serves at most its capacity (`capacity` in the type's unit, default "
    "`new_site_capacity` of the table, × the users one unit serves); `min_spacing_m` keeps new "
    "sites apart; `one_per_community` places them only in communities without one, one each "
    "(设施覆盖社区比例). "
    "Candidates: `intersections` (street junctions in the type's gap areas, the "
    "default), `gaps` (street nodes there), `facilities` (open facilities of other types: "
    "co-location), `points`, `parcels` (polygons) or `upload` (a CSV/GeoJSON parcel list in any "
    "of wgs84, cgcs2000, gcj02, bd09, epsg:NNNN). Exact (HiGHS) at moderate size, else greedy "
    "with a bound; `gap` 0 means proven optimal. Each site names where it lies (`place`: "
    '"鹭田镇 西关社区 兴业路以南") and says `users_served` against `capacity_users`; each plan '
    "gives the type's users and residents before → after. A background job: 202 with the job "
    "(`queued`) and `Location`; poll `GET /siting/jobs/{job_id}` until `done` (the result) or "
    "`failed` (`error`); `POST /siting/jobs/{job_id}/scenario` saves it as a scenario. The "
    "request is checked first (type, capacity, candidates inside the district): 422 at once.",
)
def propose_sites(response: Response, s: SessionDep, user: Planner, body: SitingRequest) -> dict[str, Any]:
    known_types(s, body.type_code, tiered=True)
    _check_capacity(s, body)
    siting.request_candidates(s, body.candidates)  # bad candidates: 422 now, not a failed job later
    row = jobs.queue_siting(s, params=body.model_dump(mode="json"), actor=user.username)
    response.headers["Location"] = f"/siting/jobs/{row['job_id']}"
    return row


@router.get(
    "/siting/jobs/{job_id}",
    tags=[PLANNING],
    response_model=SitingJob,
    responses=PROTECTED,
    summary="选址任务 a siting job and its result",
    description="`status` queued → running → done (`result` holds the proposals) or failed (`error`).",
)
def siting_job(s: SessionDep, user: Planner, job_id: JobId) -> dict[str, Any]:
    return _siting_job(s, job_id)


@router.post(
    "/siting/jobs/{job_id}/scenario",
    tags=[PLANNING],
    status_code=201,
    response_model=ScenarioPublic,
    responses=PROTECTED,
    summary="选址结果存为情景 save a siting result as a scenario",
    description="Saves the proposed sites of a finished siting job (`plan`: `maximal_covering` or "
    "`set_covering`) as a what-if scenario: one `add` change per site, named by where it lies "
    "and with its capacity. `evaluate: true` evaluates it at once (coverage before/after per "
    "area). 422 when the job is not done or has no such plan.",
)
def save_siting_scenario(
    s: SessionDep, user: Planner, job_id: JobId, body: SitingScenarioCreate
) -> dict[str, Any]:
    job = _siting_job(s, job_id)
    if job["status"] != "done" or not job.get("result"):
        fix = (
            f"wait until GET /siting/jobs/{job_id} says done"
            if job["status"] in ("queued", "running")
            else "start a new siting job (POST /siting)"
        )
        raise siting.SitingError(
            f"siting job {job_id} is {job['status']}: only a finished job's sites can be saved; {fix}"
        )
    row = siting.save_scenario(
        s,
        job["result"],
        plan=body.plan,
        name=body.name,
        description=body.description,
        evaluate=body.evaluate,
        actor=user.username,
    )
    return _scenario(row)


def _siting_job(s, job_id: int) -> dict[str, Any]:
    jobs.reap(s)  # a job the task queue gave up on shows failed, not running forever
    row = job_table.job(s, job_id, kind="siting")
    if row is None:
        raise NotFound(f"siting job {job_id} does not exist: POST /siting starts one")
    return row


def _check_capacity(s, body: SitingRequest) -> None:
    """A capacity for a type (or weight) without a capacity basis: 422 now."""

    if body.capacity is not None:
        siting.type_capacity(read_inputs(s), body.type_code, body.capacity, body.weight)


@router.get(
    "/compliance",
    tags=[PLANNING],
    response_model=ComplianceResponse,
    responses=PROTECTED,
    summary="达标评估 standard compliance per community",
    description="Per community and 5/10/15-minute (rural: village/township) tier: required facility types "
    "within the circle (≥ `min_share` of residents covered), pass/fail and what is missing "
    "(Chinese names); community service floor area vs 30 m²/100 households; district targets.",
)
def compliance(
    request: Request,
    s: SessionDep,
    user: Planner,
    run_id: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="运行编号; default latest")] = None,
    min_share: MinShare = 0.5,
) -> Response:
    run = resolve_run(s, run_id)

    def build() -> bytes:
        found = compliance_service.compliance(s, run_id=run["run_id"], min_share=min_share)
        return _json_bytes(ComplianceResponse, compliance_service.as_json(found))

    return _run_response(request, s, run, "compliance", build, min_share, media_type="application/json")


def warm_first_view(app: FastAPI, s) -> None:
    """Build what the planner map asks for first of the latest run (``maps.planner.first_view``: its
    type's areas, gap list, facilities and catchments, and the compliance), through the routes
    themselves so the keys are the requests' (``api.warm``)."""
    run = store.latest_run(s)
    if run is None:
        return
    run_id = int(run["run_id"])
    headers = [(b"accept-encoding", b"gzip")]  # both kept: the body and its compressed copy
    request = Request(
        {"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b"", "app": app}
    )
    type_code, level, simplify = first_view(queries.facility_types(s))
    if type_code is not None:
        run_areas(request, s, None, run_id, type_code, level=level, simplify=simplify)  # type: ignore[arg-type]
        run_gaps(request, s, None, run_id, type_code, geometry=False)  # type: ignore[arg-type]
        run_facilities(request, s, None, run_id, type_code)  # type: ignore[arg-type]
        run_catchments(request, s, None, run_id, type_code, simplify=simplify)  # type: ignore[arg-type]
    compliance(request, s, None, run_id=run_id)  # type: ignore[arg-type]


def _json_bytes(model: type[ComplianceResponse] | type[TargetList], data: dict[str, Any]) -> bytes:
    """``data`` as the route's response model writes it (validated, JSON as FastAPI sends it)."""
    return model.model_validate(data).model_dump_json(by_alias=True).encode()


# --- reports and exports --------------------------------------------------------------------------


def _file(content: bytes, media_type: str, filename: str, *, inline: bool = False) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )


BINARY = {"type": "string", "format": "binary"}
CSV_EXAMPLE = (
    "run_id,area_id,code,name,level,level_name,urban,circle,type_code,type_name,households,population,"
    "population_covered,share,target,pass\n12,10001,4400000010010010001,第一网格,grid_small,小网格,True,城市,"
    "kindergarten,幼儿园,597,1620,1500,0.926,0.8,True\n"
)


def _file_responses(media_type: str, text: str) -> dict:
    """The 200 response of a file download: binary, text (CSV, with an example) or GeoJSON
    (FeatureCollection).
    """
    if media_type.startswith("text/csv"):
        content = {"schema": {"type": "string", "format": "csv"}, "example": CSV_EXAMPLE}
    elif media_type == "application/geo+json":
        content = {
            "schema": {"$ref": "#/components/schemas/GeoJSONFeatureCollection"},
            "example": GeoJSONFeatureCollection.model_json_schema()["examples"][0],
        }
    else:
        content = {"schema": BINARY}
    return {200: {"content": {media_type: content}, "description": text}, **PROTECTED}


@router.get(
    "/reports/{run_id}.xlsx",
    tags=[REPORTS],
    response_class=Response,
    responses=_file_responses(XLSX, "XLSX"),
    summary="Excel 报告 XLSX report",
    description="Sheets: 摘要 (sentences: the district against each target with its measure named, the five "
    "communities most in need and why, recommended sites of siting done on the run's data, the "
    "largest gaps), one ranked table per level (区县, 镇街, 村居) with the presence, radius and "
    "network measures side by side, 达标目标, 生活圈分级达标, 社区用房, 覆盖缺口 (the largest gaps "
    "per type by place name), 缺口地图 (picture), and 情景对比 when `scenario_id` is given. Chinese "
    "only; Beijing time to the minute.",
)
def report_xlsx(
    s: SessionDep,
    user: Planner,
    run_id: RunId,
    scenario_id: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="情景编号")] = None,
    min_share: MinShare = 0.5,
) -> Response:
    content = reports.workbook(s, run_id, scenario_id=scenario_id, min_share=min_share)
    return _file(content, XLSX, f"minqing_report_run{run_id}.xlsx")


@router.get(
    "/reports/{run_id}.pdf",
    tags=[REPORTS],
    response_class=Response,
    responses=_file_responses("application/pdf", "PDF"),
    summary="一页摘要 one-page PDF summary",
    description="The 摘要 of the XLSX report on one A4 landscape page with the gap map of the required types "
    "(north arrow, scale bar, legend), the data date and 演示数据(虚构) for the demo district; "
    "the Chinese font is embedded. 503 `font_missing` when fonts-wqy-zenhei is not installed.",
)
def report_pdf(s: SessionDep, user: Planner, run_id: RunId, min_share: MinShare = 0.5) -> Response:
    return _file(
        reports.pdf(s, run_id, min_share=min_share), "application/pdf", f"minqing_summary_run{run_id}.pdf"
    )


@router.get(
    "/reports/{run_id}/gaps/{type}.png",
    tags=[REPORTS],
    response_class=Response,
    responses=_file_responses("image/png", "PNG"),
    summary="缺口地图 gap map (PNG)",
)
def report_gap_map(
    s: SessionDep,
    user: Planner,
    run_id: RunId,
    type_code: Annotated[
        str, Path(alias="type", max_length=40, pattern=r"^[a-z][a-z0-9_]*$", description="设施类型编码")
    ],
) -> Response:
    known_types(s, type_code)
    return _file(
        reports.gap_map(s, run_id, type_code), "image/png", f"gaps_run{run_id}_{type_code}.png", inline=True
    )


def _export_areas_route(fmt: str):
    def export_areas(
        s: SessionDep,
        user: Planner,
        run_id: RunId,
        level: Annotated[Level | None, Query(description="区域层级 area level")] = None,
        type_code: TypeQuery = None,
    ) -> Response:
        known_types(s, type_code)
        file = reports.export_areas(s, run_id, fmt, level=level, type_code=type_code)
        return _file(file.content, file.media_type, file.filename)

    export_areas.__name__ = f"export_areas_{fmt}"
    return export_areas


def _export_gaps_route(fmt: str):
    def export_gaps(s: SessionDep, user: Planner, run_id: RunId, type_code: TypeQuery = None) -> Response:
        known_types(s, type_code)
        file = reports.export_gaps(s, run_id, fmt, type_code=type_code)
        return _file(file.content, file.media_type, file.filename)

    export_gaps.__name__ = f"export_gaps_{fmt}"
    return export_gaps


_LABEL = {"geojson": "GeoJSON", "gpkg": "GeoPackage", "csv": "CSV"}
for _fmt in ("geojson", "gpkg", "csv"):
    router.add_api_route(
        f"/exports/{{run_id}}/areas.{_fmt}",
        _export_areas_route(_fmt),
        methods=["GET"],
        tags=[REPORTS],
        response_class=Response,
        responses=_file_responses(reports.AREA_FORMATS[_fmt][0], _LABEL[_fmt]),
        summary=f"导出区域覆盖 export areas with coverage ({_LABEL[_fmt]})",
        description="GeoJSON/GeoPackage: one polygon per area with per-type columns (or one row per area for "
        "`type`); CSV: one row per area and type (UTF-8 with BOM).",
    )
for _fmt in ("geojson", "gpkg", "csv"):
    router.add_api_route(
        f"/exports/{{run_id}}/gaps.{_fmt}",
        _export_gaps_route(_fmt),
        methods=["GET"],
        tags=[REPORTS],
        response_class=Response,
        responses=_file_responses(reports.AREA_FORMATS[_fmt][0], _LABEL[_fmt]),
        summary=f"导出覆盖缺口 export gap polygons ({_LABEL[_fmt]})",
        description="One row per gap polygon: `type_code, type_name, rank, town, community, road, place, "
        'households, population, elderly, children, residences` (`place`: "鹭田镇 西关社区 兴业路以南", '
        "see the gaps route); CSV (UTF-8 with BOM) carries the polygon as WKT (`wkt`).",
    )
