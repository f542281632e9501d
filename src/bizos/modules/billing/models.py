"""Billing tables: invoices (numbered gaplessly per tenant when issued), payments,
refunds and credit notes.

An invoice's balance due is ``total - amount_paid + amount_refunded - amount_credited``.
Line items are kept on the invoice as JSON (they are a snapshot of what was billed, not
references that could change later).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Entity, TenantScoped, unique_where, utcnow
from bizos.core.ids import new_id

Money = sa.Numeric(14, 2)

INVOICE_STATUSES = ("draft", "open", "paid", "partially_paid", "void", "discrepancy")
PAYMENT_STATUSES = ("matched", "unmatched", "discrepancy", "refunded", "partially_refunded")


class Invoice(Entity, Base):
    __tablename__ = "billing_invoices"
    __table_args__ = (
        unique_where(
            "uq_billing_invoices_tenant_number", "tenant_id", "number", where="number IS NOT NULL"
        ),
        sa.Index("ix_billing_invoices_tenant_order", "tenant_id", "order_id"),
        # One live (not void) invoice per order: a second, racing issue fails and its
        # workflow step retries into the existing one.
        unique_where(
            "uq_billing_invoices_tenant_order_live",
            "tenant_id",
            "order_id",
            where="order_id IS NOT NULL AND status != 'void'",
        ),
        sa.Index("ix_billing_invoices_tenant_contact", "tenant_id", "contact_id"),
        sa.Index("ix_billing_invoices_tenant_status_due", "tenant_id", "status", "due_date"),
        sa.Index("ix_billing_invoices_tenant_email", "tenant_id", "customer_email"),
    )

    number: Mapped[str | None] = mapped_column(sa.String(30))  # INV-000123; None as draft
    order_id: Mapped[str | None] = mapped_column(sa.String(36))
    contact_id: Mapped[str | None] = mapped_column(sa.String(36))
    customer_email: Mapped[str | None] = mapped_column(sa.String(320))  # lower-case
    customer_name: Mapped[str | None] = mapped_column(sa.String(200))
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(20), default="draft")
    currency: Mapped[str] = mapped_column(sa.String(3))
    subtotal: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    discount_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    tax_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    shipping_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    amount_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    amount_refunded: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    amount_credited: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    # [{description, sku, quantity, unit_price, discount, tax_rate, tax_amount, amount}]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    issued_at: Mapped[dt.datetime | None]
    due_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    paid_at: Mapped[dt.datetime | None]
    voided_at: Mapped[dt.datetime | None]
    void_reason: Mapped[str | None] = mapped_column(sa.String(500))
    discrepancy_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Dunning: how many overdue reminders went out, and when the last one did.
    reminders_sent: Mapped[int] = mapped_column(default=0)
    last_reminder_at: Mapped[dt.datetime | None]
    notes: Mapped[str | None] = mapped_column(sa.Text)


class Payment(Entity, Base):
    __tablename__ = "billing_payments"
    __table_args__ = (
        # One payment per outside id: Stripe's payment_intent.succeeded and
        # charge.succeeded for one payment record it once.
        unique_where(
            "uq_billing_payments_tenant_provider_external",
            "tenant_id",
            "provider",
            "external_id",
            where="external_id IS NOT NULL",
        ),
        sa.Index("ix_billing_payments_tenant_invoice", "tenant_id", "invoice_id"),
        sa.Index("ix_billing_payments_tenant_status", "tenant_id", "status"),
    )

    invoice_id: Mapped[str | None] = mapped_column(sa.String(36))
    provider: Mapped[str] = mapped_column(sa.String(20))  # stripe | manual
    external_id: Mapped[str | None] = mapped_column(sa.String(100))  # pi_... or ch_...
    charge_id: Mapped[str | None] = mapped_column(sa.String(100))  # for refunds
    source_event_id: Mapped[str | None] = mapped_column(sa.String(100))  # evt_...
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    amount_refunded: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    customer_email: Mapped[str | None] = mapped_column(sa.String(320))
    customer_name: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(20))  # PAYMENT_STATUSES
    # How it found its invoice: metadata | email_amount | manual | None (unmatched)
    match_method: Mapped[str | None] = mapped_column(sa.String(20))
    match_detail: Mapped[str | None] = mapped_column(sa.Text)
    # Whether the amount was booked on the invoice (``amount_paid``): refunds of a
    # payment that was never booked (currency mismatch, void invoice) leave it alone.
    applied: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON, default=dict)


class Refund(TenantScoped, Base):
    __tablename__ = "billing_refunds"
    __table_args__ = (
        unique_where(
            "uq_billing_refunds_tenant_external",
            "tenant_id",
            "external_id",
            where="external_id IS NOT NULL",
        ),
        sa.Index("ix_billing_refunds_tenant_payment", "tenant_id", "payment_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    payment_id: Mapped[str] = mapped_column(sa.String(36))
    invoice_id: Mapped[str | None] = mapped_column(sa.String(36))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    external_id: Mapped[str | None] = mapped_column(sa.String(100))  # re_...
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    actor_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CreditNote(Entity, Base):
    __tablename__ = "billing_credit_notes"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.Index("ix_billing_credit_notes_tenant_invoice", "tenant_id", "invoice_id"),
    )

    number: Mapped[str] = mapped_column(sa.String(30))  # CN-000012, gapless per tenant
    invoice_id: Mapped[str] = mapped_column(sa.String(36))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str] = mapped_column(sa.String(500))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(sa.String(36))
