"""Who may do what: the role table of docs/API_CONTRACT.md in one place.

public (no token): facilities, grids, areas, place names, roads, water, facility types, coverage
aggregates (suppressed). grid_worker: residences of their own grid; attributes (not geometry) of
facilities inside their grid. planner: reads everything, writes and imports facilities and
residences. placename_officer: writes and imports place names. dispatcher (镇街联勤指挥中心): every
event of their town (all towns without an area_id), assigns escalated events to departments.
department (职能部门): the events assigned to their department only. admin: everything.
"""

from __future__ import annotations

from api.errors import Forbidden, Unauthorized
from layers.users import Account

ALL_ROLES = ("grid_worker", "planner", "placename_officer", "admin", "dispatcher", "department")

PROTECTED_READ: dict[str, tuple[str, ...]] = {
    "residences": ("planner", "admin", "grid_worker"),
    "gaps": ("planner", "admin"),
    "province": ("planner", "admin"),
    "place_name_clusters": ("placename_officer", "admin"),
}
"""Collections (and the tile layers of results, gaps and province) that are not public → roles that may
read them (grid workers: own grid only)."""

WRITE: dict[str, tuple[str, ...]] = {
    "facilities": ("planner", "admin"),
    "residences": ("planner", "admin"),
    "place_names": ("placename_officer", "admin"),
    "grids": ("admin",),
    "areas": ("admin",),
}
"""Collection → roles that may create, replace, change and delete its features."""

GRID_WORKER_ATTRIBUTES = ("facilities",)
"""Collections whose attributes a grid worker may change inside their own grid."""

# 一标三实 addresses are residences (households, population): never public
IMPORT: dict[str, tuple[str, ...]] = {
    "facilities": ("planner", "admin"),
    "residences": ("planner", "admin"),
    "grids": ("admin",),
    "place_names": ("placename_officer", "admin"),
    "addresses": (
        "planner",
        "admin",
    ),
}
"""Import layer → roles that may import it (``addresses`` is the residences import under another name)."""


def _deny(user: Account | None, roles: tuple[str, ...], what: str) -> Exception:
    if user is None:
        return Unauthorized(f"{what} needs a login with one of the roles {list(roles)}")
    return Forbidden(
        f"role {user.role!r} may not {what}: it needs one of {list(roles)}",
        fix="ask an administrator for a role that may do this",
    )


def readable(user: Account | None, collection: str) -> bool:
    roles = PROTECTED_READ.get(collection)
    return roles is None or (user is not None and user.role in roles)


def read_scope(user: Account | None, collection: str) -> int | None:
    """The area a viewer is restricted to when reading (None: no restriction); raises when denied."""
    roles = PROTECTED_READ.get(collection)
    if roles is None:
        return None
    if user is None or user.role not in roles:
        raise _deny(user, roles, f"read {collection}")
    if user.role == "grid_worker":
        return _own_grid(user)
    return None


def writable(user: Account | None, collection: str) -> bool:
    if user is None:
        return False
    return user.role in WRITE.get(collection, ()) or (
        user.role == "grid_worker" and collection in GRID_WORKER_ATTRIBUTES
    )


def write_scope(user: Account, collection: str, *, action: str, moves_geometry: bool) -> int | None:
    """The area a writer is restricted to (None: anywhere); raises 403 when the write is not allowed.

    ``action`` is create, update or delete; ``moves_geometry`` says whether the geometry changes.
    """
    roles = WRITE.get(collection, ())
    if user.role in roles:
        return None
    if user.role == "grid_worker" and collection in GRID_WORKER_ATTRIBUTES:
        if action != "update" or moves_geometry:
            raise Forbidden(
                f"grid workers may change the attributes of {collection} in their grid, "
                f"not {'move' if action == 'update' else action} them",
                fix="use PATCH with properties only (no geometry), or ask a planner",
            )
        return _own_grid(user)
    raise _deny(user, roles, f"{action} {collection}")


def import_allowed(user: Account, layer: str) -> None:
    roles = IMPORT.get(layer, ("admin",))
    if user.role not in roles:
        raise _deny(user, roles, f"import {layer}")


def _own_grid(user: Account) -> int:
    if user.area_id is None:
        raise Forbidden(
            f"grid worker {user.username!r} has no grid assigned",
            fix="ask an administrator to set your area_id (PATCH /users/{id})",
        )
    return user.area_id
