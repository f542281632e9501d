"""The X-Shopify-Topic header is not covered by Shopify's signature, so a captured signed
body can be re-sent under another topic. A topic is acted on only when the payload is
what the topic says: a mismatch is stored, flagged (status, reason, event) and never
applied."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.commerce.orders import service as orders
from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import events_of_type, tasks_about
from tests.modules.commerce.shopify.helpers import deliver, fixture
from tests.modules.commerce.shopify.test_processing import catalogue, process, shopify_orders

INBOUND = "/api/v1/inbound-webhooks"
FLAGGED = "webhooks.inbound.flagged"


async def an_order_from_shopify(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> dict[str, Any]:
    await catalogue(client, tenant)
    await deliver(client, tenant, fixture("orders_create.json"), webhook_id="wh-create")
    await process(db, settings, tenant)
    [order] = await shopify_orders(client, tenant)
    return order


async def test_a_signed_create_body_resent_as_a_cancellation_does_not_cancel_the_order(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    order = await an_order_from_shopify(client, db, settings, tenant)

    replayed = await deliver(
        client, tenant, fixture("orders_create.json"), topic="orders/cancelled", webhook_id="wh-2"
    )
    rows = await process(db, settings, tenant)

    # Answered like any stored delivery: the sender learns nothing, Shopify retries nothing.
    assert replayed.status_code == 200 and replayed.json() == {"status": "accepted"}
    [after] = await shopify_orders(client, tenant)
    assert after["status"] == order["status"] == "received"
    flagged = rows[-1]
    assert flagged.status == "flagged" and flagged.topic == "orders/cancelled"
    assert flagged.body == json.dumps(fixture("orders_create.json")).encode()  # as signed
    assert flagged.error is not None and "cancelled_at" in flagged.error


async def test_a_flagged_delivery_is_listed_with_its_reason_and_raises_an_event(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await an_order_from_shopify(client, db, settings, tenant)
    await deliver(
        client, tenant, fixture("orders_create.json"), topic="orders/cancelled", webhook_id="wh-2"
    )
    [_, flagged] = await process(db, settings, tenant)

    listed = await client.get(INBOUND, params={"status": "flagged"}, headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["id"] == flagged.id and item["status"] == "flagged"
    assert item["provider"] == "shopify" and item["topic"] == "orders/cancelled"
    assert item["external_id"] == "wh-2" and "cancelled_at" in item["reason"]
    one = await client.get(f"{INBOUND}/{flagged.id}", headers=tenant.headers)
    assert one.status_code == 200
    assert one.json()["body"] == flagged.body.decode()
    assert one.json()["headers"]["x-shopify-topic"] == "orders/cancelled"
    [event] = await events_of_type(db, tenant.tenant_id, FLAGGED)
    assert event.aggregate_id == flagged.id
    assert event.data["provider"] == "shopify" and event.data["topic"] == "orders/cancelled"
    assert "cancelled_at" in event.data["reason"]


async def test_a_replayed_create_body_cannot_raise_a_return_task_for_a_shipped_order(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    order = await an_order_from_shopify(client, db, settings, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        ctx = Context(tenant_id=tenant.tenant_id)
        await orders.allocate_order(s, ctx, order["id"])
        await orders.mark_shipped(s, ctx, order["id"], None)

    await deliver(
        client, tenant, fixture("orders_create.json"), topic="orders/cancelled", webhook_id="wh-2"
    )
    rows = await process(db, settings, tenant)

    assert rows[-1].status == "flagged"
    [after] = await shopify_orders(client, tenant)
    assert after["status"] == "shipped" and after["cancel_reason"] is None
    assert await tasks_about(db, tenant.tenant_id, order["id"]) == []


async def test_a_cancellation_for_an_order_we_never_saw_is_not_made_from_a_create_body(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await catalogue(client, tenant)
    await deliver(client, tenant, fixture("orders_create.json"), topic="orders/cancelled")
    [row] = await process(db, settings, tenant)
    assert row.status == "flagged"
    assert await shopify_orders(client, tenant) == []


async def test_a_cancelled_body_resent_as_a_new_order_is_flagged_not_made(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    """Shopify sends orders/create when the order is placed, before it can be cancelled:
    a create whose payload is already cancelled is not one, and would ship a cancelled
    order if it were made live."""
    await catalogue(client, tenant)
    await deliver(client, tenant, fixture("orders_cancelled.json"), topic="orders/create")
    [row] = await process(db, settings, tenant)
    assert row.status == "flagged" and row.error is not None and "cancelled_at" in row.error
    assert await shopify_orders(client, tenant) == []


async def test_a_genuine_cancellation_still_cancels_after_a_flagged_one(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await an_order_from_shopify(client, db, settings, tenant)
    await deliver(
        client, tenant, fixture("orders_create.json"), topic="orders/cancelled", webhook_id="wh-2"
    )
    await deliver(
        client,
        tenant,
        fixture("orders_cancelled.json"),
        topic="orders/cancelled",
        webhook_id="wh-3",
    )
    rows = await process(db, settings, tenant)
    assert [r.status for r in rows] == ["processed", "flagged", "processed"]
    [order] = await shopify_orders(client, tenant)
    assert order["status"] == "cancelled"


@pytest.mark.parametrize("topic", ["orders/paid", "orders/updated", "orders/fulfilled"])
async def test_other_order_topics_change_nothing_whatever_body_they_carry(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    topic: str,
) -> None:
    order = await an_order_from_shopify(client, db, settings, tenant)
    await deliver(client, tenant, fixture("orders_cancelled.json"), topic=topic, webhook_id="x-1")
    await deliver(client, tenant, fixture("orders_create.json"), topic=topic, webhook_id="x-2")
    rows = await process(db, settings, tenant)
    assert [r.status for r in rows[1:]] == ["ignored", "ignored"]
    [after] = await shopify_orders(client, tenant)
    assert after["status"] == order["status"] == "received"
