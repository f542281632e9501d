"""Shared steps of the order-to-cash tests: a catalogue, orders through the API, and
waiting for an order to reach a state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.events import Event
from tests.conftest import TenantLogin

Json = dict[str, Any]
WAREHOUSE = {
    "name": "Acme Warehouse",
    "street1": "1 Dock Road",
    "city": "San Francisco",
    "state": "CA",
    "zip": "94107",
    "country": "US",
}
CUSTOMER_ADDRESS = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "address1": "12 Analytical Way",
    "city": "New York",
    "province_code": "NY",
    "zip": "10001",
    "country_code": "US",
}
SETTLED = ("fulfilled", "backordered", "failed", "cancelled")


async def ship_from_warehouse(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    r = await client.put(
        "/api/v1/commerce/settings", json={"ship_from": WAREHOUSE}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text


async def product(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    sku: str,
    *,
    stock: int = 10,
    price: str = "25.00",
    tracks_stock: bool = True,
    **extra: Any,
) -> Json:
    r = await client.post(
        "/api/v1/commerce/products",
        json={
            "sku": sku,
            "name": f"Product {sku}",
            "price": price,
            "currency": "USD",
            "stock_on_hand": stock if tracks_stock else 0,
            "tracks_stock": tracks_stock,
            **extra,
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def get_product(client: httpx.AsyncClient, tenant: TenantLogin, product_id: str) -> Json:
    r = await client.get(f"/api/v1/commerce/products/{product_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def receive(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    product_id: str,
    quantity: int,
    *,
    kind: str = "receipt",
) -> None:
    r = await client.post(
        f"/api/v1/commerce/products/{product_id}/stock",
        json={"quantity": quantity, "kind": kind, "reason": "delivery"},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text


async def place_order(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    lines: Iterable[tuple[str, int]],
    *,
    email: str = "ada@example.com",
    address: Json | None = CUSTOMER_ADDRESS,
    **extra: Any,
) -> Json:
    body: Json = {
        "email": email,
        "customer_name": "Ada Lovelace",
        "currency": "USD",
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        **extra,
    }
    if address is not None:
        body["shipping_address"] = address
    r = await client.post("/api/v1/commerce/orders", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def get_order(client: httpx.AsyncClient, tenant: TenantLogin, order_id: str) -> Json:
    r = await client.get(f"/api/v1/commerce/orders/{order_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def until_order(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    order_id: str,
    statuses: Iterable[str] = SETTLED,
    *,
    within_seconds: float = 90,
) -> Json:
    wanted = tuple(statuses)
    async with asyncio.timeout(within_seconds):
        while True:
            order = await get_order(client, tenant, order_id)
            if order["status"] in wanted:
                return order
            await asyncio.sleep(0.05)


async def invoices_of(client: httpx.AsyncClient, tenant: TenantLogin, order_id: str) -> list[Json]:
    r = await client.get(
        "/api/v1/billing/invoices", params={"order_id": order_id}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def event_types(db: Database, tenant_id: str, aggregate_id: str) -> list[str]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event.type).where(Event.aggregate_id == aggregate_id).order_by(Event.position)
        )
        return list(rows)
