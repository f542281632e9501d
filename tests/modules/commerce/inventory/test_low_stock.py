"""The low-stock alert as purchasing sees it: one purchasing task each time available
stock falls below the reorder point — not one per order — re-armed by restocking, and
given to the purchasing assignee when the shop named one, else to the owner."""

from __future__ import annotations

import asyncio

import httpx

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.core.ids import new_id
from bizos.core.pagination import PageParams
from bizos.modules.commerce.inventory import handlers, service
from bizos.modules.commerce.settings import service as commerce_settings
from bizos.modules.work import service as work_service
from bizos.modules.work.schemas import TaskRead
from tests.conftest import TenantLogin
from tests.modules.commerce.inventory.helpers import (
    PRODUCTS,
    events_of,
    make_product,
    owner_ctx,
)
from tests.modules.identity.helpers import add_member


async def sell(db: Database, tenant: TenantLogin, product_id: str, quantity: int) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        assert await service.allocate_lines(
            session, owner_ctx(tenant), order_id=new_id(), lines=[(product_id, quantity)]
        )


async def restock(db: Database, tenant: TenantLogin, product_id: str, quantity: int) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.receive_stock(session, owner_ctx(tenant), product_id, quantity=quantity)


async def purchasing_tasks(db: Database, tenant: TenantLogin, product_id: str) -> list[TaskRead]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        tasks, _ = await work_service.list_tasks(
            session,
            owner_ctx(tenant),
            page=PageParams(limit=50),
            related_type="product",
            related_id=product_id,
        )
        return tasks


async def run_handlers(db: Database, settings: Settings, tenant: TenantLogin, count: int) -> None:
    """Run the inventory subscriber until ``count`` alerts are handled (on PostgreSQL an
    event is read once no older transaction is still open, so poll)."""
    dispatcher = Dispatcher(db, settings)
    handlers.register(dispatcher)
    for _ in range(500):
        await dispatcher.run_once()
        async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
            tasks, _ = await work_service.list_tasks(
                session, owner_ctx(tenant), page=PageParams(limit=50), related_type="product"
            )
        if len(tasks) >= count:
            return
        await asyncio.sleep(0.02)


async def test_three_orders_below_the_reorder_point_make_one_purchasing_task(
    db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    mug = await make_product(db, tenant, stock=10, reorder_point=5, reorder_quantity=40)

    await sell(db, tenant, mug, 6)  # 4 available: below 5
    await sell(db, tenant, mug, 1)
    await sell(db, tenant, mug, 1)
    await run_handlers(db, settings, tenant, 1)
    await run_handlers(db, settings, tenant, 1)  # a second pass finds nothing more

    [alert] = await events_of(db, tenant, "commerce.stock.reorder_needed")
    assert alert == {
        "product_id": mug,
        "sku": "MUG-BLUE",
        "name": "Mug-Blue",
        "available": 4,
        "reorder_point": 5,
        "reorder_quantity": 40,
    }
    [task] = await purchasing_tasks(db, tenant, mug)
    assert task.title == "Reorder MUG-BLUE"
    assert task.assignee_id == tenant.user_id
    assert task.description is not None and "Suggested order: 40 units" in task.description


async def test_restocking_above_the_point_rearms_the_alert(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    mug = await make_product(db, tenant, stock=10, reorder_point=5)
    await sell(db, tenant, mug, 6)
    product = (await client.get(f"{PRODUCTS}/{mug}", headers=tenant.headers)).json()
    assert product["below_reorder_point"] is True
    low = (await client.get(PRODUCTS, params={"low_stock": True}, headers=tenant.headers)).json()
    assert [p["id"] for p in low["items"]] == [mug]

    await restock(db, tenant, mug, 20)  # 24 available
    product = (await client.get(f"{PRODUCTS}/{mug}", headers=tenant.headers)).json()
    assert product["below_reorder_point"] is False
    await sell(db, tenant, mug, 20)  # 4 available again: a new crossing

    assert len(await events_of(db, tenant, "commerce.stock.reorder_needed")) == 2
    await run_handlers(db, settings, tenant, 2)
    assert len(await purchasing_tasks(db, tenant, mug)) == 2


async def test_a_product_created_below_its_point_alerts_at_once(
    db: Database, tenant: TenantLogin
) -> None:
    await make_product(db, tenant, stock=2, reorder_point=5)
    await make_product(db, tenant, sku="PLATE", stock=5, reorder_point=5)  # at it: fine
    alerts = await events_of(db, tenant, "commerce.stock.reorder_needed")
    assert [a["sku"] for a in alerts] == ["MUG-BLUE"]


async def test_raising_the_reorder_point_can_fire_the_alert(
    db: Database, tenant: TenantLogin
) -> None:
    mug = await make_product(db, tenant, stock=10, reorder_point=5)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.update_product(session, owner_ctx(tenant), mug, changes={"reorder_point": 12})
    [alert] = await events_of(db, tenant, "commerce.stock.reorder_needed")
    assert (alert["available"], alert["reorder_point"]) == (10, 12)


async def test_the_purchasing_assignee_gets_the_task(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    buyer = await add_member(client, tenant, "member", name="Bea Buyer")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await commerce_settings.update_settings(
            session, owner_ctx(tenant), changes={"purchasing_assignee_id": buyer.id}
        )
    mug = await make_product(db, tenant, stock=10, reorder_point=5)
    await sell(db, tenant, mug, 7)
    await run_handlers(db, settings, tenant, 1)

    [task] = await purchasing_tasks(db, tenant, mug)
    assert task.assignee_id == buyer.id
