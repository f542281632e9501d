"""The dispatcher's tables and the plain records its handlers receive.

Kept apart from ``core/dispatcher.py`` (the loop) so the tables read at a glance:
``dispatcher_checkpoints`` (how far each subscription has read), ``processed_events``
(the idempotency record written in the handler's transaction) and ``dispatch_failures``
(retries and dead letters).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import random
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.context import Context
from bizos.core.db import Base, TenantScoped, utcnow
from bizos.core.ids import new_id

RETRYING, DEAD, REPLAYED, RESOLVED = "retrying", "dead", "replayed", "resolved"
FAILURE_STATUSES = (RETRYING, DEAD, REPLAYED, RESOLVED)
_MAX_ERROR_CHARS = 2000
_MAX_BACKOFF_SECONDS = 3600.0


# --- tables ---------------------------------------------------------------------------


class DispatcherCheckpoint(Base):
    """How far one subscription has read the global log."""

    __tablename__ = "dispatcher_checkpoints"
    __audit__ = False

    subscriber: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    last_tx_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_position: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProcessedEvent(TenantScoped, Base):
    """An event whose handler's effects committed, written in that same transaction."""

    __tablename__ = "processed_events"
    __audit__ = False
    __table_args__ = (sa.Index("ix_processed_events_processed_at", "processed_at"),)

    subscriber: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DispatchFailure(TenantScoped, Base):
    """A handler failure: retried while ``retrying``, a dead letter once ``dead``.

    ``replayed`` is a dead letter an admin asked to run again (one more attempt);
    ``resolved`` is a failure whose retry or replay finally succeeded.
    """

    __tablename__ = "dispatch_failures"
    __table_args__ = (
        sa.UniqueConstraint("subscriber", "event_id"),
        sa.Index("ix_dispatch_failures_due", "subscriber", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    subscriber: Mapped[str] = mapped_column(sa.String(120))
    event_id: Mapped[str] = mapped_column(sa.String(36))
    event_type: Mapped[str] = mapped_column(sa.String(120))
    attempts: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(16))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


CHECKPOINTS = cast(sa.Table, DispatcherCheckpoint.__table__)
PROCESSED = cast(sa.Table, ProcessedEvent.__table__)
FAILURES = cast(sa.Table, DispatchFailure.__table__)


# --- what handlers see ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A committed event as handed to a handler (plain data: no session attached)."""

    position: int
    tx_id: int
    id: str
    tenant_id: str
    sequence: int
    type: str
    aggregate_type: str
    aggregate_id: str
    version: int
    data: dict[str, Any]
    actor_id: str | None
    correlation_id: str | None
    causation_id: str | None
    occurred_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> EventRecord:
        """From a row of the ``events`` table (extra columns in the row are ignored)."""
        return cls(**{name: getattr(row, name) for name in _RECORD_FIELDS})


_RECORD_FIELDS = tuple(f.name for f in fields(EventRecord))


Handler = Callable[[AsyncSession, Context, EventRecord], Awaitable[None]]


def type_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate for event types matching any glob (``crm.lead.*``, ``*``, exact)."""
    regex = re.compile("|".join(fnmatch.translate(p) for p in patterns) or "(?!)")
    return lambda event_type: regex.match(event_type) is not None


@dataclass(frozen=True)
class Subscription:
    name: str
    patterns: tuple[str, ...]
    handler: Handler
    matches: Callable[[str], bool] = field(repr=False, compare=False)


def handler_context(event: EventRecord) -> Context:
    """The context a handler acts under: the event's tenant, caused by the event."""
    return Context(
        tenant_id=event.tenant_id,
        actor_type="system",
        correlation_id=event.correlation_id or event.id,
        causation_id=event.id,
    )


def backoff_delay(attempts: int, base: float) -> float:
    """Seconds before retry number ``attempts``: exponential, half of it random jitter.

    The jitter spreads retries of a burst of failures so they do not stampede together.
    """
    ceiling = min(_MAX_BACKOFF_SECONDS, base * float(2 ** max(0, attempts - 1)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
