"""Manual sales orders through the API: placed, priced, read back, refused when wrong."""

from __future__ import annotations

import asyncio

import httpx

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import add_product, events_of_type

ORDERS = "/api/v1/commerce/orders"


async def place(client: httpx.AsyncClient, tenant: TenantLogin, **body: object) -> httpx.Response:
    payload = {"email": "buyer@example.com", "currency": "USD", **body}
    return await client.post(ORDERS, json=payload, headers=tenant.headers)


async def test_a_manual_order_is_received_priced_from_the_catalogue_with_its_contact(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    mug = await add_product(client, tenant, "MUG-1", price="12.50", tax_rate="0.2")
    await add_product(client, tenant, "TEA-1", price="4.99")

    r = await place(
        client,
        tenant,
        lines=[{"sku": "MUG-1", "quantity": 2}, {"sku": "TEA-1", "quantity": 3}],
        shipping_total="5.00",
    )

    assert r.status_code == 201, r.text
    order = r.json()
    assert r.headers["Location"] == f"{ORDERS}/{order['id']}"
    assert order["number"] == "SO-000001"
    assert order["status"] == "received" and order["source"] == "api"
    assert order["subtotal"] == "39.97"  # 2 x 12.50 + 3 x 4.99
    assert order["tax_total"] == "5.00"  # 20% of the mugs
    assert order["total"] == "49.97"
    assert order["currency"] == "USD"
    assert order["invoice_id"] is None and order["shipment"] is None
    assert order["lines"][0]["product_id"] == mug["id"]
    contact = await client.get(
        f"/api/v1/crm/contacts/{order['contact_id']}", headers=tenant.headers
    )
    assert contact.json()["email"] == "buyer@example.com"
    [event] = await events_of_type(db, tenant.tenant_id, "commerce.order.received")
    assert event.data["order_id"] == order["id"] and event.data["total"] == "49.97"

    got = await client.get(f"{ORDERS}/{order['id']}", headers=tenant.headers)
    assert got.status_code == 200 and got.json() == order


async def test_numbers_are_consecutive_per_tenant(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "A")
    await add_product(client, other_tenant, "A")
    numbers = [
        (await place(client, tenant, lines=[{"sku": "A", "quantity": 1}])).json()["number"]
        for _ in range(2)
    ]
    theirs = (await place(client, other_tenant, lines=[{"sku": "A", "quantity": 1}])).json()
    assert numbers == ["SO-000001", "SO-000002"]
    assert theirs["number"] == "SO-000001"


async def test_an_unknown_sku_is_422_naming_the_line(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "KNOWN")
    r = await place(
        client, tenant, lines=[{"sku": "KNOWN", "quantity": 1}, {"sku": "NOPE", "quantity": 1}]
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["loc"] == ["body", "lines", 1, "sku"]
    assert "NOPE" in r.json()["errors"][0]["msg"]
    listed = await client.get(ORDERS, headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_a_product_priced_in_another_currency_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "EURO", currency="EUR")
    r = await place(client, tenant, lines=[{"sku": "EURO", "quantity": 1}])
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "lines", 0, "sku"]
    assert "EUR" in r.json()["errors"][0]["msg"]


async def test_malformed_orders_are_422_problems(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "A")
    cases: list[dict[str, object]] = [
        {"lines": []},
        {"lines": [{"sku": "A", "quantity": 0}]},
        {"lines": [{"sku": "A", "quantity": 1}], "currency": "XXY"},
        {"lines": [{"sku": "A", "quantity": 1}], "email": None},
        {"lines": [{"sku": "A", "quantity": 1, "unit_price": "1.001"}]},
        {"lines": [{"sku": "A", "quantity": 1}], "email": "not-an-email"},
        {"lines": [{"sku": "A", "quantity": 1}], "contact_id": "no-such-contact", "email": None},
    ]
    for body in cases:
        r = await place(client, tenant, **body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post(ORDERS, content=b"{not json", headers=tenant.headers)
    assert r.status_code == 422


async def test_the_same_external_id_returns_the_first_order(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "A")
    first = await place(client, tenant, lines=[{"sku": "A", "quantity": 1}], external_id="PO-7")
    again = await place(client, tenant, lines=[{"sku": "A", "quantity": 5}], external_id="PO-7")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    found = await client.get(ORDERS, params={"external_id": "PO-7"}, headers=tenant.headers)
    assert [o["id"] for o in found.json()["items"]] == [first.json()["id"]]


async def test_another_tenants_order_is_404_and_invisible(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "A")
    order = (
        await place(client, tenant, lines=[{"sku": "A", "quantity": 1}], external_id="X")
    ).json()
    r = await client.get(f"{ORDERS}/{order['id']}", headers=other_tenant.headers)
    assert r.status_code == 404
    r = await client.post(f"{ORDERS}/{order['id']}/cancel", headers=other_tenant.headers)
    assert r.status_code == 404
    listed = await client.get(ORDERS, params={"external_id": "X"}, headers=other_tenant.headers)
    assert listed.json()["items"] == []


async def test_orders_need_the_commerce_scopes(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "A")
    r = await client.post(
        "/api/v1/api-keys", json={"name": "ro", "scopes": ["commerce:read"]}, headers=tenant.headers
    )
    reader = {"Authorization": f"Bearer {r.json()['key']}"}
    r = await client.post(
        ORDERS,
        json={"email": "a@example.com", "currency": "USD", "lines": [{"sku": "A", "quantity": 1}]},
        headers=reader,
    )
    assert r.status_code == 403
    assert (await client.get(ORDERS, headers=reader)).status_code == 200
    r = await client.post(
        "/api/v1/api-keys", json={"name": "crm", "scopes": ["crm:read"]}, headers=tenant.headers
    )
    crm_only = {"Authorization": f"Bearer {r.json()['key']}"}
    assert (await client.get(ORDERS, headers=crm_only)).status_code == 403
    assert (await client.get(ORDERS)).status_code == 401


async def test_list_filters_by_status_and_pages(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "A")
    ids = [
        (await place(client, tenant, lines=[{"sku": "A", "quantity": 1}])).json()["id"]
        for _ in range(3)
    ]
    await client.post(f"{ORDERS}/{ids[1]}/cancel", json={"reason": "x"}, headers=tenant.headers)
    page = await client.get(ORDERS, params={"limit": 2}, headers=tenant.headers)
    rest = await client.get(
        ORDERS, params={"limit": 2, "cursor": page.json()["next_cursor"]}, headers=tenant.headers
    )
    newest_first = ids[::-1]
    assert [o["id"] for o in page.json()["items"] + rest.json()["items"]] == newest_first
    cancelled = await client.get(ORDERS, params={"status": "cancelled"}, headers=tenant.headers)
    assert [o["id"] for o in cancelled.json()["items"]] == [ids[1]]
    bad = await client.get(ORDERS, params={"status": "lost"}, headers=tenant.headers)
    assert bad.status_code == 422


async def test_concurrent_posts_with_one_external_id_make_one_order(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "A")
    answers = await asyncio.gather(
        *(
            place(client, tenant, lines=[{"sku": "A", "quantity": 1}], external_id="PO-9")
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    listed = await client.get(ORDERS, headers=tenant.headers)
    assert [o["number"] for o in listed.json()["items"]] == ["SO-000001"]


async def test_an_order_too_large_to_store_is_refused_not_rounded(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    """Amounts are kept to 12 digits before the cents: a total beyond that would be
    silently rounded by SQLite and refused by PostgreSQL (a 500); it is a 422."""
    await add_product(client, tenant, "GOLD-1", price="999999999999.99")

    r = await place(client, tenant, lines=[{"sku": "GOLD-1", "quantity": 1_000_000}])

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["loc"] == ["body", "lines", 0, "quantity"]
    one = await place(client, tenant, lines=[{"sku": "GOLD-1", "quantity": 1}])
    assert one.status_code == 201 and one.json()["total"] == "999999999999.99"
    two = await place(client, tenant, lines=[{"sku": "GOLD-1", "quantity": 1}] * 2)
    assert two.status_code == 422, two.text
    listed = await client.get(ORDERS, headers=tenant.headers)
    assert len(listed.json()["items"]) == 1
