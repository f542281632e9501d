"""POST /webhooks/shopify/{tenant}: only a delivery signed with the shop's secret is
stored, byte for byte, once per webhook id; everything else is refused and stores nothing."""

from __future__ import annotations

import json

import httpx

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.commerce.shopify.helpers import (
    SHOP,
    configure_shop,
    deliver,
    fixture,
    inbound_rows,
    sign,
)


def order_body() -> bytes:
    # Shopify's own bytes: spacing and key order kept, as the signature covers them.
    return json.dumps(fixture("orders_create.json"), indent=1).encode() + b"\n"


async def test_a_signed_delivery_is_stored_raw_and_accepted(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_shop(client, tenant)
    body = order_body()
    r = await deliver(client, tenant, body, webhook_id="wh-1")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "accepted"}
    [row] = await inbound_rows(db, tenant.tenant_id)
    assert row.body == body and row.topic == "orders/create" and row.external_id == "wh-1"
    assert row.status == "received"
    assert row.headers["x-shopify-shop-domain"] == SHOP


async def test_a_repeated_webhook_id_is_a_duplicate_stored_once(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_shop(client, tenant)
    first = await deliver(client, tenant, order_body(), webhook_id="wh-1")
    again = await deliver(client, tenant, order_body(), webhook_id="wh-1")
    assert first.json() == {"status": "accepted"}
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    [row] = await inbound_rows(db, tenant.tenant_id)
    assert row.duplicates == 1


async def test_bad_signatures_are_401_and_store_nothing(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_shop(client, tenant)
    body = order_body()
    tampered = body.replace(b'"quantity": 2', b'"quantity": 20')
    assert tampered != body
    attempts = [
        await deliver(client, tenant, body, secret="not-the-secret"),
        await deliver(client, tenant, tampered, signature=sign(body)),
        await deliver(client, tenant, body, signature=""),
        await deliver(client, tenant, body, signature="bm90IGEgc2lnbmF0dXJl"),
        await deliver(client, tenant, body, drop=("X-Shopify-Hmac-Sha256",)),
    ]
    for r in attempts:
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await inbound_rows(db, tenant.tenant_id) == []


async def test_no_secret_and_unknown_workspace_get_the_same_401(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    body = order_body()
    unconfigured = await deliver(client, tenant, body)
    tenant.slug = "no-such-workspace"
    unknown = await deliver(client, tenant, body)
    assert unconfigured.status_code == unknown.status_code == 401
    assert unconfigured.json()["detail"] == unknown.json()["detail"]


async def test_another_shops_delivery_is_refused_when_the_shop_is_configured(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_shop(client, tenant, shop_domain="someone-else.myshopify.com")
    r = await deliver(client, tenant, order_body())
    assert r.status_code == 401
    await configure_shop(client, tenant, shop_domain=SHOP)
    assert (await deliver(client, tenant, order_body())).status_code == 200


async def test_a_signed_delivery_without_topic_or_id_is_422(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_shop(client, tenant)
    for header in ("X-Shopify-Topic", "X-Shopify-Webhook-Id"):
        r = await deliver(client, tenant, order_body(), drop=(header,))
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["loc"] == ["header", header.lower()]
    assert await inbound_rows(db, tenant.tenant_id) == []


async def test_a_signed_delivery_that_is_not_json_is_still_stored(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    # Shopify signed it: we keep it and let processing say what is wrong with it.
    await configure_shop(client, tenant)
    r = await deliver(client, tenant, b"{not json")
    assert r.status_code == 200
    assert [row.body for row in await inbound_rows(db, tenant.tenant_id)] == [b"{not json"]
