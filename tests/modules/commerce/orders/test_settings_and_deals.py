"""Commerce settings (admins change them) and the won-deal door they switch on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import (
    add_product,
    dispatch_until,
    handled,
    tasks_about,
)
from tests.modules.identity.helpers import create_key

SETTINGS = "/api/v1/commerce/settings"


async def test_settings_read_as_defaults_and_change_with_if_match(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.get(SETTINGS, headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["orders_from_won_deals"] is False and r.json()["version"] == 0

    r = await client.put(
        SETTINGS,
        json={"orders_from_won_deals": True, "default_tax_rate": "0.2"},
        headers={**tenant.headers, "If-Match": "0"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["default_tax_rate"] == "0.2" and r.json()["version"] == 1
    assert r.headers["ETag"] == 'W/"1"'

    stale = await client.put(
        SETTINGS, json={"notify_customer": False}, headers={**tenant.headers, "If-Match": "0"}
    )
    assert stale.status_code == 409
    kept = (await client.get(SETTINGS, headers=tenant.headers)).json()
    assert kept["orders_from_won_deals"] is True and kept["notify_customer"] is True


async def test_only_admins_change_settings_and_bad_values_are_422(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    key = await create_key(client, tenant, ["commerce:read", "commerce:write"])
    writer = {"Authorization": f"Bearer {key['key']}"}
    assert (await client.get(SETTINGS, headers=writer)).status_code == 200
    r = await client.put(SETTINGS, json={"orders_from_won_deals": True}, headers=writer)
    assert r.status_code == 403
    for body in (
        {"default_tax_rate": "1.5"},
        {"payment_terms_days": -1},
        {"surprise": True},
        {"orders_from_won_deals": None},
        {"operations_assignee_id": other_tenant.user_id},
    ):
        r = await client.put(SETTINGS, json=body, headers=tenant.headers)
        assert r.status_code == 422, (body, r.text)


async def won_deal(client: httpx.AsyncClient, tenant: TenantLogin, **extra: Any) -> dict[str, Any]:
    contact = await client.post(
        "/api/v1/crm/contacts", json={"email": "cfo@client.example"}, headers=tenant.headers
    )
    assert contact.status_code == 201, contact.text
    r = await client.post(
        "/api/v1/crm/deals",
        json={
            "name": "Annual plan",
            "amount": "1200.00",
            "currency": "USD",
            "stage": "won",
            "contact_id": contact.json()["id"],
            **extra,
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def orders_for(client: httpx.AsyncClient, tenant: TenantLogin, deal_id: str) -> list[Any]:
    r = await client.get(
        "/api/v1/commerce/orders", params={"external_id": deal_id}, headers=tenant.headers
    )
    items: list[Any] = r.json()["items"]
    return items


async def test_a_won_deal_becomes_a_service_order_when_enabled(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await client.put(SETTINGS, json={"orders_from_won_deals": True}, headers=tenant.headers)
    deal = await won_deal(client, tenant)

    async def made() -> bool:
        return bool(await orders_for(client, tenant, deal["id"]))

    await dispatch_until(db, settings, made)
    [order] = await orders_for(client, tenant, deal["id"])
    assert order["source"] == "deal" and order["deal_id"] == deal["id"]
    assert order["contact_id"] == deal["contact_id"] and order["status"] == "received"
    assert order["total"] == "1200.00"
    assert [(ln["name"], ln["sku"], ln["tracks_stock"]) for ln in order["lines"]] == [
        ("Annual plan", None, False)
    ]


async def test_a_won_deal_listing_products_orders_them_and_an_unknown_one_fails(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await client.put(SETTINGS, json={"orders_from_won_deals": True}, headers=tenant.headers)
    await add_product(client, tenant, "SEAT", price="100.00")
    deal = await won_deal(
        client,
        tenant,
        properties={"lines": [{"sku": "SEAT", "quantity": 12}, {"sku": "GHOST", "quantity": 1}]},
    )

    async def made() -> bool:
        return bool(await orders_for(client, tenant, deal["id"]))

    await dispatch_until(db, settings, made)
    [order] = await orders_for(client, tenant, deal["id"])
    assert order["status"] == "failed" and "GHOST" in order["failure_reason"]
    assert [ln["quantity"] for ln in order["lines"]] == [12, 1]
    assert len(await tasks_about(db, tenant.tenant_id, order["id"])) == 1


async def test_won_deals_make_no_orders_by_default(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    deal = await won_deal(client, tenant)

    async def seen() -> bool:
        return await handled(db, tenant.tenant_id, "commerce.orders.from_won_deal") == 1

    await dispatch_until(db, settings, seen)
    assert await orders_for(client, tenant, deal["id"]) == []


@pytest.mark.parametrize(
    "line",
    [
        {"sku": "SEAT", "quantity": 5_000_000},  # more than one line may order
        {"sku": "SEAT", "quantity": 1, "unit_price": "NaN"},
        {"sku": "SEAT", "quantity": 1, "unit_price": "-100"},
        {"sku": "SEAT", "quantity": "two"},
    ],
)
async def test_a_won_deal_listing_a_line_we_cannot_order_gets_a_task_not_a_retry_loop(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    line: dict[str, Any],
) -> None:
    """Deal properties are free-form: a line that cannot be ordered is neither dropped
    silently nor a crash the dispatcher retries forever; the deal's owner gets a task."""
    await client.put(SETTINGS, json={"orders_from_won_deals": True}, headers=tenant.headers)
    await add_product(client, tenant, "SEAT", price="100.00")
    deal = await won_deal(client, tenant, properties={"lines": [line]})

    async def seen() -> bool:
        return await handled(db, tenant.tenant_id, "commerce.orders.from_won_deal") == 1

    await dispatch_until(db, settings, seen)
    assert await orders_for(client, tenant, deal["id"]) == []
    [task] = await tasks_about(db, tenant.tenant_id, deal["id"])
    assert "did not become an order" in task.title and "line 1" in (task.description or "")
