"""Login tokens."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Token(BaseModel):
    """登录令牌 an OAuth2 bearer token."""

    access_token: str = Field(description="JWT; send as `Authorization: Bearer <access_token>`")
    token_type: str = Field("bearer", examples=["bearer"])
    role: str = Field(examples=["planner"])
    expires_in: int = Field(description="有效期 seconds until it expires", examples=[28800])
