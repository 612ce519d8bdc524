"""Login: OAuth2 password flow (JSON clients) and an HTML form that sets a cookie (browsers)."""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.orm import Session

from api.deps import CurrentUser, SessionDep, SettingsDep, TokenDep
from api.errors import Forbidden, RateLimited, Unauthorized, error_response
from api.limits import SharedLimit, client_key
from api.schemas.auth import Token
from api.schemas.common import errors
from api.security import COOKIE, TokenResult, backoff_seconds, create_token, safe_next, verify_password
from layers import audit, users
from layers.users import Account
from settings import ApiSettings

router = APIRouter(prefix="/auth", tags=["登录 auth"])


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def throttle(request: Request, settings: ApiSettings) -> None:
    """Few login attempts per client IP: 429 with Retry-After beyond the burst (password guessing).

    The client IP is the peer's, or the one a trusted proxy names (``api.limits.ProxyHeaders``).
    """
    buckets = getattr(request.app.state, "login_buckets", None)
    if buckets is None:
        buckets = request.app.state.login_buckets = SharedLimit(
            "login",
            rate=settings.login_attempts_per_minute / 60,
            burst=settings.login_burst,
            url=request.app.state.database_url,
        )
    wait = buckets.take(client_key(_client(request)))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RateLimited(
            "too many login attempts from this address",
            fix=f"wait {seconds} s and try again",
            headers={"Retry-After": str(seconds)},
        )


def account_backoff(request: Request, s: Session, settings: ApiSettings, key: str) -> None:
    """Per account, whatever the address: after repeated failed logins the account waits (429 with
    Retry-After, even with the right password), the wait doubling with each failure. Audited.

    One attempt per account at a time: a parallel attempt is refused at once (429, 1 s) rather than
    evaluated before the others' failures are counted, and nothing waits holding a connection.
    """
    if not users.claim_login(s, key):
        users.record_login(s, key, action="login_wait", ip=_client(request), reason="attempt in progress")
        raise _Refused(
            RateLimited(
                "another login attempt for this account is in progress",
                fix="wait a second and try again",
                headers={"Retry-After": "1"},
            )
        )
    failures, since_last = users.recent_login_failures(s, key)
    wait = (
        backoff_seconds(
            failures,
            free=settings.login_free_failures,
            base=settings.login_backoff_seconds,
            cap=settings.login_backoff_max_seconds,
        )
        - since_last
    )
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        users.record_login(s, key, action="login_wait", ip=_client(request), reason=f"{failures} failures")
        raise _Refused(
            RateLimited(
                f"too many failed logins for this account: it is locked for {seconds} s",
                fix=f"wait {seconds} s and try again; an administrator can reset the password",
                headers={"Retry-After": str(seconds)},
            )
        )


class _Refused(Exception):
    """An answer to send after committing the audit entry (raising would roll it back)."""

    def __init__(self, error: Exception):
        self.error = error


def authenticate(s: Session, settings: ApiSettings, username: str, password: str) -> Account | None:
    """The active account whose password matches, else None (same time either way)."""
    account = users.by_username(s, username) if "\x00" not in username else None
    usable = account if account is not None and account.active else None
    ok = verify_password(
        password, usable.password_hash if usable is not None else None, rounds=settings.bcrypt_rounds
    )
    return usable if ok else None


def _login(
    request: Request, s: Session, settings: ApiSettings, username: str, password: str
) -> Account | None:
    """Throttle (per address, then per account), check the password, audit the outcome."""
    throttle(request, settings)
    key = users.login_key(username)
    account_backoff(request, s, settings, key)
    account = authenticate(s, settings, username, password)
    if account is None:
        users.record_login(
            s, key, action="login_fail", ip=_client(request), reason="wrong username or password"
        )
    else:
        users.record_login(s, account.username, action="login", ip=_client(request))
    return account


def check_password_of(
    request: Request, s: Session, settings: ApiSettings, account: Account, password: str
) -> Response | None:
    """None when ``password`` is the account's; else the 403 or 429 to send (the failure is audited and
    counts toward the account's back-off, like a failed login)."""
    try:
        account_backoff(request, s, settings, account.username)
    except _Refused as refused:
        return error_response(refused.error, request)
    if verify_password(password, account.password_hash, rounds=settings.bcrypt_rounds):
        return None
    users.record_login(
        s, account.username, action="login_fail", ip=_client(request), reason="wrong current password"
    )
    return error_response(
        Forbidden(
            "the current password is wrong: nothing was changed",
            fix="type your current password (an administrator can reset it)",
        ),
        request,
    )


def _token(settings: ApiSettings, account: Account) -> str:
    return create_token(
        account, secret=settings.secret_key.get_secret_value(), minutes=settings.token_minutes
    )


BAD_LOGIN = Unauthorized(
    "wrong username or password, or the account is deactivated",
    fix="check the username and password; an administrator can reset them "
    "(`minqing users reset-password` / PATCH /users/{id})",
)


@router.post(
    "/token",
    response_model=Token,
    summary="获取登录令牌 log in (OAuth2 password flow)",
    description="Form fields `username`, `password` → a bearer token (JWT). Send it as "
    "`Authorization: Bearer <access_token>`. Attempts are limited per address and, after "
    "repeated failures, per account with a doubling wait (429 with Retry-After). Every attempt "
    "is audited (layer `login`; never the password).",
    responses=errors(401, 422, 429),
)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    s: SessionDep,
    settings: SettingsDep,
) -> Response | dict:
    # failures answer without raising, so that their audit entry is committed with the request
    try:
        account = _login(request, s, settings, form.username, form.password)
    except _Refused as refused:
        return error_response(refused.error, request)
    if account is None:
        return error_response(BAD_LOGIN, request)
    return {
        "access_token": _token(settings, account),
        "token_type": "bearer",
        "role": account.role,
        "expires_in": settings.token_minutes * 60,
    }


@router.post(
    "/login",
    status_code=303,
    response_class=RedirectResponse,
    summary="网页登录 log in from the HTML form (sets a cookie)",
    description="Form fields `username`, `password`, `next`. Success: HttpOnly cookie `minqing_token` "
    "and 303 to `next`; failure: 303 to `/login?error=1&next=…`.",
    responses={303: {"description": "重定向 redirect"}, **errors(422)},
)
def login(
    request: Request,
    s: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:  # noqa: A002
    target = safe_next(next)
    try:
        account = _login(request, s, settings, username, password)
    except _Refused as refused:
        return error_response(refused.error, request)
    if account is None:
        return RedirectResponse(f"/login?error=1&next={quote(target, safe='')}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        _token(settings, account),
        max_age=settings.token_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


def _logout(s: Session, result: TokenResult, settings: ApiSettings) -> RedirectResponse:
    if result.account is not None and result.claims is not None:
        users.revoke_token(s, result.account.user_id, result.claims.jti, result.claims.expires_at)
        audit.record(
            s,
            actor=result.account.username,
            action="logout",
            layer=users.LOGIN_LAYER,
            object_id=result.account.username[:40],
        )
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure)
    return response


@router.get(
    "/logout",
    status_code=303,
    response_class=RedirectResponse,
    summary="退出登录 log out",
    description="Revokes the token in use (cookie or bearer: it stops working at once), clears the "
    "login cookie and redirects to `/`. Other sessions of the account stay logged in "
    "(POST /auth/logout-everywhere ends them all).",
    responses={303: {"description": "重定向 redirect"}, **errors()},
)
def logout(s: SessionDep, result: TokenDep, settings: SettingsDep) -> RedirectResponse:
    return _logout(s, result, settings)


@router.post(
    "/logout",
    status_code=303,
    response_class=RedirectResponse,
    summary="退出登录 log out (POST)",
    description="The same as GET /auth/logout, for API clients.",
    responses={303: {"description": "重定向 redirect"}, **errors()},
)
def logout_post(s: SessionDep, result: TokenDep, settings: SettingsDep) -> RedirectResponse:
    return _logout(s, result, settings)


@router.post(
    "/logout-everywhere",
    status_code=204,
    summary="全部退出 log out everywhere",
    description="Revokes every token of the logged-in account (all browsers and clients), "
    "including the one in use.",
    responses={204: {"description": "已退出 done"}, **errors(401)},
)
def logout_everywhere(s: SessionDep, user: CurrentUser, settings: SettingsDep) -> Response:
    users.revoke_all(s, user.user_id)
    audit.record(
        s, actor=user.username, action="logout_all", layer=users.LOGIN_LAYER, object_id=user.username[:40]
    )
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure)
    return response
