"""The audit log (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.deps import PagingDep, SessionDep, require_role
from api.schemas.audit import AuditPage
from api.schemas.common import errors, varchar
from layers import audit
from layers.users import Account

router = APIRouter(prefix="/audit", tags=["审计 audit"])
Admin = Annotated[Account, Depends(require_role("admin"))]


@router.get(
    "",
    response_model=AuditPage,
    summary="审计日志 who changed what (admin)",
    description="Newest first. Every write through the API, the CLI and the loaders is recorded by "
    "database triggers with the actor, time and the row before/after (password hashes removed).",
    responses=errors(401, 403),
)
def list_audit(
    request: Request,
    s: SessionDep,
    _: Admin,
    paging: PagingDep,
    layer: Annotated[Annotated[str, varchar(40)] | None, Query(description="图层/表 e.g. facilities")] = None,
    actor: Annotated[Annotated[str, varchar(60)] | None, Query(description="操作人")] = None,
    action: Annotated[
        Annotated[str, varchar(12)] | None, Query(description="insert, update, delete, import")
    ] = None,
    object_id: Annotated[Annotated[str, varchar(40)] | None, Query(description="对象编号")] = None,
    since: Annotated[datetime | None, Query(description="起始时间 ISO 8601")] = None,
) -> dict:
    entries, total = audit.entries(
        s,
        layer=layer,
        actor=actor,
        action=action,
        object_id=object_id,
        since=since,
        limit=paging.limit,
        offset=paging.offset,
    )
    links = [{"href": str(request.url), "rel": "self"}]
    if paging.offset + len(entries) < total:
        links.append(
            {
                "href": str(request.url.include_query_params(offset=paging.offset + paging.limit)),
                "rel": "next",
            }
        )
    return {
        "items": [e.__dict__ for e in entries],
        "numberMatched": total,
        "numberReturned": len(entries),
        "links": links,
    }
