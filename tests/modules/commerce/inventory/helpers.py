"""Factories for inventory tests: products through the API or the service, and the
ledger check every stock test ends with."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.commerce.inventory import service
from bizos.modules.commerce.inventory.schemas import ProductCreate
from tests.conftest import TenantLogin

PRODUCTS = "/api/v1/commerce/products"


def owner_ctx(tenant: TenantLogin) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user")


async def post_product(
    client: httpx.AsyncClient, tenant: TenantLogin, **body: Any
) -> dict[str, Any]:
    payload = {
        "sku": "MUG-BLUE",
        "name": "Blue mug",
        "price": "12.50",
        "currency": "EUR",
        "stock_on_hand": 10,
        **body,
    }
    r = await client.post(PRODUCTS, json=payload, headers=tenant.headers)
    assert r.status_code == 201, r.text
    product: dict[str, Any] = r.json()
    return product


async def make_product(
    db: Database, tenant: TenantLogin, *, sku: str = "MUG-BLUE", stock: int = 10, **fields: Any
) -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        product = await service.create_product(
            session,
            owner_ctx(tenant),
            data=ProductCreate(
                sku=sku,
                name=fields.pop("name", sku.title()),
                price=Decimal(fields.pop("price", "10.00")),
                currency=fields.pop("currency", "EUR"),
                stock_on_hand=stock,
                **fields,
            ),
        )
        return product.id


async def counters(db: Database, tenant: TenantLogin, product_id: str) -> tuple[int, int]:
    """(stock on hand, allocated) as committed."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        product = await service.get_product(session, owner_ctx(tenant), product_id)
        return product.stock_on_hand, product.allocated


async def assert_ledger_balances(db: Database, tenant: TenantLogin, product_id: str) -> None:
    """The movements' deltas sum to the counters, and no counter went negative."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        ctx = owner_ctx(tenant)
        product = await service.get_product(session, ctx, product_id)
        assert await service.ledger_totals(session, ctx, product_id) == (
            product.stock_on_hand,
            product.allocated,
        )
        assert 0 <= product.allocated <= product.stock_on_hand


async def events_of(db: Database, tenant: TenantLogin, type_: str) -> list[dict[str, Any]]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event).where(Event.type == type_).order_by(Event.sequence)
        )
        return [dict(r.data) for r in rows]
