"""The event dispatcher: at-least-once delivery, exactly-once effect (DESIGN rule 3).

How it keeps its promises:

* **Commit order, nothing skipped.** Each subscription has a checkpoint ``(tx_id,
  position)`` and reads the rows after it ordered by ``(tx_id, position)``. On SQLite
  ``tx_id`` is always 0 and one writer at a time makes position order commit order. On
  PostgreSQL positions are drawn before commit, so a later position can commit first;
  the reader therefore only takes rows whose writing transaction is older than every
  transaction still running (``tx_id < pg_snapshot_xmin(pg_current_snapshot())``).
  Every such transaction has finished, so no row can later appear behind the checkpoint.
* **Exactly-once effect.** A handler's effects and its ``processed_events`` record
  ``(subscriber, event_id)`` commit in one transaction; an event already recorded is
  skipped, so re-reading after a crash re-applies nothing. The checkpoint only saves
  re-reading and is written after the handlers' transactions commit.
* **Throughput.** A batch is handled in one transaction per tenant, with a SAVEPOINT per
  event so a failing handler rolls back only its own work. Grouping by tenant is what
  keeps row-level security honest on PostgreSQL: ``app.tenant_id`` is set once per
  transaction by the tenant session, and every handler in it works for that tenant.
  Order within a tenant (and so within an aggregate) is kept; tenants are independent.
* **Poison events do not block.** A failure is recorded in ``dispatch_failures`` in the
  same transaction and the checkpoint moves on. Failures are retried with exponential
  backoff and jitter; after ``dispatcher_max_attempts`` they are dead letters until an
  admin replays them.
* **One reader per subscription.** On PostgreSQL a transaction-scoped advisory lock per
  subscription keeps several worker processes from handling the same batch twice (the
  idempotency record would make that harmless, but wasteful).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core import dispatcher_log as log_reads
from bizos.core.config import Settings, get_settings
from bizos.core.context import Context, use_context
from bizos.core.db import Database, utcnow
from bizos.core.dispatcher_models import (
    DEAD,
    FAILURE_STATUSES,
    FAILURES,
    PROCESSED,
    REPLAYED,
    RESOLVED,
    RETRYING,
    DispatcherCheckpoint,
    DispatchFailure,
    EventRecord,
    Handler,
    ProcessedEvent,
    Subscription,
    backoff_delay,
    describe_error,
    handler_context,
    type_matcher,
)
from bizos.core.events import EVENTS, Wakeup, on_commit
from bizos.core.ids import new_id
from bizos.core.observability import metrics, tracer

log = structlog.get_logger("bizos.dispatcher")

__all__ = [
    "DEAD",
    "FAILURE_STATUSES",
    "REPLAYED",
    "RESOLVED",
    "RETRYING",
    "DispatchFailure",
    "Dispatcher",
    "DispatcherCheckpoint",
    "EventRecord",
    "Handler",
    "ProcessedEvent",
    "Subscription",
    "backoff_delay",
    "handler_context",
    "type_matcher",
]

_DUE_STATUSES = (RETRYING, REPLAYED)
# A subscriber with nothing to handle writes its read position at most this often.
CHECKPOINT_FLUSH_SECONDS = 5.0
_RECHECK_SECONDS = 0.01
# Idempotency records only matter until the checkpoint (saved right after the handlers'
# commit) has passed their event; a day is a wide margin and keeps the table bounded.
PROCESSED_RETENTION = dt.timedelta(days=1)
_PRUNE_EVERY_SECONDS = 600.0
_PRUNE_CHUNK = 5000


@dataclass(slots=True)
class _Outcome:
    handled: int = 0
    failed: int = 0
    dead: int = 0

    def add(self, other: _Outcome) -> None:
        self.handled += other.handled
        self.failed += other.failed
        self.dead += other.dead


class _GroupFailed(Exception):
    """A handler failed on the optimistic path; the group is rolled back and isolated."""


@dataclass(frozen=True, slots=True)
class _DueFailure:
    id: str
    attempts: int
    status: str
    event: EventRecord


# --- the dispatcher ---------------------------------------------------------------------


class Dispatcher:
    """Registry of subscriptions and the loop that feeds them the log."""

    def __init__(self, database: Database, settings: Settings | None = None) -> None:
        self.db = database
        self.settings = settings or get_settings()
        self._subscriptions: dict[str, Subscription] = {}
        self._wakeup = Wakeup()
        self._stopping = False
        self._more_waiting = False
        self._behind = False
        # Where each subscription has read to in this process, and when that was last
        # written to the database. A batch with nothing for a subscriber moves only the
        # position in memory; the checkpoint row is written with its next handled batch
        # or after CHECKPOINT_FLUSH_SECONDS. Reading those events again after a restart
        # costs a read and changes nothing, and it spares a write transaction per
        # subscription per commit (on SQLite, queued behind the one writer).
        self._positions: dict[str, tuple[int, int]] = {}
        self._flushed_at: dict[str, float] = {}

    # registration

    def subscribe(self, name: str, patterns: Iterable[str] | str, handler: Handler) -> None:
        """Register ``handler`` under the stable ``name`` its checkpoint is kept by."""
        pats = (patterns,) if isinstance(patterns, str) else tuple(patterns)
        if not pats:
            raise ValueError(f"subscription {name!r} needs at least one event type pattern")
        if name in self._subscriptions:
            raise ValueError(f"subscription {name!r} is already registered")
        self._subscriptions[name] = Subscription(name, pats, handler, type_matcher(pats))

    def on(self, name: str, *patterns: str) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`subscribe`."""

        def register(handler: Handler) -> Handler:
            self.subscribe(name, patterns, handler)
            return handler

        return register

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subscriptions.values())

    # one poll

    async def run_once(self) -> int:
        """Poll every subscription once: due retries, then the next batch. Returns handled."""
        self._more_waiting = False
        self._behind = False
        handled, errors = 0, []
        subscriptions = list(self._subscriptions.values())
        if await self._caught_up(subscriptions):
            return 0
        for sub in subscriptions:
            # One subscription's trouble (say, its group commit failing) must not starve
            # the others; it is logged and polled again next time.
            try:
                handled += await self._poll(sub)
            except Exception as exc:
                log.exception("dispatcher.subscription_poll_failed", subscriber=sub.name)
                errors.append(exc)
        if errors and len(errors) == len(subscriptions):
            raise errors[-1]  # nothing works (the database is down?): let the loop back off
        return handled

    async def _caught_up(self, subscriptions: list[Subscription]) -> bool:
        """True when no subscription has anything to do: each has read past the newest
        readable event and no retry is due. One read of two index lookups, instead of a
        poll per subscription every interval (most wake-ups find nothing new for most)."""
        known = [self._positions.get(sub.name) for sub in subscriptions]
        if not subscriptions or any(position is None for position in known):
            return False
        e, df = EVENTS, FAILURES
        newest = sa.select(e.c.tx_id, e.c.position).order_by(e.c.tx_id.desc(), e.c.position.desc())
        async with self.db.unit_of_work(system=True, readonly=True) as session:
            due = await session.scalar(
                sa.select(df.c.id)
                .where(
                    df.c.subscriber.in_([sub.name for sub in subscriptions]),
                    df.c.status.in_(_DUE_STATUSES),
                    df.c.next_attempt_at <= utcnow(),
                )
                .limit(1)
            )
            if due is not None:
                return False
            readable = (
                newest
                if self.db.is_sqlite
                else newest.where(e.c.tx_id < log_reads.PG_VISIBLE_HORIZON)
            )
            head = log_reads.position_of((await session.execute(readable.limit(1))).first())
            if any(position is None or position < head for position in known):
                return False
            if not self.db.is_sqlite:
                # Rows of transactions still open are not readable yet: look again soon.
                self._behind = (
                    log_reads.position_of((await session.execute(newest.limit(1))).first()) > head
                )
        for sub in subscriptions:
            metrics.dispatcher_lag.labels(subscriber=sub.name).set(0)
        return True

    async def _poll(self, sub: Subscription) -> int:
        async with log_reads.lease(self.db, sub.name) as leased:
            if not leased:
                return 0
            async with self.db.unit_of_work(system=True, readonly=True) as session:
                due = await self._due_failures(session, sub.name)
                after = self._position(sub.name, await log_reads.saved_position(session, sub.name))
                batch = await log_reads.next_batch(
                    session,
                    after,
                    sqlite=self.db.is_sqlite,
                    limit=self.settings.dispatcher_batch_size,
                )
            outcome = _Outcome()
            if due:
                await self._retry(sub, due, outcome)
            full = len(batch) >= self.settings.dispatcher_batch_size
            self._positions[sub.name] = after
            if batch:
                matched = await self._handle_batch(sub, batch, outcome)
                after = (batch[-1].tx_id, batch[-1].position)
                self._positions[sub.name] = after
                now = time.monotonic()
                stale = now - self._flushed_at.get(sub.name, 0.0) >= CHECKPOINT_FLUSH_SECONDS
                if matched or stale:
                    await self._save_checkpoint(sub.name, after)
                    self._flushed_at[sub.name] = now
                self._more_waiting |= full
        self._record_metrics(sub.name, outcome)
        # On SQLite every committed event is visible: a batch short of full read them all.
        lag = 0 if self.db.is_sqlite and not full else await log_reads.count_after(self.db, after)
        metrics.dispatcher_lag.labels(subscriber=sub.name).set(lag)
        # Rows behind a still-running transaction (PostgreSQL) are not readable yet, and
        # the commit that woke us may be why: look again soon rather than a poll later.
        self._behind |= lag > 0 and not batch
        return outcome.handled

    def _position(self, name: str, saved: tuple[int, int]) -> tuple[int, int]:
        """The later of the saved checkpoint and what this process has read past."""
        return max(saved, self._positions.get(name, saved))

    async def lag(self, name: str) -> int:
        """How many events ``name`` has yet to read (tests and /readyz use this)."""
        async with self.db.unit_of_work(system=True, readonly=True) as session:
            after = self._position(name, await log_reads.saved_position(session, name))
        return await log_reads.count_after(self.db, after)

    async def _save_checkpoint(self, name: str, after: tuple[int, int]) -> None:
        await log_reads.save_position(self.db, name, after)

    # handling a batch

    async def _handle_batch(
        self, sub: Subscription, batch: Sequence[EventRecord], outcome: _Outcome
    ) -> bool:
        """Handle the events of ``batch`` that ``sub`` wants; False if there were none."""
        by_tenant: dict[str, list[EventRecord]] = {}
        for event in batch:
            if sub.matches(event.type):
                by_tenant.setdefault(event.tenant_id, []).append(event)
        for tenant_id, events in by_tenant.items():
            await self._handle_tenant_events(sub, tenant_id, events, outcome)
        return bool(by_tenant)

    async def _handle_tenant_events(
        self, sub: Subscription, tenant_id: str, events: list[EventRecord], outcome: _Outcome
    ) -> None:
        """Handle one tenant's share of a batch in one transaction.

        Optimistic first: no savepoints, because on both databases a savepoint around a
        small write costs as much as the write itself. If a handler fails, that whole
        transaction rolls back and the group runs again with a savepoint per event, so only
        the failing event is set aside. Handlers before it then run twice; their effects
        commit once (delivery is at-least-once, handling exactly-once in effect).
        """
        try:
            local = await self._run_group(sub, tenant_id, events, isolate=False)
        except _GroupFailed:
            local = await self._run_group(sub, tenant_id, events, isolate=True)
        # Counted only once the transaction has committed.
        outcome.add(local)

    async def _run_group(
        self, sub: Subscription, tenant_id: str, events: list[EventRecord], *, isolate: bool
    ) -> _Outcome:
        local = _Outcome()
        async with self.db.unit_of_work(tenant_id=tenant_id) as session:
            seen = await log_reads.already_seen(session, sub.name, [e.id for e in events])
            done: list[str] = []
            for event in events:
                if event.id in seen:
                    continue
                error = await self._attempt(session, sub, event, isolate=isolate)
                if error is None:
                    done.append(event.id)
                elif not isolate:
                    raise _GroupFailed from error
                else:
                    await self._record_first_failure(session, sub, event, error, local)
            await log_reads.mark_processed(session, sub.name, tenant_id, done)
            local.handled += len(done)
        return local

    async def _attempt(
        self, session: AsyncSession, sub: Subscription, event: EventRecord, *, isolate: bool
    ) -> Exception | None:
        """Run one handler (in its own savepoint if ``isolate``); returns its failure.

        Its writes are flushed here so a failing write is blamed on this handler. Only
        ``Exception`` is caught: cancellation and process exit roll the whole transaction
        back, which is what a crash must look like.
        """
        ctx = handler_context(event)
        attributes = {"subscriber": sub.name, "event.type": event.type, "event.id": event.id}
        with tracer.start_as_current_span("dispatcher.handle", attributes=attributes):
            try:
                if isolate:
                    async with session.begin_nested():
                        await self._call(session, sub, ctx, event)
                else:
                    await self._call(session, sub, ctx, event)
                    if session.new or session.dirty or session.deleted:
                        await session.flush()
            except Exception as exc:
                return exc
        return None

    async def _call(
        self, session: AsyncSession, sub: Subscription, ctx: Context, event: EventRecord
    ) -> None:
        session.info["ctx"] = ctx  # the audit hook attributes the handler's writes to it
        with use_context(ctx):
            await sub.handler(session, ctx, event)

    async def _record_first_failure(
        self,
        session: AsyncSession,
        sub: Subscription,
        event: EventRecord,
        error: Exception,
        outcome: _Outcome,
    ) -> None:
        now = utcnow()
        dead = self.settings.dispatcher_max_attempts <= 1
        await session.execute(
            sa.insert(FAILURES).values(
                id=new_id(),
                tenant_id=event.tenant_id,
                subscriber=sub.name,
                event_id=event.id,
                event_type=event.type,
                attempts=1,
                status=DEAD if dead else RETRYING,
                next_attempt_at=None if dead else self._next_attempt(1, now),
                last_error=describe_error(error),
                created_at=now,
                updated_at=now,
            )
        )
        self._log_failure(sub.name, event, error, attempts=1, dead=dead)
        outcome.failed += 1
        outcome.dead += dead

    def _next_attempt(self, attempts: int, now: dt.datetime) -> dt.datetime:
        delay = backoff_delay(attempts, self.settings.dispatcher_base_backoff)
        return now + dt.timedelta(seconds=delay)

    def _log_failure(
        self, name: str, event: EventRecord, error: Exception, *, attempts: int, dead: bool
    ) -> None:
        # The error text may quote personal data, so only its type reaches the log; the
        # full message is in the dead-letter row, visible to the tenant's admins.
        log.warning(
            "dispatcher.event_dead_lettered" if dead else "dispatcher.handler_failed",
            subscriber=name,
            event_id=event.id,
            event_type=event.type,
            tenant_id=event.tenant_id,
            attempts=attempts,
            error_type=type(error).__name__,
        )

    # retries

    async def _due_failures(self, session: AsyncSession, name: str) -> list[_DueFailure]:
        df, e = FAILURES, EVENTS
        query = (
            sa.select(df.c.id.label("failure_id"), df.c.attempts, df.c.status, e)
            .join(e, e.c.id == df.c.event_id)
            .where(
                df.c.subscriber == name,
                df.c.status.in_(_DUE_STATUSES),
                df.c.next_attempt_at <= utcnow(),
            )
            .order_by(df.c.next_attempt_at)
            .limit(self.settings.dispatcher_batch_size)
        )
        rows = (await session.execute(query)).all()
        return [
            _DueFailure(r.failure_id, r.attempts, r.status, EventRecord.from_row(r)) for r in rows
        ]

    async def _retry(self, sub: Subscription, due: list[_DueFailure], outcome: _Outcome) -> None:
        by_tenant: dict[str, list[_DueFailure]] = {}
        for failure in due:
            by_tenant.setdefault(failure.event.tenant_id, []).append(failure)
        for tenant_id, failures in by_tenant.items():
            local = _Outcome()
            async with self.db.unit_of_work(tenant_id=tenant_id) as session:
                for failure in failures:
                    await self._retry_one(session, sub, failure, local)
            outcome.add(local)

    async def _retry_one(
        self, session: AsyncSession, sub: Subscription, failure: _DueFailure, outcome: _Outcome
    ) -> None:
        df = FAILURES
        event, now = failure.event, utcnow()
        if await log_reads.was_processed(session, sub.name, event.id):
            error: Exception | None = None
        else:
            error = await self._attempt(session, sub, event, isolate=True)
            if error is None:
                await log_reads.mark_processed(session, sub.name, event.tenant_id, [event.id])
                outcome.handled += 1
        if error is None:
            values: dict[str, Any] = {"status": RESOLVED, "next_attempt_at": None}
            log.info("dispatcher.failure_resolved", subscriber=sub.name, event_id=event.id)
        else:
            attempts = failure.attempts + 1
            # A replay is one more try at a dead letter; failing again makes it dead again.
            dead = failure.status == REPLAYED or attempts >= self.settings.dispatcher_max_attempts
            values = {
                "attempts": attempts,
                "status": DEAD if dead else RETRYING,
                "next_attempt_at": None if dead else self._next_attempt(attempts, now),
                "last_error": describe_error(error),
            }
            self._log_failure(sub.name, event, error, attempts=attempts, dead=dead)
            outcome.failed += 1
            outcome.dead += dead
        await session.execute(
            sa.update(df).where(df.c.id == failure.id).values(updated_at=now, **values)
        )

    async def skip_handled(self) -> int:
        """Move each subscription's checkpoint past the leading run of events it has
        nothing to do with: types it does not match, or events recorded as processed by
        it. Each stops at the first event it still has to handle, so no handler misses
        an event. Returns how many events were skipped, over all subscriptions.

        For seeding (``bizos demo``), which writes a year of history already recorded as
        handled: without this, every subscription reads all of it at the first start
        before it reaches the few events left for the workers. It reads the whole log,
        so it is not for a live system with running workers."""
        e, pe = EVENTS, PROCESSED
        async with self.db.unit_of_work(system=True, readonly=True) as session:
            query = sa.select(e.c.tx_id, e.c.position, e.c.id, e.c.type)
            if not self.db.is_sqlite:  # never past a transaction that may still commit
                query = query.where(e.c.tx_id < log_reads.PG_VISIBLE_HORIZON)
            log_rows = (await session.execute(query.order_by(e.c.tx_id, e.c.position))).all()
            processed = {
                (str(r[0]), str(r[1]))
                for r in await session.execute(sa.select(pe.c.subscriber, pe.c.event_id))
            }
            saved = {
                name: await log_reads.saved_position(session, name) for name in self._subscriptions
            }
        skipped = 0
        for sub in self._subscriptions.values():
            start = end = saved[sub.name]
            for tx_id, position, event_id, type_ in log_rows:
                key = (int(tx_id), int(position))
                if key <= start:
                    continue
                if sub.matches(type_) and (sub.name, str(event_id)) not in processed:
                    break
                end, skipped = key, skipped + 1
            if end > start:
                await self._save_checkpoint(sub.name, end)
                self._positions[sub.name] = end
        return skipped

    async def prune_processed(self, *, older_than: dt.timedelta = PROCESSED_RETENTION) -> int:
        """Delete idempotency records older than ``older_than``, in short transactions."""
        cutoff, removed = utcnow() - older_than, 0
        pe = PROCESSED
        while True:
            chunk = (
                sa.select(pe.c.subscriber, pe.c.event_id)
                .where(pe.c.processed_at < cutoff)
                .limit(_PRUNE_CHUNK)
            )
            async with self.db.unit_of_work(system=True) as session:
                result = await session.execute(
                    sa.delete(pe).where(sa.tuple_(pe.c.subscriber, pe.c.event_id).in_(chunk))
                )
            count = int(result.rowcount)  # type: ignore[attr-defined]
            removed += count
            if count < _PRUNE_CHUNK:
                return removed

    def _record_metrics(self, name: str, outcome: _Outcome) -> None:
        if outcome.handled:
            metrics.events_handled.labels(subscriber=name).inc(outcome.handled)
        if outcome.failed:
            metrics.events_failed.labels(subscriber=name).inc(outcome.failed)
        if outcome.dead:
            metrics.events_dead_lettered.labels(subscriber=name).inc(outcome.dead)

    # the loop

    async def run_forever(self) -> None:
        """Poll until :meth:`stop`; woken at once by commits that appended events."""
        self._wakeup.bind()
        # _stopping is not reset here: a stop() that arrives before the first poll counts.
        unsubscribe = on_commit("events", self.wake)
        failures = behind_streak = 0
        next_prune = time.monotonic() + _PRUNE_EVERY_SECONDS
        log.info("dispatcher.started", subscriptions=sorted(self._subscriptions))
        try:
            while not self._stopping:
                self._wakeup.clear()
                try:
                    await self.run_once()
                    if time.monotonic() >= next_prune:
                        next_prune = time.monotonic() + _PRUNE_EVERY_SECONDS
                        await self.prune_processed()
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("dispatcher.poll_failed", consecutive=failures)
                    pause = self.settings.dispatcher_poll_interval * 2**failures
                    await self._wakeup.sleep(min(30.0, pause))
                    continue
                if self._more_waiting:
                    continue
                # Behind an open transaction: recheck soon, backing off to the normal
                # interval if it stays open (a long one anywhere holds back the log).
                behind_streak = behind_streak + 1 if self._behind else 0
                interval = self.settings.dispatcher_poll_interval
                if behind_streak:
                    interval = min(interval, _RECHECK_SECONDS * 2 ** min(behind_streak, 10))
                await self._wakeup.sleep(interval)
        finally:
            unsubscribe()
            log.info("dispatcher.stopped")

    def wake(self) -> None:
        """Cut the current wait short (safe to call from any thread)."""
        self._wakeup.wake()

    def stop(self) -> None:
        """Ask :meth:`run_forever` to return after the poll in progress."""
        self._stopping = True
        self.wake()
