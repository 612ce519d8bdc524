"""User accounts and roles (table ``users``). Password hashing lives in ``api.security``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from layers.errors import NotFound, ValidationFailed

ROLES = ("grid_worker", "planner", "placename_officer", "admin")


class UsernameTaken(ValidationFailed):
    status = 409


@dataclass(frozen=True)
class Account:
    user_id: int
    username: str
    role: str
    area_id: int | None
    active: bool
    password_hash: str

    def public(self) -> dict:
        """Every field except the password hash."""
        return {"user_id": self.user_id, "username": self.username, "role": self.role,
                "area_id": self.area_id, "active": self.active}


COLUMNS = "user_id, username, role, area_id, active, password_hash"


def _one(s: Session, where: str, params: dict) -> Account | None:
    row = s.execute(text(f"SELECT {COLUMNS} FROM users WHERE {where}"), params).first()
    return Account(*row) if row else None


def by_username(s: Session, username: str) -> Account | None:
    return _one(s, "username = :u", {"u": username})


def by_id(s: Session, user_id: int) -> Account:
    account = _one(s, "user_id = :i", {"i": user_id})
    if account is None:
        raise NotFound(f"no user with user_id {user_id}: list users with GET /users or `minqing users list`")
    return account


def listing(s: Session, *, role: str | None = None, active: bool | None = None,
            limit: int = 100, offset: int = 0) -> tuple[list[Account], int]:
    """A page of accounts ordered by user_id, and the number matching."""
    where, params = _filters(role=role, active=active)
    rows = s.execute(text(f"SELECT {COLUMNS} FROM users WHERE {where} ORDER BY user_id "
                          "LIMIT :limit OFFSET :offset"), {**params, "limit": limit, "offset": offset})
    total = s.execute(text(f"SELECT count(*) FROM users WHERE {where}"), params).scalar_one()
    return [Account(*r) for r in rows], total


def _filters(*, role: str | None, active: bool | None) -> tuple[str, dict]:
    clauses, params = ["TRUE"], {}
    if role is not None:
        clauses.append("role = :role")
        params["role"] = role
    if active is not None:
        clauses.append("active = :active")
        params["active"] = active
    return " AND ".join(clauses), params


def _check(s: Session, *, role: str | None, area_id: int | None) -> None:
    if role is not None and role not in ROLES:
        raise ValidationFailed(f"unknown role {role!r}: use one of {list(ROLES)}")
    if area_id is not None and not s.execute(text("SELECT 1 FROM areas WHERE area_id = :a"),
                                             {"a": area_id}).first():
        raise ValidationFailed(f"area_id={area_id} names no area: give a grid's area_id "
                               "(GET /collections/grids/items)")


def create(s: Session, *, username: str, password_hash: str, role: str, area_id: int | None = None) -> Account:
    """Insert an active account; ``UsernameTaken`` when the name exists."""
    _check(s, role=role, area_id=area_id)
    if by_username(s, username) is not None:
        raise UsernameTaken(f"username {username!r} is taken: choose another name")
    try:
        with s.begin_nested():
            row = s.execute(text("INSERT INTO users (username, password_hash, role, area_id) "
                                 f"VALUES (:u, :h, :r, :a) RETURNING {COLUMNS}"),
                            {"u": username, "h": password_hash, "r": role, "a": area_id}).one()
    except IntegrityError:  # a concurrent insert of the same name
        raise UsernameTaken(f"username {username!r} is taken: choose another name") from None
    return Account(*row)


def update(s: Session, user_id: int, **changes) -> Account:
    """Change role, area_id, active or password_hash of one account (others untouched)."""
    allowed = {"role", "area_id", "active", "password_hash"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"cannot change {sorted(unknown)}: only {sorted(allowed)} can change")
    by_id(s, user_id)
    _check(s, role=changes.get("role"), area_id=changes.get("area_id"))
    if changes:
        sets = ", ".join(f"{k} = :{k}" for k in changes)
        s.execute(text(f"UPDATE users SET {sets} WHERE user_id = :i"), {**changes, "i": user_id})
    return by_id(s, user_id)


def by_username_or_fail(s: Session, username: str) -> Account:
    account = by_username(s, username)
    if account is None:
        raise NotFound(f"no user named {username!r}: list them with `minqing users list`")
    return account


def first_small_grid(s: Session) -> int | None:
    """The small grid with the lowest area_id (the demo grid worker's grid), None without grids."""
    return s.execute(text("SELECT min(area_id) FROM areas WHERE level = 'grid_small'")).scalar()
