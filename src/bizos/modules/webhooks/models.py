"""Outbound webhook tables: endpoints, the per-endpoint delivery queue, and each attempt."""

from __future__ import annotations

import datetime as dt
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped, utcnow
from bizos.core.ids import new_id

# Delivery states: pending (never tried) and retrying are "open" and hold back later
# deliveries to the same endpoint; succeeded, dead and cancelled are final.
PENDING, RETRYING, SUCCEEDED, DEAD, CANCELLED = (
    "pending",
    "retrying",
    "succeeded",
    "dead",
    "cancelled",
)
OPEN_STATUSES = (PENDING, RETRYING)


class WebhookEndpoint(Entity, Base):
    """A URL a tenant asked us to POST matching events to.

    The signing secret is sealed with ``core.crypto`` (AES-GCM envelope) and bound to the
    tenant and endpoint id; it is shown in plain text only in the create response.
    Deleting an endpoint keeps the row (``deleted_at``) so its delivery log stays auditable.
    """

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(sa.String(2048))
    events: Mapped[list[str]] = mapped_column(sa.JSON)
    description: Mapped[str | None] = mapped_column(sa.String(500))
    secret_sealed: Mapped[str] = mapped_column(sa.Text)
    deleted_at: Mapped[dt.datetime | None] = mapped_column()


class WebhookDelivery(TenantScoped, Base):
    """One event to deliver to one endpoint; sent in ``event_sequence`` order per endpoint."""

    __tablename__ = "webhook_deliveries"
    __audit__ = False  # high-rate bookkeeping; the attempts table is its own log
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id"),
        sa.Index("ix_webhook_deliveries_queue", "endpoint_id", "status", "event_sequence"),
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    endpoint_id: Mapped[str] = mapped_column(sa.String(36))
    event_id: Mapped[str] = mapped_column(sa.String(36))
    event_type: Mapped[str] = mapped_column(sa.String(120))
    event_sequence: Mapped[int] = mapped_column(sa.BigInteger)
    # The exact body sent, fixed at enqueue time so every retry signs the same bytes.
    payload: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    last_response_status: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookDeliveryAttempt(TenantScoped, Base):
    """One HTTP attempt at a delivery: what the delivery log shows."""

    __tablename__ = "webhook_delivery_attempts"
    __audit__ = False  # high-rate bookkeeping; the attempts table is its own log
    __table_args__ = (sa.Index("ix_webhook_delivery_attempts_endpoint", "endpoint_id", "id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    delivery_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    endpoint_id: Mapped[str] = mapped_column(sa.String(36))
    event_id: Mapped[str] = mapped_column(sa.String(36))
    event_type: Mapped[str] = mapped_column(sa.String(120))
    attempt: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16))  # succeeded | failed
    response_status: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


ENDPOINTS = cast(sa.Table, WebhookEndpoint.__table__)
DELIVERIES = cast(sa.Table, WebhookDelivery.__table__)
ATTEMPTS = cast(sa.Table, WebhookDeliveryAttempt.__table__)


class InboundWebhook(TenantScoped, Base):
    """A webhook an outside system sent us (Shopify, Stripe), stored as it arrived.

    The raw body is kept byte for byte before we answer, so nothing is lost if
    processing fails; ``(provider, external_id)`` is the sender's delivery or event id,
    which makes a repeated delivery a no-op.
    """

    __tablename__ = "webhooks_inbound"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "provider", "external_id"),
        sa.Index("ix_webhooks_inbound_tenant_status", "tenant_id", "status", "received_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(sa.String(20))  # shopify | stripe
    external_id: Mapped[str] = mapped_column(sa.String(200))
    topic: Mapped[str] = mapped_column(sa.String(100))  # orders/create, charge.succeeded
    headers: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)  # no secrets
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # received -> processed | ignored (a topic we do not act on) | failed (see error)
    # | flagged (signed but self-contradicting: kept, not acted on; see error)
    status: Mapped[str] = mapped_column(sa.String(20), default="received")
    error: Mapped[str | None] = mapped_column(sa.Text)
    duplicates: Mapped[int] = mapped_column(default=0)  # repeats we answered without work
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]
