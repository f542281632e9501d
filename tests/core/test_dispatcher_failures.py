"""Handler failures: retried with backoff, dead-lettered after the last attempt."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database, utcnow
from bizos.core.dispatcher import (
    DEAD,
    RETRYING,
    Dispatcher,
    DispatchFailure,
    EventRecord,
    backoff_delay,
)
from bizos.core.ids import new_id
from bizos.core.observability import metrics
from tests.core.test_dispatcher import append, effects, poll_once, quick_retries, record_effect


async def failures(db: Database) -> list[DispatchFailure]:
    async with db.unit_of_work(system=True, readonly=True) as s:
        return list((await s.scalars(sa.select(DispatchFailure))).all())


async def test_poison_event_is_dead_lettered_after_max_attempts_while_others_flow(
    db: Database, settings: Settings
) -> None:
    tenant = new_id()
    poison, *healthy = await append(db, tenant, *["crm.lead.created"] * 3)

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        if event.id == poison:
            raise ValueError("lead has no email")
        await record_effect(session, ctx, event)

    dead_before = metrics.events_dead_lettered.labels(subscriber="test.poison")._value.get()
    dispatcher = Dispatcher(db, quick_retries(settings, dispatcher_max_attempts=3))
    dispatcher.subscribe("test.poison", "crm.*", handler)

    assert await poll_once(dispatcher) == 2
    assert await effects(db) == dict.fromkeys(healthy, 1)
    [failure] = await failures(db)
    assert (failure.status, failure.attempts, failure.event_id) == (RETRYING, 1, poison)
    assert failure.tenant_id == tenant
    assert failure.last_error == "ValueError: lead has no email"

    await poll_once(dispatcher)
    await poll_once(dispatcher)
    [failure] = await failures(db)
    assert (failure.status, failure.attempts, failure.next_attempt_at) == (DEAD, 3, None)
    after = metrics.events_dead_lettered.labels(subscriber="test.poison")._value.get()
    assert after - dead_before == 1

    assert await poll_once(dispatcher) == 0  # a dead letter waits for an admin
    [failure] = await failures(db)
    assert failure.attempts == 3


async def test_retry_waits_for_its_backoff(db: Database, settings: Settings) -> None:
    tenant = new_id()
    await append(db, tenant, "crm.lead.created")
    calls = 0

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("down")

    dispatcher = Dispatcher(db, settings.model_copy(update={"dispatcher_base_backoff": 600.0}))
    dispatcher.subscribe("test.backoff", "crm.*", handler)
    started = utcnow()
    await poll_once(dispatcher)
    first_poll = calls  # the optimistic pass, then the isolated one
    await poll_once(dispatcher)
    assert calls == first_poll  # not due yet
    [failure] = await failures(db)
    assert failure.next_attempt_at is not None
    assert failure.next_attempt_at >= started + dt.timedelta(seconds=300)


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    for attempts, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0)]:
        delays = [backoff_delay(attempts, 2.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff_delay(40, 2.0) <= 3600


async def test_one_broken_subscription_does_not_stop_the_others(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await append(db, new_id(), "crm.lead.created")
    seen: list[str] = []

    async def healthy(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        seen.append(event.id)

    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.broken", "crm.*", record_effect)
    dispatcher.subscribe("test.healthy", "crm.*", healthy)
    save = dispatcher._save_checkpoint

    async def failing_save(name: str, after: tuple[int, int]) -> None:
        if name == "test.broken":
            raise OSError("disk full")
        await save(name, after)

    monkeypatch.setattr(dispatcher, "_save_checkpoint", failing_save)
    await poll_once(dispatcher)
    assert seen == ids
    monkeypatch.setattr(dispatcher, "_save_checkpoint", save)
    await poll_once(dispatcher)  # re-reads what the broken one could not checkpoint...
    assert await effects(db) == dict.fromkeys(ids, 1)  # ...and applies nothing twice
    assert await dispatcher.lag("test.broken") == 0 or await poll_once(dispatcher) == 0
