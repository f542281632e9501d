"""Dunning: overdue invoices remind their customer by email, 1, 7 and 14 days past due.

``reminders_sent`` counts the levels already sent. Each run finds open and partially
paid invoices whose days overdue reached a level they have not had yet and sends *one*
email for the highest level reached (an invoice first seen 20 days late gets the
14-day reminder, not three emails at once). The level is claimed with a conditional
``UPDATE ... WHERE reminders_sent = <what we read>`` in the same transaction as the
email and the ``billing.invoice.reminder_sent`` event, so a rerun, or two workers racing,
never send a level twice.

An invoice with money refunded on it is not chased: its open balance is money we gave
back (a return, a damaged item), and a person decides what is still owed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context, system_context
from bizos.core.db import Database
from bizos.core.events import append_event
from bizos.core.scheduler import scheduled
from bizos.modules.billing.invoices.schemas import OPEN_STATUSES
from bizos.modules.billing.invoices.service import balance_due
from bizos.modules.billing.models import Invoice
from bizos.modules.identity import service as identity_service
from bizos.modules.outreach import service as outreach_service
from bizos.modules.outreach.schemas import Related

log = structlog.get_logger("bizos.billing.dunning")

DUNNING_JOB = "billing.dunning"
# Days past the due date at which a reminder goes out (one email per level).
REMINDER_DAYS: tuple[int, ...] = (1, 7, 14)
JOB_BATCH = 500


def due_level(days_overdue: int) -> int:
    """How many reminder levels ``days_overdue`` has reached (0 to 3)."""
    return sum(1 for days in REMINDER_DAYS if days_overdue >= days)


@scheduled(DUNNING_JOB, every=dt.timedelta(hours=1))
async def dunning(db: Database, now: dt.datetime) -> None:
    await send_overdue_reminders(db, now)


def _reminder_due(today: dt.date) -> sa.ColumnElement[bool]:
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


async def _candidates(db: Database, today: dt.date, after: str | None) -> list[Any]:
    # The scan spans tenants: a system session, ids only; each invoice in its tenant's
    # own unit of work below. Only invoices with a reminder still due are read, so the
    # ones already reminded at their level never fill a batch.
    async with db.unit_of_work(system=True, readonly=True) as session:
        query = sa.select(Invoice.id, Invoice.tenant_id).where(
            Invoice.status.in_(OPEN_STATUSES),
            Invoice.customer_email.is_not(None),
            _reminder_due(today),
        )
        if after is not None:
            query = query.where(Invoice.id > after)
        rows = await session.execute(query.order_by(Invoice.id).limit(JOB_BATCH))
        return list(rows.all())


async def send_overdue_reminders(db: Database, now: dt.datetime) -> int:
    """Send every reminder that is due at ``now``, batch after batch; returns how many
    went out."""
    sent, after = 0, None
    while True:
        batch = await _candidates(db, now.date(), after)
        for row in batch:
            try:
                async with db.unit_of_work(tenant_id=row.tenant_id) as session:
                    sent += await remind(session, system_context(row.tenant_id), row.id, now)
            except Exception:  # one invoice's trouble must not hold back the others
                log.exception("billing.dunning_failed", invoice_id=row.id, tenant_id=row.tenant_id)
        if len(batch) < JOB_BATCH:
            return sent
        after = batch[-1].id


async def remind(session: AsyncSession, ctx: Context, invoice_id: str, now: dt.datetime) -> int:
    """Send the invoice's due reminder, if one is still due; 1 when sent, else 0."""
    invoice = await session.scalar(
        sa.select(Invoice).where(
            Invoice.tenant_id == ctx.require_tenant(), Invoice.id == invoice_id
        )
    )
    if (
        invoice is None
        or invoice.status not in OPEN_STATUSES
        or invoice.due_date is None
        or not invoice.customer_email
    ):
        return 0
    days_overdue = (now.date() - invoice.due_date).days
    level = due_level(days_overdue)
    seen = invoice.reminders_sent
    if level <= seen:
        return 0
    claimed = await session.execute(
        sa.update(Invoice)
        .where(
            Invoice.id == invoice.id,
            Invoice.reminders_sent == seen,
            Invoice.status.in_(OPEN_STATUSES),
        )
        .values(reminders_sent=level, last_reminder_at=now, version=Invoice.version + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return 0  # another run sent it meanwhile
    await session.refresh(invoice)
    tenant = await identity_service.get_tenant(session, ctx)
    due = balance_due(invoice)
    subject = f"Reminder: invoice {invoice.number} is {days_overdue} days overdue"
    greeting = f"Dear {invoice.customer_name}," if invoice.customer_name else "Hello,"
    body = "\n".join(
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
            tenant.name,
        ]
    )
    message = await outreach_service.send_email(
        session,
        ctx,
        to=invoice.customer_email,
        subject=subject,
        body=body,
        related=Related(type="invoice", id=invoice.id),
    )
    await append_event(
        session,
        ctx,
        "billing.invoice.reminder_sent",
        aggregate_type="invoice",
        aggregate_id=invoice.id,
        version=invoice.version,
        data={
            "invoice_id": invoice.id,
            "number": invoice.number,
            "level": level,
            "days_overdue": days_overdue,
            "balance_due": str(due),
            "currency": invoice.currency,
            "message_id": message.id,
        },
    )
    log.info("billing.invoice.reminder_sent", invoice_id=invoice.id, level=level)
    return 1
