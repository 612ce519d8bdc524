"""Small ``Annotated`` dependencies: settings, one DB transaction per request, the viewer, paging, bbox.

The session is function-scoped: it commits when the route returns and BEFORE the response is
sent, so a client never sees a success that was later rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyCookie, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.errors import Forbidden, Unauthorized
from api.privacy import PrivacyFilter
from api.security import COOKIE, read_token
from api.settings import ApiSettings
from layers import users
from layers.db import session, set_actor
from layers.features import MAX_LIMIT, parse_bbox
from layers.users import Account

ANONYMOUS = "anonymous"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False,
                                     description="登录令牌 JWT from POST /auth/token")
cookie_scheme = APIKeyCookie(name=COOKIE, auto_error=False,
                             description="浏览器登录 Cookie set by POST /auth/login (same JWT)")


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def get_privacy(request: Request) -> PrivacyFilter:
    return request.app.state.privacy


PrivacyDep = Annotated[PrivacyFilter, Depends(get_privacy)]


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request; writes are attributed to the viewer (see ``optional_user``)."""
    with session(request.app.state.database_url, actor=ANONYMOUS) as s:
        yield s


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass
class _TokenResult:
    account: Account | None
    problem: Unauthorized | None = None


def _resolve_token(request: Request, s: Session, bearer: str | None, cookie: str | None) -> _TokenResult:
    token = bearer or cookie
    if not token:
        return _TokenResult(None)
    settings: ApiSettings = request.app.state.settings
    try:
        username = read_token(token, secret=settings.secret_key.get_secret_value())
    except Unauthorized as e:
        return _TokenResult(None, e)
    account = users.by_username(s, username)
    if account is None or not account.active:
        return _TokenResult(None, Unauthorized(f"the account {username!r} does not exist or is deactivated",
                                               fix="ask an administrator to (re)activate it"))
    if not bearer:
        _check_same_origin(request)
    set_actor(s, account.username)
    return _TokenResult(account)


def _check_same_origin(request: Request) -> None:
    """Cookie-authenticated writes must come from our own pages (a CSRF guard next to SameSite=Lax)."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Forbidden(f"cross-site request from {origin} refused",
                        fix="send writes from the minqing-map pages, or use an Authorization: Bearer token")


def _token_result(request: Request, s: SessionDep,
                  bearer: Annotated[str | None, Depends(oauth2_scheme)],
                  cookie: Annotated[str | None, Depends(cookie_scheme)]) -> _TokenResult:
    return _resolve_token(request, s, bearer, cookie)


TokenDep = Annotated[_TokenResult, Depends(_token_result)]


def optional_user(result: TokenDep) -> Account | None:
    """The logged-in account, or None for anonymous viewers (a stale token reads as anonymous)."""
    return result.account


def current_user(result: TokenDep) -> Account:
    """The logged-in account, else 401 saying why (no token, expired, deactivated)."""
    if result.account is None:
        raise result.problem or Unauthorized("this needs a login")
    return result.account


OptionalUser = Annotated[Account | None, Depends(optional_user)]
CurrentUser = Annotated[Account, Depends(current_user)]


def role_of(user: Account | None) -> str | None:
    return None if user is None else user.role


def require_role(*roles: str) -> Callable[..., Account]:
    """A dependency that returns the user when their role is one of ``roles`` (401/403 otherwise)."""

    def dependency(user: CurrentUser) -> Account:
        if user.role not in roles:
            raise Forbidden(f"role {user.role!r} may not do this: it needs one of {list(roles)}",
                            fix="ask an administrator for a role that may do this")
        return user

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    return dependency


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"每页条数 items per page (1..{MAX_LIMIT})",
                                examples=[100])] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31, description="跳过条数 items to skip", examples=[0])] = 0,
) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]

Bbox = tuple[float, float, float, float]


def bbox_param(
    bbox: Annotated[str | None, Query(
        description="范围 minLon,minLat,maxLon,maxLat (WGS84 degrees, longitude first)",
        examples=["113.20,22.50,113.40,22.70"])] = None,
) -> Bbox | None:
    return None if bbox is None else parse_bbox(bbox)


BboxDep = Annotated[Bbox | None, Depends(bbox_param)]
