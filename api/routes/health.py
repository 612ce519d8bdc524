"""Liveness and database check."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep
from api.schemas.common import errors
from api.schemas.health import Health
from layers import health, jobs
from settings import job_settings

router = APIRouter(tags=["状态 health"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="服务状态 is the service and its database up",
    responses=errors(503),
)
def healthz(s: SessionDep) -> dict:
    state = health.status(s)
    workers = jobs.live_workers(s, stale_after_s=job_settings().job_stale_seconds)
    return {
        "status": "ok",
        "database": state["database"],
        "schema_revision": state["schema"],
        "workers": workers,
    }
