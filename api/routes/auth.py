"""Login: OAuth2 password flow (JSON clients) and an HTML form that sets a cookie (browsers)."""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep
from api.errors import RateLimited, Unauthorized
from api.limits import TokenBuckets
from api.schemas.auth import Token
from api.schemas.common import errors
from api.security import COOKIE, create_token, verify_password
from api.settings import ApiSettings
from layers import users
from layers.users import Account

router = APIRouter(prefix="/auth", tags=["登录 auth"])


def throttle(request: Request, settings: ApiSettings) -> None:
    """Few login attempts per client IP: 429 with Retry-After beyond the burst (password guessing)."""
    buckets = getattr(request.app.state, "login_buckets", None)
    if buckets is None:
        buckets = request.app.state.login_buckets = TokenBuckets(
            rate=settings.login_attempts_per_minute / 60, burst=settings.login_burst)
    wait = buckets.take(request.client.host if request.client else "unknown")
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RateLimited("too many login attempts from this address", fix=f"wait {seconds} s and try again",
                          headers={"Retry-After": str(seconds)})


def authenticate(s: Session, settings: ApiSettings, username: str, password: str) -> Account | None:
    """The active account whose password matches, else None (same time either way)."""
    account = users.by_username(s, username) if "\x00" not in username else None
    usable = account is not None and account.active
    ok = verify_password(password, account.password_hash if usable else None, rounds=settings.bcrypt_rounds)
    return account if ok and usable else None


def _token(settings: ApiSettings, account: Account) -> str:
    return create_token(account.username, account.role, secret=settings.secret_key.get_secret_value(),
                        minutes=settings.token_minutes)


@router.post("/token", response_model=Token, summary="获取登录令牌 log in (OAuth2 password flow)",
             description="Form fields `username`, `password` → a bearer token (JWT). Send it as "
             "`Authorization: Bearer <access_token>`. Attempts per address are limited (429).",
             responses=errors(401, 422))
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], s: SessionDep,
          settings: SettingsDep) -> dict:
    throttle(request, settings)
    account = authenticate(s, settings, form.username, form.password)
    if account is None:
        raise Unauthorized("wrong username or password, or the account is deactivated",
                           fix="check the username and password; an administrator can reset them "
                               "(`minqing users create` / PATCH /users/{id})")
    return {"access_token": _token(settings, account), "token_type": "bearer", "role": account.role,
            "expires_in": settings.token_minutes * 60}


def _safe_next(target: str | None) -> str:
    # Only app-relative paths: never redirect to another site (open redirect).
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.post("/login", status_code=303, response_class=RedirectResponse,
             summary="网页登录 log in from the HTML form (sets a cookie)",
             description="Form fields `username`, `password`, `next`. Success: HttpOnly cookie `minqing_token` "
             "and 303 to `next`; failure: 303 to `/login?error=1&next=…`.",
             responses={303: {"description": "重定向 redirect"}, **errors(422)})
def login(request: Request, s: SessionDep, settings: SettingsDep,
          username: Annotated[str, Form(max_length=200)], password: Annotated[str, Form(max_length=200)],
          next: Annotated[str, Form(max_length=2000)] = "/") -> RedirectResponse:  # noqa: A002
    target = _safe_next(next)
    throttle(request, settings)
    account = authenticate(s, settings, username, password)
    if account is None:
        return RedirectResponse(f"/login?error=1&next={quote(target, safe='')}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, _token(settings, account), max_age=settings.token_minutes * 60, httponly=True,
                        samesite="lax", secure=settings.cookie_secure, path="/")
    return response


@router.get("/logout", status_code=303, response_class=RedirectResponse, summary="退出登录 log out",
            description="Clears the login cookie and redirects to `/`.",
            responses={303: {"description": "重定向 redirect"}, **errors()})
def logout(settings: SettingsDep) -> RedirectResponse:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure)
    return response
