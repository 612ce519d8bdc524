"""Small ``Annotated`` dependencies: settings, one DB transaction per request, the viewer, paging, bbox.

The session is function-scoped: it commits when the route returns and BEFORE the response is
sent, so a client never sees a success that was later rolled back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from anyio import CancelScope, CapacityLimiter, to_thread
from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.errors import Busy, Forbidden, Unauthorized
from api.limits import signed_in
from api.params import parse_bbox
from api.privacy import PrivacyFilter
from api.security import COOKIE, TokenResult, check_token
from layers.db import session, set_actor
from layers.features import MAX_LIMIT
from layers.users import Account
from settings import ApiSettings

ANONYMOUS = "anonymous"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/token", auto_error=False, description="登录令牌 JWT from POST /auth/token"
)
cookie_scheme = APIKeyCookie(
    name=COOKIE, auto_error=False, description="浏览器登录 Cookie set by POST /auth/login (same JWT)"
)


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


async def get_privacy(request: Request) -> PrivacyFilter:
    return request.app.state.privacy


PrivacyDep = Annotated[PrivacyFilter, Depends(get_privacy)]


_SLOTS: WeakKeyDictionary = WeakKeyDictionary()


class DbSlots:
    """``db_concurrency`` database slots, of which anonymous requests may hold all but ``reserved``.

    An anonymous request takes a public slot and then a shared one; a logged-in request only a
    shared one, so at least ``reserved`` are always left to staff (issue 14.1).
    """

    def __init__(self, total: int, reserved: int):
        self.shared = asyncio.Semaphore(total)
        self.public = asyncio.Semaphore(max(1, total - reserved))

    async def acquire(self, *, staff: bool = False, timeout: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if not staff:
            await asyncio.wait_for(self.public.acquire(), timeout=timeout)
        try:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            await asyncio.wait_for(self.shared.acquire(), timeout=left)
        except BaseException:
            if not staff:
                self.public.release()
            raise

    def release(self, *, staff: bool = False) -> None:
        self.shared.release()
        if not staff:
            self.public.release()


def _slots(request: Request) -> DbSlots:
    # One set of semaphores per event loop (test clients each run their own loop).
    loop = asyncio.get_running_loop()
    per_app = _SLOTS.setdefault(loop, {})
    key = id(request.app)
    if key not in per_app:
        settings: ApiSettings = request.app.state.settings
        per_app[key] = DbSlots(settings.db_concurrency, settings.db_staff_reserved)
    return per_app[key]


@asynccontextmanager
async def db_session(request: Request) -> AsyncIterator[Session]:
    """One transaction, holding one database slot only while inside (see ``get_session``)."""
    settings: ApiSettings = request.app.state.settings
    slots = _slots(request)
    staff = signed_in(request, settings.secret_key.get_secret_value())
    try:
        await slots.acquire(staff=staff, timeout=settings.db_wait_seconds)
    except TimeoutError:
        raise Busy(
            "the service is busy (too many requests at once)",
            fix="retry in a few seconds",
            headers={"Retry-After": "2"},
        ) from None
    try:
        cm = session(request.app.state.database_url, actor=ANONYMOUS)
        with CancelScope(shield=True):
            s = await run_in_threadpool(cm.__enter__)
        try:
            yield s
        except BaseException as e:
            with CancelScope(shield=True):
                # a fresh limiter: leaving must not wait for a busy worker pool (deadlock)
                await to_thread.run_sync(cm.__exit__, type(e), e, e.__traceback__, limiter=CapacityLimiter(1))
            raise
        with CancelScope(shield=True):
            await to_thread.run_sync(cm.__exit__, None, None, None, limiter=CapacityLimiter(1))
    finally:
        slots.release(staff=staff)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request; writes are attributed to the viewer (see ``optional_user``).

    A request first waits, in the event loop, for one of ``db_concurrency`` slots (fewer than the
    pool's connections): otherwise, under load, every worker thread could sit blocked on the pool
    while the requests holding connections wait for a thread (a deadlock until the pool times out).
    Anonymous requests may not take the ``db_staff_reserved`` last slots (``DbSlots``).
    Entering and leaving the transaction are shielded from cancellation, so a client hanging up
    never strands a pooled connection in an open transaction.
    """
    async with db_session(request) as s:
        yield s


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

# Dependencies that only parse or look at the request are ``async def``: FastAPI runs plain ``def``
# dependencies in the worker thread pool, a hop that costs more than their work.


def resolve_token(request: Request, s: Session, bearer: str | None, cookie: str | None) -> TokenResult:
    token = bearer or cookie
    if not token:
        return TokenResult(None)
    settings: ApiSettings = request.app.state.settings
    result = check_token(s, token, secret=settings.secret_key.get_secret_value())
    if result.account is None:
        return result
    if not bearer:
        _check_same_origin(request)
    set_actor(s, result.account.username)
    return result


def _check_same_origin(request: Request) -> None:
    """Cookie-authenticated writes must come from our own pages (a CSRF guard next to SameSite=Lax)."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Forbidden(
            f"cross-site request from {origin} refused",
            fix="send writes from the minqing-map pages, or use an Authorization: Bearer token",
        )


async def _token_result(
    request: Request,
    s: SessionDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> TokenResult:
    if not (bearer or cookie):
        return TokenResult(None)  # anonymous: no database work, no thread hop
    return await run_in_threadpool(resolve_token, request, s, bearer, cookie)


TokenDep = Annotated[TokenResult, Depends(_token_result)]


async def optional_user(result: TokenDep) -> Account | None:
    """The logged-in account, or None for anonymous viewers (a stale token reads as anonymous)."""
    return result.account


async def current_user(result: TokenDep) -> Account:
    """The logged-in account, else 401 saying why (no token, expired, deactivated)."""
    if result.account is None:
        raise result.problem or Unauthorized("this needs a login")
    return result.account


OptionalUser = Annotated[Account | None, Depends(optional_user)]
CurrentUser = Annotated[Account, Depends(current_user)]


def role_of(user: Account | None) -> str | None:
    return None if user is None else user.role


def require_role(*roles: str) -> Callable[..., Awaitable[Account]]:
    """A dependency that returns the user when their role is one of ``roles`` (401/403 otherwise)."""

    async def dependency(user: CurrentUser) -> Account:
        if user.role not in roles:
            raise Forbidden(
                f"role {user.role!r} may not do this: it needs one of {list(roles)}",
                fix="ask an administrator for a role that may do this",
            )
        return user

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    return dependency


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


async def paging(
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LIMIT, description=f"每页条数 items per page (1..{MAX_LIMIT})", examples=[100]),
    ] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31, description="跳过条数 items to skip", examples=[0])] = 0,
) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]

Bbox = tuple[float, float, float, float]


async def bbox_param(
    bbox: Annotated[
        str | None,
        Query(
            description="范围 minLon,minLat,maxLon,maxLat (WGS84 degrees, longitude first); "
            "the 6-number OGC form minLon,minLat,minZ,maxLon,maxLat,maxZ is accepted (heights ignored)",
            examples=["113.20,22.50,113.40,22.70"],
        ),
    ] = None,
) -> Bbox | None:
    return None if bbox is None else parse_bbox(bbox)


BboxDep = Annotated[Bbox | None, Depends(bbox_param)]
