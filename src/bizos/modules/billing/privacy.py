"""The personal data billing holds about a contact: its invoices (name, email, billing
address), the payments booked on them or made from its email, the refunds of those
payments and the credit notes on its invoices. Exported as the API shows them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import NotFound
from bizos.core.ports import PrivacyHooks
from bizos.modules.billing.invoices.service import credit_note_read, invoice_summary
from bizos.modules.billing.models import CreditNote, Invoice, Payment, Refund
from bizos.modules.billing.payments.service import payment_read, refund_read
from bizos.modules.crm.contacts import service as contacts_service


async def _contact_email(session: AsyncSession, ctx: Context, contact_id: str) -> str | None:
    try:
        contact = await contacts_service.read_contact(session, ctx, contact_id)
    except NotFound:
        return None
    return contact.email.strip().lower() if contact.email else None


async def export(
    session: AsyncSession, ctx: Context, contact_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The contact's invoices, payments, refunds and credit notes, oldest first."""
    tenant_id = ctx.require_tenant()
    email = await _contact_email(session, ctx, contact_id)
    invoices = list(
        await session.scalars(
            sa.select(Invoice)
            .where(Invoice.tenant_id == tenant_id, Invoice.contact_id == contact_id)
            .order_by(Invoice.id)
        )
    )
    invoice_ids = [i.id for i in invoices]
    payer: list[sa.ColumnElement[bool]] = [Payment.invoice_id.in_(invoice_ids)]
    if email is not None:
        payer.append(Payment.customer_email == email)
    payments = list(
        await session.scalars(
            sa.select(Payment)
            .where(Payment.tenant_id == tenant_id, sa.or_(*payer))
            .order_by(Payment.id)
        )
    )
    refunds = await session.scalars(
        sa.select(Refund)
        .where(Refund.tenant_id == tenant_id, Refund.payment_id.in_([p.id for p in payments]))
        .order_by(Refund.id)
    )
    notes = await session.scalars(
        sa.select(CreditNote)
        .where(CreditNote.tenant_id == tenant_id, CreditNote.invoice_id.in_(invoice_ids))
        .order_by(CreditNote.id)
    )
    numbers = {i.id: i.number for i in invoices}
    return {
        "invoices": [invoice_summary(i).model_dump(mode="json") for i in invoices],
        "payments": [
            payment_read(p, invoice_number=numbers.get(p.invoice_id or "")).model_dump(mode="json")
            for p in payments
        ],
        "refunds": [refund_read(r).model_dump(mode="json") for r in refunds],
        "credit_notes": [credit_note_read(n).model_dump(mode="json") for n in notes],
    }


HOOKS = PrivacyHooks(export=export)
