"""A backordered order tells someone what it waits for: the purchasing assignee (the
owner by default) gets one task and a notification naming each missing SKU and how many
units are missing. The task follows the shortage while the order waits, and closes by
itself when the stock arrives and the order is allocated (or when the order is
cancelled). Events arrive through the dispatcher, and a repeated one changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.dispatcher_models import EventRecord, ProcessedEvent
from bizos.core.events import Event
from bizos.modules.commerce.orders import handlers, service
from bizos.modules.notifications.models import Notification
from bizos.modules.work.models import Task
from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import add_product, dispatch_until, events_of_type

ORDERS = "/api/v1/commerce/orders"
ORIGIN = "commerce.order.backordered"
PW = "correct horse battery staple"


def ctx_of(tenant: TenantLogin) -> Context:
    return Context(tenant_id=tenant.tenant_id)


async def order_of(
    client: httpx.AsyncClient, tenant: TenantLogin, lines: list[tuple[str, int]]
) -> dict[str, Any]:
    r = await client.post(
        ORDERS,
        json={
            "email": "cafe@example.com",
            "customer_name": "Corner Café",
            "currency": "USD",
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def allocate(db: Database, tenant: TenantLogin, order_id: str) -> str:
    """What order-to-cash's allocate step does (first run, or a restart)."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        return await service.allocate_order(s, ctx_of(tenant), order_id)


async def receive(client: httpx.AsyncClient, tenant: TenantLogin, product_id: str, n: int) -> None:
    r = await client.post(
        f"/api/v1/commerce/products/{product_id}/stock",
        json={"quantity": n, "kind": "receipt", "reason": "supplier delivery"},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text


async def alerts(db: Database, tenant: TenantLogin, order_id: str) -> list[Task]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        rows = await s.scalars(
            sa.select(Task).where(Task.related_id == order_id, Task.origin == ORIGIN)
        )
        return list(rows)


async def told(db: Database, tenant: TenantLogin, user_id: str) -> list[Notification]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        rows = await s.scalars(
            sa.select(Notification)
            .where(Notification.user_id == user_id, Notification.kind == ORIGIN)
            .order_by(Notification.id)
        )
        return list(rows)


async def until_alert(
    db: Database, settings: Settings, tenant: TenantLogin, order_id: str, says: str = ""
) -> Task:
    """Dispatch until the order's single alert exists and its title holds ``says``."""

    async def there() -> bool:
        found = await alerts(db, tenant, order_id)
        return len(found) == 1 and says in found[0].title

    await dispatch_until(db, settings, there)
    [task] = await alerts(db, tenant, order_id)
    return task


async def until_closed(
    db: Database, settings: Settings, tenant: TenantLogin, order_id: str
) -> Task:
    async def closed() -> bool:
        found = await alerts(db, tenant, order_id)
        return len(found) == 1 and found[0].status in ("done", "cancelled")

    await dispatch_until(db, settings, closed)
    [task] = await alerts(db, tenant, order_id)
    return task


async def short_order(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> tuple[dict[str, Any], dict[str, str]]:
    """An order for 3 beans (1 in stock), 2 grinders (none) and a kettle (plenty),
    backordered by order-to-cash's allocate step."""
    products = {
        sku: (await add_product(client, tenant, sku, stock=stock))["id"]
        for sku, stock in (("BEANS-1K", 1), ("GRINDER", 0), ("KETTLE", 5))
    }
    order = await order_of(client, tenant, [("BEANS-1K", 3), ("GRINDER", 2), ("KETTLE", 1)])
    assert await allocate(db, tenant, order["id"]) == "backordered"
    return order, products


async def test_a_backordered_order_gives_the_owner_a_task_and_a_notification_of_what_is_missing(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    order, products = await short_order(client, db, tenant)

    task = await until_alert(db, settings, tenant, order["id"])

    assert task.assignee_id == tenant.user_id  # no purchasing assignee set: the owner
    assert (task.status, task.priority) == ("open", "high")
    assert (task.related_type, task.contact_id) == ("order", order["contact_id"])
    assert (
        task.title == f"Order {order['number']} is backordered: missing 2 x BEANS-1K, 2 x GRINDER"
    )
    assert "- 2 x BEANS-1K (Product BEANS-1K): 3 ordered, 1 available" in (task.description or "")
    assert "- 2 x GRINDER (Product GRINDER): 2 ordered, 0 available" in (task.description or "")
    assert "KETTLE" not in (task.description or "")
    [note] = await told(db, tenant, tenant.user_id)
    assert (note.title, note.body) == (task.title, task.description)
    assert (note.related_type, note.related_id) == ("order", order["id"])
    assert [(m["sku"], m["missing"]) for m in note.data["missing"]] == [
        ("BEANS-1K", 2),
        ("GRINDER", 2),
    ]
    # The event says what was missing too (for webhooks and the timeline).
    [event] = await events_of_type(db, tenant.tenant_id, "commerce.order.backordered")
    assert [(m["product_id"], m["missing"]) for m in event.data["missing"]] == [
        (products["BEANS-1K"], 2),
        (products["GRINDER"], 2),
    ]


async def test_a_redelivered_backorder_event_makes_no_second_task_or_notification(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    order, _ = await short_order(client, db, tenant)
    first = await until_alert(db, settings, tenant, order["id"])
    [event] = await events_of_type(db, tenant.tenant_id, "commerce.order.backordered")

    for _ in range(2):  # delivered again, as after a crash before the checkpoint
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
            await handlers.keep_backorder_alerts(s, ctx_of(tenant), EventRecord.from_row(event))
    # And the order's allocate step run again (a restart that still finds no stock).
    assert await allocate(db, tenant, order["id"]) == "backordered"

    assert [t.id for t in await alerts(db, tenant, order["id"])] == [first.id]
    assert len(await told(db, tenant, tenant.user_id)) == 1
    assert len(await events_of_type(db, tenant.tenant_id, "commerce.order.backordered")) == 1


async def test_the_task_follows_the_shortage_and_closes_when_the_stock_arrives(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    order, products = await short_order(client, db, tenant)
    await until_alert(db, settings, tenant, order["id"])

    # Part of the grinders arrive: one is still missing.
    await receive(client, tenant, products["GRINDER"], 1)
    task = await until_alert(db, settings, tenant, order["id"], says="1 x GRINDER")
    assert task.title.endswith("missing 2 x BEANS-1K, 1 x GRINDER")
    assert "- 1 x GRINDER (Product GRINDER): 2 ordered, 1 available" in (task.description or "")
    assert task.status == "open"
    # Another order takes the only bean in stock: this one now lacks all three.
    other = await order_of(client, tenant, [("BEANS-1K", 1)])
    assert await allocate(db, tenant, other["id"]) == "allocated"
    task = await until_alert(db, settings, tenant, order["id"], says="3 x BEANS-1K")
    assert "- 3 x BEANS-1K (Product BEANS-1K): 3 ordered, 0 available" in (task.description or "")

    # The rest arrives and the restart allocates the order: the task is done.
    await receive(client, tenant, products["BEANS-1K"], 3)
    await receive(client, tenant, products["GRINDER"], 1)
    assert await allocate(db, tenant, order["id"]) == "allocated"
    task = await until_closed(db, settings, tenant, order["id"])

    assert task.status == "done" and task.completed_at is not None
    assert "the stock arrived and the order was allocated" in (task.description or "")
    assert "Missing:" in (task.description or "")  # the note is added, the list kept
    assert len(await told(db, tenant, tenant.user_id)) == 1  # told once, not per change


async def test_a_cancelled_backorder_closes_its_task_as_cancelled(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    order, _ = await short_order(client, db, tenant)
    await until_alert(db, settings, tenant, order["id"])

    r = await client.post(
        f"{ORDERS}/{order['id']}/cancel",
        json={"reason": "the café found another roaster"},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    task = await until_closed(db, settings, tenant, order["id"])

    assert task.status == "cancelled"
    assert "the order was cancelled (the café found another roaster)" in (task.description or "")


async def test_the_purchasing_assignee_gets_the_backorder_alert(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/users",
        json={"email": "bea@example.com", "name": "Bea Buyer", "role": "member", "password": PW},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    buyer = r.json()["id"]
    r = await client.put(
        "/api/v1/commerce/settings", json={"purchasing_assignee_id": buyer}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    order, _ = await short_order(client, db, tenant)

    task = await until_alert(db, settings, tenant, order["id"])

    assert task.assignee_id == buyer
    assert len(await told(db, tenant, buyer)) == 1
    assert await told(db, tenant, tenant.user_id) == []


async def test_an_order_that_never_waited_gets_no_alert(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "KETTLE", stock=5)
    order = await order_of(client, tenant, [("KETTLE", 2)])
    assert await allocate(db, tenant, order["id"]) == "allocated"

    async def handled_allocation() -> bool:
        async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
            event_id = await s.scalar(
                sa.select(Event.id).where(Event.type == "commerce.order.allocated")
            )
        return await _processed(db, tenant, str(event_id))

    await dispatch_until(db, settings, handled_allocation)
    assert await alerts(db, tenant, order["id"]) == []


async def _processed(db: Database, tenant: TenantLogin, event_id: str) -> bool:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        found = await s.scalar(
            sa.select(ProcessedEvent.event_id).where(
                ProcessedEvent.subscriber == "commerce.orders.backorder_alerts",
                ProcessedEvent.event_id == event_id,
            )
        )
        return found is not None
