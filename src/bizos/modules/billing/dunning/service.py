"""Dunning: overdue invoices remind their customer by email, 1, 7 and 14 days past due.

``reminders_sent`` counts the levels already sent. Each run (``jobs.py``) finds open and
partially paid invoices whose days overdue reached a level they have not had yet and
sends *one* email for the highest level reached (an invoice first seen 20 days late gets
the 14-day reminder, not three emails at once). The level is claimed with a conditional
``UPDATE ... WHERE reminders_sent = <what we read>`` in the same transaction as the
email and the ``billing.invoice.reminder_sent`` event, so a rerun, or two workers racing,
never send a level twice.

An invoice with money refunded on it is not chased: its open balance is money we gave
back (a return, a damaged item), and a person decides what is still owed.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import NotFound
from bizos.modules.billing.invoices.amounts import balance_due
from bizos.modules.billing.invoices.schemas import OPEN_STATUSES
from bizos.modules.billing.invoices.service import billing_event, get_invoice
from bizos.modules.billing.models import Invoice
from bizos.modules.identity import service as identity_service
from bizos.modules.outreach import service as outreach_service
from bizos.modules.outreach.schemas import Related

log = structlog.get_logger("bizos.billing.dunning")
REMINDER_SENT = "billing.invoice.reminder_sent"

# Days past the due date at which a reminder goes out (one email per level).
REMINDER_DAYS: tuple[int, ...] = (1, 7, 14)


def due_level(days_overdue: int) -> int:
    """How many reminder levels ``days_overdue`` has reached (0 to 3)."""
    return sum(1 for days in REMINDER_DAYS if days_overdue >= days)


def reminder_due(today: dt.date) -> sa.ColumnElement[bool]:
    """Invoices whose days overdue reached a level beyond ``reminders_sent``."""
    return sa.or_(
        *(
            sa.and_(
                Invoice.reminders_sent == level,
                Invoice.due_date <= today - dt.timedelta(days=days),
            )
            for level, days in enumerate(REMINDER_DAYS)
        )
    )


async def _claim_level(
    session: AsyncSession, invoice: Invoice, level: int, now: dt.datetime
) -> bool:
    """Take reminder ``level`` for the invoice unless another run took one meanwhile."""
    claimed = await session.execute(
        sa.update(Invoice)
        .where(
            Invoice.id == invoice.id,
            Invoice.reminders_sent == invoice.reminders_sent,
            Invoice.status.in_(OPEN_STATUSES),
        )
        .values(reminders_sent=level, last_reminder_at=now, version=Invoice.version + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return False
    await session.refresh(invoice)
    return True


def _reminder_body(invoice: Invoice, days_overdue: int, due: Decimal, sender: str) -> str:
    greeting = f"Dear {invoice.customer_name}," if invoice.customer_name else "Hello,"
    return "\n".join(
        [
            greeting,
            "",
            f"our invoice {invoice.number} of {invoice.total} {invoice.currency} was due on "
            f"{invoice.due_date:%Y-%m-%d}, {days_overdue} days ago.",
            f"The balance still due is {due} {invoice.currency}.",
            "",
            "If you have already paid, please ignore this message. Otherwise we would be "
            "grateful for your payment at your earliest convenience.",
            "",
            "Kind regards,",
            sender,
        ]
    )


async def send_reminder(
    session: AsyncSession, ctx: Context, invoice_id: str, now: dt.datetime
) -> int:
    """Send the invoice's due reminder, if one is still due; 1 when sent, else 0."""
    try:
        invoice = await get_invoice(session, ctx, invoice_id)
    except NotFound:
        return 0
    if (
        invoice.status not in OPEN_STATUSES
        or invoice.due_date is None
        or not invoice.customer_email
    ):
        return 0
    days_overdue = (now.date() - invoice.due_date).days
    level = due_level(days_overdue)
    if level <= invoice.reminders_sent or not await _claim_level(session, invoice, level, now):
        return 0
    tenant = await identity_service.get_tenant(session, ctx)
    due = balance_due(invoice)
    message = await outreach_service.send_email(
        session,
        ctx,
        to=invoice.customer_email,
        subject=f"Reminder: invoice {invoice.number} is {days_overdue} days overdue",
        body=_reminder_body(invoice, days_overdue, due, tenant.name),
        related=Related(type="invoice", id=invoice.id),
    )
    data = {
        "number": invoice.number,
        "level": level,
        "days_overdue": days_overdue,
        "balance_due": str(due),
        "currency": invoice.currency,
        "message_id": message.id,
    }
    await billing_event(
        session, ctx, REMINDER_SENT, "invoice", invoice, data, version=invoice.version
    )
    log.info(REMINDER_SENT, invoice_id=invoice.id, level=level)
    return 1
