"""Login tokens."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

# --- response examples (OpenAPI) ---

_TOKEN_EXAMPLE: JsonDict = {
    "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFubmVyIn0.c2lnbmF0dXJl",
    "token_type": "bearer",
    "role": "planner",
    "expires_in": 28800,
}


class Token(BaseModel):
    """登录令牌 an OAuth2 bearer token."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TOKEN_EXAMPLE]})

    access_token: str = Field(description="JWT; send as `Authorization: Bearer <access_token>`")
    token_type: str = Field("bearer", examples=["bearer"])
    role: str = Field(examples=["planner"])
    expires_in: int = Field(description="有效期 seconds until it expires", examples=[28800])
