"""What the copilot's CRM lookups take and answer: a deal, a contact or a company
found by what a person calls it, with the facts around it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bizos.modules.crm.deals.schemas import Stage

# How many of a record's deals and contacts an answer names (counts and values cover all).
DEALS_NAMED = 5
CONTACTS_NAMED = 5


class LookupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=200, description="A name, email or number.")
    limit: int = Field(default=5, ge=1, le=20, description="Matches to return at most.")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is blank")
        return value.strip()


class DealFound(BaseModel):
    id: str
    name: str
    stage: Stage
    amount: Decimal
    currency: str
    is_closed: bool
    close_date: dt.date | None
    owner_id: str | None
    owner_name: str | None
    contact_id: str | None
    contact_name: str | None
    company_id: str | None
    company_name: str | None
    score: float = Field(description="How well the deal matched the query, 0..1.")


class DealLookupValue(BaseModel):
    matches: list[DealFound] = Field(description="Best match first.")


class DealBrief(BaseModel):
    id: str
    name: str
    stage: Stage
    amount: Decimal
    currency: str


class Money(BaseModel):
    currency: str
    amount: Decimal


class ContactFound(BaseModel):
    id: str
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    company_id: str | None
    title: str | None
    lifecycle_stage: str
    owner_id: str | None
    owner_name: str | None
    do_not_contact: bool
    last_activity_at: dt.datetime | None
    open_deal_count: int
    open_deal_value: list[Money] = Field(description="Per currency.")
    open_deals: list[DealBrief] = Field(description=f"The largest, at most {DEALS_NAMED}.")
    score: float = Field(description="How well the contact matched the query, 0..1.")


class ContactLookupValue(BaseModel):
    matches: list[ContactFound] = Field(description="Best match first.")


class ContactBrief(BaseModel):
    id: str
    name: str | None
    email: str | None
    title: str | None


class CompanyFound(BaseModel):
    id: str
    name: str
    domain: str | None
    industry: str | None
    city: str | None
    country: str | None
    owner_id: str | None
    owner_name: str | None
    contact_count: int
    contacts: list[ContactBrief] = Field(description=f"Most recently active, {CONTACTS_NAMED}.")
    open_deal_count: int
    open_deal_value: list[Money] = Field(description="Per currency.")
    open_deals: list[DealBrief] = Field(description=f"The largest, at most {DEALS_NAMED}.")
    won_deal_count: int
    won_deal_value: list[Money] = Field(description="Per currency.")
    score: float = Field(description="How well the company matched the query, 0..1.")


class CompanyLookupValue(BaseModel):
    matches: list[CompanyFound] = Field(description="Best match first.")
