"""Reconciliation: which invoice a payment pays, and what happens when it does not fit.

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
  (``payments.match_payment``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.money import cents
from bizos.core.sequences import format_number
from bizos.modules.billing.discrepancies.service import DISCREPANCY_DETECTED, flag_discrepancy
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.invoices.amounts import balance_due
from bizos.modules.billing.models import Invoice, Payment
from bizos.modules.billing.service import escalate_to_owner

# Invoices a payment may be booked on as it is (amount permitting).
PAYABLE = ("open", "partially_paid")


@dataclass(frozen=True, slots=True)
class Target:
    invoice: Invoice | None
    method: str | None
    detail: str


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
            or cents(balance_due(found)) == amount
        ):
            return found
    notes.append(f"metadata names {reference!r}, which is not one of our invoices")
    return None


async def find_target(
    session: AsyncSession,
    ctx: Context,
    *,
    amount: Decimal,
    currency: str,
    email: str | None,
    invoice_id: str | None,
    invoice_number: str | None,
) -> Target:
    if invoice_id is not None:
        invoice = await invoices.get_invoice(session, ctx, invoice_id)
        return Target(invoice, "manual", "entered against the invoice")
    notes: list[str] = []
    reissued_from: Invoice | None = None
    if invoice_number and invoice_number.strip():
        found = await _named_invoice(
            session, ctx, invoice_number, amount=amount, email=email, notes=notes
        )
        if found is not None and found.status != "void":
            return Target(found, "metadata", f"metadata names {found.number}")
        if found is not None:
            # Paid through the link of an invoice since voided: if it was reissued (one
            # open invoice of that customer with this balance), the money goes there.
            reissued_from = found
            notes.append(f"metadata names {found.number}, which is void")
            email = found.customer_email or email
    if email is None:
        notes.append("no customer email to match on")
        return Target(reissued_from, "metadata" if reissued_from else None, "; ".join(notes))
    candidates = await invoices.find_open_invoices(session, ctx, email=email, currency=currency)
    exact = [i for i in candidates if cents(balance_due(i)) == amount]
    if len(exact) == 1:
        notes.append(f"the only open invoice of {email} with a balance of {amount} {currency}")
        return Target(exact[0], "email_amount", "; ".join(notes))
    if reissued_from is not None:
        return Target(reissued_from, "metadata", f"metadata names {reissued_from.number}")
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
    return Target(None, None, "; ".join(notes))


@dataclass(frozen=True, slots=True)
class _Misfit:
    reason: str
    book: bool  # the money is still booked on the invoice (an overpayment)
    expected: Decimal  # the balance due before this payment


def _misfit(payment: Payment, invoice: Invoice) -> _Misfit | None:
    """Why ``payment`` does not fit ``invoice``; ``None`` when it fits."""
    label = invoice.number or "the draft invoice"
    balance = cents(balance_due(invoice))
    if invoice.status in ("void", "draft"):
        return _Misfit(f"payment for {invoice.status} invoice {label}", False, balance)
    if payment.currency != invoice.currency:
        return _Misfit(
            f"currency mismatch: {label} is in {invoice.currency}, "
            f"the payment in {payment.currency}",
            False,
            balance,
        )
    if invoice.status not in PAYABLE or balance <= 0:
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


async def settle(
    session: AsyncSession, ctx: Context, payment: Payment, target: Target, *, strict: bool
) -> None:
    invoice = target.invoice
    assert invoice is not None
    payment.invoice_id = invoice.id
    payment.match_method = target.method
    misfit = _misfit(payment, invoice)
    if misfit is not None and strict and not (misfit.book and invoice.status in PAYABLE):
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
    await flag_discrepancy(
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
    data: dict[str, Any] = {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "payment_id": payment.id,
        "expected": str(misfit.expected),
        "received": str(payment.amount),
        "currency": payment.currency,
        "reason": misfit.reason,
    }
    await invoices.payment_event(session, ctx, DISCREPANCY_DETECTED, payment, **data)
    label = invoice.number or invoice.id
    await escalate_to_owner(
        session,
        ctx,
        title=f"Payment received for {invoice.status} invoice {label}",
        body=(
            f"{payment.amount} {payment.currency} from "
            f"{payment.customer_email or 'an unknown payer'} names {label}, which is "
            f"{invoice.status}: refund it or match it to another invoice."
        ),
        origin=DISCREPANCY_DETECTED,
        related=("payment", payment.id),
        kind="billing.payment_discrepancy",
        data=data,
    )


def _refuse(payment: Payment, invoice: Invoice, why: str) -> None:
    if invoice.status not in ("void", "draft") and payment.currency != invoice.currency:
        raise Unprocessable(why, errors=[field_error(["body", "currency"], why)])
    raise Conflict(why)


async def leave_unmatched(
    session: AsyncSession, ctx: Context, payment: Payment, reason: str
) -> None:
    payment.status = "unmatched"
    payment.match_detail = reason
    await session.flush()
    await invoices.payment_event(
        session,
        ctx,
        "billing.payment.unmatched",
        payment,
        **payload(payment, "amount", "currency", "customer_email", reason=reason),
    )
    who = payment.customer_email or payment.customer_name or "an unknown payer"
    await escalate_to_owner(
        session,
        ctx,
        title=f"Match the payment of {payment.amount} {payment.currency} from {who}",
        body=f"No invoice could be matched automatically: {reason}.",
        origin="billing.payment.unmatched",
        related=("payment", payment.id),
    )
