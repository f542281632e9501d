"""The outbound message log: one row per message, whatever the channel."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity


class Message(Entity, Base):
    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_tenant_channel_recipient", "tenant_id", "channel", "recipient"),
        sa.Index("ix_messages_tenant_related", "tenant_id", "related_type", "related_id"),
        sa.Index("ix_messages_tenant_header_id", "tenant_id", "header_message_id"),
        # The delivery loop's scan: queued rows that are due.
        sa.Index("ix_messages_status_next_attempt", "status", "next_attempt_at"),
    )

    channel: Mapped[str] = mapped_column(sa.String(10))  # email | sms | voice
    recipient: Mapped[str] = mapped_column(sa.String(320))
    sender: Mapped[str | None] = mapped_column(sa.String(320))
    sender_name: Mapped[str | None] = mapped_column(sa.String(200))
    reply_to: Mapped[str | None] = mapped_column(sa.String(320))
    subject: Mapped[str | None] = mapped_column(sa.String(998))
    body: Mapped[str] = mapped_column(sa.Text)
    html: Mapped[str | None] = mapped_column(sa.Text)
    # queued | sent | sandboxed | failed
    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    provider: Mapped[str | None] = mapped_column(sa.String(40))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(255))
    # RFC 5322 threading for email: our Message-ID and the ones we answer.
    header_message_id: Mapped[str | None] = mapped_column(sa.String(255))
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(255))
    references: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    related_type: Mapped[str | None] = mapped_column(sa.String(40))
    related_id: Mapped[str | None] = mapped_column(sa.String(64))
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0)
    # When the delivery loop may next try it; while a delivery is under way this is
    # the end of its lease (a crashed attempt is picked up again after it).
    next_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    correlation_id: Mapped[str | None] = mapped_column(sa.String(64))
    queued_event_id: Mapped[str | None] = mapped_column(sa.String(36))
    # "platform": an account email, sent through the operator's platform mail and never
    # through the workspace's channel. Its ``body`` is the workspace's copy (saying so,
    # with any secret such as a verification link redacted); the body as sent is sealed
    # here until it has been sent, then cleared: the link lives in the mailbox only.
    route: Mapped[str | None] = mapped_column(sa.String(20))
    body_ciphertext: Mapped[str | None] = mapped_column(sa.Text)
