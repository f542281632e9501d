"""PostgreSQL only: transactions that commit out of order never make the dispatcher skip."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.events import NewEvent, append_events
from bizos.core.ids import new_id
from tests.conftest import IS_PG
from tests.core.test_dispatcher import append, drain

pytestmark = pytest.mark.skipif(not IS_PG, reason="needs PostgreSQL (BIZOS_TEST_DATABASE_URL)")


async def test_earlier_transaction_committing_last_is_not_skipped(
    db: Database, settings: Settings
) -> None:
    handled: list[str] = []

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        handled.append(event.id)

    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.order", "crm.*", handler)
    slow_tenant, fast_tenant = new_id(), new_id()

    # The slow transaction appends first, so it holds the lower position and tx id...
    slow = db.new_session(tenant_id=slow_tenant)
    await slow.begin()
    rows = await append_events(
        slow, Context(tenant_id=slow_tenant), [NewEvent("crm.lead.created", "lead", "l1")]
    )
    early = rows[0]["id"]
    try:
        # ...then a later transaction commits first.
        (late,) = await append(db, fast_tenant, "crm.lead.created")
        await dispatcher.run_once()
        assert handled == []  # the later event waits: reading it would step over `early`
        assert await dispatcher.lag("test.order") == 1
        await slow.commit()
    finally:
        await slow.close()

    await drain(dispatcher)
    assert handled == [early, late]


async def test_rolled_back_transaction_does_not_hold_the_dispatcher(
    db: Database, settings: Settings
) -> None:
    handled: list[str] = []

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        handled.append(event.id)

    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.order", "crm.*", handler)
    tenant = new_id()
    doomed = db.new_session(tenant_id=tenant)
    await doomed.begin()
    await append_events(doomed, Context(tenant_id=tenant), [NewEvent("crm.lead.created", "l", "x")])
    (kept,) = await append(db, new_id(), "crm.lead.created")
    await doomed.rollback()
    await doomed.close()
    await drain(dispatcher)
    assert handled == [kept]
