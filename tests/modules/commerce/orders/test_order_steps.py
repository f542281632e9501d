"""The order's own steps as order-to-cash drives them, and cancellation compensating them."""

from __future__ import annotations

import pickle
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.commerce.orders import service
from bizos.modules.commerce.orders.schemas import OrderRead
from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import add_product, events_of_type, tasks_about

ORDERS = "/api/v1/commerce/orders"


def ctx_of(tenant: TenantLogin) -> Context:
    return Context(tenant_id=tenant.tenant_id)


async def order_of(
    client: httpx.AsyncClient, tenant: TenantLogin, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    r = await client.post(
        ORDERS,
        json={"email": "buyer@example.com", "currency": "USD", "lines": lines},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def product(client: httpx.AsyncClient, tenant: TenantLogin, pid: str) -> dict[str, Any]:
    body: dict[str, Any] = (
        await client.get(f"/api/v1/commerce/products/{pid}", headers=tenant.headers)
    ).json()
    return body


async def allocate(db: Database, tenant: TenantLogin, order_id: str) -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        return await service.allocate_order(s, ctx_of(tenant), order_id)


async def test_allocation_reserves_stock_once_and_backorders_what_is_short(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    lamp = await add_product(client, tenant, "LAMP", stock=3)
    first = await order_of(client, tenant, [{"sku": "LAMP", "quantity": 2}])
    second = await order_of(client, tenant, [{"sku": "LAMP", "quantity": 2}])

    assert await allocate(db, tenant, first["id"]) == "allocated"
    assert await allocate(db, tenant, first["id"]) == "allocated"  # a repeat is a no-op
    assert await allocate(db, tenant, second["id"]) == "backordered"
    assert await allocate(db, tenant, second["id"]) == "backordered"

    assert (await product(client, tenant, lamp["id"]))["allocated"] == 2
    got = (await client.get(f"{ORDERS}/{second['id']}", headers=tenant.headers)).json()
    assert got["status"] == "backordered"
    assert len(await events_of_type(db, tenant.tenant_id, "commerce.order.allocated")) == 1
    assert len(await events_of_type(db, tenant.tenant_id, "commerce.order.backordered")) == 1


async def test_service_only_orders_need_no_stock(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "SETUP", stock=0, tracks_stock=False, price="300.00")
    order = await order_of(client, tenant, [{"sku": "SETUP", "quantity": 1}])
    assert service.fulfillable_lines(OrderRead.model_validate(order)) == []
    assert await allocate(db, tenant, order["id"]) == "allocated"


async def test_cancelling_releases_stock_voids_the_invoice_and_stops_the_steps(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    lamp = await add_product(client, tenant, "LAMP", stock=5, price="40.00")
    order = await order_of(client, tenant, [{"sku": "LAMP", "quantity": 2}])
    await allocate(db, tenant, order["id"])
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        invoice = await invoices.create_invoice_for_order(
            s,
            ctx_of(tenant),
            order_id=order["id"],
            currency="USD",
            lines=[{"description": "Lamp", "quantity": 2, "unit_price": Decimal("40.00")}],
        )
        await service.mark_invoiced(s, ctx_of(tenant), order["id"], invoice.id)
    assert (await product(client, tenant, lamp["id"]))["allocated"] == 2

    r = await client.post(
        f"{ORDERS}/{order['id']}/cancel", json={"reason": "changed mind"}, headers=tenant.headers
    )

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancel_reason"] == "changed mind"
    assert (await product(client, tenant, lamp["id"]))["allocated"] == 0
    voided = await client.get(f"/api/v1/billing/invoices/{invoice.id}", headers=tenant.headers)
    assert voided.json()["status"] == "void"
    [event] = await events_of_type(db, tenant.tenant_id, "commerce.order.cancelled")
    assert event.data["previous_status"] == "invoiced"
    again = await client.post(f"{ORDERS}/{order['id']}/cancel", headers=tenant.headers)
    assert again.status_code == 200  # already cancelled: as it is
    assert len(await events_of_type(db, tenant.tenant_id, "commerce.order.cancelled")) == 1
    with pytest.raises(service.OrderCancelled):
        await allocate(db, tenant, order["id"])


async def test_cancelling_voids_an_invoice_issued_but_not_yet_recorded(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    # Order-to-cash issued the invoice; the cancellation came before mark_invoiced.
    await add_product(client, tenant, "LAMP", stock=5, price="40.00")
    order = await order_of(client, tenant, [{"sku": "LAMP", "quantity": 1}])
    await allocate(db, tenant, order["id"])
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        invoice = await invoices.create_invoice_for_order(
            s,
            ctx_of(tenant),
            order_id=order["id"],
            currency="USD",
            lines=[{"description": "Lamp", "quantity": 1, "unit_price": Decimal("40.00")}],
        )
    r = await client.post(f"{ORDERS}/{order['id']}/cancel", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    voided = await client.get(f"/api/v1/billing/invoices/{invoice.id}", headers=tenant.headers)
    assert voided.json()["status"] == "void"


async def test_a_shipped_order_cannot_be_cancelled(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    lamp = await add_product(client, tenant, "LAMP", stock=5)
    order = await order_of(client, tenant, [{"sku": "LAMP", "quantity": 1}])
    await allocate(db, tenant, order["id"])
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        await service.mark_shipped(s, ctx_of(tenant), order["id"], None)
        await service.mark_shipped(s, ctx_of(tenant), order["id"], None)  # no-op
    r = await client.post(f"{ORDERS}/{order['id']}/cancel", headers=tenant.headers)
    assert r.status_code == 409
    after = await product(client, tenant, lamp["id"])
    assert (after["stock_on_hand"], after["allocated"]) == (4, 0)


async def test_fail_order_says_why_with_a_task_and_compensation_releases(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    lamp = await add_product(client, tenant, "LAMP", stock=5)
    order = await order_of(client, tenant, [{"sku": "LAMP", "quantity": 2}])
    await allocate(db, tenant, order["id"])
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        await service.release_order_stock(s, ctx_of(tenant), order["id"])
        await service.release_order_stock(s, ctx_of(tenant), order["id"])
        await service.fail_order(s, ctx_of(tenant), order["id"], "label purchase failed")
        await service.fail_order(s, ctx_of(tenant), order["id"], "again")
    got = (await client.get(f"{ORDERS}/{order['id']}", headers=tenant.headers)).json()
    assert got["status"] == "failed" and got["failure_reason"] == "label purchase failed"
    assert (await product(client, tenant, lamp["id"]))["allocated"] == 0
    [task] = await tasks_about(db, tenant.tenant_id, order["id"])
    assert task.assignee_id == tenant.user_id and "label purchase failed" in (
        task.description or ""
    )
    assert len(await events_of_type(db, tenant.tenant_id, "commerce.order.failed")) == 1


def test_order_cancelled_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(service.OrderCancelled("o-1")))
    assert isinstance(error, service.OrderCancelled) and error.order_id == "o-1"
