"""Leads at the edges: what callers send and what they get back."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bizos.core.fields import Day
from bizos.modules.crm.deals.schemas import DealRead, Stage
from bizos.modules.crm.normalize import InvalidEmail, normalize_email, normalize_source
from bizos.modules.crm.schemas import IdFilter

LeadStatus = Literal["new", "working", "qualified", "disqualified", "converted"]
EnrichmentStatus = Literal["pending", "enriched", "not_found", "skipped", "failed"]
_PHONE_CHARS = re.compile(r"^[0-9+().\-\s/x]{4,40}$")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]


class LeadFilters(BaseModel):
    """Which leads a list shows: every filter given applies; ``q`` searches them."""

    q: str | None = Field(
        default=None,
        max_length=200,
        description="Searches name, email, company and phone; every word must match.",
    )
    status: LeadStatus | None = None
    owner_id: IdFilter = None
    source: str | None = Field(default=None, max_length=40)
    contact_id: IdFilter = None

    @field_validator("source")
    @classmethod
    def _source_key(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None


def check_email(value: str) -> str:
    try:
        normalize_email(value)
    except InvalidEmail as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc
    return value.strip()


def check_phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _PHONE_CHARS.match(text) or sum(c.isdigit() for c in text) < 4:
        raise ValueError("not a phone number")
    return text


class LeadFields(BaseModel):
    """The fields every capture channel (API, web form, import) takes."""

    email: str = Field(max_length=320, examples=["ada@contoso.com"])
    name: Name | None = None
    phone: str | None = Field(default=None, max_length=40)
    company: Name | None = None
    message: Text | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return check_phone(value)


class LeadCreate(LeadFields):
    model_config = ConfigDict(extra="forbid")
    source: str | None = Field(
        default=None,
        max_length=40,
        description="Where the lead came from (`api` if omitted); lower-cased, spaces to `_`.",
    )
    properties: dict[str, Any] = Field(default_factory=dict, max_length=50)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None else normalize_source(value)


class WebFormLead(LeadFields):
    """A public form post. Fields beyond these are kept in ``properties`` (UTM tags...)."""

    model_config = ConfigDict(extra="ignore")
    source: str | None = Field(default=None, max_length=40)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else normalize_source(value)


class LeadUpdate(BaseModel):
    """A partial update. ``status`` moves the lead along its lifecycle; ``reason`` says
    why (required for ``disqualified``)."""

    model_config = ConfigDict(extra="forbid")
    status: LeadStatus | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    name: Name | None = None
    phone: str | None = Field(default=None, max_length=40)
    company: Name | None = None
    message: Text | None = None
    owner_id: str | None = Field(default=None, max_length=36)
    properties: dict[str, Any] | None = Field(default=None, max_length=50)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return check_phone(value)


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class LeadConvert(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deal_name: Name | None = Field(default=None, description="Defaults to the company or name.")
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: Currency
    close_date: Day | None = None
    stage: Stage | None = Field(default=None, description="The deal's first stage.")


class LeadRead(BaseModel):
    id: str
    contact_id: str
    company_id: str | None
    email: str
    name: str | None
    phone: str | None
    company: str | None
    source: str
    message: str | None
    properties: dict[str, Any]
    status: LeadStatus
    status_reason: str | None
    status_changed_at: dt.datetime | None
    score: int | None
    score_factors: list[dict[str, Any]]
    score_model: str | None
    scored_at: dt.datetime | None
    owner_id: str | None
    assigned_at: dt.datetime | None
    assignment_reason: str | None
    enrichment: dict[str, Any] | None
    enrichment_status: EnrichmentStatus
    first_outreach_message_id: str | None
    deal_id: str | None
    converted_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class LeadConverted(BaseModel):
    lead: LeadRead
    deal: DealRead


class FormAccepted(BaseModel):
    accepted: bool = True


class LeadFlowSettings(BaseModel):
    """The first outreach email the lead flow sends from the lead's owner."""

    enabled: bool
    subject: str
    body: str
    placeholders: list[str] = Field(description="What `{{name}}` placeholders may name.")


class LeadFlowUpdate(BaseModel):
    """Given fields change; ``null`` for subject or body restores the default text."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    subject: (
        Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"^[^\r\n]*$")]
        | None
    ) = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = None


# --- the public web form's settings -----------------------------------------------------

_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
MAX_FORM_ORIGINS = 20


def normalize_origin(value: str) -> str:
    """``https://Shop.example/`` → ``https://shop.example``: what a browser sends as
    ``Origin`` (scheme, host and a non-default port; no path)."""
    origin = value.strip().lower().rstrip("/")
    for scheme, port in (("https://", ":443"), ("http://", ":80")):
        if origin.startswith(scheme) and origin.endswith(port):
            origin = origin.removesuffix(port)
    if not _ORIGIN.match(origin):
        raise ValueError(
            f"{value!r} is not an origin: write the scheme and host, and a port only if "
            "it is not the default, e.g. https://shop.example"
        )
    return origin


class WebFormSettings(BaseModel):
    """Where the public lead form (``POST /forms/{tenant_slug}/leads``) may be posted
    from by a script, and where a plain HTML form post sends the visitor afterwards."""

    allowed_origins: list[str] = Field(
        description="Sites whose pages may post the form with JavaScript (CORS), e.g. "
        "`https://shop.example`."
    )
    thank_you_url: str | None = Field(
        description="Where a plain HTML form post is redirected (303) once accepted; "
        "without one, a short thank-you page is shown."
    )


class WebFormUpdate(BaseModel):
    """Given fields replace the stored ones; ``thank_you_url: null`` removes it."""

    model_config = ConfigDict(extra="forbid")
    allowed_origins: Annotated[list[str], Field(max_length=MAX_FORM_ORIGINS)] | None = None
    thank_you_url: (
        Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^https?://\S+$")]
        | None
    ) = None

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return sorted({normalize_origin(origin) for origin in value})


# --- replies to the CRM's email (filed by leads.service.file_reply) ----------------------


@dataclass(frozen=True, slots=True)
class InboundReply:
    """A received email as the CRM needs it."""

    sender: str  # the address
    sender_name: str | None
    subject: str
    text: str  # the new part, quoted history cut off
    message_id: str | None  # its own Message-ID
    received_at: dt.datetime
    inbound_id: str | None  # the stored raw message


@dataclass(frozen=True, slots=True)
class FiledReply:
    contact_id: str
    lead_id: str | None
    answered_id: str  # the outbound message it answers
    ignored: str | None = None  # why nothing was written (our own side of the thread)


LeadGrouping = Literal["source", "status", "day", "week", "month"]


class LeadGroupCount(BaseModel):
    key: str = Field(description="The source, the status, or the first day (UTC) of the period.")
    count: int


class LeadCounts(BaseModel):
    total: int
    groups: list[LeadGroupCount] = Field(
        description="Most leads first for source and status; in time order for periods."
    )
    lead_ids: list[str] = Field(description="The leads counted, oldest first (capped).")
