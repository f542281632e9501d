from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

Role = Literal["owner", "admin", "member", "viewer"]


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    company_name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: str = Field(min_length=1, max_length=200)


class TenantRead(BaseModel):
    id: str
    slug: str
    name: str


class UserRead(BaseModel):
    id: str
    email: str
    name: str
    role: Role
    is_active: bool = True
    version: int = 1
    created_at: dt.datetime | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class SignupResponse(TokenPair):
    tenant: TenantRead
    user: UserRead
