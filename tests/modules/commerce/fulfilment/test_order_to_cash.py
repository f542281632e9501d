"""Order to cash end to end, as a running server does it: an order placed through the
API raises ``commerce.order.received``, the dispatcher starts the durable
``commerce.order_to_cash`` saga, which allocates stock, issues the invoice, buys a label
(sandbox, or a Shippo-style server on this machine), ships, emails the customer and
fulfils the order.

Also: a label that cannot be bought undoes the invoice and the stock and fails the order
with a task saying why; a provider that fails for a while is retried; backorders wait
for stock and are restarted oldest first when it arrives; a cancelled order stops the
saga and its bought label is voided; service orders neither allocate nor ship.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.modules.commerce.models import Shipment
from bizos.modules.notifications.models import Notification
from bizos.modules.outreach.models import Message
from bizos.modules.work.models import Task
from tests.conftest import TenantLogin, signup
from tests.connectors.shippo_server import ShippoServer, shippo_server
from tests.modules.commerce.fulfilment.helpers import (
    CUSTOMER_ADDRESS,
    WAREHOUSE,
    event_types,
    get_order,
    get_product,
    invoices_of,
    place_order,
    product,
    receive,
    ship_from_warehouse,
    until_order,
)


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
    tenant = await signup(client, "Acme Ltd")
    await ship_from_warehouse(client, tenant)
    return tenant


async def use_shippo(client: httpx.AsyncClient, tenant: TenantLogin, server: ShippoServer) -> None:
    r = await client.put(
        "/api/v1/connectors/shipping",
        json={
            "config": {"vendor": "shippo", "base_url": server.base_url},
            "secrets": {"api_key": server.api_key},
        },
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text


async def shipments(db: Database, tenant_id: str, order_id: str) -> list[Shipment]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(sa.select(Shipment).where(Shipment.order_id == order_id))
        return list(rows)


async def rows_about(db: Database, tenant_id: str, model: Any, order_id: str) -> list[Any]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(model).where(model.related_type == "order", model.related_id == order_id)
        )
        return list(rows)


async def until_message_left(db: Database, tenant_id: str, order_id: str) -> Message:
    async with asyncio.timeout(60):
        while True:
            [message] = await rows_about(db, tenant_id, Message, order_id) or [None]
            if message is not None and message.status != "queued":
                return message
            await asyncio.sleep(0.05)


async def until_label_voided(db: Database, tenant_id: str, order_id: str) -> Shipment:
    async with asyncio.timeout(60):
        while True:
            labels = await shipments(db, tenant_id, order_id)
            if labels and labels[0].status == "voided":
                return labels[0]
            await asyncio.sleep(0.05)


# --- the whole flow -----------------------------------------------------------------


async def test_an_order_is_allocated_invoiced_shipped_emailed_and_fulfilled(
    client: httpx.AsyncClient, db: Database, shop: TenantLogin
) -> None:
    widget = await product(client, shop, "WID-1", stock=5, price="25.00", weight_grams=400)

    placed = await place_order(client, shop, [("WID-1", 2)])
    order = await until_order(client, shop, placed["id"])

    assert order["status"] == "fulfilled"
    shipment = order["shipment"]
    assert shipment["carrier"] == "sandbox"
    assert shipment["tracking_number"].startswith("SBX")
    assert shipment["label_url"] == f"/api/v1/commerce/orders/{order['id']}/shipment/label"
    label = await client.get(shipment["label_url"], headers=shop.headers)
    assert (label.status_code, label.headers["content-type"]) == (200, "application/pdf")
    [invoice] = await invoices_of(client, shop, order["id"])
    assert order["invoice_id"] == invoice["id"]
    assert (invoice["number"], invoice["status"]) == ("INV-000001", "open")
    assert (invoice["total"], invoice["currency"]) == ("50.00", "USD")
    stock = await get_product(client, shop, widget["id"])
    assert (stock["stock_on_hand"], stock["allocated"], stock["available"]) == (3, 0, 3)
    # What the label was bought with is kept on the shipment.
    [row] = await shipments(db, shop.tenant_id, order["id"])
    assert row.request["reference"] == order["number"]
    assert row.request["address_from"] == WAREHOUSE
    assert row.request["address_to"] == {
        "name": "Ada Lovelace",
        "street1": "12 Analytical Way",
        "city": "New York",
        "state": "NY",
        "zip": "10001",
        "country": "US",
        "email": "ada@example.com",
    }
    assert row.request["parcels"][0]["weight"] == "0.800"
    assert await event_types(db, shop.tenant_id, row.id) == ["commerce.shipment.label_purchased"]
    # The customer hears about it: tracking and invoice number.
    message = await until_message_left(db, shop.tenant_id, order["id"])
    assert message.recipient == "ada@example.com"
    assert message.subject == f"Your order {order['number']} is on its way"
    assert shipment["tracking_number"] in message.body and "INV-000001" in message.body
    assert message.status == "sandboxed"
    assert await event_types(db, shop.tenant_id, order["id"]) == [
        "commerce.order.received",
        "commerce.order.allocated",
        "commerce.order.invoiced",
        "commerce.order.shipped",
        "commerce.order.fulfilled",
    ]


async def test_a_service_order_is_invoiced_and_fulfilled_without_stock_or_a_label(
    client: httpx.AsyncClient, db: Database, shop: TenantLogin
) -> None:
    await product(client, shop, "CONSULT", price="150.00", tracks_stock=False)

    placed = await place_order(client, shop, [("CONSULT", 2)], address=None)
    order = await until_order(client, shop, placed["id"])

    assert order["status"] == "fulfilled"
    assert order["shipment"] is None
    assert await shipments(db, shop.tenant_id, order["id"]) == []
    [invoice] = await invoices_of(client, shop, order["id"])
    assert (invoice["total"], invoice["status"]) == ("300.00", "open")
    message = await until_message_left(db, shop.tenant_id, order["id"])
    assert message.subject == f"Your order {order['number']} is confirmed"
    assert "commerce.order.shipped" not in await event_types(db, shop.tenant_id, order["id"])


async def test_no_email_when_the_tenant_turned_customer_emails_off(
    client: httpx.AsyncClient, db: Database, shop: TenantLogin
) -> None:
    r = await client.put(
        "/api/v1/commerce/settings", json={"notify_customer": False}, headers=shop.headers
    )
    assert r.status_code == 200, r.text
    await product(client, shop, "WID-1", stock=5)

    placed = await place_order(client, shop, [("WID-1", 1)])
    order = await until_order(client, shop, placed["id"])

    assert order["status"] == "fulfilled"
    assert await rows_about(db, shop.tenant_id, Message, order["id"]) == []


# --- a label that cannot be bought --------------------------------------------------


async def test_a_refused_label_voids_the_invoice_releases_the_stock_and_fails_the_order(
    client: httpx.AsyncClient, db: Database, shop: TenantLogin
) -> None:
    widget = await product(client, shop, "WID-1", stock=5)
    with shippo_server() as server:
        await use_shippo(client, shop, server)
        server.api_key = "a-key-the-tenant-does-not-have"  # every call answers 401

        placed = await place_order(client, shop, [("WID-1", 2)])
        order = await until_order(client, shop, placed["id"])

    assert order["status"] == "failed"
    assert order["shipment"] is None
    # A refusal is final at once: one try, no label bought.
    assert len(server.calls("/shipments/")) == 1 and server.calls("/transactions/") == []
    [invoice] = await invoices_of(client, shop, order["id"])
    assert invoice["status"] == "void" and invoice["number"] == "INV-000001"
    stock = await get_product(client, shop, widget["id"])
    assert (stock["stock_on_hand"], stock["allocated"]) == (5, 0)
    [task] = await rows_about(db, shop.tenant_id, Task, order["id"])
    assert task.assignee_id == shop.user_id
    assert "No shipping label could be bought: shippo answered 401" in (task.description or "")
    assert "invoice voided" in (task.description or "")
    assert "stock released" in (task.description or "")
    [notification] = await rows_about(db, shop.tenant_id, Notification, order["id"])
    assert notification.user_id == shop.user_id
    assert await rows_about(db, shop.tenant_id, Message, order["id"]) == []
    types = await event_types(db, shop.tenant_id, order["id"])
    assert types[-1] == "commerce.order.failed"
    assert "commerce.order.shipped" not in types


async def test_an_order_without_a_shipping_address_fails_with_the_reason(
    client: httpx.AsyncClient, db: Database, shop: TenantLogin
) -> None:
    await product(client, shop, "WID-1", stock=5)
    with shippo_server() as server:
        await use_shippo(client, shop, server)
        placed = await place_order(client, shop, [("WID-1", 1)], address=None)
        order = await until_order(client, shop, placed["id"])

    assert order["status"] == "failed"
    assert "ship-to address is missing" in order["failure_reason"]
    assert server.requests == []


async def test_a_provider_failing_for_a_while_is_retried_and_the_order_ships(
    client: httpx.AsyncClient, db: Database, shop: TenantLogin
) -> None:
    await product(client, shop, "WID-1", stock=5)
    with shippo_server() as server:
        await use_shippo(client, shop, server)
        server.script.append((503, {"detail": "Service unavailable"}))

        placed = await place_order(client, shop, [("WID-1", 1)])
        order = await until_order(client, shop, placed["id"])

    assert order["status"] == "fulfilled"
    assert len(server.calls("/shipments/")) == 2
    assert len(server.calls("/transactions/")) == 1
    assert order["shipment"]["carrier"] == "USPS"
    assert order["shipment"]["tracking_number"] == "9400000000000000000001"
    [row] = await shipments(db, shop.tenant_id, order["id"])
    assert (row.provider, row.provider_ref, str(row.cost)) == ("shippo", "txn_000001", "7.35")


# --- backorders -----------------------------------------------------------------------


async def test_backorders_wait_for_stock_and_restart_oldest_first(
    client: httpx.AsyncClient, db: Database, shop: TenantLogin
) -> None:
    widget = await product(client, shop, "WID-1", stock=1)

    first = await place_order(client, shop, [("WID-1", 2)])
    assert (await until_order(client, shop, first["id"]))["status"] == "backordered"
    second = await place_order(client, shop, [("WID-1", 2)])
    assert (await until_order(client, shop, second["id"]))["status"] == "backordered"
    assert await invoices_of(client, shop, first["id"]) == []

    # 1 + 2 on hand: enough for the older order only.
    await receive(client, shop, widget["id"], 2)
    assert (await until_order(client, shop, first["id"], ["fulfilled"]))["shipment"]
    assert (await get_order(client, shop, second["id"]))["status"] == "backordered"

    # A stock count that finds two more units frees them as well.
    await receive(client, shop, widget["id"], 2, kind="adjustment")
    later = await until_order(client, shop, second["id"], ["fulfilled"])

    assert later["shipment"] is not None
    stock = await get_product(client, shop, widget["id"])
    assert (stock["stock_on_hand"], stock["allocated"]) == (1, 0)
    numbers = {(await invoices_of(client, shop, o["id"]))[0]["number"] for o in (first, second)}
    assert numbers == {"INV-000001", "INV-000002"}
    types = await event_types(db, shop.tenant_id, second["id"])
    assert types[:2] == ["commerce.order.received", "commerce.order.backordered"]
    assert types[-1] == "commerce.order.fulfilled"


async def until_task(
    db: Database, tenant_id: str, order_id: str, statuses: tuple[str, ...] = ("open",)
) -> Task:
    async with asyncio.timeout(60):
        while True:
            tasks = await rows_about(db, tenant_id, Task, order_id)
            if len(tasks) == 1 and tasks[0].status in statuses:
                return tasks[0]
            await asyncio.sleep(0.05)


async def test_a_backorder_tells_the_owner_what_is_missing_until_the_stock_lets_it_ship(
    client: httpx.AsyncClient, db: Database, shop: TenantLogin
) -> None:
    widget = await product(client, shop, "WID-1", stock=1)

    placed = await place_order(client, shop, [("WID-1", 3)])
    assert (await until_order(client, shop, placed["id"]))["status"] == "backordered"
    task = await until_task(db, shop.tenant_id, placed["id"])

    assert task.assignee_id == shop.user_id
    assert task.title == f"Order {placed['number']} is backordered: missing 2 x WID-1"
    assert "- 2 x WID-1 (Product WID-1): 3 ordered, 1 available" in (task.description or "")
    notes = await rows_about(db, shop.tenant_id, Notification, placed["id"])
    assert [n.kind for n in notes] == ["commerce.order.backordered"]
    assert notes[0].user_id == shop.user_id and notes[0].body == task.description

    await receive(client, shop, widget["id"], 2)
    order = await until_order(client, shop, placed["id"], ["fulfilled"])
    done = await until_task(db, shop.tenant_id, order["id"], ("done",))

    assert done.id == task.id
    assert "the stock arrived and the order was allocated" in (done.description or "")
    assert len(await rows_about(db, shop.tenant_id, Notification, order["id"])) == 1


# --- cancellation -----------------------------------------------------------------------


async def test_a_cancelled_order_stops_the_saga_voids_its_label_and_frees_its_stock(
    client: httpx.AsyncClient, db: Database, shop: TenantLogin
) -> None:
    widget = await product(client, shop, "WID-1", stock=2)
    with shippo_server() as server:
        await use_shippo(client, shop, server)
        server.hold_shipments = hold = threading.Event()

        placed = await place_order(client, shop, [("WID-1", 2)])
        # The saga is asking for rates: stock allocated, invoice issued.
        await asyncio.to_thread(server.shipments_arrived.wait, 60)
        waiting = await place_order(client, shop, [("WID-1", 2)])
        assert (await until_order(client, shop, waiting["id"]))["status"] == "backordered"
        r = await client.post(
            f"/api/v1/commerce/orders/{placed['id']}/cancel",
            json={"reason": "customer changed their mind"},
            headers=shop.headers,
        )
        assert r.status_code == 200, r.text
        hold.set()
        label = await until_label_voided(db, shop.tenant_id, placed["id"])
        # The stock the cancelled order gave back goes to the backorder.
        served = await until_order(client, shop, waiting["id"], ["fulfilled", "failed"])

    order = await get_order(client, shop, placed["id"])
    assert order["status"] == "cancelled"
    assert server.refunds == [label.provider_ref]
    assert await event_types(db, shop.tenant_id, label.id) == [
        "commerce.shipment.label_purchased",
        "commerce.shipment.label_voided",
    ]
    [invoice] = await invoices_of(client, shop, order["id"])
    assert invoice["status"] == "void"
    assert await rows_about(db, shop.tenant_id, Task, order["id"]) == []
    assert "commerce.order.failed" not in await event_types(db, shop.tenant_id, order["id"])
    assert served["status"] == "fulfilled"
    assert served["shipment"]["tracking_number"] != label.tracking_number
    # Releasing again as a compensation took nothing from the backorder's allocation.
    stock = await get_product(client, shop, widget["id"])
    assert (stock["stock_on_hand"], stock["allocated"]) == (0, 0)


def test_the_customer_address_reads_shopify_and_carrier_spellings() -> None:
    from bizos.modules.commerce.fulfilment.service import carrier_address

    assert carrier_address(CUSTOMER_ADDRESS, email="ada@example.com") == {
        "name": "Ada Lovelace",
        "street1": "12 Analytical Way",
        "city": "New York",
        "state": "NY",
        "zip": "10001",
        "country": "US",
        "email": "ada@example.com",
    }
    assert carrier_address({}, name="Bob") == {"name": "Bob"}
