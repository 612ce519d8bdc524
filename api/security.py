"""Passwords (bcrypt), login tokens (JWT, HS256) and the login back-off schedule.

A token names the account by its user id (``sub``), the account's token version (``ver``) and a
token id (``jti``); it carries the username and role for clients only. On every request the account
is read again: a deactivated user, a changed role, a bumped token version (logout everywhere,
password change or reset, role change) or a revoked token id (logout) take effect at once, and a
username deleted and created again does not inherit the old account's tokens (another user id).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import bcrypt
import jwt
from sqlalchemy.orm import Session

from api.errors import Unauthorized
from layers import users
from layers.users import Account

COOKIE = "minqing_token"
ALGORITHM = "HS256"
MAX_PASSWORD_BYTES = 72
"""bcrypt only reads the first 72 bytes; longer passwords are refused rather than cut."""
MIN_PASSWORD_CHARS = 8
RELOGIN = "log in again (POST /auth/token)"


class PasswordRejected(ValueError):
    """A new password breaks the rules; the message says which."""


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordRejected(
            f"the password has {len(password)} characters: use at least {MIN_PASSWORD_CHARS}"
        )
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise PasswordRejected(
            f"the password is longer than {MAX_PASSWORD_BYTES} bytes (UTF-8): use a shorter one"
        )
    if "\x00" in password:
        raise PasswordRejected("the password contains a NUL character: remove it")


def hash_password(password: str, *, rounds: int = 12) -> str:
    """bcrypt hash of a new password (raises ``PasswordRejected`` for unusable passwords)."""
    check_new_password(password)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"minqing-no-such-user", bcrypt.gensalt(rounds=rounds))


def verify_password(password: str, password_hash: str | None, *, rounds: int = 12) -> bool:
    """True when ``password`` matches ``password_hash``.

    For an unknown user (``password_hash`` None) or an unusable password it compares against a
    dummy hash of cost ``rounds`` anyway, so response times do not reveal which usernames exist.
    """
    candidate = password.encode()
    usable = len(candidate) <= MAX_PASSWORD_BYTES and "\x00" not in password
    if password_hash is None or not usable:
        bcrypt.checkpw(b"x", _dummy_hash(rounds))
        return False
    try:
        return bcrypt.checkpw(candidate, password_hash.encode())
    except ValueError:  # a malformed stored hash: never a match
        return False


def generate_password() -> str:
    """A random password for generated accounts (demo users)."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: whose it is, which token version of theirs, its id and expiry."""

    user_id: int
    version: int
    jti: str
    expires_at: datetime


def create_token(account: Account, *, secret: str, minutes: int) -> str:
    """A signed token for ``account`` (its user id, current token version, a fresh token id)."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(account.user_id),
        "ver": account.token_version,
        "jti": uuid.uuid4().hex,
        "name": account.username,
        "role": account.role,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, *, secret: str) -> TokenClaims:
    """The claims of a valid token, else ``Unauthorized`` saying why."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "ver", "jti"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the login token has expired", fix=RELOGIN) from None
    except jwt.PyJWTError:
        raise Unauthorized("the login token is not valid", fix=RELOGIN) from None
    sub, ver, jti = claims["sub"], claims["ver"], claims["jti"]
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and 0 < int(sub) < 2**63):
        raise Unauthorized("the login token names no user", fix=RELOGIN)
    if not (isinstance(ver, int) and 0 < ver < 2**31 and isinstance(jti, str) and 0 < len(jti) <= 64):
        raise Unauthorized("the login token is not valid", fix=RELOGIN)
    return TokenClaims(int(sub), ver, jti, datetime.fromtimestamp(claims["exp"], UTC))


def backoff_seconds(failures: int, *, free: int, base: float, cap: float) -> float:
    """How long an account waits after ``failures`` failed logins in a row (0: it may try now).

    The first ``free - 1`` failures cost nothing; the ``free``-th blocks the account for ``base``
    seconds, and each further failure doubles the wait, up to ``cap``.
    """
    if failures < free:
        return 0.0
    return float(min(cap, base * 2.0 ** min(failures - free, 60)))


@dataclass
class TokenResult:
    account: Account | None
    problem: Unauthorized | None = None
    claims: TokenClaims | None = None


def check_token(
    s: Session | None,
    token: str,
    *,
    secret: str,
    lookup: Callable[[int, str], tuple[Account | None, bool]] | None = None,
) -> TokenResult:
    """The account of a login token if the token is valid now: signed, not expired, its account
    active, its version current and the token itself not logged out; else the reason.

    ``lookup(user_id, jti)`` reads the account and whether the token id was revoked
    (default ``users.for_token`` with ``s``; the tile route's kept copy, see ``api.routes.tiles``)."""
    try:
        claims = read_token(token, secret=secret)
    except Unauthorized as e:
        return TokenResult(None, e)
    if lookup is None:
        if s is None:
            raise ValueError("check_token needs a session or a lookup")
        account, revoked = users.for_token(s, claims.user_id, claims.jti)
    else:
        account, revoked = lookup(claims.user_id, claims.jti)
    if account is None or not account.active:
        return TokenResult(
            None,
            Unauthorized(
                "the account of this login token does not exist or is deactivated",
                fix="ask an administrator to (re)activate it",
            ),
        )
    if revoked or claims.version != account.token_version:
        return TokenResult(
            None,
            Unauthorized(
                "the login token has been revoked (logged out, password or role changed)", fix=RELOGIN
            ),
        )
    return TokenResult(account, claims=claims)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: an app-relative path only, never another site (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
