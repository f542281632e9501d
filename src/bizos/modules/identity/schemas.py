"""Request and response models of the identity API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    computed_field,
    field_validator,
)

from bizos.core.auth import SCOPES, Role, ScopeName
from bizos.core.fields import Moment, refuse_null
from bizos.modules.identity import clock

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
            "The workspace (tenant slug). Without it, the workspaces where this address is "
            "verified and the password matches are considered: one logs in, several "
            "answer 409 with the `workspaces` to choose from."
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
    email_verified_at: dt.datetime | None = Field(
        default=None,
        description="When the address was verified; null until the owner of a self-service "
        "workspace follows the emailed link (users made by an admin count as verified).",
    )
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


class WorkspaceChoice(BaseModel):
    """A workspace the login may enter: send its ``slug`` as ``tenant``."""

    slug: str
    name: str


class EmailVerified(BaseModel):
    user_id: str
    email: str
    email_verified_at: dt.datetime
    tenant: TenantRead


class VerificationSent(BaseModel):
    sent_to: str


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

    _not_null = field_validator("name", "role", "is_active")(refuse_null)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[ScopeName] = Field(min_length=1, max_length=len(SCOPES))
    expires_at: Moment | None = None

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


ApiKeyStatus = Literal["active", "disabled", "expired", "revoked"]
# Why a key was disabled: its owner was deactivated (see ApiKeyRead.owner_id).
ApiKeyDisabledReason = Literal["owner_deactivated"]


class ApiKeyRead(BaseModel):
    """An API key as listed: never the secret."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    prefix: str
    scopes: list[str] = Field(
        description="What the key may do, never more than its owner's current role grants: "
        "demoting the owner removes the scopes the new role lacks."
    )
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None = None
    disabled_at: dt.datetime | None = None
    disabled_reason: ApiKeyDisabledReason | None = None
    last_used_at: dt.datetime | None = None
    created_by: str | None = Field(
        default=None, description="Who minted the key: a user, or an API key."
    )
    owner_id: str | None = Field(
        default=None,
        description="The user the key acts for; null only for keys made by the system.",
    )
    created_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> ApiKeyStatus:
        """``revoked`` and ``expired`` are final; ``disabled`` (owner deactivated) lasts
        until the key is enabled again with ``POST /api-keys/{id}/enable``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= clock.now():
            return "expired"
        if self.disabled_at is not None:
            return "disabled"
        return "active"


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
