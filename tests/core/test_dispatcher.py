"""The dispatcher feeds handlers the log in commit order and applies each effect once.

A handler's "effect" in these tests is a row: it appends an ``effect.recorded`` event
naming the event it handled, so counting effects is a query on the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import Settings
from bizos.core.context import Context, current_context
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.events import Event, NewEvent, append_event, append_events
from bizos.core.ids import new_id
from bizos.core.observability import metrics


async def append(db: Database, tenant_id: str, *types: str, aggregate_id: str = "a1") -> list[str]:
    """Append events of ``types`` for ``tenant_id`` in one committed transaction."""
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        rows = await append_events(
            s,
            Context(tenant_id=tenant_id),
            [NewEvent(t, "thing", aggregate_id, {"n": i}) for i, t in enumerate(types)],
        )
    return [r["id"] for r in rows]


async def record_effect(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    await append_event(
        session, ctx, "effect.recorded", aggregate_type="effect", aggregate_id=event.id
    )


async def effects(db: Database) -> dict[str, int]:
    """How many effects were recorded per handled event id."""
    async with db.unit_of_work(system=True, readonly=True) as s:
        rows = await s.execute(
            sa.select(Event.aggregate_id, sa.func.count())
            .where(Event.type == "effect.recorded")
            .group_by(Event.aggregate_id)
        )
        return {r[0]: r[1] for r in rows}


async def readable(db: Database) -> None:
    """Wait until every committed event is readable by the dispatcher.

    On PostgreSQL the dispatcher reads only below the oldest transaction still running
    anywhere in the cluster (other test sessions included), so an event committed a
    moment ago can be briefly out of its sight. Once readable, it stays readable.
    """
    if db.is_sqlite:
        return
    horizon = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    for _ in range(1500):
        async with db.unit_of_work(system=True, readonly=True) as s:
            behind = await s.scalar(
                sa.text(f"SELECT count(*) FROM events WHERE tx_id >= {horizon}")
            )
        if not behind:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("committed events stayed behind a running transaction")


async def poll_once(dispatcher: Dispatcher) -> int:
    """One ``run_once`` that sees everything committed before it."""
    await readable(dispatcher.db)
    return await dispatcher.run_once()


async def drain(dispatcher: Dispatcher, max_polls: int = 500) -> int:
    """Poll until every subscription has read the whole log; returns events handled."""
    total = 0
    for _ in range(max_polls):
        handled = await poll_once(dispatcher)
        total += handled
        if handled == 0:
            lags = [await dispatcher.lag(s.name) for s in dispatcher.subscriptions]
            if not any(lags):
                return total
    raise AssertionError("the dispatcher did not catch up")


def quick_retries(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(
        update={"dispatcher_base_backoff": 0.0, "dispatcher_max_attempts": 3, **changes}
    )


@pytest.fixture
def tenant_id() -> str:
    return new_id()


async def test_handler_sees_each_event_once_in_commit_order_caused_by_it(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    seen: list[tuple[str, str | None, str | None, str | None]] = []

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        current = current_context()
        assert current is not None and current.causation_id == event.id
        seen.append((event.id, ctx.tenant_id, ctx.causation_id, ctx.correlation_id))

    first = await append(db, tenant_id, "crm.lead.created", "crm.lead.scored")
    second = await append(db, tenant_id, "crm.lead.assigned")
    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.watcher", "crm.*", handler)

    assert await drain(dispatcher) == 3
    assert [s[0] for s in seen] == first + second
    assert all(s[1] == tenant_id and s[2] == s[0] for s in seen)
    # The correlation id travels from the appending context to the handler's.
    async with db.unit_of_work(system=True, readonly=True) as s:
        correlation = await s.scalar(sa.select(Event.correlation_id).where(Event.id == first[0]))
    assert seen[0][3] == correlation
    assert await drain(dispatcher) == 0  # nothing is handled twice


async def test_subscription_receives_only_matching_event_types(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    got: list[str] = []

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        got.append(event.type)

    await append(db, tenant_id, "crm.lead.created", "crm.deal.won", "support.ticket.opened")
    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.leads", ["crm.lead.*", "support.ticket.opened"], handler)
    await drain(dispatcher)
    assert got == ["crm.lead.created", "support.ticket.opened"]


async def test_events_caused_by_a_handler_carry_its_causation_and_are_dispatched_too(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.effects", "crm.*", record_effect)
    followers: list[EventRecord] = []

    async def follow(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        followers.append(event)

    dispatcher.subscribe("test.follower", "effect.*", follow)
    (source,) = await append(db, tenant_id, "crm.lead.created")
    await drain(dispatcher)
    assert [f.causation_id for f in followers] == [source]
    assert followers[0].aggregate_id == source


async def test_handler_session_belongs_to_the_events_tenant(
    db: Database, settings: Settings
) -> None:
    acme, globex = new_id(), new_id()
    await append(db, acme, "crm.lead.created", "crm.lead.created")
    await append(db, globex, "crm.lead.created")
    visible: dict[str, set[str]] = {}

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        tenants = set((await session.scalars(sa.select(Event.tenant_id))).all())
        if not db.is_sqlite:  # row-level security holds even for raw SQL
            raw = await session.execute(sa.text("SELECT DISTINCT tenant_id FROM events"))
            tenants |= {r[0] for r in raw}
        visible[event.id] = tenants

    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.tenancy", "crm.*", handler)
    await drain(dispatcher)
    assert len(visible) == 3
    assert {frozenset(v) for v in visible.values()} == {frozenset({acme}), frozenset({globex})}


async def test_crash_mid_batch_then_restart_applies_each_effect_exactly_once(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    ids = await append(db, tenant_id, *["crm.lead.created"] * 5)
    calls = 0
    reached_third = asyncio.Event()

    async def dies_on_third(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        nonlocal calls
        calls += 1
        await record_effect(session, ctx, event)
        if calls == 3:
            reached_third.set()
            await asyncio.Event().wait()  # the process dies here: see the cancel below

    crashing = Dispatcher(db, settings)
    crashing.subscribe("test.effects", "crm.*", dies_on_third)
    await readable(db)
    run = asyncio.create_task(crashing.run_once())
    await reached_third.wait()
    run.cancel()  # two savepoints released, the third in flight: all of it rolls back
    with contextlib.suppress(asyncio.CancelledError):
        await run
    assert await effects(db) == {}

    restarted = Dispatcher(db, settings)
    restarted.subscribe("test.effects", "crm.*", record_effect)
    assert await drain(restarted) == 5
    assert await effects(db) == dict.fromkeys(ids, 1)


async def test_crash_after_commit_before_checkpoint_reapplies_nothing(
    db: Database, settings: Settings, tenant_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await append(db, tenant_id, *["crm.lead.created"] * 4)
    crashing = Dispatcher(db, settings)
    crashing.subscribe("test.effects", "crm.*", record_effect)

    async def die(*_args: object) -> None:
        raise SystemExit("killed between the handlers' commit and the checkpoint")

    monkeypatch.setattr(crashing, "_save_checkpoint", die)
    with pytest.raises(SystemExit):
        await poll_once(crashing)
    assert await effects(db) == dict.fromkeys(ids, 1)

    calls: list[str] = []

    async def counting(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        calls.append(event.id)
        await record_effect(session, ctx, event)

    restarted = Dispatcher(db, settings)
    restarted.subscribe("test.effects", "crm.*", counting)
    await drain(restarted)
    assert calls == []  # the idempotency records said: already done
    assert await effects(db) == dict.fromkeys(ids, 1)


async def test_handler_failing_once_mid_batch_still_applies_every_effect_once(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    ids = await append(db, tenant_id, *["crm.lead.created"] * 5)
    calls: list[str] = []

    async def fails_on_third_once(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        calls.append(event.id)
        await record_effect(session, ctx, event)
        if event.id == ids[2] and calls.count(event.id) == 1:
            raise RuntimeError("enrichment provider timed out")

    dispatcher = Dispatcher(db, quick_retries(settings))
    dispatcher.subscribe("test.effects", "crm.*", fails_on_third_once)
    assert await poll_once(dispatcher) == 5
    assert await effects(db) == dict.fromkeys(ids, 1)
    # The failed optimistic pass was rolled back whole, then each event ran in its own
    # savepoint: the first two were called twice, yet their effects exist once.
    assert calls == ids[:3] + ids


async def test_persistently_failing_event_is_set_aside_then_retried_once_fixed(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    ids = await append(db, tenant_id, *["crm.lead.created"] * 5)
    broken = True

    async def flaky(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        await record_effect(session, ctx, event)  # rolled back with its savepoint
        if event.id == ids[2] and broken:
            raise RuntimeError("enrichment provider timed out")

    dispatcher = Dispatcher(db, quick_retries(settings))
    dispatcher.subscribe("test.effects", "crm.*", flaky)
    assert await poll_once(dispatcher) == 4  # the poison event did not block the others
    assert await effects(db) == dict.fromkeys(ids[:2] + ids[3:], 1)
    broken = False
    assert await poll_once(dispatcher) == 1  # the due retry
    assert await effects(db) == dict.fromkeys(ids, 1)
    assert await drain(dispatcher) == 0


async def test_run_forever_handles_a_commit_without_waiting_for_the_poll(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    handled = asyncio.Event()

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        handled.set()

    # A poll interval far longer than the test: only the commit wake-up can explain a hop.
    dispatcher = Dispatcher(db, settings.model_copy(update={"dispatcher_poll_interval": 3600}))
    dispatcher.subscribe("test.wake", "crm.*", handler)
    loop = asyncio.create_task(dispatcher.run_forever())
    try:
        await asyncio.sleep(0.05)  # let the first (empty) poll finish and the loop sleep
        await append(db, tenant_id, "crm.lead.created")
        await asyncio.wait_for(handled.wait(), timeout=30)
    finally:
        dispatcher.stop()
        await asyncio.wait_for(loop, timeout=30)


async def test_lag_and_handled_metrics_follow_the_log(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.metrics", "crm.*", record_effect)
    await append(db, tenant_id, "crm.lead.created", "crm.lead.created", "billing.invoice.paid")
    assert await dispatcher.lag("test.metrics") == 3
    handled = metrics.events_handled.labels(subscriber="test.metrics")
    before = handled._value.get()
    await drain(dispatcher)
    assert handled._value.get() - before == 2
    assert metrics.dispatcher_lag.labels(subscriber="test.metrics")._value.get() == 0
    assert await dispatcher.lag("test.metrics") == 0


def test_subscription_names_are_unique_and_need_patterns(db: Database) -> None:
    dispatcher = Dispatcher(db)
    dispatcher.subscribe("test.one", "crm.*", record_effect)
    with pytest.raises(ValueError, match="already registered"):
        dispatcher.subscribe("test.one", "crm.*", record_effect)
    with pytest.raises(ValueError, match="pattern"):
        dispatcher.subscribe("test.two", [], record_effect)


async def test_old_idempotency_records_are_pruned_without_reapplying_effects(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    ids = await append(db, tenant_id, "crm.lead.created", "crm.lead.created")
    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.effects", "crm.*", record_effect)
    await drain(dispatcher)
    assert await dispatcher.prune_processed() == 0  # recent records stay
    assert await dispatcher.prune_processed(older_than=dt.timedelta(0)) == 2
    await drain(dispatcher)  # the checkpoint is past them: nothing runs again
    assert await effects(db) == dict.fromkeys(ids, 1)


async def test_seeded_history_recorded_as_handled_is_skipped_up_to_the_first_event_left(
    db: Database, settings: Settings, tenant_id: str
) -> None:
    """Seeding marks a year of history handled; the workers then start at the events
    left for them instead of reading the whole log, and miss none of those."""
    from bizos.core.dispatcher_models import PROCESSED

    got: list[str] = []

    async def handler(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        got.append(event.id)

    history = await append(db, tenant_id, "crm.lead.created", "crm.deal.won", "crm.lead.scored")
    left = await append(db, tenant_id, "crm.lead.created", "billing.invoice.paid")
    after = await append(db, tenant_id, "crm.lead.assigned")
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        await s.execute(
            sa.insert(PROCESSED),
            [
                {"subscriber": "test.leads", "event_id": history[0], "tenant_id": tenant_id},
                {"subscriber": "test.leads", "event_id": history[2], "tenant_id": tenant_id},
            ],
        )
    dispatcher = Dispatcher(db, settings)
    dispatcher.subscribe("test.leads", "crm.lead.*", handler)
    dispatcher.subscribe("test.idle", "support.*", handler)
    await readable(db)

    skipped = await dispatcher.skip_handled()

    # test.leads stops at its first unhandled event; test.idle matches nothing at all.
    assert skipped == 3 + 6
    assert await dispatcher.lag("test.leads") == 3
    assert await dispatcher.lag("test.idle") == 0
    fresh = Dispatcher(db, settings)  # a new process reads the saved checkpoints
    fresh.subscribe("test.leads", "crm.lead.*", handler)
    fresh.subscribe("test.idle", "support.*", handler)
    await drain(fresh)
    assert got == [left[0], after[0]]
