"""The contact timeline's view of billing: invoices when issued (and voided), the
payments booked on them, refunds and credit notes.

A payment, refund or credit note belongs to the contact of the invoice it is booked on;
a payment nobody has matched to an invoice yet is on no one's timeline. Registered on
the CRM's timeline port by billing's ``handlers.register``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.timeline import TimelineEntry
from bizos.modules.billing.models import CreditNote, Invoice, Payment, Refund

INVOICES = "/api/v1/billing/invoices"
PAYMENTS = "/api/v1/billing/payments"


def _invoice_data(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "order_id": invoice.order_id,
        "status": invoice.status,
        "total": str(invoice.total),
        "amount_paid": str(invoice.amount_paid),
        "currency": invoice.currency,
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
    }


async def _invoices(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    limit: int,
    before: dt.datetime | None,
) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for column, kind in ((Invoice.issued_at, "invoice"), (Invoice.voided_at, "invoice.voided")):
        query = sa.select(Invoice).where(
            Invoice.tenant_id == ctx.require_tenant(),
            Invoice.contact_id.in_(contact_ids),
            column.is_not(None),
        )
        if before is not None:
            query = query.where(column <= before)
        for invoice in await session.scalars(query.order_by(column.desc()).limit(limit)):
            at = invoice.issued_at if kind == "invoice" else invoice.voided_at
            assert at is not None
            due = f", due {invoice.due_date:%Y-%m-%d}" if invoice.due_date else ""
            entries.append(
                TimelineEntry(
                    at=at,
                    kind=kind,
                    title=f"Invoice {invoice.number} "
                    + ("issued" if kind == "invoice" else "voided"),
                    summary=(
                        f"{invoice.total} {invoice.currency}{due}; now {invoice.status}"
                        if kind == "invoice"
                        else invoice.void_reason
                    ),
                    ref_type="invoice",
                    ref_id=invoice.id,
                    data=_invoice_data(invoice),
                    link=f"{INVOICES}/{invoice.id}",
                )
            )
    return entries


async def _payments(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    limit: int,
    before: dt.datetime | None,
) -> list[TimelineEntry]:
    query = (
        sa.select(Payment, Invoice.number)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(
            Payment.tenant_id == ctx.require_tenant(),
            Invoice.tenant_id == ctx.require_tenant(),
            Invoice.contact_id.in_(contact_ids),
        )
    )
    if before is not None:
        query = query.where(Payment.received_at <= before)
    rows = await session.execute(query.order_by(Payment.received_at.desc()).limit(limit))
    return [
        TimelineEntry(
            at=payment.received_at,
            kind="payment",
            title=f"Payment received: {payment.amount} {payment.currency}",
            summary=f"for {number} via {payment.provider}; {payment.status.replace('_', ' ')}",
            ref_type="payment",
            ref_id=payment.id,
            data={
                "payment_id": payment.id,
                "invoice_id": payment.invoice_id,
                "invoice_number": number,
                "amount": str(payment.amount),
                "currency": payment.currency,
                "provider": payment.provider,
                "status": payment.status,
            },
            link=f"{PAYMENTS}/{payment.id}",
        )
        for payment, number in rows
    ]


async def _refunds(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    limit: int,
    before: dt.datetime | None,
) -> list[TimelineEntry]:
    tenant_id = ctx.require_tenant()
    query = (
        sa.select(Refund, Invoice.number)
        .join(Payment, Payment.id == Refund.payment_id)
        .join(Invoice, Invoice.id == sa.func.coalesce(Refund.invoice_id, Payment.invoice_id))
        .where(
            Refund.tenant_id == tenant_id,
            Payment.tenant_id == tenant_id,
            Invoice.tenant_id == tenant_id,
            Invoice.contact_id.in_(contact_ids),
        )
    )
    if before is not None:
        query = query.where(Refund.created_at <= before)
    rows = await session.execute(query.order_by(Refund.created_at.desc()).limit(limit))
    return [
        TimelineEntry(
            at=refund.created_at,
            kind="refund",
            title=f"Refund: {refund.amount} {refund.currency}",
            summary=f"on {number}" + (f": {refund.reason}" if refund.reason else ""),
            ref_type="refund",
            ref_id=refund.id,
            data={
                "refund_id": refund.id,
                "payment_id": refund.payment_id,
                "invoice_number": number,
                "amount": str(refund.amount),
                "currency": refund.currency,
            },
            link=f"{PAYMENTS}/{refund.payment_id}",
        )
        for refund, number in rows
    ]


async def _credit_notes(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    limit: int,
    before: dt.datetime | None,
) -> list[TimelineEntry]:
    query = (
        sa.select(CreditNote, Invoice.number)
        .join(Invoice, Invoice.id == CreditNote.invoice_id)
        .where(
            CreditNote.tenant_id == ctx.require_tenant(),
            Invoice.tenant_id == ctx.require_tenant(),
            Invoice.contact_id.in_(contact_ids),
        )
    )
    if before is not None:
        query = query.where(CreditNote.issued_at <= before)
    rows = await session.execute(query.order_by(CreditNote.issued_at.desc()).limit(limit))
    return [
        TimelineEntry(
            at=note.issued_at,
            kind="credit_note",
            title=f"Credit note {note.number}: {note.amount} {note.currency}",
            summary=f"on {number}: {note.reason}",
            ref_type="credit_note",
            ref_id=note.id,
            data={
                "credit_note_id": note.id,
                "invoice_id": note.invoice_id,
                "invoice_number": number,
                "amount": str(note.amount),
                "currency": note.currency,
            },
            link=f"{INVOICES}/{note.invoice_id}",
        )
        for note, number in rows
    ]


async def billing_source(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    email: str | None,
    limit: int,
    *,
    before: dt.datetime | None = None,
) -> list[TimelineEntry]:
    entries = [
        *await _invoices(session, ctx, contact_ids, limit, before),
        *await _payments(session, ctx, contact_ids, limit, before),
        *await _refunds(session, ctx, contact_ids, limit, before),
        *await _credit_notes(session, ctx, contact_ids, limit, before),
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
