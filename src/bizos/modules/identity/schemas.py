"""Request and response models of the identity API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator

from bizos.core.auth import ROLES, SCOPES

Role = Literal["owner", "admin", "member", "viewer"]
ScopeName = Literal[
    "crm:read",
    "crm:write",
    "support:read",
    "support:write",
    "commerce:read",
    "commerce:write",
    "billing:read",
    "billing:write",
    "kb:read",
    "kb:write",
    "ai:use",
    "automation:read",
    "automation:write",
    "admin",
]
# Spelled out for the OpenAPI enum; must stay the same set as core.auth's.
assert set(get_args(Role)) == set(ROLES)
assert set(get_args(ScopeName)) == set(SCOPES)

NewPassword = Annotated[str, Field(min_length=8, max_length=256)]


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    company_name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    password: NewPassword
    name: str = Field(min_length=1, max_length=200)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)
    tenant: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description=(
            "The workspace (tenant slug). Needed when the email belongs to more than one "
            "workspace; without it such a login fails like a wrong password."
        ),
    )


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=512)


class TenantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    slug: str
    name: str


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    name: str
    role: Role
    is_active: bool = True
    manager_id: str | None = None
    version: int = 1
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class SignupResponse(TokenPair):
    tenant: TenantRead
    user: UserRead


class LoginResponse(SignupResponse):
    pass


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: NewPassword
    manager_id: str | None = Field(default=None, max_length=36)


class UserUpdate(BaseModel):
    """A partial update: only the fields sent change; ``manager_id: null`` clears it."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    is_active: bool | None = None
    manager_id: str | None = Field(default=None, max_length=36)

    @field_validator("name", "role", "is_active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only runs for fields the caller sent: null is not a name, role or state.
        if value is None:
            raise ValueError("may not be null")
        return value


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[ScopeName] = Field(min_length=1, max_length=len(SCOPES))
    expires_at: AwareDatetime | None = None

    @field_validator("scopes")
    @classmethod
    def _distinct(cls, scopes: list[ScopeName]) -> list[ScopeName]:
        return list(dict.fromkeys(scopes))

    @field_validator("expires_at")
    @classmethod
    def _in_future(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value <= dt.datetime.now(dt.UTC):
            raise ValueError("must be in the future")
        return value


class ApiKeyRead(BaseModel):
    """An API key as listed: never the secret."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    prefix: str
    scopes: list[str]
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    created_by: str | None = None
    created_at: dt.datetime


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key. Shown only in this response.")


class MeResponse(BaseModel):
    """Who the bearer token speaks for: a user (``user``) or an API key (``api_key``)."""

    actor_type: Literal["user", "api_key"]
    user: UserRead | None
    api_key: ApiKeyRead | None = None
    tenant: TenantRead
    scopes: list[str]
    session_id: str | None = None
