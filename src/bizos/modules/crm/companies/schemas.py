"""Shapes of the companies API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator

from bizos.modules.crm.schemas import (
    CountryCode,
    Name,
    ShortText,
    Tag,
    UserId,
    check_properties,
    unique_tags,
)


class CompanyFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    domain: Annotated[str, StringConstraints(strip_whitespace=True, max_length=253)] | None = None
    website: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    industry: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    employees: StrictInt | None = Field(default=None, ge=0, le=10_000_000)
    annual_revenue: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    country: CountryCode | None = None
    city: ShortText | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    owner_id: UserId | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    properties: dict[str, Any] | None = None

    _tags = field_validator("tags")(unique_tags)
    _props = field_validator("properties")(check_properties)


class CompanyCreate(CompanyFields):
    name: Name


class CompanyUpdate(CompanyFields):
    pass


class CompanyFilters(BaseModel):
    """Which companies a list shows: every filter given applies."""

    q: str | None = Field(default=None, max_length=200, description="Name or domain.")
    domain: str | None = Field(default=None, max_length=253)


class CompanyRead(BaseModel):
    id: str
    name: str
    domain: str | None
    website: str | None
    industry: str | None
    employees: int | None
    annual_revenue: Decimal | None
    country: str | None
    city: str | None
    description: str | None
    owner_id: str | None
    tags: list[str]
    properties: dict[str, Any]
    enrichment: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
