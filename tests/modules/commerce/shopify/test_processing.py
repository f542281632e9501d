"""Stored Shopify deliveries become orders through the event log: mapped through the
adapter, once per Shopify order, failed with a reason and a task when they cannot be."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.commerce.orders import service as orders
from bizos.modules.commerce.shopify.adapter import our_total, parse_order
from bizos.modules.webhooks.models import InboundWebhook
from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import add_product, dispatch_until, tasks_about
from tests.modules.commerce.shopify.helpers import configure_shop, deliver, fixture, inbound_rows

ORDERS = "/api/v1/commerce/orders"
SHOPIFY_ID = "5678901234567"


async def catalogue(client: httpx.AsyncClient, tenant: TenantLogin) -> dict[str, Any]:
    await configure_shop(client, tenant)
    dripper = await add_product(client, tenant, "DRIP-WHT", price="29.00", stock=10)
    await add_product(client, tenant, "FILT-100", price="26.00", stock=50)
    return dripper


async def process(db: Database, settings: Settings, tenant: TenantLogin) -> list[InboundWebhook]:
    """Run the dispatcher until every stored delivery is finished; the rows after it."""

    async def finished() -> bool:
        return all(r.status != "received" for r in await inbound_rows(db, tenant.tenant_id))

    await dispatch_until(db, settings, finished)
    return await inbound_rows(db, tenant.tenant_id)


async def shopify_orders(client: httpx.AsyncClient, tenant: TenantLogin) -> list[dict[str, Any]]:
    r = await client.get(ORDERS, params={"external_id": SHOPIFY_ID}, headers=tenant.headers)
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_an_order_webhook_becomes_an_order_in_our_terms(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    dripper = await catalogue(client, tenant)
    await deliver(client, tenant, fixture("orders_create.json"))

    [row] = await process(db, settings, tenant)

    assert row.status == "processed" and row.processed_at is not None
    [order] = await shopify_orders(client, tenant)
    assert order["status"] == "received" and order["source"] == "shopify"
    assert order["external_name"] == "#1001" and order["currency"] == "USD"
    # Shopify's own figures: 84.00 of items, 10.00 off, 6.64 tax, 6.95 shipping.
    assert (order["subtotal"], order["discount_total"]) == ("84.00", "10.00")
    assert (order["tax_total"], order["shipping_total"]) == ("6.64", "6.95")
    assert order["total"] == "87.59"
    assert "shopify_total_mismatch" not in order["properties"]
    lines = [
        (ln["sku"], ln["quantity"], ln["unit_price"], ln["product_id"]) for ln in order["lines"]
    ]
    assert lines[0] == ("DRIP-WHT", 2, "29.00", dripper["id"])
    assert order["shipping_address"]["city"] == "Ottawa"
    contact = await client.get(
        f"/api/v1/crm/contacts/{order['contact_id']}", headers=tenant.headers
    )
    assert contact.json()["email"] == "jane.doe@example.com"
    assert contact.json()["name"] == "Jane Doe"


async def test_the_same_shopify_order_under_another_webhook_id_is_one_order(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await catalogue(client, tenant)
    await deliver(client, tenant, fixture("orders_create.json"), webhook_id="wh-a")
    await deliver(client, tenant, fixture("orders_create.json"), webhook_id="wh-b")
    await deliver(client, tenant, fixture("orders_create.json"), webhook_id="wh-a")

    rows = await process(db, settings, tenant)

    assert [r.status for r in rows] == ["processed", "processed"]
    assert len(await shopify_orders(client, tenant)) == 1


async def test_an_unknown_sku_fails_the_order_with_a_reason_and_a_task(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_shop(client, tenant)
    await add_product(client, tenant, "DRIP-WHT", price="29.00")
    await deliver(client, tenant, fixture("orders_create.json"))

    [row] = await process(db, settings, tenant)

    assert row.status == "processed"  # the delivery was fine; the order is what failed
    [order] = await shopify_orders(client, tenant)
    assert order["status"] == "failed"
    assert order["failure_reason"] == "unknown SKU 'FILT-100'"
    [task] = await tasks_about(db, tenant.tenant_id, order["id"])
    assert "#1001" in task.title and task.assignee_id == tenant.user_id


async def test_a_malformed_payload_fails_the_delivery_with_a_task_not_a_retry_loop(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await catalogue(client, tenant)
    no_currency = fixture("orders_create.json")
    del no_currency["currency"]
    bad_quantity = fixture("orders_create.json")
    bad_quantity["id"] = 42
    bad_quantity["line_items"][0]["quantity"] = "two"
    await deliver(client, tenant, b"{not json", webhook_id="wh-1")
    await deliver(client, tenant, no_currency, webhook_id="wh-2")
    await deliver(client, tenant, bad_quantity, webhook_id="wh-3")

    rows = await process(db, settings, tenant)

    assert [r.status for r in rows] == ["failed", "failed", "failed"]
    assert [r.error for r in rows] == [
        "the body is not valid JSON",
        "the order has no currency",
        "line_items[0].quantity is not a positive whole number",
    ]
    for row in rows:
        [task] = await tasks_about(db, tenant.tenant_id, row.id)
        assert task.related_type == "inbound_webhook"
    assert (await client.get(ORDERS, headers=tenant.headers)).json()["items"] == []


async def test_amounts_and_quantities_beyond_what_we_store_fail_the_delivery_with_a_task(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    """A payload may say anything: a quantity or an amount too large to keep is a failed
    delivery with a task, never an error the dispatcher retries forever."""
    await catalogue(client, tenant)
    many = fixture("orders_create.json")
    many["id"] = 43
    many["line_items"][0]["quantity"] = 5_000_000
    dear = fixture("orders_create.json")
    dear["id"] = 44
    dear["line_items"][0]["price"] = "1e400"
    shipping = fixture("orders_create.json")
    shipping["id"] = 45
    shipping["shipping_lines"][0]["price"] = "999999999999.00"
    shipping["shipping_lines"][0]["discounted_price"] = "999999999999.00"
    for i, body in enumerate((many, dear, shipping)):
        await deliver(client, tenant, body, webhook_id=f"big-{i}")

    rows = await process(db, settings, tenant)

    assert [r.status for r in rows] == ["failed", "failed", "failed"]
    assert [r.error for r in rows] == [
        "line_items[0].quantity is more than 1000000",
        "line_items[0].price is more than 999999999999.99",
        "the order amount exceeds 999999999999.99",
    ]
    for row in rows:
        [task] = await tasks_about(db, tenant.tenant_id, row.id)
        assert task.related_type == "inbound_webhook"
    assert (await client.get(ORDERS, headers=tenant.headers)).json()["items"] == []


async def test_topics_we_do_not_act_on_are_ignored(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await catalogue(client, tenant)
    await deliver(client, tenant, fixture("orders_create.json"), topic="orders/paid")
    [row] = await process(db, settings, tenant)
    assert row.status == "ignored"
    assert await shopify_orders(client, tenant) == []


async def test_a_cancellation_cancels_the_order_and_releases_its_stock(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    dripper = await catalogue(client, tenant)
    await deliver(client, tenant, fixture("orders_create.json"))
    await process(db, settings, tenant)
    [order] = await shopify_orders(client, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        assert await orders.allocate_order(s, Context(tenant_id=tenant.tenant_id), order["id"]) == (
            "allocated"
        )

    await deliver(client, tenant, fixture("orders_cancelled.json"), topic="orders/cancelled")
    await process(db, settings, tenant)

    [cancelled] = await shopify_orders(client, tenant)
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "cancelled in Shopify (customer)"
    product = await client.get(f"/api/v1/commerce/products/{dripper['id']}", headers=tenant.headers)
    assert product.json()["allocated"] == 0


async def test_a_cancellation_before_the_order_leaves_it_cancelled(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await catalogue(client, tenant)
    await deliver(client, tenant, fixture("orders_cancelled.json"), topic="orders/cancelled")
    await process(db, settings, tenant)
    await deliver(client, tenant, fixture("orders_create.json"))
    rows = await process(db, settings, tenant)
    assert [r.status for r in rows] == ["processed", "processed"]
    [order] = await shopify_orders(client, tenant)
    assert order["status"] == "cancelled"


async def test_a_cancellation_after_shipping_asks_for_a_return(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await catalogue(client, tenant)
    await deliver(client, tenant, fixture("orders_create.json"))
    await process(db, settings, tenant)
    [order] = await shopify_orders(client, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        ctx = Context(tenant_id=tenant.tenant_id)
        await orders.allocate_order(s, ctx, order["id"])
        await orders.mark_shipped(s, ctx, order["id"], None)

    await deliver(client, tenant, fixture("orders_cancelled.json"), topic="orders/cancelled")
    await process(db, settings, tenant)

    [after] = await shopify_orders(client, tenant)
    assert after["status"] == "shipped"
    [task] = await tasks_about(db, tenant.tenant_id, order["id"])
    assert "arrange a return" in task.title


async def test_another_tenants_deliveries_never_reach_this_tenant(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
) -> None:
    await catalogue(client, tenant)
    await catalogue(client, other_tenant)
    await deliver(client, other_tenant, fixture("orders_create.json"))
    await process(db, settings, other_tenant)
    [theirs] = await shopify_orders(client, other_tenant)
    assert await shopify_orders(client, tenant) == []
    r = await client.get(f"{ORDERS}/{theirs['id']}", headers=tenant.headers)
    assert r.status_code == 404


def test_the_adapter_reads_taxes_included_and_order_level_discounts() -> None:
    data = fixture("orders_create.json")
    data["taxes_included"] = True
    data["total_discounts"] = "15.00"  # 5.00 more than the lines carry
    data["total_price"] = "75.95"
    order = parse_order(json.dumps(data).encode())
    assert order.order_discount == Decimal("5.00")
    assert order.taxes_included and our_total(order) == Decimal("75.95")


async def test_an_order_without_a_usable_email_is_kept_without_a_contact(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await catalogue(client, tenant)
    pos_order = fixture("orders_create.json")
    pos_order["email"] = pos_order["contact_email"] = "at the till"
    pos_order["customer"] = None
    await deliver(client, tenant, pos_order)
    [row] = await process(db, settings, tenant)
    assert row.status == "processed"
    [order] = await shopify_orders(client, tenant)
    assert order["status"] == "received"
    assert order["contact_id"] is None and order["email"] is None
    assert order["customer_name"] == "Jane Doe"  # from the billing address
