"""A customer's whole story is on their timeline: orders, invoices, payments, refunds,
tickets and their messages, next to the CRM's own entries, newest first and page by
page. Paying for something makes a contact a customer, once, and nothing moves them
back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.core.events import Event
from bizos.modules.crm.manifest import MANIFEST as CRM
from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import add_product
from tests.modules.crm.contacts.helpers import CONTACTS, add_contact

INVOICES = "/api/v1/billing/invoices"


async def _post(
    client: httpx.AsyncClient, who: TenantLogin, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    r = await client.post(path, headers=who.headers, json=body)
    assert r.status_code in (200, 201, 202), r.text
    out: dict[str, Any] = r.json()
    return out


async def _paid_invoice(
    client: httpx.AsyncClient, who: TenantLogin, contact_id: str, amount: str
) -> dict[str, Any]:
    """A manual invoice for the contact, issued and paid in full by bank transfer."""
    invoice = await _post(
        client,
        who,
        INVOICES,
        {
            "currency": "USD",
            "contact_id": contact_id,
            "lines": [{"description": "Espresso beans, 5 kg", "unit_price": amount}],
        },
    )
    invoice = await _post(client, who, f"{INVOICES}/{invoice['id']}/issue", {})
    payment = await _post(
        client,
        who,
        f"{INVOICES}/{invoice['id']}/payments",
        {"amount": amount, "currency": "USD", "reference": f"bank-{invoice['number']}"},
    )
    return {"invoice": invoice, "payment": payment}


async def _run_crm_handlers(db: Database, settings: Settings) -> None:
    dispatcher = Dispatcher(db, settings)
    for register in CRM.subscribers:
        register(dispatcher)
    for _ in range(50):
        if await dispatcher.run_once() == 0:
            return
    raise AssertionError("the dispatcher did not catch up")


async def _contact(client: httpx.AsyncClient, who: TenantLogin, cid: str) -> dict[str, Any]:
    r = await client.get(f"{CONTACTS}/{cid}", headers=who.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _became_customer_events(db: Database, tenant_id: str, cid: str) -> list[Event]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(
            sa.select(Event).where(
                Event.type == "crm.contact.became_customer", Event.aggregate_id == cid
            )
        )
        return list(rows)


async def test_a_first_payment_makes_the_contact_a_customer_once(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    contact = await add_contact(client, tenant, name="Rosa Diaz", email="rosa@cafe.example")
    cid = contact["id"]
    assert contact["lifecycle_stage"] == "lead" and contact["became_customer_at"] is None

    first = await _paid_invoice(client, tenant, cid, "40.00")
    await _run_crm_handlers(db, settings)
    customer = await _contact(client, tenant, cid)
    assert customer["lifecycle_stage"] == "customer"
    became = dt.datetime.fromisoformat(customer["became_customer_at"])
    paid = dt.datetime.fromisoformat(first["payment"]["received_at"])
    assert paid - dt.timedelta(minutes=1) <= became <= paid + dt.timedelta(minutes=1)

    # A second purchase leaves the contact a customer since the first time, with one
    # event saying so.
    await _paid_invoice(client, tenant, cid, "55.00")
    await _run_crm_handlers(db, settings)
    again = await _contact(client, tenant, cid)
    assert again["lifecycle_stage"] == "customer"
    assert again["became_customer_at"] == customer["became_customer_at"]
    assert len(await _became_customer_events(db, tenant.tenant_id, cid)) == 1


async def test_a_won_deal_makes_the_contact_a_customer(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, settings: Settings
) -> None:
    contact = await add_contact(client, tenant, name="Ben Ode", email="ben@hotel.example")
    deal = await _post(
        client,
        tenant,
        "/api/v1/crm/deals",
        {"name": "Hotel supply", "contact_id": contact["id"], "amount": "900", "currency": "USD"},
    )
    r = await client.patch(
        f"/api/v1/crm/deals/{deal['id']}", headers=tenant.headers, json={"stage": "won"}
    )
    assert r.status_code == 200, r.text
    won = await _contact(client, tenant, contact["id"])
    assert won["lifecycle_stage"] == "customer" and won["became_customer_at"]

    await _paid_invoice(client, tenant, contact["id"], "900.00")  # the deal's invoice
    await _run_crm_handlers(db, settings)
    assert (await _contact(client, tenant, contact["id"]))["became_customer_at"] == won[
        "became_customer_at"
    ]
    assert len(await _became_customer_events(db, tenant.tenant_id, contact["id"])) == 1


async def _timeline(
    client: httpx.AsyncClient, who: TenantLogin, cid: str, **params: Any
) -> dict[str, Any]:
    r = await client.get(f"{CONTACTS}/{cid}/timeline", headers=who.headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_orders_billing_and_support_are_on_the_contacts_timeline(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    contact = await add_contact(client, tenant, name="Ida Berg", email="ida@roastery.example")
    cid = contact["id"]
    await add_product(client, tenant, "BEANS-1K", price="32.00")
    order = await _post(
        client,
        tenant,
        "/api/v1/commerce/orders",
        {"contact_id": cid, "currency": "USD", "lines": [{"sku": "BEANS-1K", "quantity": 2}]},
    )
    paid = await _paid_invoice(client, tenant, cid, "64.00")
    refund = await _post(
        client,
        tenant,
        f"/api/v1/billing/payments/{paid['payment']['id']}/refunds",
        {"amount": "10.00", "reason": "one bag arrived torn"},
    )
    ticket = await _post(
        client,
        tenant,
        "/api/v1/support/tickets",
        {"subject": "Torn bag", "body": "One of the bags arrived torn.", "contact_id": cid},
    )

    everything = await _timeline(client, tenant, cid, limit=200)
    kinds = {e["kind"] for e in everything["items"]}
    assert {"order", "invoice", "payment", "refund", "credit_note", "ticket"} <= kinds
    assert "ticket.message.inbound" in kinds
    by_ref = {(e["ref_type"], e["ref_id"]): e for e in everything["items"]}
    placed = by_ref[("order", order["id"])]
    assert placed["title"] == f"Order {order['number']} placed"
    assert placed["link"] == f"/api/v1/commerce/orders/{order['id']}"
    assert by_ref[("invoice", paid["invoice"]["id"])]["data"]["number"] == paid["invoice"]["number"]
    assert by_ref[("payment", paid["payment"]["id"])]["summary"].startswith(
        f"for {paid['invoice']['number']}"
    )
    assert by_ref[("refund", refund["id"])]["title"] == "Refund: 10.00 USD"
    assert by_ref[("ticket", ticket["id"])]["link"] == f"/api/v1/support/tickets/{ticket['id']}"
    times = [e["at"] for e in everything["items"]]
    assert times == sorted(times, reverse=True)

    # Page by page: the same entries, each once, in the same order.
    paged: list[tuple[str, str, str]] = []
    cursor: str | None = None
    while True:
        page = await _timeline(
            client, tenant, cid, limit=2, **({"cursor": cursor} if cursor else {})
        )
        paged += [(e["kind"], e["ref_type"], e["ref_id"]) for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == [(e["kind"], e["ref_type"], e["ref_id"]) for e in everything["items"]]

    only_billing = await _timeline(client, tenant, cid, kind=["invoice", "payment", "refund"])
    assert {e["kind"] for e in only_billing["items"]} == {"invoice", "payment", "refund"}


async def test_another_tenants_orders_stay_off_the_timeline(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    mine = await add_contact(client, tenant, name="Mo", email="mo@shop.example")
    theirs = await add_contact(client, other_tenant, name="Mo", email="mo@shop.example")
    await add_product(client, other_tenant, "CUP")
    await _post(
        client,
        other_tenant,
        "/api/v1/commerce/orders",
        {"contact_id": theirs["id"], "currency": "USD", "lines": [{"sku": "CUP", "quantity": 1}]},
    )
    kinds = {e["kind"] for e in (await _timeline(client, tenant, mine["id"]))["items"]}
    assert not any(k.startswith("order") for k in kinds)
