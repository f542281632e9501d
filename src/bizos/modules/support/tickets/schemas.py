"""Support API shapes: tickets with their messages, the pending AI draft and the SLA."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

TicketStatus = Literal["new", "open", "pending", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Direction = Literal["inbound", "outbound", "note"]
Channel = Literal["email", "api"]
Id = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class TicketAttachmentRead(BaseModel):
    id: str
    message_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    url: str


class TicketMessageRead(BaseModel):
    """One message of a ticket (``TicketMessageRead`` in the OpenAPI document: outreach
    has a ``MessageRead`` of its own)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    direction: Direction
    from_: str | None = Field(alias="from")
    from_name: str | None
    to: list[str]
    cc: list[str]
    subject: str | None
    body: str
    # The whole text when ``body`` is a reply with its quoted history cut off.
    full_body: str | None
    header_message_id: str | None
    in_reply_to: str | None
    auto_reply: bool
    is_ai_drafted: bool
    draft_id: str | None
    author_id: str | None
    sentiment: str | None
    intent: str | None
    sent_at: dt.datetime | None
    created_at: dt.datetime
    attachments: list[TicketAttachmentRead]


# The names the support modules import (the OpenAPI names are the classes' own: crm,
# outreach and the drafts package have an AttachmentRead, MessageRead, DraftSource).
MessageRead = TicketMessageRead
AttachmentRead = TicketAttachmentRead


class TicketDraftSource(BaseModel):
    document_id: str | None = None
    chunk_id: str | None = None
    title: str | None = None
    text: str = ""
    kind: str | None = None
    score: float | None = None


DraftSource = TicketDraftSource


class AiDraftRead(BaseModel):
    id: str
    message_id: str
    body: str
    sources: list[TicketDraftSource]
    provider: str
    model: str
    confidence: float | None
    created_at: dt.datetime


class SlaRead(BaseModel):
    policy_id: str | None
    first_response_due_at: dt.datetime | None
    resolution_due_at: dt.datetime | None
    first_responded_at: dt.datetime | None
    breached: bool


class TicketRead(BaseModel):
    id: str
    number: str
    subject: str
    status: TicketStatus
    priority: Priority
    channel: Channel
    contact_id: str | None
    customer_email: str | None
    assignee_id: str | None
    tags: list[str]
    sentiment: str | None
    intent: str | None
    reopened_count: int
    last_inbound_at: dt.datetime | None
    last_outbound_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    messages: list[TicketMessageRead]
    ai_draft: AiDraftRead | None
    sla: SlaRead
    attachments: list[TicketAttachmentRead]


class TicketCreate(BaseModel):
    """A ticket entered by hand (a phone call, a chat): the customer by ``contact_id`` or
    ``email`` (found or created), and what they asked in ``body``."""

    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=998)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    contact_id: Id | None = None
    email: EmailStr | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None
    priority: Priority | None = None
    assignee_id: Id | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] = []


class TicketUpdate(BaseModel):
    """The fields sent change; omitted ones keep their value. ``assignee_id: null``
    unassigns."""

    model_config = ConfigDict(extra="forbid")

    status: TicketStatus | None = None
    priority: Priority | None = None
    assignee_id: Id | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None
