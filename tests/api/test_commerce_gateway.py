"""The gateway in front of commerce and billing: ``Idempotency-Key`` on the POSTs that
create products and orders (API.md conventions), and the per-tenant rate limit bucket of
the provider webhook receivers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.conftest import AppFactory, assert_problem, client_for
from tests.conftest import TenantLogin, signup

PRODUCT = {"sku": "MUG-1", "name": "Mug", "price": "12.50", "currency": "EUR"}
PRODUCT |= {"stock_on_hand": 10}
ORDER = {"email": "ada@example.com", "currency": "EUR", "lines": [{"sku": "MUG-1", "quantity": 2}]}


def keyed(tenant: TenantLogin, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


async def items(client: httpx.AsyncClient, tenant: TenantLogin, path: str) -> list[Any]:
    r = await client.get(path, headers=tenant.headers)
    assert r.status_code == 200, r.text
    found: list[Any] = r.json()["items"]
    return found


async def received_events(client: httpx.AsyncClient, tenant: TenantLogin) -> int:
    return len(await items(client, tenant, "/api/v1/events?type=commerce.order.received"))


async def test_product_retry_with_the_same_key_and_body_replays_the_first_answer(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await client.post(
        "/api/v1/commerce/products", json=PRODUCT, headers=keyed(tenant, "p-1")
    )
    retry = await client.post(
        "/api/v1/commerce/products", json=PRODUCT, headers=keyed(tenant, "p-1")
    )
    assert first.status_code == retry.status_code == 201, first.text
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert [p["id"] for p in await items(client, tenant, "/api/v1/commerce/products")] == [
        first.json()["id"]
    ]


async def test_product_key_reused_with_another_body_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.post("/api/v1/commerce/products", json=PRODUCT, headers=keyed(tenant, "p-2"))
    other = await client.post(
        "/api/v1/commerce/products", json={**PRODUCT, "sku": "MUG-2"}, headers=keyed(tenant, "p-2")
    )
    body = assert_problem(other, 422)
    assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert [p["sku"] for p in await items(client, tenant, "/api/v1/commerce/products")] == ["MUG-1"]


async def test_order_retry_replays_without_a_second_order(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.post("/api/v1/commerce/products", json=PRODUCT, headers=tenant.headers)
    first = await client.post("/api/v1/commerce/orders", json=ORDER, headers=keyed(tenant, "o-1"))
    retry = await client.post("/api/v1/commerce/orders", json=ORDER, headers=keyed(tenant, "o-1"))

    assert first.status_code == retry.status_code == 201, first.text
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert len(await items(client, tenant, "/api/v1/commerce/orders")) == 1
    assert await received_events(client, tenant) == 1

    changed = {**ORDER, "lines": [{"sku": "MUG-1", "quantity": 3}]}
    other = await client.post("/api/v1/commerce/orders", json=changed, headers=keyed(tenant, "o-1"))
    assert_problem(other, 422)
    assert len(await items(client, tenant, "/api/v1/commerce/orders")) == 1


async def test_concurrent_duplicates_place_one_order(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.post("/api/v1/commerce/products", json=PRODUCT, headers=tenant.headers)
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/commerce/orders", json=ORDER, headers=keyed(tenant, "o-2"))
            for _ in range(4)
        )
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}  # 409: the first is still running, retry later
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    assert len(created) == 1
    assert len(await items(client, tenant, "/api/v1/commerce/orders")) == 1


async def test_the_same_key_from_another_tenant_is_its_own_request(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    mine = await client.post(
        "/api/v1/commerce/products", json=PRODUCT, headers=keyed(tenant, "shared")
    )
    theirs = await client.post(
        "/api/v1/commerce/products", json=PRODUCT, headers=keyed(other_tenant, "shared")
    )
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]


async def test_webhook_receivers_are_limited_per_tenant_and_provider(
    make_app: AppFactory,
) -> None:
    async with make_app(rate_limit_webhook_per_minute=2) as (app, client):
        acme = await signup(client, "Acme Ltd")
        globex = await signup(client, "Globex Corp")
        shopify = f"/webhooks/shopify/{acme.slug}"
        # Shopify sends from many addresses: they all draw on Acme's one allowance.
        async with client_for(app, "10.0.0.1") as one, client_for(app, "10.0.0.2") as two:
            for sender in (one, two):
                assert_problem(await sender.post(shopify, content=b"{}"), 401)  # unsigned
            limited = await one.post(shopify, content=b"{}")
            body = assert_problem(limited, 429)
            assert int(limited.headers["retry-after"]) >= 1
            assert "per minute" in body["detail"]
            # Whatever trails the slug draws on the same allowance.
            assert_problem(await two.post(f"{shopify}/orders", content=b"{}"), 429)

            # Another tenant, and the same tenant's other provider, are not held up.
            other = await two.post(f"/webhooks/shopify/{globex.slug}", content=b"{}")
            assert_problem(other, 401)
            stripe = await one.post(f"/webhooks/stripe/{acme.slug}", content=b"{}")
            assert_problem(stripe, 401)
            # Nor is the tenant's own API traffic.
            me = await client.get("/api/v1/me", headers=acme.headers)
            assert me.status_code == 200
