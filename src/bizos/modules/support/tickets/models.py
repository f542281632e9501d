"""Support tables: tickets, their messages (in and out) and attachments.

A ticket is numbered per tenant (``T-000042``, gapless). Messages thread by RFC 5322
``Message-ID``/``In-Reply-To``/``References``: every message id of a ticket is kept on
its message row, so a reply naming any of them joins the ticket.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped, utcnow
from bizos.core.ids import new_id

TICKET_STATUSES = ("new", "open", "pending", "resolved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
MESSAGE_DIRECTIONS = ("inbound", "outbound", "note")


class Ticket(Entity, Base):
    __tablename__ = "support_tickets"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.Index("ix_support_tickets_tenant_status", "tenant_id", "status", "created_at"),
        sa.Index("ix_support_tickets_tenant_contact", "tenant_id", "contact_id"),
        sa.Index("ix_support_tickets_tenant_breached", "tenant_id", "sla_breached"),
    )

    number: Mapped[str] = mapped_column(sa.String(30))  # T-000042
    subject: Mapped[str] = mapped_column(sa.String(998))
    status: Mapped[str] = mapped_column(sa.String(20), default="new")
    priority: Mapped[str] = mapped_column(sa.String(10), default="normal")
    channel: Mapped[str] = mapped_column(sa.String(20), default="email")  # email | api
    contact_id: Mapped[str | None] = mapped_column(sa.String(36))
    customer_email: Mapped[str | None] = mapped_column(sa.String(320))
    assignee_id: Mapped[str | None] = mapped_column(sa.String(36))
    sentiment: Mapped[str | None] = mapped_column(sa.String(10))  # negative neutral positive
    intent: Mapped[str | None] = mapped_column(sa.String(40))
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # SLA (support/sla): due times from the policy and business hours.
    sla_policy_id: Mapped[str | None] = mapped_column(sa.String(36))
    first_response_due_at: Mapped[dt.datetime | None]
    resolution_due_at: Mapped[dt.datetime | None]
    first_responded_at: Mapped[dt.datetime | None]
    sla_breached: Mapped[bool] = mapped_column(default=False)
    sla_breaches: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    last_inbound_at: Mapped[dt.datetime | None]
    last_outbound_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    reopened_count: Mapped[int] = mapped_column(default=0)


class TicketMessage(TenantScoped, Base):
    __tablename__ = "support_messages"
    __table_args__ = (
        sa.Index("ix_support_messages_tenant_ticket", "tenant_id", "ticket_id", "created_at"),
        sa.Index("ix_support_messages_tenant_header", "tenant_id", "header_message_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    ticket_id: Mapped[str] = mapped_column(sa.String(36))
    direction: Mapped[str] = mapped_column(sa.String(10))  # inbound | outbound | note
    from_address: Mapped[str | None] = mapped_column(sa.String(320))
    from_name: Mapped[str | None] = mapped_column(sa.String(300))
    to_addresses: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    cc_addresses: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    subject: Mapped[str | None] = mapped_column(sa.String(998))
    body: Mapped[str] = mapped_column(sa.Text)  # plain text (HTML-only mail converted)
    # The whole text when ``body`` is the new part of a reply with the quoted history cut
    # off; null when nothing was cut.
    full_body: Mapped[str | None] = mapped_column(sa.Text)
    html: Mapped[str | None] = mapped_column(sa.Text)
    header_message_id: Mapped[str | None] = mapped_column(sa.String(998))  # with brackets
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(998))
    references: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    sent_at: Mapped[dt.datetime | None]  # the Date header, if any
    sentiment: Mapped[str | None] = mapped_column(sa.String(10))
    sentiment_score: Mapped[float | None]
    intent: Mapped[str | None] = mapped_column(sa.String(40))
    # An automatic message (out-of-office, bounce): kept on its ticket, never reopens it.
    auto_reply: Mapped[bool] = mapped_column(default=False)
    is_ai_drafted: Mapped[bool] = mapped_column(default=False)
    draft_id: Mapped[str | None] = mapped_column(sa.String(36))
    author_id: Mapped[str | None] = mapped_column(sa.String(36))  # agent, for outbound
    outbound_message_id: Mapped[str | None] = mapped_column(sa.String(36))  # outreach row
    inbound_id: Mapped[str | None] = mapped_column(sa.String(36))  # webhooks_inbound row
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TicketAttachment(TenantScoped, Base):
    __tablename__ = "support_attachments"
    __table_args__ = (sa.Index("ix_support_attachments_tenant_message", "tenant_id", "message_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    ticket_id: Mapped[str] = mapped_column(sa.String(36))
    message_id: Mapped[str] = mapped_column(sa.String(36))
    filename: Mapped[str] = mapped_column(sa.String(300))
    content_type: Mapped[str] = mapped_column(sa.String(200))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
