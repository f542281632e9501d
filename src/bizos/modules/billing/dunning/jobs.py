"""The dunning job: once an hour, every overdue invoice with a reminder due gets it.

The scan spans tenants with a system session and reads ids only; each invoice is then
reminded in its tenant's own unit of work by :func:`service.send_reminder`, which
claims the level so a rerun, or two workers racing, never send a level twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import structlog

from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.core.scheduler import scheduled
from bizos.modules.billing.dunning.service import reminder_due, send_reminder
from bizos.modules.billing.invoices.schemas import OPEN_STATUSES
from bizos.modules.billing.models import Invoice

log = structlog.get_logger("bizos.billing.dunning")

DUNNING_JOB = "billing.dunning"
JOB_BATCH = 500


@scheduled(DUNNING_JOB, every=dt.timedelta(hours=1))
async def dunning(db: Database, now: dt.datetime) -> None:
    await send_overdue_reminders(db, now)


async def _candidates(db: Database, today: dt.date, after: str | None) -> list[Any]:
    # Only invoices with a reminder still due are read, so the ones already reminded at
    # their level never fill a batch.
    async with db.unit_of_work(system=True, readonly=True) as session:
        query = sa.select(Invoice.id, Invoice.tenant_id).where(
            Invoice.status.in_(OPEN_STATUSES),
            Invoice.customer_email.is_not(None),
            reminder_due(today),
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
                    ctx = system_context(row.tenant_id)
                    sent += await send_reminder(session, ctx, row.id, now)
            except Exception:  # one invoice's trouble must not hold back the others
                log.exception("billing.dunning_failed", invoice_id=row.id, tenant_id=row.tenant_id)
        if len(batch) < JOB_BATCH:
            return sent
        after = batch[-1].id
