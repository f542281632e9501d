"""GET /api/v1/inbound-webhooks: an admin sees the tenant's stored deliveries and how each
ended; nobody sees another tenant's, and no other scope sees any."""

from __future__ import annotations

import httpx

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.webhooks.inbound.service import flag_inbound, store_inbound
from tests.conftest import TenantLogin

INBOUND = "/api/v1/inbound-webhooks"
BODY = b'{"id": 1, "note": "caf\xc3\xa9"}'


async def stored(db: Database, tenant_id: str, external_id: str, *, flag: str | None = None) -> str:
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        ctx = Context(tenant_id=tenant_id)
        row = await store_inbound(
            s,
            ctx,
            provider="shopify",
            external_id=external_id,
            topic="orders/cancelled",
            body=BODY,
            headers={"X-Shopify-Topic": "orders/cancelled", "Authorization": "Bearer nope"},
        )
        if flag is not None:
            await flag_inbound(s, ctx, row.inbound_id, reason=flag)
        return row.inbound_id


async def test_deliveries_are_listed_newest_first_and_filtered_by_status(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    first = await stored(db, tenant.tenant_id, "wh-1")
    second = await stored(db, tenant.tenant_id, "wh-2", flag="the payload is not a cancellation")

    everything = await client.get(INBOUND, headers=tenant.headers)
    flagged = await client.get(INBOUND, params={"status": "flagged"}, headers=tenant.headers)

    assert [i["id"] for i in everything.json()["items"]] == [second, first]
    [item] = flagged.json()["items"]
    assert item["id"] == second and item["reason"] == "the payload is not a cancellation"
    assert item["processed_at"] is not None
    detail = await client.get(f"{INBOUND}/{second}", headers=tenant.headers)
    assert detail.json()["body"] == BODY.decode()
    assert detail.json()["headers"] == {"x-shopify-topic": "orders/cancelled"}


async def test_another_tenants_delivery_is_neither_listed_nor_readable(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await stored(db, other_tenant.tenant_id, "wh-1")
    assert (await client.get(INBOUND, headers=tenant.headers)).json()["items"] == []
    r = await client.get(f"{INBOUND}/{theirs}", headers=tenant.headers)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_only_admins_read_inbound_deliveries(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    made = await client.post(
        "/api/v1/api-keys",
        json={"name": "reader", "scopes": ["commerce:read"]},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    r = await client.get(INBOUND, headers={"Authorization": f"Bearer {made.json()['key']}"})
    assert r.status_code == 403


async def test_an_unknown_status_filter_is_422(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await client.get(INBOUND, params={"status": "weird"}, headers=tenant.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "status"]
