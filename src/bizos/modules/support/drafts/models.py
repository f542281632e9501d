"""AI drafts of replies to tickets, with their sources and provenance, and the vectors
of resolved tickets that later drafts look to for precedent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped, utcnow
from bizos.core.ids import new_id

DRAFT_STATUSES = ("pending", "sent", "discarded", "superseded", "failed")


class AiDraft(Entity, Base):
    __tablename__ = "support_ai_drafts"
    __table_args__ = (
        sa.Index("ix_support_ai_drafts_tenant_ticket", "tenant_id", "ticket_id", "created_at"),
        # One draft per inbound message and attempt (a regeneration is the next attempt):
        # a re-run workflow step finds the one it made.
        sa.UniqueConstraint("tenant_id", "message_id", "attempt"),
    )

    ticket_id: Mapped[str] = mapped_column(sa.String(36))
    message_id: Mapped[str] = mapped_column(sa.String(36))  # the inbound message answered
    attempt: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    body: Mapped[str] = mapped_column(sa.Text)
    # [{document_id, chunk_id, ticket_id, title, text, kind, score}]
    sources: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    call_id: Mapped[str | None] = mapped_column(sa.String(36))  # ai_calls provenance row
    provider: Mapped[str] = mapped_column(sa.String(40))
    model: Mapped[str] = mapped_column(sa.String(200))
    template: Mapped[str | None] = mapped_column(sa.String(100))
    template_version: Mapped[str | None] = mapped_column(sa.String(20))
    # gateway provenance: {provider, model, template, template_version, prompt_tokens,
    # completion_tokens, call_id}
    provenance: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    confidence: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    reply_id: Mapped[str | None] = mapped_column(sa.String(36))  # the message sent from it
    edited: Mapped[bool | None]
    decided_by: Mapped[str | None] = mapped_column(sa.String(36))
    decided_at: Mapped[dt.datetime | None]


class TicketVector(TenantScoped, Base):
    """The embedding of a resolved ticket (its question and our answer), by embedder."""

    __tablename__ = "support_ticket_vectors"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "ticket_id", "embedding_model"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    ticket_id: Mapped[str] = mapped_column(sa.String(36))
    embedding_model: Mapped[str] = mapped_column(sa.String(200))
    embedding: Mapped[bytes] = mapped_column(sa.LargeBinary)  # float32, L2-normalised
    text_sha256: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
