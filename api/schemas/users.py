"""User accounts: Create / Update / Public (the password hash never leaves the database layer)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.schemas.common import Id, Link, varchar

Role = Literal["grid_worker", "planner", "placename_officer", "admin", "dispatcher", "department"]
Username = Annotated[str, varchar(60, min_length=2)]
Password = Annotated[str, varchar(72, min_length=8)]


# --- response examples (OpenAPI) ---

_USER_PUBLIC_EXAMPLE: JsonDict = {
    "user_id": 7,
    "username": "wang.planner",
    "role": "planner",
    "area_id": None,
    "active": True,
}

_USER_LIST_EXAMPLE: JsonDict = {
    "items": [{"user_id": 7, "username": "wang.planner", "role": "planner", "area_id": None, "active": True}],
    "numberMatched": 1,
    "numberReturned": 1,
    "links": [{"href": "/users?limit=100&offset=0", "rel": "self"}],
}


class UserCreate(BaseModel):
    """新建账号 a new account."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"username": "wang.planner", "password": "change-me-please", "role": "planner"}]
        },
    )
    username: Username = Field(description="登录名")
    password: Password = Field(description="至少8个字符 at least 8 characters")
    role: Role
    area_id: Id | None = Field(
        None, description="网格员的网格 a grid worker's own grid; 指挥中心的镇街 a dispatcher's town"
    )
    department: Annotated[str, varchar(60)] | None = Field(
        None, description="职能部门 a department account's department"
    )


class UserUpdate(BaseModel):
    """修改账号 (只改给出的字段) changes to an account."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "planner"}, {"active": False}]}
    )
    role: Role = None  # type: ignore[assignment]
    area_id: Id | None = None
    department: Annotated[str, varchar(60)] | None = None
    active: bool = None  # type: ignore[assignment]
    password: Password = None  # type: ignore[assignment]


class PasswordChange(BaseModel):
    """修改自己的密码 change one's own password."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"current_password": "the-old-password", "new_password": "a-new-long-password"}]
        },
    )
    current_password: Annotated[str, varchar(200)] = Field(description="当前密码")
    new_password: Password = Field(description="新密码, 至少8个字符 at least 8 characters")


class UserPublic(BaseModel):
    """账号 (无密码) an account as shown to administrators."""

    model_config = ConfigDict(json_schema_extra={"examples": [_USER_PUBLIC_EXAMPLE]})

    user_id: int
    username: str
    role: str
    area_id: int | None = None
    active: bool
    department: str | None = None


class UserList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_USER_LIST_EXAMPLE]})

    items: list[UserPublic]
    numberMatched: int  # noqa: N815
    numberReturned: int  # noqa: N815
    links: list[Link]
