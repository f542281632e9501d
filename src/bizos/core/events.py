"""The event log: outbox and audit trail in one table (DESIGN rule 2).

Events are appended in the same transaction as the state change they describe. Each
tenant's events carry a gap-free ``sequence`` taken from a per-tenant counter row; the
counter row lock is held until commit, so within a tenant sequence order is commit order.

Across tenants the dispatcher reads by ``position`` (a global autoincrement). On
PostgreSQL positions can commit out of order, so each row also records the writing
transaction id (``tx_id``); readers only consume rows whose transaction is older than
every transaction still in flight (``pg_snapshot_xmin``), ordered by ``(tx_id,
position)``. On SQLite there is one writer at a time, so position order is commit order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.context import Context
from bizos.core.db import Base, TenantScoped, utcnow
from bizos.core.ids import new_id
from bizos.core.observability import metrics


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
    aggregate_id: Mapped[str] = mapped_column(sa.String(64))
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
    table = TenantSequence.__table__
    result = await session.execute(
        sa.update(table)
        .where(table.c.tenant_id == tenant_id)
        .values(last_sequence=table.c.last_sequence + count)
        .returning(table.c.last_sequence)
    )
    last = result.scalar_one_or_none()
    if last is None:
        await session.execute(
            sa.insert(table).values(tenant_id=tenant_id, last_sequence=count)
        )
        last = count
    return int(last) - count + 1


async def _current_tx_id(session: AsyncSession) -> int:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        value = await session.scalar(sa.text("SELECT pg_current_xact_id()::text::bigint"))
        return int(value or 0)
    return 0


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
    first = await _reserve_sequences(session, tenant_id, len(events))
    tx_id = await _current_tx_id(session)
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "tenant_id": tenant_id,
            "sequence": first + i,
            "tx_id": tx_id,
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
    await session.execute(sa.insert(Event.__table__), rows)
    for e in events:
        metrics.events_appended.labels(type=e.type.split(".", 1)[0]).inc()
    return rows


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


def event_to_dict(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "sequence": e.sequence,
        "type": e.type,
        "aggregate_type": e.aggregate_type,
        "aggregate_id": e.aggregate_id,
        "version": e.version,
        "data": e.data,
        "actor_id": e.actor_id,
        "correlation_id": e.correlation_id,
        "causation_id": e.causation_id,
        "occurred_at": e.occurred_at,
    }
