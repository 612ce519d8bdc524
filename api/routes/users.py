"""User accounts (admin), and the logged-in user's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.deps import CurrentUser, PagingDep, SessionDep, SettingsDep, require_role
from api.errors import ApiError
from api.routes.auth import check_password_of
from api.schemas.common import errors
from api.schemas.users import PasswordChange, Role, UserCreate, UserList, UserPublic, UserUpdate
from api.security import PasswordRejected, hash_password
from layers import audit, users
from layers.users import Account

router = APIRouter(prefix="/users", tags=["用户 users"])
Admin = Annotated[Account, Depends(require_role("admin"))]
UserId = Annotated[int, Path(ge=1, le=2**63 - 1, description="用户编号 user_id")]


def _hash(password: str, rounds: int) -> str:
    try:
        return hash_password(password, rounds=rounds)
    except PasswordRejected as e:
        raise ApiError(str(e), fix="choose another password") from None


@router.get("/me", response_model=UserPublic, summary="当前用户 my account", responses=errors(401))
def me(user: CurrentUser) -> dict:
    return user.public()


@router.post(
    "/me/password",
    status_code=204,
    summary="修改我的密码 change my password",
    description="Needs the current password. Every login token of the account stops working (this "
    "one too): log in again with the new password. Failures count toward the login back-off.",
    responses={204: {"description": "已修改 changed"}, **errors(401, 403, 422, 429)},
)
def change_my_password(
    request: Request, body: PasswordChange, user: CurrentUser, s: SessionDep, settings: SettingsDep
) -> Response:
    refused = check_password_of(request, s, settings, user, body.current_password)
    if refused is not None:
        return refused
    users.update(s, user.user_id, password_hash=_hash(body.new_password, settings.bcrypt_rounds))
    return Response(status_code=204)


@router.get("", response_model=UserList, summary="用户列表 list accounts (admin)", responses=errors(401, 403))
def list_users(
    request: Request,
    s: SessionDep,
    _: Admin,
    paging: PagingDep,
    role: Annotated[Role | None, Query(description="按角色筛选")] = None,
    active: Annotated[bool | None, Query(description="按是否启用筛选")] = None,
) -> dict:
    accounts, total = users.listing(s, role=role, active=active, limit=paging.limit, offset=paging.offset)
    links = [{"href": str(request.url), "rel": "self"}]
    if paging.offset + len(accounts) < total:
        links.append(
            {
                "href": str(request.url.include_query_params(offset=paging.offset + paging.limit)),
                "rel": "next",
            }
        )
    return {
        "items": [a.public() for a in accounts],
        "numberMatched": total,
        "numberReturned": len(accounts),
        "links": links,
    }


@router.post(
    "",
    response_model=UserPublic,
    status_code=201,
    summary="新建用户 create an account (admin)",
    responses=errors(401, 403, 409, 422),
)
def create_user(body: UserCreate, s: SessionDep, _: Admin, settings: SettingsDep) -> dict:
    account = users.create(
        s,
        username=body.username,
        password_hash=_hash(body.password, settings.bcrypt_rounds),
        role=body.role,
        area_id=body.area_id,
        department=body.department,
    )
    return account.public()


@router.get(
    "/{user_id}",
    response_model=UserPublic,
    summary="查看用户 one account (admin)",
    responses=errors(401, 403, 404),
)
def get_user(user_id: UserId, s: SessionDep, _: Admin) -> dict:
    return users.by_id(s, user_id).public()


@router.patch(
    "/{user_id}",
    response_model=UserPublic,
    summary="修改用户 change role, grid, status or password (admin)",
    responses=errors(401, 403, 404, 422),
)
def update_user(
    user_id: UserId, body: UserUpdate, s: SessionDep, admin: Admin, settings: SettingsDep
) -> dict:
    changes = body.model_dump(exclude_unset=True)
    if "password" in changes:
        changes["password_hash"] = _hash(changes.pop("password"), settings.bcrypt_rounds)
    if user_id == admin.user_id and (
        changes.get("active") is False or changes.get("role", "admin") != "admin"
    ):
        raise ApiError(
            "administrators cannot deactivate or demote themselves", fix="ask another administrator to do it"
        )
    return users.update(s, user_id, **changes).public()


@router.post(
    "/{user_id}/logout-everywhere",
    response_model=UserPublic,
    summary="强制退出 revoke every login token of an account (admin)",
    description="Every token the account holds stops working at once (e.g. a lost phone).",
    responses=errors(401, 403, 404),
)
def revoke_user_tokens(user_id: UserId, s: SessionDep, admin: Admin) -> dict:
    account = users.revoke_all(s, user_id)
    audit.record(
        s, actor=admin.username, action="logout_all", layer=users.LOGIN_LAYER, object_id=account.username[:40]
    )
    return account.public()
