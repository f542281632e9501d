"""Payments: recording money received and booking it on its invoice. The only writer
of ``billing_payments``.

Which invoice a payment pays, and what happens when it does not fit, is
``billing/reconciliation``; money given back is ``billing/refunds``.

A payment is recorded once per ``(provider, external_id)``: a repeated webhook or a
PaymentIntent and its Charge reporting the same money are no-ops.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.ids import new_id
from bizos.core.money import cents
from bizos.core.pagination import ListOrder, PageParams, where_given
from bizos.core.reads import one_or_404, read_of
from bizos.core.versions import check_version
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.invoices.amounts import PAYMENT_MONEY, cents_of
from bizos.modules.billing.models import Invoice, Payment, Refund
from bizos.modules.billing.payments.schemas import (
    ManualPaymentCreate,
    PaymentFilters,
    PaymentRead,
    RefundRead,
)
from bizos.modules.billing.reconciliation.service import (
    Target,
    find_target,
    leave_unmatched,
    settle,
)

log = structlog.get_logger("bizos.billing.payments")


@dataclass(frozen=True, slots=True)
class Recorded:
    payment: Payment
    created: bool  # False: the same outside payment was recorded before


# --- reads ------------------------------------------------------------------------------


def refund_read(row: Refund) -> RefundRead:
    return RefundRead.model_validate(row)


def payment_read(
    row: Payment, *, refunds: Sequence[Refund] = (), invoice_number: str | None = None
) -> PaymentRead:
    return read_of(
        PaymentRead,
        row,
        **cents_of(row, PAYMENT_MONEY),
        invoice_number=invoice_number,
        metadata=dict(row.metadata_ or {}),
        refunds=[refund_read(r) for r in refunds],
    )


async def get_payment(
    session: AsyncSession, ctx: Context, payment_id: str, *, for_update: bool = False
) -> Payment:
    query = sa.select(Payment).where(
        Payment.tenant_id == ctx.require_tenant(), Payment.id == payment_id
    )
    return await one_or_404(session, query.with_for_update() if for_update else query, "payment")


async def payment_detail(session: AsyncSession, ctx: Context, payment: Payment) -> PaymentRead:
    """The payment with its refunds and its invoice's number."""
    refunds = await session.scalars(
        sa.select(Refund)
        .where(Refund.tenant_id == ctx.require_tenant(), Refund.payment_id == payment.id)
        .order_by(Refund.created_at, Refund.id)
    )
    numbers = await _invoice_numbers(session, ctx, [payment])
    return payment_read(
        payment, refunds=list(refunds), invoice_number=numbers.get(payment.invoice_id or "")
    )


PAYMENT_ORDER = ListOrder(
    "payments", Payment.id, [Payment.created_at, Payment.received_at, Payment.amount]
)


async def list_payments(
    session: AsyncSession, ctx: Context, *, page: PageParams, filters: PaymentFilters
) -> tuple[list[PaymentRead], str | None]:
    """The tenant's payments in ``page``'s order (newest first by default), filtered."""
    query = where_given(
        sa.select(Payment).where(Payment.tenant_id == ctx.require_tenant()),
        (Payment.status, filters.status),
        (Payment.invoice_id, filters.invoice_id),
        (Payment.provider, filters.provider),
    )
    rows = list(await session.scalars(PAYMENT_ORDER.apply(query, page)))
    items, cursor = PAYMENT_ORDER.take_page(rows, page)
    numbers = await _invoice_numbers(session, ctx, items)
    return [payment_read(r, invoice_number=numbers.get(r.invoice_id or "")) for r in items], cursor


async def _invoice_numbers(
    session: AsyncSession, ctx: Context, payments: Sequence[Payment]
) -> dict[str, str]:
    ids = {p.invoice_id for p in payments if p.invoice_id}
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(Invoice.id, Invoice.number).where(
            Invoice.tenant_id == ctx.require_tenant(), Invoice.id.in_(ids)
        )
    )
    return {invoice_id: number for invoice_id, number in rows if number}


async def find_payment(
    session: AsyncSession, ctx: Context, *, provider: str, external_id: str
) -> Payment | None:
    """The payment recorded for an outside id: the payment's own id (``pi_...``) or, for
    Stripe, the charge behind it (``ch_...``)."""
    return await session.scalar(
        sa.select(Payment)
        .where(
            Payment.tenant_id == ctx.require_tenant(),
            Payment.provider == provider,
            sa.or_(Payment.external_id == external_id, Payment.charge_id == external_id),
        )
        .order_by(Payment.id)
        .limit(1)
    )


# --- recording a payment ------------------------------------------------------------------


async def record_payment(
    session: AsyncSession,
    ctx: Context,
    *,
    provider: str,
    amount: Decimal,
    currency: str,
    external_id: str | None = None,
    customer_email: str | None = None,
    customer_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    invoice_id: str | None = None,
    invoice_number: str | None = None,
    received_at: dt.datetime | None = None,
    charge_id: str | None = None,
    source_event_id: str | None = None,
    strict: bool = False,
) -> Recorded:
    """Record money received and book it on its invoice (see the module docstring).

    ``strict`` is for a person entering a payment against ``invoice_id``: what the
    webhook flow would flag is refused instead (409 for a void, draft or paid invoice,
    422 for another currency); an overpayment is still flagged, not refused.
    """
    amount = cents(amount)
    currency = currency.upper()
    if amount <= 0:
        raise Unprocessable(
            "a payment must be positive", errors=[field_error(["body", "amount"], "must be > 0")]
        )
    if external_id is not None:
        existing = await find_payment(session, ctx, provider=provider, external_id=external_id)
        if existing is not None:
            return Recorded(await _same_payment(session, existing, amount, charge_id), False)
    email = customer_email.strip().lower() if customer_email and customer_email.strip() else None
    payment = Payment(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        provider=provider,
        external_id=external_id,
        charge_id=charge_id,
        source_event_id=source_event_id,
        amount=amount,
        currency=currency,
        amount_refunded=Decimal("0"),
        customer_email=email,
        customer_name=customer_name,
        status="unmatched",
        applied=False,
        received_at=received_at or utcnow(),
        metadata_=dict(metadata or {}),
    )
    theirs = await _insert_once(session, ctx, payment)
    if theirs is not None:
        return Recorded(theirs, False)
    target = await find_target(
        session,
        ctx,
        amount=amount,
        currency=currency,
        email=email,
        invoice_id=invoice_id,
        invoice_number=invoice_number,
    )
    if target.invoice is None:
        await leave_unmatched(session, ctx, payment, target.detail)
    else:
        await settle(session, ctx, payment, target, strict=strict)
    log.info(
        "billing.payment.recorded",
        payment_id=payment.id,
        provider=provider,
        status=payment.status,
        match_method=payment.match_method,
    )
    return Recorded(payment, True)


async def _insert_once(session: AsyncSession, ctx: Context, payment: Payment) -> Payment | None:
    """Store the payment and announce it (``billing.payment.received``); when the same
    outside payment was recorded concurrently, store nothing and return theirs."""
    try:
        async with session.begin_nested():
            session.add(payment)
            await session.flush()
    except IntegrityError:
        external_id, provider = payment.external_id, payment.provider
        assert external_id is not None
        existing = await find_payment(session, ctx, provider=provider, external_id=external_id)
        if existing is None:
            raise
        return existing
    await invoices.payment_event(
        session,
        ctx,
        "billing.payment.received",
        payment,
        **payload(payment, "provider", "external_id", "amount", "currency", "customer_email"),
    )
    return None


async def _same_payment(
    session: AsyncSession, existing: Payment, amount: Decimal, charge_id: str | None
) -> Payment:
    """A payment seen before (a repeated webhook, or the Charge of a PaymentIntent we
    recorded): learn its charge id for later refunds; never count the money twice."""
    if charge_id and existing.charge_id is None:
        existing.charge_id = charge_id
        await session.flush()
    if cents(existing.amount) != amount:
        log.warning(
            "billing.payment.repeat_differs",
            payment_id=existing.id,
            recorded=str(existing.amount),
            reported=str(amount),
        )
    return existing


# --- matching by hand ---------------------------------------------------------------------


async def match_payment(
    session: AsyncSession,
    ctx: Context,
    payment_id: str,
    *,
    invoice_id: str,
    if_match: str | None = None,
) -> Payment:
    """Assign an ``unmatched`` payment to an invoice (409 for any other payment). The
    same rules as the automatic match apply; a void, draft or paid invoice or another
    currency is refused."""
    payment = await get_payment(session, ctx, payment_id, for_update=True)
    check_version(if_match, payment.version)
    if payment.status != "unmatched":
        raise Conflict(f"the payment is {payment.status}; only unmatched payments are matched")
    try:
        invoice = await invoices.get_invoice(session, ctx, invoice_id)
    except NotFound:
        raise Unprocessable(
            "no such invoice", errors=[field_error(["body", "invoice_id"], "no such invoice")]
        ) from None
    await settle(
        session,
        ctx,
        payment,
        Target(invoice, "manual", f"matched by hand to {invoice.number or invoice.id}"),
        strict=True,
    )
    payment.version += 1
    await session.flush()
    matched = payload(payment, "invoice_id", "status", "match_method")
    await invoices.payment_event(
        session, ctx, "billing.payment.matched", payment, version=payment.version, **matched
    )
    return payment


# --- manual payments ----------------------------------------------------------------------


async def record_manual_payment(
    session: AsyncSession, ctx: Context, invoice_id: str, body: ManualPaymentCreate
) -> Recorded:
    """Money received outside Stripe for one invoice (404 for an invoice that is not the
    tenant's). A repeated ``reference`` for the same invoice and amount is the payment
    recorded before; the same reference with other details is 409."""
    invoice = await invoices.get_invoice(session, ctx, invoice_id)
    reference = body.reference
    if reference is not None:
        existing = await find_payment(session, ctx, provider="manual", external_id=reference)
        if existing is not None:
            same = (
                existing.invoice_id == invoice.id
                and cents(existing.amount) == cents(body.amount)
                and existing.currency == body.currency.upper()
            )
            if not same:
                raise Conflict(f"reference {reference!r} is another payment already")
            return Recorded(existing, False)
    return await record_payment(
        session,
        ctx,
        provider="manual",
        **body.model_dump(include={"amount", "currency", "received_at"}),
        external_id=reference,
        customer_email=invoice.customer_email,
        customer_name=invoice.customer_name,
        metadata={"note": body.note} if body.note else None,
        invoice_id=invoice.id,
        strict=True,
    )
