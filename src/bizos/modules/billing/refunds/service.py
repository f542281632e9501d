"""Refunds: money given back on a payment. The only writer of ``billing_refunds``.

A refund gives money back, it does not reopen the debt: on the invoice the payment was
booked on it is matched by a credit note for the refunded amount (less any overpayment
it gives back), so a paid invoice stays paid and receivables do not grow
(:func:`apply_refund`). A refund recorded under an outside id (Stripe's ``re_...``) is
recorded once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.ids import new_id
from bizos.core.money import ZERO, cents, text
from bizos.modules.billing.credit_notes.service import add_credit_note
from bizos.modules.billing.invoices.amounts import balance_due, net_paid
from bizos.modules.billing.invoices.service import (
    after_money_moved,
    lock_invoice,
    payment_event,
    positive_amount,
)
from bizos.modules.billing.models import Invoice, Payment, Refund
from bizos.modules.billing.payments.service import find_payment, get_payment


async def _refunded_payment(
    session: AsyncSession,
    ctx: Context,
    payment_id: str | None,
    payment_external_id: str | None,
    provider: str,
) -> Payment:
    """The payment a refund is for, row-locked when named by our id."""
    if payment_id is not None:
        return await get_payment(session, ctx, payment_id, for_update=True)
    if payment_external_id is None:
        raise ValueError("record_refund needs payment_id or payment_external_id")
    found = await find_payment(session, ctx, provider=provider, external_id=payment_external_id)
    if found is None:
        raise NotFound("no payment for that outside id")
    return found


async def _announce(session: AsyncSession, ctx: Context, payment: Payment, refund: Refund) -> None:
    await payment_event(
        session,
        ctx,
        "billing.payment.refunded",
        payment,
        version=payment.version,
        refund_id=refund.id,
        **payload(refund, "invoice_id", "amount"),
        **payload(payment, "currency", "amount_refunded", "status"),
        external_id=refund.external_id,
    )


async def record_refund(
    session: AsyncSession,
    ctx: Context,
    *,
    amount: Decimal | None,
    payment_id: str | None = None,
    payment_external_id: str | None = None,
    provider: str = "stripe",
    external_id: str | None = None,
    reason: str | None = None,
) -> tuple[Refund, bool]:
    """Record money given back on a payment (``amount`` None: all that is left) and
    take it off its invoice when the payment was booked there, where a credit note
    ``Refund <external_id>`` matches it (beyond what was overpaid) so the invoice's
    balance stays. A refund already recorded under ``external_id`` is returned as is
    (``False``). 422 when it exceeds what is left to refund."""
    payment = await _refunded_payment(session, ctx, payment_id, payment_external_id, provider)
    if external_id is not None:
        existing = await session.scalar(
            sa.select(Refund).where(
                Refund.tenant_id == ctx.require_tenant(), Refund.external_id == external_id
            )
        )
        if existing is not None:
            return existing, False
    left = cents(payment.amount) - cents(payment.amount_refunded)
    value = left if amount is None else cents(amount)
    if value <= 0 or value > left:
        raise Unprocessable(
            f"the refund must be more than 0 and at most {left} {payment.currency}",
            errors=[field_error(["body", "amount"], f"at most {left}")],
        )
    refund = Refund(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        payment_id=payment.id,
        invoice_id=payment.invoice_id if payment.applied else None,
        amount=value,
        currency=payment.currency,
        external_id=external_id,
        reason=reason,
        actor_id=ctx.actor_id,
        created_at=utcnow(),
    )
    session.add(refund)
    payment.amount_refunded = cents(payment.amount_refunded) + value
    fully = payment.amount_refunded >= cents(payment.amount)
    if fully:
        payment.status = "refunded"
    elif payment.status in ("matched", "partially_refunded"):
        payment.status = "partially_refunded"
    payment.version += 1
    await session.flush()
    if payment.applied and payment.invoice_id:
        await apply_refund(
            session,
            ctx,
            payment.invoice_id,
            amount=value,
            payment_id=payment.id,
            refund_ref=external_id or refund.id,
        )
    await _announce(session, ctx, payment, refund)
    return refund, True


async def apply_refund(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    amount: Decimal,
    payment_id: str | None = None,
    refund_ref: str | None = None,
) -> Invoice:
    """Give back ``amount`` of what was paid, matched by a credit note so the customer
    owes no more than before: the balance stays, a paid invoice stays paid.

    What the customer overpaid (a negative balance) is given back first and needs no
    credit note: the refund alone brings that balance back towards zero. Only the part
    beyond the overpayment was money for the invoice, and a credit note for that part
    (reason ``Refund <refund_ref>``, ``billing.credit_note.issued``) is issued in the
    same transaction. More than was paid and not yet refunded → 422."""
    amount = positive_amount(amount)
    invoice = await lock_invoice(session, ctx, invoice_id)
    if amount > net_paid(invoice):
        raise Unprocessable(
            f"only {text(net_paid(invoice))} {invoice.currency} was paid and not refunded",
            errors=[field_error(["body", "amount"], "more than was paid")],
        )
    previous = invoice.status
    overpaid = max(-balance_due(invoice), ZERO)
    invoice.amount_refunded = cents(Decimal(invoice.amount_refunded) + amount)
    credit = amount - min(amount, overpaid)
    extra: dict[str, Any] = {"payment_id": payment_id, "refund_amount": text(amount)}
    if credit > 0:
        # The refund has raised the balance by ``amount``; ``credit`` takes back at most
        # that rise, so the note never exceeds the balance due (nor the invoice total).
        reason = f"Refund {refund_ref}" if refund_ref else "Refund"
        note = await add_credit_note(session, ctx, invoice, amount=credit, reason=reason)
        extra["credit_note_id"] = note.id
    await after_money_moved(session, ctx, invoice, previous, **extra)
    return invoice
