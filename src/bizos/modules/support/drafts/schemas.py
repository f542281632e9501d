"""Request and response bodies of drafts and replies."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DraftStatus = Literal["pending", "sent", "discarded", "superseded", "failed"]

REPLY_MAX_CHARS = 100_000


class DraftSource(BaseModel):
    """A passage the draft rests on: a KB chunk (``document_id``) or a resolved ticket
    (``ticket_id``)."""

    kind: str
    title: str
    text: str
    document_id: str | None = None
    chunk_id: str | None = None
    ticket_id: str | None = None
    score: float | None = None


class DraftRead(BaseModel):
    id: str
    ticket_id: str
    message_id: str = Field(description="The inbound ticket message this draft answers.")
    attempt: int
    status: DraftStatus
    body: str
    sources: list[DraftSource]
    provider: str
    model: str
    template: str | None
    template_version: str | None
    call_id: str | None = Field(description="The AI call behind it: GET /api/v1/ai/calls/{id}")
    provenance: dict[str, Any]
    error: str | None
    edited: bool | None = Field(description="Sent with the agent's edits (null until sent).")
    reply_id: str | None = Field(description="The ticket message sent from this draft.")
    decided_by: str | None
    decided_at: dt.datetime | None
    created_at: dt.datetime


class DraftList(BaseModel):
    items: list[DraftRead]


class DraftRequested(BaseModel):
    """A draft that is still being written: it appears on the ticket when done."""

    ticket_id: str
    message_id: str
    attempt: int
    status: Literal["drafting"] = "drafting"
    workflow_id: str


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=REPLY_MAX_CHARS)
    draft_id: str | None = Field(
        default=None,
        max_length=36,
        description="The AI draft this reply approves (with or without edits).",
    )

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the reply is empty")
        return value


class ReplyRead(BaseModel):
    id: str = Field(description="The ticket message id of the reply.")
    ticket_id: str
    is_ai_drafted: bool
    message_id: str = Field(description="The email's RFC 5322 Message-ID.")
    draft_id: str | None
    edited: bool | None
    to: str
    subject: str
    in_reply_to: str | None
    outbound_message_id: str = Field(description="The outbound email: GET /api/v1/messages")
    created_at: dt.datetime
