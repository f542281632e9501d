"""Shapes of the contacts, notes, attachments and timeline API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bizos.modules.crm.schemas import (
    CountryCode,
    IdFilter,
    Name,
    ShortText,
    Source,
    Tag,
    UserId,
    check_properties,
    unique_tags,
)

LifecycleStage = Literal["subscriber", "lead", "opportunity", "customer", "churned"]
# Order of progress: a merge keeps the furthest stage of the contacts it joins.
LIFECYCLE_ORDER: tuple[str, ...] = ("subscriber", "lead", "opportunity", "customer", "churned")
SubjectType = Literal["contact", "company", "lead", "deal"]

# --- contacts ------------------------------------------------------------------------


class ContactFilters(BaseModel):
    """Which contacts a list shows: every filter given applies."""

    q: str | None = Field(
        default=None, max_length=200, description="Searches name, email, phone and company."
    )
    company_id: IdFilter = None
    owner_id: IdFilter = None
    lifecycle_stage: LifecycleStage | None = None
    tag: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=320)


class ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    country: CountryCode | None = Field(
        default=None,
        description="ISO 3166 alpha-2; also the region a national phone number is read in.",
    )
    city: ShortText | None = None
    company: ShortText | None = Field(default=None, description="Company name, as given.")
    company_id: str | None = Field(default=None, max_length=36)
    title: ShortText | None = None
    lifecycle_stage: LifecycleStage | None = None
    owner_id: UserId | None = None
    source: Source | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    properties: dict[str, Any] | None = None
    do_not_contact: bool | None = None

    _tags = field_validator("tags")(unique_tags)
    _props = field_validator("properties")(check_properties)


class ContactCreate(ContactFields):
    """At least one of name, email or phone."""


class ContactUpdate(ContactFields):
    """Only the fields sent change; ``null`` clears a field."""


class ContactRead(BaseModel):
    id: str
    name: str | None
    email: str | None
    phone: str | None
    phone_e164: str | None
    company: str | None
    company_id: str | None
    title: str | None
    lifecycle_stage: str
    owner_id: str | None
    source: str | None
    country: str | None
    city: str | None
    tags: list[str]
    properties: dict[str, Any]
    do_not_contact: bool
    last_activity_at: dt.datetime | None
    last_contacted_at: dt.datetime | None
    last_replied_at: dt.datetime | None
    became_customer_at: dt.datetime | None
    merged_into_id: str | None = Field(
        description="Set on a contact merged into another; reads answer the survivor."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


DuplicateReason = Literal["email", "phone", "name_company"]


class DuplicatePair(BaseModel):
    """Two live contacts that look like one person, and why."""

    contact_ids: list[str] = Field(description="Oldest first: the suggested survivor leads.")
    reasons: list[DuplicateReason]
    contacts: list[ContactRead]


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=36)]] = Field(
        min_length=1, max_length=20
    )
    prefer: dict[str, str] = Field(
        default_factory=dict,
        description="field -> contact id whose value wins (default: the survivor's value, "
        "blank fields filled from the duplicates).",
    )


class MergeResult(BaseModel):
    contact: ContactRead
    merged_ids: list[str]


class ContactSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_region: CountryCode | None = Field(
        default=None, description="Region for phone numbers given without a country code."
    )


# --- notes and attachments -------------------------------------------------------------


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]


class NoteRead(BaseModel):
    id: str
    subject_type: str
    subject_id: str
    body: str
    author_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class AttachmentRead(BaseModel):
    id: str
    subject_type: str
    subject_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str | None
    created_at: dt.datetime
    content_url: str


# --- timeline ------------------------------------------------------------------------


class TimelineEntryRead(BaseModel):
    """One thing that happened with the contact. ``kind`` says what (``order``,
    ``order.shipped``, ``invoice``, ``payment``, ``refund``, ``ticket``,
    ``ticket.message.inbound``, ``message.email``, ``message.email.inbound``, ``deal``,
    ``lead``, ``note``, ``task``, or an event type); ``ref_type``/``ref_id`` name the
    record and ``link`` is its API path when it has one."""

    at: dt.datetime
    kind: str
    title: str
    summary: str | None
    ref_type: str
    ref_id: str
    data: dict[str, Any]
    link: str | None = None
