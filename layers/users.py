"""User accounts and roles (table ``users``), usernames, token revocation and the login record.

Password hashing and tokens live in ``api.security``. Failed and successful logins are written to
the audit log (layer ``login``, never the attempted password); the per-account back-off counts the
failures there.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from layers import audit
from layers.errors import NotFound, ValidationFailed
from layers.models import ROLES  # one list: the users role check constraint uses it too


class UsernameTaken(ValidationFailed):
    status = 409


class UsernameRejected(ValidationFailed):
    """A new username breaks a rule; the message names the rule and the character."""


USERNAME_MIN, USERNAME_MAX = 2, 60
USERNAME_RULE = (
    "usernames are 2-60 characters of a-z, 0-9, '.', '_', '-' and Chinese characters (汉字), "
    "starting and ending with a letter, digit or 汉字; they are stored in lower case"
)
MARKUP = frozenset("<>&\"'`/\\=")
EDGE = "._-"


def login_key(raw: str) -> str:
    """The normal form of a username: NFKC (full-width letters become ASCII), trimmed, lower case
    (a NUL, which no stored name holds and PostgreSQL refuses in text, becomes U+FFFD)."""
    return unicodedata.normalize("NFKC", raw).strip().lower().replace("\x00", "\ufffd")


def _han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _allowed(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("0" <= ch <= "9") or ch in EDGE or _han(ch)


def _describe(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')})"


def normalise_username(raw: str) -> str:
    """``login_key(raw)`` if it is an acceptable username, else ``UsernameRejected`` naming the rule.

    Refused: markup characters (``< > & " ' ` / \\ =``), spaces and invisible characters, letters of
    other scripts that look like Latin ones (Cyrillic а, Greek ο ...) or any character outside
    a-z, 0-9, ``. _ -`` and 汉字, and names shorter than 2 or longer than 60 characters.
    """
    name = login_key(raw)
    fix = f"choose another username: {USERNAME_RULE}"
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise UsernameRejected(f"the username has {len(name)} characters (rule: length): {fix}")
    for ch in name:
        if ch in MARKUP:
            raise UsernameRejected(
                f"the username contains the markup character {ch!r} (rule: no markup): {fix}"
            )
        category = unicodedata.category(ch)
        if ch.isspace() or category[0] in "CZ" or category in ("Mn", "Me"):
            raise UsernameRejected(
                f"the username contains a space, invisible or combining character {_describe(ch)} "
                f"(rule: no spaces, invisible or combining characters): {fix}"
            )
        if not _allowed(ch):
            rule = "no look-alike letters of other scripts" if category[0] == "L" else "allowed characters"
            raise UsernameRejected(f"the username contains {_describe(ch)} (rule: {rule}): {fix}")
    if name[0] in EDGE or name[-1] in EDGE:
        raise UsernameRejected(
            f"the username starts or ends with {name[0] if name[0] in EDGE else name[-1]!r} "
            f"(rule: letters, digits or 汉字 at both ends): {fix}"
        )
    return name


@dataclass(frozen=True)
class Account:
    user_id: int
    username: str
    role: str
    area_id: int | None
    active: bool
    password_hash: str
    token_version: int
    """Bumped by logout everywhere, a password change or reset, a role change and deactivation:
    tokens carrying an older version stop working."""
    department: str | None = None
    """A ``department`` account's 职能部门: it sees and handles only that department's events."""

    def public(self) -> dict:
        """Every field except the password hash."""
        return {
            "user_id": self.user_id,
            "username": self.username,
            "role": self.role,
            "area_id": self.area_id,
            "active": self.active,
            "department": self.department,
        }


COLUMNS = "user_id, username, role, area_id, active, password_hash, token_version, department"


def _one(s: Session, where: str, params: dict) -> Account | None:
    row = s.execute(text(f"SELECT {COLUMNS} FROM users WHERE {where}"), params).first()
    return Account(*row) if row else None


def by_username(s: Session, username: str) -> Account | None:
    """The account named ``username`` in its normal form (``login_key``: " Admin" finds admin)."""
    return _one(s, "username = :u", {"u": login_key(username)})


def by_id(s: Session, user_id: int) -> Account:
    account = _one(s, "user_id = :i", {"i": user_id})
    if account is None:
        raise NotFound(f"no user with user_id {user_id}: list users with GET /users or `minqing users list`")
    return account


def listing(
    s: Session, *, role: str | None = None, active: bool | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Account], int]:
    """A page of accounts ordered by user_id, and the number matching."""
    where, params = _filters(role=role, active=active)
    rows = s.execute(
        text(f"SELECT {COLUMNS} FROM users WHERE {where} ORDER BY user_id LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    )
    total = s.execute(text(f"SELECT count(*) FROM users WHERE {where}"), params).scalar_one()
    return [Account(*r) for r in rows], total


def _filters(*, role: str | None, active: bool | None) -> tuple[str, dict]:
    clauses: list[str] = ["TRUE"]
    params: dict[str, object] = {}
    if role is not None:
        clauses.append("role = :role")
        params["role"] = role
    if active is not None:
        clauses.append("active = :active")
        params["active"] = active
    return " AND ".join(clauses), params


def _check(s: Session, *, role: str | None, area_id: int | None, department: str | None = None) -> None:
    if role is not None and role not in ROLES:
        raise ValidationFailed(f"unknown role {role!r}: use one of {list(ROLES)}")
    if role == "department" and not (department or "").strip():
        raise ValidationFailed(
            "a department account needs its department (职能部门, e.g. 民政局): give department"
        )
    if (
        area_id is not None
        and not s.execute(text("SELECT 1 FROM areas WHERE area_id = :a"), {"a": area_id}).first()
    ):
        raise ValidationFailed(
            f"area_id={area_id} names no area: give a grid's area_id (GET /collections/grids/items)"
        )


def create(
    s: Session,
    *,
    username: str,
    password_hash: str,
    role: str,
    area_id: int | None = None,
    department: str | None = None,
) -> Account:
    """Insert an active account under the normal form of ``username`` (``normalise_username``);
    ``UsernameRejected`` for a name breaking the rules, ``UsernameTaken`` when the name exists."""
    username = normalise_username(username)
    _check(s, role=role, area_id=area_id, department=department)
    if by_username(s, username) is not None:
        raise UsernameTaken(f"username {username!r} is taken: choose another name")
    try:
        with s.begin_nested():
            row = s.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, area_id, department) "
                    f"VALUES (:u, :h, :r, :a, :d) RETURNING {COLUMNS}"
                ),
                {
                    "u": username,
                    "h": password_hash,
                    "r": role,
                    "a": area_id,
                    "d": (department or "").strip() or None,
                },
            ).one()
    except IntegrityError:  # a concurrent insert of the same name
        raise UsernameTaken(f"username {username!r} is taken: choose another name") from None
    return Account(*row)


def update(s: Session, user_id: int, **changes) -> Account:
    """Change role, area_id, active or password_hash of one account (others untouched).

    A new password, another role or deactivation also bumps the token version: every token issued
    before stops working.
    """
    allowed = {"role", "area_id", "active", "password_hash", "department"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"cannot change {sorted(unknown)}: only {sorted(allowed)} can change")
    current = by_id(s, user_id)
    _check(
        s,
        role=changes.get("role"),
        area_id=changes.get("area_id"),
        department=changes.get("department", current.department),
    )
    revoke = (
        "password_hash" in changes
        or changes.get("role", current.role) != current.role
        or changes.get("department", current.department) != current.department
        or changes.get("active") is False
    )
    sets = [f"{k} = :{k}" for k in changes] + (["token_version = token_version + 1"] if revoke else [])
    if sets:
        s.execute(text(f"UPDATE users SET {', '.join(sets)} WHERE user_id = :i"), {**changes, "i": user_id})
    return by_id(s, user_id)


def revoke_all(s: Session, user_id: int) -> Account:
    """Log an account out everywhere: bump its token version (every token issued so far stops working)."""
    by_id(s, user_id)
    s.execute(text("UPDATE users SET token_version = token_version + 1 WHERE user_id = :i"), {"i": user_id})
    return by_id(s, user_id)


def revoke_token(s: Session, user_id: int, jti: str, expires_at: datetime) -> None:
    """Deny one token (logout) until it expires; forgets the denials of tokens expired since."""
    s.execute(text("DELETE FROM revoked_tokens WHERE expires_at < now()"))
    s.execute(
        text(
            "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES (:j, :u, :e) "
            "ON CONFLICT (jti) DO NOTHING"
        ),
        {"j": jti, "u": user_id, "e": expires_at},
    )


def for_token(s: Session, user_id: int, jti: str) -> tuple[Account | None, bool]:
    """The account a token names, and whether that token was revoked (one query per request)."""
    row = s.execute(
        text(
            f"SELECT {COLUMNS}, EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = :j) "
            "FROM users WHERE user_id = :i"
        ),
        {"i": user_id, "j": jti},
    ).first()
    return (Account(*row[:-1]), bool(row[-1])) if row else (None, False)


LOGIN_LAYER = "login"
LOGIN_WINDOW_HOURS = 24
"""Failed logins older than this, or before the account's last successful login, are forgotten."""


def _login_object(key: str) -> str:
    return key[:40]  # audit_log.object_id


def claim_login(s: Session, key: str) -> bool:
    """Take the account's login lock until the transaction ends; False when another attempt holds it."""
    return bool(
        s.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended('minqing.login:' || :k, 0))"),
            {"k": _login_object(key)},
        ).scalar_one()
    )


def recent_login_failures(s: Session, key: str) -> tuple[int, float]:
    """Failed logins of ``key`` (a ``login_key``) since its last success within the window, and the
    seconds since the latest of them (0 when none)."""
    # the layer is written out, not bound: the partial index ix_audit_log_login (layer = 'login') then
    # serves generic plans too
    row = s.execute(
        text(
            "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - max(at)), 0) FROM audit_log "
            f"WHERE layer = '{LOGIN_LAYER}' AND object_id = :k AND action = 'login_fail' "
            "AND at > now() - make_interval(hours => :w) AND at > coalesce((SELECT max(at) FROM audit_log "
            f"WHERE layer = '{LOGIN_LAYER}' AND object_id = :k AND action = 'login'), '-infinity')"
        ),
        {"k": _login_object(key), "w": LOGIN_WINDOW_HOURS},
    ).one()
    return int(row[0]), float(row[1])


def record_login(s: Session, key: str, *, action: str, ip: str, reason: str | None = None) -> None:
    """Audit a login attempt: ``login`` (success), ``login_fail`` or ``login_wait`` (refused by the
    back-off). The attempted password is never recorded."""
    after = {"username": key[:USERNAME_MAX], "ip": ip, **({"reason": reason} if reason else {})}
    actor = key if action == "login" else "anonymous"
    audit.record(s, actor=actor, action=action, layer=LOGIN_LAYER, object_id=_login_object(key), after=after)


def by_username_or_fail(s: Session, username: str) -> Account:
    account = by_username(s, username)
    if account is None:
        raise NotFound(f"no user named {username!r}: list them with `minqing users list`")
    return account


def first_small_grid(s: Session) -> int | None:
    """The demo grid worker's grid: the old-town grid around 文昌阁 (the demo's heritage pavilion in
    the old town, where most 民情 happens) when that place name is loaded, else the small grid with
    the lowest area_id; None without grids."""
    return s.execute(
        text("""
        SELECT coalesce(
            (SELECT min(g.area_id) FROM areas g JOIN place_names p ON ST_Covers(g.geom, p.geom)
             WHERE g.level = 'grid_small' AND p.name = '文昌阁'),
            (SELECT min(area_id) FROM areas WHERE level = 'grid_small'))""")
    ).scalar()


def area_name(s: Session, area_id: int) -> str | None:
    return s.execute(text("SELECT name FROM areas WHERE area_id = :a"), {"a": area_id}).scalar()
