"""Service health."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

# --- response examples (OpenAPI) ---

_HEALTH_EXAMPLE: JsonDict = {"status": "ok", "database": "ok", "schema_revision": "0022", "workers": 1}


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_HEALTH_EXAMPLE]})

    status: str = "ok"
    database: str = "ok"
    schema_revision: str | None = None
    workers: int = Field(
        0,
        ge=0,
        description="后台任务进程 task-queue workers alive (`minqing worker`, heartbeat "
        "within MINQING_JOB_STALE_SECONDS); 0: queued runs and siting jobs wait",
    )
