"""The invoice order-to-cash issues bills exactly what the order says, whichever way the
shop states tax: Shopify orders with prices that exclude tax and with prices that
already include it (``taxes_included``), each with a discount code, taxed shipping and a
tax Shopify rounded its own way. The customer pays one amount: order total == invoice
total. The order's shipment also shows what was sent to the carrier (``request``) and by
which provider.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from tests.conftest import TenantLogin, signup
from tests.modules.commerce.fulfilment.helpers import (
    WAREHOUSE,
    invoices_of,
    place_order,
    product,
    ship_from_warehouse,
    until_order,
)
from tests.modules.commerce.shopify.helpers import configure_shop, deliver, fixture

Json = dict[str, Any]


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A whole server: API plus dispatcher, durable workflows and message delivery."""
    running = settings.model_copy(
        update={"workflows_enabled": True, "executor_id": f"test-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(running, database=db, workers=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture
async def shop(client: httpx.AsyncClient) -> TenantLogin:
    tenant = await signup(client, "Northwind Coffee")
    await ship_from_warehouse(client, tenant)
    await configure_shop(client, tenant)
    await product(client, tenant, "DRIP-WHT", stock=20, price="29.00")
    await product(client, tenant, "FILT-100", stock=20, price="26.00")
    return tenant


def shopify_order(order_id: int, *, taxes_included: bool) -> Json:
    """The fixture order (2 drippers at 29.00, filters at 26.00, SPRING10 for 10.00 off,
    shipping 6.95) with 13% HST on the dripper and on shipping, as Shopify states it."""
    body = fixture("orders_create.json")
    body["id"] = order_id
    body["name"] = f"#{order_id}"
    body["taxes_included"] = taxes_included
    dripper, filters = body["line_items"]
    filters["taxable"] = True
    if taxes_included:
        # Tax inside the discounted amounts: 51.10 - 51.10/1.13, 22.90 - 22.90/1.13, ...
        dripper["tax_lines"] = [{"title": "HST", "price": "5.88", "rate": 0.13}]
        filters["tax_lines"] = [{"title": "HST", "price": "2.63", "rate": 0.13}]
        body["shipping_lines"][0]["tax_lines"] = [{"title": "HST", "price": "0.80", "rate": 0.13}]
        body["total_tax"] = "9.31"
        body["total_price"] = "80.95"  # 84.00 - 10.00 + 6.95: the tax is inside
    else:
        # Shopify taxes per unit before the discount is spread: one cent off 13% of 51.10.
        dripper["tax_lines"] = [{"title": "HST", "price": "6.65", "rate": 0.13}]
        filters["tax_lines"] = [{"title": "HST", "price": "2.98", "rate": 0.13}]
        body["shipping_lines"][0]["tax_lines"] = [{"title": "HST", "price": "0.90", "rate": 0.13}]
        body["total_tax"] = "10.53"
        body["total_price"] = "91.48"  # 84.00 - 10.00 + 6.95 + 10.53
    return body


async def order_made_from(client: httpx.AsyncClient, shop: TenantLogin, external_id: str) -> Json:
    """The webhook's order, once the asynchronous processing has made it."""
    async with asyncio.timeout(60):
        while True:
            r = await client.get(
                "/api/v1/commerce/orders",
                params={"external_id": external_id},
                headers=shop.headers,
            )
            assert r.status_code == 200, r.text
            if r.json()["items"]:
                return dict(r.json()["items"][0])
            await asyncio.sleep(0.05)


async def fulfilled_shopify_order(
    client: httpx.AsyncClient, shop: TenantLogin, body: Json
) -> tuple[Json, Json]:
    r = await deliver(client, shop, body)
    assert r.status_code == 200, r.text
    made = await order_made_from(client, shop, str(body["id"]))
    order = await until_order(client, shop, made["id"])
    assert order["status"] == "fulfilled", order["failure_reason"]
    [invoice] = await invoices_of(client, shop, order["id"])
    return order, invoice


def money(value: str) -> Decimal:
    return Decimal(value)


async def test_prices_without_tax_invoice_what_shopify_charged(
    client: httpx.AsyncClient, shop: TenantLogin
) -> None:
    order, invoice = await fulfilled_shopify_order(
        client, shop, shopify_order(9001, taxes_included=False)
    )

    assert "shopify_total_mismatch" not in order["properties"]
    assert order["total"] == "91.48" == invoice["total"]
    assert order["tax_total"] == "10.53" == invoice["tax_total"]
    assert (invoice["subtotal"], invoice["discount_total"], invoice["shipping_total"]) == (
        "84.00",
        "10.00",
        "6.95",
    )
    # The invoice keeps Shopify's own per-line tax, not a recomputation.
    assert [ln["tax_amount"] for ln in invoice["lines"]] == ["6.65", "2.98"]
    assert [ln["total"] for ln in invoice["lines"]] == ["57.75", "25.88"]
    assert money(invoice["balance_due"]) == money(order["total"])


async def test_prices_with_tax_included_invoice_the_same_total(
    client: httpx.AsyncClient, shop: TenantLogin
) -> None:
    order, invoice = await fulfilled_shopify_order(
        client, shop, shopify_order(9002, taxes_included=True)
    )

    assert "shopify_total_mismatch" not in order["properties"]
    assert order["prices_include_tax"] is True
    assert order["total"] == "80.95" == invoice["total"]
    assert order["tax_total"] == "9.31" == invoice["tax_total"]
    # The lines' amounts already hold their tax: the tax is shown, not added.
    assert [ln["tax_amount"] for ln in invoice["lines"]] == ["5.88", "2.63"]
    assert [ln["total"] for ln in invoice["lines"]] == ["51.10", "22.90"]
    assert all(ln["tax_included"] for ln in invoice["lines"])
    assert money(invoice["balance_due"]) == money("80.95")


async def test_a_manual_order_with_shipping_and_discount_is_invoiced_at_its_total(
    client: httpx.AsyncClient, shop: TenantLogin
) -> None:
    r = await client.put(
        "/api/v1/commerce/settings", json={"default_tax_rate": "0.2"}, headers=shop.headers
    )
    assert r.status_code == 200, r.text

    placed = await place_order(
        client, shop, [("DRIP-WHT", 3)], shipping_total="4.99", discount_total="5.00"
    )
    order = await until_order(client, shop, placed["id"])

    assert order["status"] == "fulfilled"
    assert order["prices_include_tax"] is False
    [invoice] = await invoices_of(client, shop, order["id"])
    # 87.00 - 5.00 + 17.40 tax (the order-level discount does not reduce tax) + 4.99
    assert order["total"] == "104.39" == invoice["total"]
    assert order["tax_total"] == invoice["tax_total"] == "17.40"


async def test_the_shipment_shows_its_provider_and_what_was_sent(
    client: httpx.AsyncClient, shop: TenantLogin
) -> None:
    placed = await place_order(client, shop, [("FILT-100", 1)])
    order = await until_order(client, shop, placed["id"])

    shipment = order["shipment"]
    assert shipment["provider"] == "sandbox"
    assert shipment["request"]["reference"] == order["number"]
    assert shipment["request"]["address_from"] == WAREHOUSE
    assert shipment["request"]["address_to"]["city"] == "New York"
    listed = await client.get(
        "/api/v1/commerce/orders", params={"status": "fulfilled"}, headers=shop.headers
    )
    assert listed.json()["items"][0]["shipment"] == shipment
