"""Payments and refunds: recording money received, finding the invoice it pays, and
booking it there. The only writer of ``billing_payments`` and ``billing_refunds``.

How a payment finds its invoice (in this order):

1. the invoice it was entered against (a manual payment, a manual match);
2. ``metadata.invoice_number`` (Stripe metadata set at checkout; also ``invoice``,
   ``invoice_id``, ``Invoice Number`` ...) naming one of ours, written any usual way
   (``inv-000012``, ``#INV-000012``, ``INV 12``; bare digits only when the invoice is the
   payer's or its balance is the amount); when it names a void invoice that was reissued
   (one open invoice of that customer with this balance), the reissue;
3. the customer's email (compared case-insensitively) *and* the amount: it must equal
   the balance due of exactly one open invoice of that email in that currency.

What happens then:

* it fits (same currency, the invoice is open or partially paid, amount <= balance due):
  booked on the invoice with ``apply_payment``: the invoice becomes ``paid`` or, for an
  underpayment, ``partially_paid``; the payment is ``matched``;
* it names an invoice but does not fit: the invoice is flagged ``discrepancy``
  (``flag_discrepancy``: event, task and notification) and the payment is
  ``discrepancy``. An overpayment (more than the balance, or money for an invoice already
  paid) is still booked — ``amount_paid`` says what was received and the negative balance
  is the customer's credit, which a refund clears; money in another currency or for a
  void or draft invoice is not booked;
* no single invoice can be told apart (unknown customer, no email, several open invoices
  with that balance, no invoice with that balance): the payment is ``unmatched``,
  ``billing.payment.unmatched`` is emitted and a task asks a person to match it
  (``match_payment``).

A refund gives money back, it does not reopen the debt: on the invoice it is matched by
a credit note for the refunded amount (less any overpayment it gives back), so a paid
invoice stays paid and receivables do not grow (``invoices.apply_refund``).

A payment is recorded once per ``(provider, external_id)``: a repeated webhook or a
PaymentIntent and its Charge reporting the same money are no-ops.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import append_event
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.sequences import format_number
from bizos.core.versions import check_version
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.models import Invoice, Payment, Refund
from bizos.modules.billing.payments.schemas import PaymentRead, RefundRead
from bizos.modules.identity import service as identity_service
from bizos.modules.notifications import service as notifications_service
from bizos.modules.work import service as work_service

log = structlog.get_logger("bizos.billing.payments")

CENT = Decimal("0.01")
# Invoices a payment may be booked on as it is (amount permitting).
_PAYABLE = ("open", "partially_paid")
# Invoices whose currency matches can take money (booked, then flagged if it does not fit).
_BOOKABLE = ("open", "partially_paid", "paid", "discrepancy")


def _money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Recorded:
    payment: Payment
    created: bool  # False: the same outside payment was recorded before


@dataclass(frozen=True, slots=True)
class _Target:
    invoice: Invoice | None
    method: str | None
    detail: str


# --- reads ------------------------------------------------------------------------------


def refund_read(row: Refund) -> RefundRead:
    return RefundRead(
        id=row.id,
        payment_id=row.payment_id,
        invoice_id=row.invoice_id,
        amount=_money(row.amount),
        currency=row.currency,
        external_id=row.external_id,
        reason=row.reason,
        created_at=row.created_at,
    )


def payment_read(
    row: Payment, *, refunds: Sequence[Refund] = (), invoice_number: str | None = None
) -> PaymentRead:
    return PaymentRead(
        id=row.id,
        invoice_id=row.invoice_id,
        invoice_number=invoice_number,
        provider=row.provider,
        external_id=row.external_id,
        charge_id=row.charge_id,
        amount=_money(row.amount),
        amount_refunded=_money(row.amount_refunded),
        currency=row.currency,
        status=row.status,
        match_method=row.match_method,
        match_detail=row.match_detail,
        applied=row.applied,
        customer_email=row.customer_email,
        customer_name=row.customer_name,
        metadata=dict(row.metadata_ or {}),
        received_at=row.received_at,
        refunds=[refund_read(r) for r in refunds],
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def get_payment(
    session: AsyncSession, ctx: Context, payment_id: str, *, for_update: bool = False
) -> Payment:
    query = sa.select(Payment).where(
        Payment.tenant_id == ctx.require_tenant(), Payment.id == payment_id
    )
    if for_update:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise NotFound("payment not found")
    return row


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
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    status: str | None = None,
    invoice_id: str | None = None,
    provider: str | None = None,
) -> tuple[list[PaymentRead], str | None]:
    """The tenant's payments in ``page``'s order (newest first by default), filtered."""
    query = sa.select(Payment).where(Payment.tenant_id == ctx.require_tenant())
    for column, value in (
        (Payment.status, status),
        (Payment.invoice_id, invoice_id),
        (Payment.provider, provider),
    ):
        if value is not None:
            query = query.where(column == value)
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
    amount = _money(amount)
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
    try:
        async with session.begin_nested():
            session.add(payment)
            await session.flush()
    except IntegrityError:
        # The same outside payment recorded concurrently: theirs stands.
        assert external_id is not None
        existing = await find_payment(session, ctx, provider=provider, external_id=external_id)
        if existing is None:
            raise
        return Recorded(existing, False)

    await append_event(
        session,
        ctx,
        "billing.payment.received",
        aggregate_type="payment",
        aggregate_id=payment.id,
        data={
            "payment_id": payment.id,
            "provider": provider,
            "external_id": external_id,
            "amount": str(amount),
            "currency": currency,
            "customer_email": email,
        },
    )
    target = await _find_target(
        session,
        ctx,
        amount=amount,
        currency=currency,
        email=email,
        invoice_id=invoice_id,
        invoice_number=invoice_number,
    )
    if target.invoice is None:
        await _leave_unmatched(session, ctx, payment, target.detail)
    else:
        await _settle(session, ctx, payment, target, strict=strict)
    log.info(
        "billing.payment.recorded",
        payment_id=payment.id,
        provider=provider,
        status=payment.status,
        match_method=payment.match_method,
    )
    return Recorded(payment, True)


async def _same_payment(
    session: AsyncSession, existing: Payment, amount: Decimal, charge_id: str | None
) -> Payment:
    """A payment seen before (a repeated webhook, or the Charge of a PaymentIntent we
    recorded): learn its charge id for later refunds; never count the money twice."""
    if charge_id and existing.charge_id is None:
        existing.charge_id = charge_id
        await session.flush()
    if _money(existing.amount) != amount:
        log.warning(
            "billing.payment.repeat_differs",
            payment_id=existing.id,
            recorded=str(existing.amount),
            reported=str(amount),
        )
    return existing


async def _invoice_by_number(session: AsyncSession, ctx: Context, number: str) -> Invoice | None:
    try:
        return await invoices.get_invoice_by_number(session, ctx, number)
    except NotFound:
        return None


# Our numbers as people retype them: "INV-000012", "inv 12", "#INV000012", "Invoice
# INV-000012." The prefix is optional; bare digits are trusted less (see _named_invoice).
_NUMBER = re.compile(r"(?<![A-Z0-9])(INV)?[\s_.#:-]*0*(\d{1,9})(?![0-9])")
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def invoice_numbers_in(reference: str) -> list[tuple[str, bool]]:
    """The invoice numbers a payment reference names, normalised (``INV-000012``), each
    with whether it carried our ``INV`` prefix; several when it names several."""
    text = reference.upper().replace("INVOICE", " ")
    found: dict[str, bool] = {}
    for match in _NUMBER.finditer(text):
        value = int(match.group(2))
        if value <= 0:
            continue
        number = format_number("INV", value)
        found[number] = found.get(number, False) or match.group(1) is not None
    return list(found.items())


async def _named_invoice(
    session: AsyncSession,
    ctx: Context,
    reference: str,
    *,
    amount: Decimal,
    email: str | None,
    notes: list[str],
) -> Invoice | None:
    """The one invoice ``reference`` (metadata) names, or ``None`` with a note why not.

    Our id, or our number written any usual way. A bare number without the ``INV``
    prefix (``"000012"``) could be anyone's reference, so it counts only when the
    invoice is the payer's (same email) or its balance is the amount paid."""
    reference = reference.strip()
    exact = await _invoice_by_number(session, ctx, reference.upper())
    if exact is not None:
        return exact
    if _ID.match(reference.lower()):
        try:
            return await invoices.get_invoice(session, ctx, reference.lower())
        except NotFound:
            pass
    named = invoice_numbers_in(reference)
    prefixed = [item for item in named if item[1]]
    if len(prefixed) == 1:
        named = prefixed  # "INV-000012 of 2026-01-05": the date is not a number of ours
    if len(named) > 1:
        numbers = ", ".join(n for n, _ in named)
        notes.append(f"metadata names several invoices ({numbers}): split it by hand")
        return None
    if named:
        number, has_prefix = named[0]
        found = await _invoice_by_number(session, ctx, number)
        if found is not None and (
            has_prefix
            or (email is not None and found.customer_email == email)
            or _money(invoices.balance_due(found)) == amount
        ):
            return found
    notes.append(f"metadata names {reference!r}, which is not one of our invoices")
    return None


async def _find_target(
    session: AsyncSession,
    ctx: Context,
    *,
    amount: Decimal,
    currency: str,
    email: str | None,
    invoice_id: str | None,
    invoice_number: str | None,
) -> _Target:
    if invoice_id is not None:
        invoice = await invoices.get_invoice(session, ctx, invoice_id)
        return _Target(invoice, "manual", "entered against the invoice")
    notes: list[str] = []
    reissued_from: Invoice | None = None
    if invoice_number and invoice_number.strip():
        found = await _named_invoice(
            session, ctx, invoice_number, amount=amount, email=email, notes=notes
        )
        if found is not None and found.status != "void":
            return _Target(found, "metadata", f"metadata names {found.number}")
        if found is not None:
            # Paid through the link of an invoice since voided: if it was reissued (one
            # open invoice of that customer with this balance), the money goes there.
            reissued_from = found
            notes.append(f"metadata names {found.number}, which is void")
            email = found.customer_email or email
    if email is None:
        notes.append("no customer email to match on")
        return _Target(reissued_from, "metadata" if reissued_from else None, "; ".join(notes))
    candidates = await invoices.find_open_invoices(session, ctx, email=email, currency=currency)
    exact = [i for i in candidates if _money(invoices.balance_due(i)) == amount]
    if len(exact) == 1:
        notes.append(f"the only open invoice of {email} with a balance of {amount} {currency}")
        return _Target(exact[0], "email_amount", "; ".join(notes))
    if reissued_from is not None:
        return _Target(reissued_from, "metadata", f"metadata names {reissued_from.number}")
    if len(exact) > 1:
        numbers = ", ".join(sorted(i.number or i.id for i in exact))
        notes.append(f"{len(exact)} open invoices of {email} have a balance of {amount}: {numbers}")
    elif candidates:
        notes.append(
            f"{email} has {len(candidates)} open {currency} invoice(s), "
            f"none with a balance of {amount}"
        )
    else:
        notes.append(f"no open {currency} invoice for {email}")
    return _Target(None, None, "; ".join(notes))


@dataclass(frozen=True, slots=True)
class _Misfit:
    reason: str
    book: bool  # the money is still booked on the invoice (an overpayment)
    expected: Decimal  # the balance due before this payment


def _misfit(payment: Payment, invoice: Invoice) -> _Misfit | None:
    """Why ``payment`` does not fit ``invoice``; ``None`` when it fits."""
    label = invoice.number or "the draft invoice"
    balance = _money(invoices.balance_due(invoice))
    if invoice.status in ("void", "draft"):
        return _Misfit(f"payment for {invoice.status} invoice {label}", False, balance)
    if payment.currency != invoice.currency:
        return _Misfit(
            f"currency mismatch: {label} is in {invoice.currency}, "
            f"the payment in {payment.currency}",
            False,
            balance,
        )
    if invoice.status not in _PAYABLE or balance <= 0:
        return _Misfit(
            f"overpayment: {label} is {invoice.status} with {balance} due, "
            f"received {payment.amount}",
            True,
            balance,
        )
    if payment.amount > balance:
        return _Misfit(
            f"overpayment: {label} has {balance} due, received {payment.amount}", True, balance
        )
    return None


async def _settle(
    session: AsyncSession, ctx: Context, payment: Payment, target: _Target, *, strict: bool
) -> None:
    invoice = target.invoice
    assert invoice is not None
    payment.invoice_id = invoice.id
    payment.match_method = target.method
    misfit = _misfit(payment, invoice)
    if misfit is not None and strict and not (misfit.book and invoice.status in _PAYABLE):
        _refuse(payment, invoice, misfit.reason)
    if misfit is None or misfit.book:
        await invoices.apply_payment(
            session,
            ctx,
            invoice.id,
            amount=payment.amount,
            currency=payment.currency,
            payment_id=payment.id,
        )
        payment.applied = True
    if misfit is None:
        payment.status = "matched"
        payment.match_detail = target.detail
        await session.flush()
        return
    payment.status = "discrepancy"
    payment.match_detail = f"{target.detail}; {misfit.reason}"
    await session.flush()
    if invoice.status in ("void", "draft"):
        # Such an invoice cannot be put in discrepancy: the payment carries it.
        await _report_unbookable(session, ctx, payment, invoice, misfit)
        return
    await invoices.flag_discrepancy(
        session,
        ctx,
        invoice.id,
        reason=misfit.reason,
        payment_id=payment.id,
        expected=misfit.expected,
        received=payment.amount,
        currency=payment.currency,
    )


async def _report_unbookable(
    session: AsyncSession, ctx: Context, payment: Payment, invoice: Invoice, misfit: _Misfit
) -> None:
    """Money for a void or draft invoice: the same event, task and notification as a
    flagged invoice, on the payment."""
    data = {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "payment_id": payment.id,
        "expected": str(misfit.expected),
        "received": str(payment.amount),
        "currency": payment.currency,
        "reason": misfit.reason,
    }
    await append_event(
        session,
        ctx,
        "billing.payment.discrepancy_detected",
        aggregate_type="payment",
        aggregate_id=payment.id,
        data=data,
    )
    owner = await billing_assignee(session, ctx)
    title = f"Payment received for {invoice.status} invoice {invoice.number or invoice.id}"
    body = (
        f"{payment.amount} {payment.currency} from {payment.customer_email or 'an unknown payer'}"
        f" names {invoice.number or invoice.id}, which is {invoice.status}: refund it or "
        "match it to another invoice."
    )
    await work_service.create_task(
        session,
        ctx,
        title=title,
        description=body,
        assignee_id=owner,
        priority="high",
        related_type="payment",
        related_id=payment.id,
        origin="billing.payment.discrepancy_detected",
    )
    if owner is not None:
        await notifications_service.notify(
            session,
            ctx,
            user_id=owner,
            kind="billing.payment_discrepancy",
            title=title,
            body=body,
            related_type="payment",
            related_id=payment.id,
            data=data,
        )


def _refuse(payment: Payment, invoice: Invoice, why: str) -> None:
    if invoice.status not in ("void", "draft") and payment.currency != invoice.currency:
        raise Unprocessable(why, errors=[field_error(["body", "currency"], why)])
    raise Conflict(why)


async def _leave_unmatched(
    session: AsyncSession, ctx: Context, payment: Payment, reason: str
) -> None:
    payment.status = "unmatched"
    payment.match_detail = reason
    await session.flush()
    await append_event(
        session,
        ctx,
        "billing.payment.unmatched",
        aggregate_type="payment",
        aggregate_id=payment.id,
        data={
            "payment_id": payment.id,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "customer_email": payment.customer_email,
            "reason": reason,
        },
    )
    who = payment.customer_email or payment.customer_name or "an unknown payer"
    await work_service.create_task(
        session,
        ctx,
        title=f"Match the payment of {payment.amount} {payment.currency} from {who}",
        description=f"No invoice could be matched automatically: {reason}.",
        assignee_id=await billing_assignee(session, ctx),
        priority="high",
        related_type="payment",
        related_id=payment.id,
        origin="billing.payment.unmatched",
    )


async def billing_assignee(session: AsyncSession, ctx: Context) -> str | None:
    """Who gets billing tasks: the tenant's (first) active owner."""
    page = await identity_service.list_users(
        session, ctx, page=PageParams(limit=1), role="owner", is_active=True
    )
    return page.items[0].id if page.items else None


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
    await _settle(
        session,
        ctx,
        payment,
        _Target(invoice, "manual", f"matched by hand to {invoice.number or invoice.id}"),
        strict=True,
    )
    payment.version += 1
    await session.flush()
    await append_event(
        session,
        ctx,
        "billing.payment.matched",
        aggregate_type="payment",
        aggregate_id=payment.id,
        version=payment.version,
        data={
            "payment_id": payment.id,
            "invoice_id": invoice.id,
            "status": payment.status,
            "match_method": "manual",
        },
    )
    return payment


# --- refunds ------------------------------------------------------------------------------


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
    if payment_id is not None:
        payment = await get_payment(session, ctx, payment_id, for_update=True)
    elif payment_external_id is not None:
        found = await find_payment(session, ctx, provider=provider, external_id=payment_external_id)
        if found is None:
            raise NotFound("no payment for that outside id")
        payment = found
    else:
        raise ValueError("record_refund needs payment_id or payment_external_id")
    if external_id is not None:
        existing = await session.scalar(
            sa.select(Refund).where(
                Refund.tenant_id == ctx.require_tenant(), Refund.external_id == external_id
            )
        )
        if existing is not None:
            return existing, False
    left = _money(payment.amount) - _money(payment.amount_refunded)
    value = left if amount is None else _money(amount)
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
    payment.amount_refunded = _money(payment.amount_refunded) + value
    fully = payment.amount_refunded >= _money(payment.amount)
    if fully:
        payment.status = "refunded"
    elif payment.status in ("matched", "partially_refunded"):
        payment.status = "partially_refunded"
    payment.version += 1
    await session.flush()
    if payment.applied and payment.invoice_id:
        await invoices.apply_refund(
            session,
            ctx,
            payment.invoice_id,
            amount=value,
            payment_id=payment.id,
            refund_ref=external_id or refund.id,
        )
    await append_event(
        session,
        ctx,
        "billing.payment.refunded",
        aggregate_type="payment",
        aggregate_id=payment.id,
        version=payment.version,
        data={
            "payment_id": payment.id,
            "refund_id": refund.id,
            "invoice_id": refund.invoice_id,
            "amount": str(value),
            "currency": payment.currency,
            "amount_refunded": str(payment.amount_refunded),
            "status": payment.status,
            "external_id": external_id,
        },
    )
    return refund, True


# --- manual payments ----------------------------------------------------------------------


async def record_manual_payment(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    amount: Decimal,
    currency: str,
    reference: str | None = None,
    received_at: dt.datetime | None = None,
    note: str | None = None,
) -> Recorded:
    """Money received outside Stripe for one invoice (404 for an invoice that is not the
    tenant's). A repeated ``reference`` for the same invoice and amount is the payment
    recorded before; the same reference with other details is 409."""
    invoice = await invoices.get_invoice(session, ctx, invoice_id)
    if reference is not None:
        existing = await find_payment(session, ctx, provider="manual", external_id=reference)
        if existing is not None:
            same = (
                existing.invoice_id == invoice.id
                and _money(existing.amount) == _money(amount)
                and existing.currency == currency.upper()
            )
            if not same:
                raise Conflict(f"reference {reference!r} is another payment already")
            return Recorded(existing, False)
    return await record_payment(
        session,
        ctx,
        provider="manual",
        amount=amount,
        currency=currency,
        external_id=reference,
        customer_email=invoice.customer_email,
        customer_name=invoice.customer_name,
        metadata={"note": note} if note else None,
        invoice_id=invoice.id,
        received_at=received_at,
        strict=True,
    )
