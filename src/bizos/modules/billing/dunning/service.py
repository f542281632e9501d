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

A person may also send the next reminder before its day (the copilot's
``billing.send_dunning_reminder``): :func:`next_reminder` says which level that would be,
or why none can go (422), and :func:`send_next_reminder` sends it under the invoice's
row lock, so the scheduled run never sends that level again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.modules.billing.invoices.amounts import balance_due
from bizos.modules.billing.invoices.schemas import OPEN_STATUSES, InvoiceRead
from bizos.modules.billing.invoices.service import (
    billing_event,
    get_invoice,
    invoice_read,
    lock_invoice,
)
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
    await _email_reminder(session, ctx, invoice, level, days_overdue)
    return 1


async def _email_reminder(
    session: AsyncSession, ctx: Context, invoice: Invoice, level: int, days_overdue: int
) -> None:
    """Queue reminder ``level`` (already claimed) to the customer, with its event."""
    assert invoice.customer_email is not None and invoice.due_date is not None
    tenant = await identity_service.get_tenant(session, ctx)
    due = balance_due(invoice)
    message = await outreach_service.send_email(
        session,
        ctx,
        to=invoice.customer_email,
        subject=reminder_subject(invoice.number, days_overdue),
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


def reminder_subject(number: str | None, days_overdue: int) -> str:
    return f"Reminder: invoice {number} is {days_overdue} days overdue"


# --- a reminder a person sends ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NextReminder:
    """The reminder a person may send now: its ``level`` (1 to 3), to ``to``, with
    ``subject``, for an invoice ``days_overdue`` days past due."""

    invoice: InvoiceRead
    level: int
    days_overdue: int
    to: str
    subject: str


def _refused(reason: str) -> Unprocessable:
    return Unprocessable(
        f"no reminder can go out: {reason}",
        errors=[field_error(["params", "invoice_id"], reason)],
    )


def _next_level(invoice: Invoice, now: dt.datetime) -> tuple[int, int]:
    """(level, days overdue) of the reminder a person may send now; 422 saying why
    there is none: not issued, paid, void or in discrepancy, not overdue, no address, or
    every level already sent."""
    if invoice.status == "paid":
        raise _refused("the invoice is paid")
    if invoice.status == "void":
        raise _refused("the invoice is void")
    if invoice.status == "draft":
        raise _refused("the invoice is a draft, not issued yet")
    if invoice.status not in OPEN_STATUSES:
        raise _refused(f"the invoice is in {invoice.status}; a person decides what is owed")
    if balance_due(invoice) <= 0:
        raise _refused("nothing is due on the invoice")
    if invoice.due_date is None or invoice.due_date >= now.date():
        raise _refused("the invoice is not overdue")
    if not invoice.customer_email:
        raise _refused("the invoice has no customer email address")
    if invoice.reminders_sent >= len(REMINDER_DAYS):
        raise _refused(f"all {len(REMINDER_DAYS)} reminders have been sent")
    days_overdue = (now.date() - invoice.due_date).days
    # The next level, or the one its days have reached if that is further (as the job).
    return max(invoice.reminders_sent + 1, due_level(days_overdue)), days_overdue


async def next_reminder(
    session: AsyncSession, ctx: Context, invoice_id: str, now: dt.datetime
) -> NextReminder:
    """The reminder :func:`send_next_reminder` would send at ``now``, changing nothing:
    404 when the tenant has no such invoice, 422 when none can go (see
    :func:`_next_level`)."""
    invoice = await get_invoice(session, ctx, invoice_id)
    level, days_overdue = _next_level(invoice, now)
    assert invoice.customer_email is not None
    return NextReminder(
        invoice=await invoice_read(session, ctx, invoice),
        level=level,
        days_overdue=days_overdue,
        to=invoice.customer_email,
        subject=reminder_subject(invoice.number, days_overdue),
    )


async def send_next_reminder(
    session: AsyncSession, ctx: Context, invoice_id: str, now: dt.datetime
) -> InvoiceRead:
    """Send the invoice's next reminder now, though its day may not have come: the level
    is taken under the invoice's row lock (``reminders_sent``, ``last_reminder_at``), the
    email queued and ``billing.invoice.reminder_sent`` appended in the caller's
    transaction. The same refusals as :func:`next_reminder`."""
    invoice = await lock_invoice(session, ctx, invoice_id)
    level, days_overdue = _next_level(invoice, now)
    invoice.reminders_sent = level
    invoice.last_reminder_at = now
    invoice.version += 1
    await session.flush()
    await _email_reminder(session, ctx, invoice, level, days_overdue)
    return await invoice_read(session, ctx, invoice)
