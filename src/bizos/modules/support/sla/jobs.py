"""The SLA breach job: every minute, record each missed target not recorded yet (see
``service`` for what a breach records and who hears of it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import structlog

from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.core.scheduler import scheduled
from bizos.modules.support.sla.service import CLOSED_STATUSES, record_breaches
from bizos.modules.support.tickets.models import Ticket

log = structlog.get_logger("bizos.support.sla")

BREACH_JOB = "support.sla_breaches"
JOB_BATCH = 500


@scheduled(BREACH_JOB, every=dt.timedelta(minutes=1))
async def sla_breaches(db: Database, now: dt.datetime) -> None:
    await check_sla_breaches(db, now)


async def _candidates(db: Database, now: dt.datetime, after: str | None) -> list[Any]:
    # Across tenants: a system session reads ids and SLA fields only; each ticket is
    # then handled in its tenant's own unit of work.
    async with db.unit_of_work(system=True, readonly=True) as session:
        query = sa.select(
            Ticket.id,
            Ticket.tenant_id,
            Ticket.status,
            Ticket.first_response_due_at,
            Ticket.first_responded_at,
            Ticket.resolution_due_at,
            Ticket.sla_breaches,
        ).where(
            Ticket.status.not_in(CLOSED_STATUSES),
            sa.or_(
                sa.and_(Ticket.first_response_due_at <= now, Ticket.first_responded_at.is_(None)),
                Ticket.resolution_due_at <= now,
            ),
        )
        if after is not None:
            query = query.where(Ticket.id > after)
        rows = await session.execute(query.order_by(Ticket.id).limit(JOB_BATCH))
        return list(rows.all())


async def check_sla_breaches(db: Database, now: dt.datetime) -> int:
    """Record every breach due at ``now``, batch after batch; returns how many."""
    recorded, after = 0, None
    while True:
        batch = await _candidates(db, now, after)
        for row in batch:
            kinds = {b.get("kind") for b in row.sla_breaches or []}
            if not (
                (
                    row.first_response_due_at is not None
                    and row.first_response_due_at <= now
                    and row.first_responded_at is None
                    and "first_response" not in kinds
                )
                or (
                    row.resolution_due_at is not None
                    and row.resolution_due_at <= now
                    and "resolution" not in kinds
                )
            ):
                continue  # already recorded: no write transaction for it
            try:
                async with db.unit_of_work(tenant_id=row.tenant_id) as session:
                    recorded += await record_breaches(
                        session, system_context(row.tenant_id), row.id, now
                    )
            except Exception:  # one ticket's trouble must not hold back the others
                log.exception("support.sla_breach_failed", ticket_id=row.id)
        if len(batch) < JOB_BATCH:
            return recorded
        after = batch[-1].id
