"""Deal input at the edges: NUL characters and oversized custom properties → 422 with
the field's path (never a database error), on create and on update."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin
from tests.modules.crm.deals.helpers import DEALS, post_deal
from tests.modules.events.helpers import error_locs


async def test_nul_and_oversized_properties_are_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    body = {"name": "Big\u0000 deal", "amount": "10.00", "currency": "EUR"}
    r = await client.post(DEALS, headers=tenant.headers, json=body)
    assert error_locs(r) == [["body", "name"]]

    r = await client.get(f"{DEALS}/x%00y/history", headers=tenant.headers)
    assert error_locs(r) == [["path", "deal_id"]]

    huge = {"spec": "y" * 70_000}
    r = await client.post(
        DEALS,
        headers=tenant.headers,
        json={"name": "Huge", "amount": "1", "currency": "EUR", "properties": huge},
    )
    assert error_locs(r) == [["body", "properties"]]

    deal = await post_deal(client, tenant, name="Fine", amount="5.00", currency="EUR")
    r = await client.patch(
        f"{DEALS}/{deal['id']}", headers=tenant.headers, json={"properties": huge}
    )
    assert error_locs(r) == [["body", "properties"]]
    r = await client.get(f"{DEALS}/{deal['id']}", headers=tenant.headers)
    assert r.json()["properties"] == {} and r.json()["version"] == 1
