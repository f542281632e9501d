"""Subscribers of the webhooks context: every event is offered to the tenant's endpoints."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.modules.webhooks import service


async def queue_webhook_deliveries(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    await service.enqueue_deliveries(session, ctx, event=event)


def register(dispatcher: Dispatcher) -> None:
    # Endpoints choose their event types at run time, so this subscriber sees them all.
    dispatcher.subscribe("webhooks.queue_deliveries", "*", queue_webhook_deliveries)
