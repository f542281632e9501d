"""The event log: outbox and audit trail in one table (DESIGN rule 2).

Events are appended in the same transaction as the state change they describe. Each
tenant's events carry a gap-free ``sequence`` taken from a per-tenant counter row; the
counter row lock is held until commit, so within a tenant sequence order is commit order.

Across tenants the dispatcher reads by ``position`` (a global autoincrement). On
PostgreSQL positions can commit out of order, so each row also records the writing
transaction id (``tx_id``); readers only consume rows whose transaction is older than
every transaction still in flight (``pg_snapshot_xmin``), ordered by ``(tx_id,
position)``. On SQLite there is one writer at a time, so position order is commit order.

Committing a transaction that appended events wakes in-process listeners (the
dispatcher) so the event hop is milliseconds rather than a polling interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, cast

import sqlalchemy as sa
import structlog
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from bizos.core.context import Context
from bizos.core.db import Base, TenantScoped, utcnow
from bizos.core.ids import new_id
from bizos.core.observability import metrics

log = structlog.get_logger("bizos.events")


class Event(TenantScoped, Base):
    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "sequence"),
        sa.Index("ix_events_tx_position", "tx_id", "position"),
        sa.Index("ix_events_tenant_type", "tenant_id", "type"),
        sa.Index("ix_events_tenant_aggregate", "tenant_id", "aggregate_id"),
    )

    position: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    sequence: Mapped[int] = mapped_column(sa.BigInteger)
    tx_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    type: Mapped[str] = mapped_column(sa.String(120))
    aggregate_type: Mapped[str] = mapped_column(sa.String(60))
    # Wide enough for a normalised email: tracked activity is keyed by contact email.
    aggregate_id: Mapped[str] = mapped_column(sa.String(255))
    version: Mapped[int] = mapped_column(default=1)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    actor_id: Mapped[str | None] = mapped_column(sa.String(64))
    correlation_id: Mapped[str | None] = mapped_column(sa.String(64))
    causation_id: Mapped[str | None] = mapped_column(sa.String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TenantSequence(TenantScoped, Base):
    """Per-tenant counter behind ``Event.sequence``."""

    __tablename__ = "tenant_sequences"
    tenant_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(sa.BigInteger, default=0)


# Typed handles on the tables for Core statements (the hot paths avoid ORM objects).
EVENTS = cast(sa.Table, Event.__table__)
TENANT_SEQUENCES = cast(sa.Table, TenantSequence.__table__)


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    aggregate_type: str
    aggregate_id: str
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    occurred_at: dt.datetime | None = None
    actor_id: str | None = None


async def _reserve_sequences(session: AsyncSession, tenant_id: str, count: int) -> int:
    """Reserve ``count`` sequence numbers; returns the first. Locks the tenant's counter."""
    table = TENANT_SEQUENCES
    result = await session.execute(
        sa.update(table)
        .where(table.c.tenant_id == tenant_id)
        .values(last_sequence=table.c.last_sequence + count)
        .returning(table.c.last_sequence)
    )
    last = result.scalar_one_or_none()
    if last is None:
        await session.execute(sa.insert(table).values(tenant_id=tenant_id, last_sequence=count))
        last = count
    return int(last) - count + 1


# --- sequence blocks ---------------------------------------------------------------
#
# A transaction that appends many small batches (a dispatcher batch whose handlers each
# append a follow-up event) would pay a counter UPDATE per append. Instead the first append
# reserves a block, later appends take numbers from it, and just before commit the counter
# is set back to the last number used, so committed sequences stay gap-free. Any rollback,
# savepoint included, drops the blocks: the next append reserves afresh from the counter,
# which never hands out a number a surviving event holds.

_BLOCKS_KEY = "bizos_sequence_blocks"
_BLOCK_SIZE = 64


@dataclass(slots=True)
class _Block:
    next: int  # the next number to hand out
    end: int  # the last number reserved in the counter row


async def _take_sequences(session: AsyncSession, tenant_id: str, count: int) -> int:
    blocks: dict[str, _Block] = session.info.setdefault(_BLOCKS_KEY, {})
    block = blocks.get(tenant_id)
    if block is None or block.next + count - 1 > block.end:
        size = max(count, _BLOCK_SIZE)
        first = await _reserve_sequences(session, tenant_id, size)
        if block is None or first != block.end + 1:
            block = _Block(next=first, end=first + size - 1)
        else:
            block.end = first + size - 1
        blocks[tenant_id] = block
    start = block.next
    block.next += count
    return start


@sa_event.listens_for(Session, "before_commit")
def _return_unused_sequences(session: Session) -> None:
    blocks: dict[str, _Block] | None = session.info.pop(_BLOCKS_KEY, None)
    for tenant_id, block in (blocks or {}).items():
        if block.next - 1 < block.end:
            session.execute(
                sa.update(TENANT_SEQUENCES)
                .where(TENANT_SEQUENCES.c.tenant_id == tenant_id)
                .values(last_sequence=block.next - 1)
            )


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_sequence_blocks(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_BLOCKS_KEY, None)


# The writing transaction's id, evaluated by PostgreSQL inside the INSERT itself: no extra
# round trip, and the id is the one the commit-order guard in the dispatcher compares.
_PG_TX_ID = sa.text("pg_current_xact_id()::text::bigint")


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


# --- wake-ups after commit -----------------------------------------------------------

_TOPICS_KEY = "bizos_wake_topics"
_listeners: dict[str, list[Callable[[], None]]] = {}


def wake_after_commit(session: AsyncSession, topic: str = "events") -> None:
    """Ask for ``topic``'s listeners to be called once ``session``'s transaction commits.

    Nothing is signalled on rollback, so a listener never runs ahead of durable state.
    """
    session.info.setdefault(_TOPICS_KEY, set()).add(topic)


def on_commit(topic: str, listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` after every commit that woke ``topic``; returns an unsubscribe."""
    _listeners.setdefault(topic, []).append(listener)

    def unsubscribe() -> None:
        if listener in _listeners.get(topic, []):
            _listeners[topic].remove(listener)

    return unsubscribe


class Wakeup:
    """Lets a background loop sleep until a commit on its topic, or a timeout.

    ``wake`` is safe from any thread (commit hooks may run outside the loop's thread).
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self) -> None:
        """Attach to the running loop; call at the start of the loop that sleeps."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def clear(self) -> None:
        if self._event is not None:
            self._event.clear()

    async def sleep(self, seconds: float) -> None:
        if self._event is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)

    def wake(self) -> None:
        loop, wake_event = self._loop, self._event
        if loop is None or wake_event is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake_event.set()
        else:
            loop.call_soon_threadsafe(wake_event.set)


@sa_event.listens_for(Session, "after_commit")
def _wake_listeners(session: Session) -> None:
    topics: set[str] = session.info.pop(_TOPICS_KEY, set())
    for topic in topics:
        for listener in list(_listeners.get(topic, ())):
            try:
                listener()
            except Exception:  # a wake-up is a hint; polling still finds the work
                log.exception("events.wake_listener_failed", topic=topic)


@sa_event.listens_for(Session, "after_rollback")
def _forget_wakeups(session: Session) -> None:
    session.info.pop(_TOPICS_KEY, None)


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_on_end(session: Session, transaction: SessionTransaction) -> None:
    # Commit has already woken listeners by now; whatever is left was never committed
    # (a closed-without-commit session), so a reused session must not carry it over.
    if transaction.parent is None:
        session.info.pop(_TOPICS_KEY, None)
        session.info.pop(_BLOCKS_KEY, None)


async def append_events(
    session: AsyncSession, ctx: Context, events: Sequence[NewEvent]
) -> list[dict[str, Any]]:
    """Append events for ``ctx``'s tenant in the caller's transaction; returns their rows.

    Uses Core inserts (not ORM objects) so a bulk append of a thousand events is one
    round trip.
    """
    if not events:
        return []
    tenant_id = ctx.require_tenant()
    first = await _take_sequences(session, tenant_id, len(events))
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "tenant_id": tenant_id,
            "sequence": first + i,
            "type": e.type,
            "aggregate_type": e.aggregate_type,
            "aggregate_id": e.aggregate_id,
            "version": e.version,
            "data": e.data,
            "actor_id": e.actor_id or ctx.actor_id,
            "correlation_id": ctx.correlation_id,
            "causation_id": ctx.causation_id,
            "occurred_at": e.occurred_at or now,
            "recorded_at": now,
        }
        for i, e in enumerate(events)
    ]
    insert = sa.insert(EVENTS)
    if _is_postgres(session):
        insert = insert.values(tx_id=_PG_TX_ID)
    else:
        for row in rows:
            row["tx_id"] = 0
    await session.execute(insert, rows)
    wake_after_commit(session, "events")
    for prefix, count in Counter(e.type.split(".", 1)[0] for e in events).items():
        metrics.events_appended.labels(type=prefix).inc(count)
    return rows


def payload(row: object, *names: str, **given: Any) -> dict[str, Any]:
    """Event data: ``row``'s attributes ``names`` under the same keys, then ``given``.

    Decimals are written as their string (``"12.50"`` stays ``"12.50"``) and dates and
    datetimes in ISO form, as every payload writes them by hand; other values as they are.
    """
    data = {name: _json_value(getattr(row, name)) for name in names}
    data.update(given)
    return data


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value.isoformat() if isinstance(value, dt.date) else value


async def append_event(
    session: AsyncSession,
    ctx: Context,
    type: str,
    *,
    aggregate_type: str,
    aggregate_id: str,
    data: dict[str, Any] | None = None,
    version: int = 1,
) -> dict[str, Any]:
    rows = await append_events(
        session,
        ctx,
        [NewEvent(type, aggregate_type, aggregate_id, data or {}, version)],
    )
    return rows[0]


class Versioned(Protocol):
    """A row an event is about: its id and its version after the change."""

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...


async def append_row_event(
    session: AsyncSession,
    ctx: Context,
    type: str,
    row: Versioned,
    *,
    aggregate_type: str,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`append_event` about ``row`` at its current version (the usual case: a
    service changed the row, bumped its version and tells the log)."""
    return await append_event(
        session,
        ctx,
        type,
        aggregate_type=aggregate_type,
        aggregate_id=row.id,
        data=data,
        version=row.version,
    )
