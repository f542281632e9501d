"""Payment discrepancies: money that does not fit its invoice, and a person settling it.

``flag_discrepancy`` puts an issued invoice in ``discrepancy`` (payments call it for an
overpayment, another currency, or money for a paid invoice) and hands it to the tenant
owner; ``resolve_discrepancy`` takes it out once the question is settled. Payments
applied meanwhile still count; the status stays until someone resolves it.
"""

from __future__ import annotations

from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, Unprocessable, field_error
from bizos.core.money import cents, text
from bizos.core.versions import check_version
from bizos.modules.billing.invoices.amounts import balance_due, settled_status
from bizos.modules.billing.invoices.service import (
    BILLED,
    billing_event,
    invoice_event,
    lock_invoice,
)
from bizos.modules.billing.models import Invoice
from bizos.modules.billing.service import escalate_to_owner

log = structlog.get_logger("bizos.billing.discrepancies")

DISCREPANCY_DETECTED = "billing.payment.discrepancy_detected"


async def flag_discrepancy(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    reason: str,
    payment_id: str | None = None,
    received: Decimal | None = None,
    expected: Decimal | None = None,
    currency: str | None = None,
) -> Invoice:
    """Mark the invoice ``discrepancy``: ``billing.payment.discrepancy_detected``
    {invoice_id, number, payment_id, expected, received, currency, reason}, a high
    priority task and a notification for the tenant owner. ``expected`` defaults to the
    balance due before the payment. Works from any issued status; a draft or void
    invoice → 409."""
    invoice = await lock_invoice(session, ctx, invoice_id)
    if invoice.status not in BILLED:
        raise Conflict(f"the invoice is {invoice.status}; it cannot be in discrepancy")
    expected = cents(expected) if expected is not None else balance_due(invoice)
    invoice.status = "discrepancy"
    invoice.discrepancy_reason = reason
    invoice.version += 1
    await session.flush()
    data = {
        "number": invoice.number,
        "payment_id": payment_id,
        "expected": text(expected),
        "received": text(received) if received is not None else None,
        "currency": (currency or invoice.currency).upper(),
        "reason": reason,
    }
    data = await billing_event(
        session, ctx, DISCREPANCY_DETECTED, "invoice", invoice, data, version=invoice.version
    )
    title = f"Payment discrepancy on invoice {invoice.number}"
    body = (
        f"Invoice {invoice.number} expected {data['expected']} {invoice.currency}; "
        f"received {data['received'] or 'an unexpected payment'} {data['currency']}.\n"
        f"Reason: {reason}"
    )
    await escalate_to_owner(
        session,
        ctx,
        title=title,
        body=body,
        origin=DISCREPANCY_DETECTED,
        related=("invoice", invoice.id),
        kind="billing.payment_discrepancy",
        data=data,
    )
    log.warning("billing.payment.discrepancy_detected", invoice_id=invoice.id)
    return invoice


async def resolve_discrepancy(
    session: AsyncSession,
    ctx: Context,
    invoice_id: str,
    *,
    status: str | None = None,
    note: str | None = None,
    if_match: str | None = None,
) -> Invoice:
    """Leave ``discrepancy`` for ``status`` (default: what the amounts say). An invoice
    not in discrepancy → 409."""
    invoice = await lock_invoice(session, ctx, invoice_id)
    check_version(if_match, invoice.version)
    if invoice.status != "discrepancy":
        raise Conflict(f"the invoice is {invoice.status}, not in discrepancy")
    if status is not None and status not in ("open", "paid", "partially_paid"):
        raise Unprocessable(
            "unknown status", errors=[field_error(["body", "status"], "open|paid|partially_paid")]
        )
    invoice.status = status or settled_status(invoice)
    if invoice.status == "paid" and invoice.paid_at is None:
        invoice.paid_at = utcnow()
    invoice.version += 1
    await session.flush()
    await invoice_event(session, ctx, "billing.invoice.discrepancy_resolved", invoice, note=note)
    return invoice
