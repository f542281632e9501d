"""The delivery loop: sends queued messages after the transaction that queued them.

Each attempt is three steps, and only the middle one touches the outside world:

1. claim (tenant unit of work): a conditional update takes a lease on the row and the
   tenant's channel is resolved (connector config and decrypted secrets);
2. send through the channel, holding no transaction or lock;
3. record (tenant unit of work): ``sent``/``sandboxed`` with ``outreach.message.sent``,
   a retry time, or ``failed`` with ``outreach.message.failed``.

Jobs take ids, never sessions. Several processes may run the loop: the claim decides
who sends. The loop sleeps until a commit in this process queues a message
(``core.events.on_commit``) or the poll interval passes (messages queued by other processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
import structlog

from bizos.connectors.base import DeliveryError
from bizos.core.context import Context
from bizos.core.db import Database, utcnow
from bizos.core.events import on_commit
from bizos.core.ids import new_id
from bizos.modules.outreach import service
from bizos.modules.outreach.models import Message

log = structlog.get_logger("bizos.outreach.delivery")


async def deliver_message(
    db: Database, *, tenant_id: str, message_id: str, now: dt.datetime | None = None
) -> str | None:
    """One delivery attempt for a queued message; returns its status afterwards, or
    ``None`` if it was not due or another worker claimed it."""
    claim_ctx = Context(tenant_id=tenant_id, actor_type="system", correlation_id=new_id())
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        claim = await service.claim_delivery(session, claim_ctx, message_id=message_id, now=now)
    if claim is None:
        return None

    error = claim.setup_error
    result = None
    if claim.send is not None:
        try:
            result = await claim.send()
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a bug in a channel must not kill the loop
            log.exception("outreach.channel_crashed", message_id=message_id)
            error = DeliveryError(f"channel error: {type(exc).__name__}", retryable=True)

    async with db.unit_of_work(tenant_id=tenant_id) as session:
        if result is not None:
            read = await service.record_sent(
                session, claim.ctx, message_id=message_id, result=result
            )
        else:
            assert error is not None
            read = await service.record_failure(
                session,
                claim.ctx,
                message_id=message_id,
                error=error,
                provider=claim.provider,
            )
    return read.status


async def due_messages(
    db: Database, *, now: dt.datetime | None = None, limit: int = 100
) -> list[tuple[str, str]]:
    """``(tenant_id, message_id)`` of queued messages that are due, across tenants."""
    now = now or utcnow()
    async with db.unit_of_work(system=True, readonly=True) as session:
        rows = await session.execute(
            sa.select(Message.tenant_id, Message.id)
            .where(Message.status == "queued", Message.next_attempt_at <= now)
            .order_by(Message.next_attempt_at, Message.id)
            .limit(limit)
        )
        return [(r.tenant_id, r.id) for r in rows]


async def deliver_due_messages(
    db: Database, *, now: dt.datetime | None = None, limit: int = 100, concurrency: int = 8
) -> int:
    """Attempt every due message once (up to ``limit``); returns how many were attempted."""
    due = await due_messages(db, now=now, limit=limit)
    gate = asyncio.Semaphore(concurrency)

    async def attempt(tenant_id: str, message_id: str) -> bool:
        async with gate:
            status = await deliver_message(db, tenant_id=tenant_id, message_id=message_id, now=now)
            return status is not None

    results = await asyncio.gather(*(attempt(t, m) for t, m in due))
    return sum(results)


class MessageDelivery:
    """The background loop around ``deliver_due_messages``."""

    def __init__(self, db: Database, *, poll_interval: float = 1.0, batch_size: int = 100) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._unsubscribe = on_commit(service.DELIVERY_TOPIC, self._wake.set)
            self._task = asyncio.create_task(self._run(), name="outreach-delivery")
            log.info("outreach.delivery.started")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        log.info("outreach.delivery.stopped")

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                attempted = await deliver_due_messages(self.db, limit=self.batch_size)
            except Exception:
                log.exception("outreach.delivery.pass_failed")
                attempted = 0
            if attempted >= self.batch_size:
                continue  # more are waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
