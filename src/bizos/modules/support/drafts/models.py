"""AI drafts of replies to tickets, with their sources and provenance."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity

DRAFT_STATUSES = ("pending", "sent", "discarded", "superseded", "failed")


class AiDraft(Entity, Base):
    __tablename__ = "support_ai_drafts"
    __table_args__ = (
        sa.Index("ix_support_ai_drafts_tenant_ticket", "tenant_id", "ticket_id", "created_at"),
        # One draft per inbound message: a re-run workflow step finds the one it made.
        sa.UniqueConstraint("tenant_id", "message_id"),
    )

    ticket_id: Mapped[str] = mapped_column(sa.String(36))
    message_id: Mapped[str] = mapped_column(sa.String(36))  # the inbound message answered
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    body: Mapped[str] = mapped_column(sa.Text)
    # [{document_id, chunk_id, title, text, kind, score}]
    sources: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    call_id: Mapped[str | None] = mapped_column(sa.String(36))  # ai_calls provenance row
    provider: Mapped[str] = mapped_column(sa.String(40))
    model: Mapped[str] = mapped_column(sa.String(200))
    template: Mapped[str | None] = mapped_column(sa.String(100))
    template_version: Mapped[str | None] = mapped_column(sa.String(20))
    confidence: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    reply_id: Mapped[str | None] = mapped_column(sa.String(36))  # the message sent from it
    edited: Mapped[bool | None]
    decided_by: Mapped[str | None] = mapped_column(sa.String(36))
    decided_at: Mapped[dt.datetime | None]
