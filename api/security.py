"""Passwords (bcrypt) and login tokens (JWT, HS256).

A token names the user (``sub``) and carries its role for clients; on every request the account is
read again, so a deactivated user or a changed role takes effect at once.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import bcrypt
import jwt

from api.errors import Unauthorized

COOKIE = "minqing_token"
ALGORITHM = "HS256"
MAX_PASSWORD_BYTES = 72
"""bcrypt only reads the first 72 bytes; longer passwords are refused rather than cut."""
MIN_PASSWORD_CHARS = 8



class PasswordRejected(ValueError):
    """A new password breaks the rules; the message says which."""


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordRejected(f"the password has {len(password)} characters: use at least {MIN_PASSWORD_CHARS}")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise PasswordRejected(f"the password is longer than {MAX_PASSWORD_BYTES} bytes (UTF-8): use a shorter one")
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


def create_token(username: str, role: str, *, secret: str, minutes: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": username, "role": role, "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, *, secret: str) -> str:
    """The username in a valid token, else ``Unauthorized`` saying why."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the login token has expired", fix="log in again (POST /auth/token)") from None
    except jwt.PyJWTError:
        raise Unauthorized("the login token is not valid", fix="log in again (POST /auth/token)") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("the login token names no user", fix="log in again (POST /auth/token)")
    return sub
