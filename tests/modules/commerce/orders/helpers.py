"""Factories for order and Shopify tests: catalogue products, the dispatcher running the
order doors' subscribers, and reading back what they wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.core.dispatcher_models import ProcessedEvent
from bizos.core.events import Event
from bizos.modules.commerce.orders import handlers as order_handlers
from bizos.modules.commerce.shopify import handlers as shopify_handlers
from bizos.modules.work.models import Task
from tests.conftest import TenantLogin


async def add_product(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    sku: str,
    *,
    price: str = "29.00",
    currency: str = "USD",
    stock: int = 10,
    **extra: Any,
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/commerce/products",
        json={
            "sku": sku,
            "name": f"Product {sku}",
            "price": price,
            "currency": currency,
            "stock_on_hand": stock,
            **extra,
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def dispatch_until(
    db: Database, settings: Settings, done: Callable[[], Awaitable[bool]]
) -> None:
    """Run the order doors' subscribers until ``done`` holds. On PostgreSQL an event is
    read once no older transaction is still open, so this polls (bounded)."""
    dispatcher = Dispatcher(db, settings)
    order_handlers.register(dispatcher)
    shopify_handlers.register(dispatcher)
    for _ in range(300):
        await dispatcher.run_once()
        if await done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the dispatcher never got there")


async def events_of_type(db: Database, tenant_id: str, type_: str) -> list[Event]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(sa.select(Event).where(Event.type == type_).order_by(Event.sequence))
        return list(rows)


async def tasks_about(db: Database, tenant_id: str, related_id: str) -> list[Task]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        return list(await s.scalars(sa.select(Task).where(Task.related_id == related_id)))


async def handled(db: Database, tenant_id: str, subscriber: str) -> int:
    """How many events ``subscriber`` has handled for the tenant."""
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        count = await s.scalar(
            sa.select(sa.func.count())
            .select_from(ProcessedEvent)
            .where(ProcessedEvent.subscriber == subscriber)
        )
        return int(count or 0)
