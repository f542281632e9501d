"""Pipeline velocity, computed by the database: days per stage, win rate, sales cycle."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.money import cents
from bizos.modules.crm.deals.schemas import OPEN_STAGES, StageVelocity, VelocityReport
from bizos.modules.crm.models import Deal, DealStageChange


def _epoch_seconds(session: AsyncSession, column: Any) -> Any:
    """Seconds since 1970 of a timestamp column, in this database's dialect."""
    assert session.bind is not None
    if session.bind.dialect.name == "postgresql":
        return sa.extract("epoch", column)
    return (sa.func.julianday(column) - 2440587.5) * 86400.0


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


async def velocity_report(
    session: AsyncSession,
    ctx: Context,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    owner_id: str | None = None,
) -> VelocityReport:
    """Stage exits in ``[since, until]`` (dates inclusive, UTC) and deals closed then.

    Days per stage = mean time deals spent in the stage before leaving it (forward or
    back); win rate = won / (won + lost); cycle = mean days from creation to won.
    """
    tenant_id = ctx.require_tenant()
    changes = sa.select(
        DealStageChange.from_stage,
        sa.func.count(),
        sa.func.avg(DealStageChange.seconds_in_previous),
    ).where(
        DealStageChange.tenant_id == tenant_id,
        DealStageChange.from_stage.in_(OPEN_STAGES),
    )
    closed = sa.select(
        Deal.stage,
        Deal.currency,
        sa.func.count(),
        sa.func.sum(Deal.amount),
        sa.func.avg(
            _epoch_seconds(session, Deal.closed_at) - _epoch_seconds(session, Deal.created_at)
        ),
    ).where(Deal.tenant_id == tenant_id, Deal.stage.in_(("won", "lost")))
    if since is not None:
        changes = changes.where(DealStageChange.changed_at >= _day_start(since))
        closed = closed.where(Deal.closed_at >= _day_start(since))
    if until is not None:
        end = _day_start(until + dt.timedelta(days=1))
        changes = changes.where(DealStageChange.changed_at < end)
        closed = closed.where(Deal.closed_at < end)
    if owner_id is not None:
        changes = changes.where(
            DealStageChange.deal_id.in_(
                sa.select(Deal.id).where(Deal.tenant_id == tenant_id, Deal.owner_id == owner_id)
            )
        )
        closed = closed.where(Deal.owner_id == owner_id)

    per_stage = {
        stage: (int(count), float(avg) if avg is not None else None)
        for stage, count, avg in (
            await session.execute(changes.group_by(DealStageChange.from_stage))
        ).all()
    }
    stages = [
        StageVelocity(
            stage=stage,
            exits=per_stage.get(stage, (0, None))[0],
            average_days=(
                round(avg / 86400, 2)
                if (avg := per_stage.get(stage, (0, None))[1]) is not None
                else None
            ),
        )
        for stage in OPEN_STAGES
    ]

    won = lost = 0
    won_amounts: dict[str, Decimal] = {}
    cycle_seconds_total = 0.0
    for stage, currency, count, total, avg_cycle in (
        await session.execute(closed.group_by(Deal.stage, Deal.currency))
    ).all():
        if stage == "won":
            won += int(count)
            won_amounts[currency] = cents(total or 0)
            cycle_seconds_total += float(avg_cycle or 0) * int(count)
        else:
            lost += int(count)
    return VelocityReport(
        since=since,
        until=until,
        owner_id=owner_id,
        stages=stages,
        won_count=won,
        lost_count=lost,
        win_rate=round(won / (won + lost), 4) if won + lost else None,
        average_cycle_days=round(cycle_seconds_total / won / 86400, 2) if won else None,
        won_amount_by_currency=won_amounts,
    )
