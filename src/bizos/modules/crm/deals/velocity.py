"""Pipeline reports, computed by the database: velocity (days per stage, win rate, sales
cycle) and the open pipeline (count and value per stage and currency)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.money import cents
from bizos.modules.crm.deals.schemas import (
    OPEN_STAGES,
    OpenPipeline,
    StageTotal,
    StageVelocity,
    VelocityReport,
)
from bizos.modules.crm.models import Deal, DealStageChange
from bizos.modules.crm.records import where_equal


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
    changes, closed = _queries(session, ctx.require_tenant(), since, until, owner_id)
    stages = await _stages(session, changes)
    won, lost, won_amounts, cycle_seconds_total = await _closed(session, closed)
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


def _queries(
    session: AsyncSession,
    tenant_id: str,
    since: dt.date | None,
    until: dt.date | None,
    owner_id: str | None,
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The stage exits and the closed deals in the window, for one owner if given."""
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
    return changes, closed


async def _stages(session: AsyncSession, changes: sa.Select[Any]) -> list[StageVelocity]:
    """Exits and mean days per open stage, every open stage listed."""
    per_stage = {
        stage: (int(count), float(avg) if avg is not None else None)
        for stage, count, avg in (
            await session.execute(changes.group_by(DealStageChange.from_stage))
        ).all()
    }
    stages = []
    for stage in OPEN_STAGES:
        exits, avg = per_stage.get(stage, (0, None))
        average_days = round(avg / 86400, 2) if avg is not None else None
        stages.append(StageVelocity(stage=stage, exits=exits, average_days=average_days))
    return stages


async def _closed(
    session: AsyncSession, closed: sa.Select[Any]
) -> tuple[int, int, dict[str, Decimal], float]:
    """Won and lost counts, the won amount per currency, and the won deals' total cycle
    in seconds."""
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
    return won, lost, won_amounts, cycle_seconds_total


async def open_pipeline(
    session: AsyncSession,
    ctx: Context,
    *,
    owner_id: str | None = None,
    currency: str | None = None,
    id_limit: int = 100,
) -> OpenPipeline:
    """The open deals (``lead`` to ``negotiation``) counted and summed per stage and
    currency, optionally of one owner or currency; their ids largest first."""
    where = where_equal(
        sa.select(Deal.id).where(Deal.tenant_id == ctx.require_tenant()),
        [(Deal.owner_id, owner_id), (Deal.currency, currency)],
    ).where(Deal.stage.in_(OPEN_STAGES))
    sums = await session.execute(
        where.with_only_columns(
            Deal.stage, Deal.currency, sa.func.count(), sa.func.sum(Deal.amount)
        ).group_by(Deal.stage, Deal.currency)
    )
    totals = [
        StageTotal(stage=stage, currency=cur, count=int(n), amount=cents(total or 0))
        for stage, cur, n, total in sums.all()
    ]
    totals.sort(key=lambda t: (t.currency, OPEN_STAGES.index(t.stage)))
    ids = await session.scalars(where.order_by(Deal.amount.desc(), Deal.id).limit(id_limit))
    return OpenPipeline(totals=totals, deal_count=sum(t.count for t in totals), deal_ids=list(ids))
