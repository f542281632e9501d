"""Each tenant's events carry a unique, increasing sequence that commits without gaps."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.events import Event, NewEvent, append_event, append_events
from tests.conftest import TenantLogin


async def sequences(db: Database, tenant_id: str) -> list[int]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        return list((await s.scalars(sa.select(Event.sequence).order_by(Event.sequence))).all())


async def test_many_small_appends_in_one_transaction_number_consecutively(
    db: Database, tenant: TenantLogin
) -> None:
    ctx = Context(tenant_id=tenant.tenant_id)
    before = await sequences(db, tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        for i in range(150):
            await append_event(s, ctx, "test.tick", aggregate_type="t", aggregate_id=str(i))
        await append_events(s, ctx, [NewEvent("test.tock", "t", "bulk")] * 100)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        await append_event(s, ctx, "test.after", aggregate_type="t", aggregate_id="x")
    after = await sequences(db, tenant.tenant_id)
    assert after == list(range(1, len(before) + 252))


async def test_a_rolled_back_savepoint_keeps_sequences_unique_and_increasing(
    db: Database, tenant: TenantLogin
) -> None:
    ctx = Context(tenant_id=tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        await append_event(s, ctx, "test.kept", aggregate_type="t", aggregate_id="a")
        savepoint = await s.begin_nested()
        await append_event(s, ctx, "test.dropped", aggregate_type="t", aggregate_id="b")
        await savepoint.rollback()
        await append_event(s, ctx, "test.kept", aggregate_type="t", aggregate_id="c")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        await append_event(s, ctx, "test.kept", aggregate_type="t", aggregate_id="d")
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        rows = (
            await s.execute(
                sa.select(Event.aggregate_id, Event.sequence)
                .where(Event.type.like("test.%"))
                .order_by(Event.sequence)
            )
        ).all()
    assert [r.aggregate_id for r in rows] == ["a", "c", "d"]
    numbers = [r.sequence for r in rows]
    assert numbers == sorted(set(numbers))


async def test_concurrent_writers_never_share_a_sequence_and_leave_no_gap(
    db: Database, tenant: TenantLogin
) -> None:
    ctx = Context(tenant_id=tenant.tenant_id)
    before = await sequences(db, tenant.tenant_id)

    async def writer(n: int) -> None:
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
            for i in range(5):
                await append_event(s, ctx, "test.w", aggregate_type="w", aggregate_id=f"{n}-{i}")

    await asyncio.gather(*(writer(n) for n in range(10)))
    assert await sequences(db, tenant.tenant_id) == list(range(1, len(before) + 51))
