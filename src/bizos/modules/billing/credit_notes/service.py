"""Credit notes: what an invoice no longer asks for. The only writer of
``billing_credit_notes``.

Numbers are gapless per tenant (``CN-000001``) from ``core.sequences``, taken in the
transaction that issues the note. A note never exceeds the balance due; crediting the
whole balance settles the invoice. A refund issues its own note (``billing/refunds``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.money import ZERO, cents, text
from bizos.core.sequences import format_number, next_value
from bizos.core.versions import check_version
from bizos.modules.billing.invoices.amounts import balance_due, line_json, price_line
from bizos.modules.billing.invoices.schemas import CreditNoteRead, InvoiceLineInput
from bizos.modules.billing.invoices.service import (
    BILLED,
    after_money_moved,
    billing_event,
    credit_note_read,
    get_invoice,
    lock_invoice,
    positive_amount,
)
from bizos.modules.billing.models import CreditNote, Invoice

CREDIT_NOTE_SERIES = "credit_note"


async def list_credit_notes(
    session: AsyncSession, ctx: Context, invoice_id: str
) -> list[CreditNoteRead]:
    await get_invoice(session, ctx, invoice_id)
    rows = await session.scalars(
        sa.select(CreditNote)
        .where(CreditNote.tenant_id == ctx.require_tenant(), CreditNote.invoice_id == invoice_id)
        .order_by(CreditNote.id)
    )
    return [credit_note_read(r) for r in rows]


async def add_credit_note(
    session: AsyncSession,
    ctx: Context,
    invoice: Invoice,
    *,
    amount: Decimal,
    reason: str,
    lines: Sequence[InvoiceLineInput | Mapping[str, Any]] | None = None,
) -> CreditNote:
    """Number and store a credit note on the (locked) invoice, count it as credited and
    announce it; the caller checked the amount and settles the status."""
    value = await next_value(session, ctx.require_tenant(), CREDIT_NOTE_SERIES)
    note = CreditNote(
        tenant_id=ctx.require_tenant(),
        number=format_number("CN", value),
        invoice_id=invoice.id,
        amount=amount,
        currency=invoice.currency,
        reason=reason[:500],
        lines=[
            line_json(price_line(InvoiceLineInput.model_validate(line), index=i))
            for i, line in enumerate(lines or ())
        ],
        issued_at=utcnow(),
        actor_id=ctx.actor_id,
    )
    session.add(note)
    invoice.amount_credited = cents(Decimal(invoice.amount_credited) + amount)
    await session.flush()
    data = {
        **payload(note, "number", "invoice_id"),
        "invoice_number": invoice.number,
        "amount": text(amount),
        **payload(note, "currency", "reason"),
    }
    await billing_event(session, ctx, "billing.credit_note.issued", "credit_note", note, data)
    return note


async def issue_credit_note(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    amount: Decimal,
    reason: str,
    lines: Sequence[InvoiceLineInput | Mapping[str, Any]] | None = None,
    if_match: str | None = None,
) -> CreditNote:
    """Credit part or all of what is still due (``CN-000001``, gapless per tenant;
    ``billing.credit_note.issued``). It cannot exceed the balance due (422), and only an
    issued, not void invoice takes one (409). Crediting the whole balance settles it.
    (A refund issues its own credit note: ``refunds.service.refund_on_invoice``.)"""
    amount = positive_amount(amount)
    invoice = await lock_invoice(session, ctx, invoice_id)
    check_version(if_match, invoice.version)
    if invoice.status not in BILLED:
        raise Conflict(f"the invoice is {invoice.status}; only an issued invoice takes credit")
    due = balance_due(invoice)
    if amount > due:
        raise Unprocessable(
            f"a credit note cannot exceed the balance due ({text(max(due, ZERO))} "
            f"{invoice.currency})",
            errors=[field_error(["body", "amount"], "more than the balance due")],
        )
    previous = invoice.status
    note = await add_credit_note(session, ctx, invoice, amount=amount, reason=reason, lines=lines)
    await after_money_moved(session, ctx, invoice, previous, credit_note_id=note.id)
    return note
