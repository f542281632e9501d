"""The dispatcher's reads of the event log and its own bookkeeping.

Reading in commit order (see :mod:`bizos.core.dispatcher`): rows are ordered by
``(tx_id, position)``, and on PostgreSQL only rows whose writing transaction is older than
every transaction still running are readable (:data:`PG_VISIBLE_HORIZON`). Each
subscriber's saved position is its checkpoint; ``processed_events`` records which events
it has handled, written in the handler's own transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.db import Database, utcnow
from bizos.core.dispatcher_models import CHECKPOINTS, FAILURES, PROCESSED, EventRecord
from bizos.core.events import EVENTS

LAG_CAP = 100_000
PG_VISIBLE_HORIZON: sa.ColumnElement[int] = sa.literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
)


def position_of(row: Any) -> tuple[int, int]:
    """An event's place in the read order, ``(tx_id, position)``; (0, 0) before the first."""
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


@contextlib.asynccontextmanager
async def lease(db: Database, name: str) -> AsyncIterator[bool]:
    """Exclusive right to poll ``name`` for the duration of the block.

    PostgreSQL: a transaction-scoped advisory lock on a read-only transaction (it takes
    no transaction id, so it does not hold back the visibility horizon). SQLite runs
    one writer at a time and one worker per file, so no lock is needed.
    """
    if db.is_sqlite:
        yield True
        return
    async with db.unit_of_work(system=True, readonly=True) as session:
        acquired = await session.scalar(
            sa.text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"bizos.dispatcher:{name}"},
        )
        yield bool(acquired)


async def saved_position(session: AsyncSession, name: str) -> tuple[int, int]:
    cp = CHECKPOINTS
    row = (
        await session.execute(
            sa.select(cp.c.last_tx_id, cp.c.last_position).where(cp.c.subscriber == name)
        )
    ).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _after(after: tuple[int, int]) -> sa.ColumnElement[bool]:
    e = EVENTS.c
    return sa.tuple_(e.tx_id, e.position) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))


async def next_batch(
    session: AsyncSession, after: tuple[int, int], *, sqlite: bool, limit: int
) -> list[EventRecord]:
    e = EVENTS
    query = sa.select(e).where(_after(after))
    if not sqlite:
        query = query.where(e.c.tx_id < PG_VISIBLE_HORIZON)
    query = query.order_by(e.c.tx_id, e.c.position).limit(limit)
    return [EventRecord.from_row(r) for r in (await session.execute(query)).all()]


async def count_after(db: Database, after: tuple[int, int]) -> int:
    """Events appended after ``after`` (committed or not yet visible), capped."""
    inner = sa.select(sa.literal(1)).where(_after(after)).limit(LAG_CAP).subquery()
    async with db.unit_of_work(system=True, readonly=True) as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(inner)) or 0)


async def save_position(db: Database, name: str, after: tuple[int, int]) -> None:
    cp = CHECKPOINTS
    values = {"last_tx_id": after[0], "last_position": after[1], "updated_at": utcnow()}
    async with db.unit_of_work(system=True) as session:
        result = await session.execute(
            sa.update(cp).where(cp.c.subscriber == name).values(**values)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            await session.execute(sa.insert(cp).values(subscriber=name, **values))


async def already_seen(session: AsyncSession, name: str, event_ids: list[str]) -> set[str]:
    """Events this subscriber already handled, or whose failure is tracked for retry."""
    pe, df = PROCESSED, FAILURES
    query = sa.union_all(
        sa.select(pe.c.event_id).where(pe.c.subscriber == name, pe.c.event_id.in_(event_ids)),
        sa.select(df.c.event_id).where(df.c.subscriber == name, df.c.event_id.in_(event_ids)),
    )
    return set((await session.scalars(query)).all())


async def was_processed(session: AsyncSession, name: str, event_id: str) -> bool:
    pe = PROCESSED
    found = await session.scalar(
        sa.select(pe.c.event_id).where(pe.c.subscriber == name, pe.c.event_id == event_id)
    )
    return found is not None


async def mark_processed(
    session: AsyncSession, name: str, tenant_id: str, event_ids: list[str]
) -> None:
    if not event_ids:
        return
    now = utcnow()
    await session.execute(
        sa.insert(PROCESSED),
        [
            {"subscriber": name, "event_id": i, "tenant_id": tenant_id, "processed_at": now}
            for i in event_ids
        ],
    )
