"""GET /api/v1/events: the tenant's log in commit order, filtered and paged."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantLogin
from tests.modules.events.helpers import error_locs, key_headers, problem


async def track(client: httpx.AsyncClient, tenant: TenantLogin, *events: dict[str, Any]) -> None:
    r = await client.post("/api/v1/track", headers=tenant.headers, json={"events": list(events)})
    assert r.status_code == 202, r.text


async def all_events(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/events", headers=headers, params=query)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def test_log_pages_through_the_tenants_events_in_commit_order(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await track(client, tenant, *[{"type": "page_viewed", "email": "a@x.io"}] * 3)
    items = await all_events(client, tenant.headers)
    sequences = [e["sequence"] for e in items]
    assert sequences == sorted(sequences) == list(range(1, len(items) + 1))
    assert len({e["id"] for e in items}) == len(items)
    assert items[0]["type"] == "identity.tenant.created"
    assert [e["type"] for e in items[-3:]] == ["activity.page_viewed"] * 3
    assert set(items[0]) == {
        "id",
        "sequence",
        "type",
        "aggregate_type",
        "aggregate_id",
        "version",
        "data",
        "actor_id",
        "correlation_id",
        "causation_id",
        "occurred_at",
    }


async def test_after_returns_only_later_events(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    everything = await all_events(client, tenant.headers)
    last = everything[-1]["sequence"]
    await track(client, tenant, {"type": "email_opened", "contact_id": "c-1"})
    r = await client.get("/api/v1/events", headers=tenant.headers, params={"after": last})
    assert [e["type"] for e in r.json()["items"]] == ["activity.email_opened"]
    assert r.json()["next_cursor"] is None


async def test_type_prefix_and_aggregate_filters(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await track(
        client,
        tenant,
        {"type": "email_opened", "email": "Ann@Example.com"},
        {"type": "page_viewed", "email": "bob@example.com"},
        {"type": "email.clicked", "email": "ann@example.com"},
    )
    prefixed = await all_events(client, tenant.headers, type="activity.email*")
    assert [e["type"] for e in prefixed] == ["activity.email_opened", "activity.email.clicked"]
    exact = await all_events(client, tenant.headers, type="activity.page_viewed")
    assert [e["data"]["email"] for e in exact] == ["bob@example.com"]
    anns = await all_events(client, tenant.headers, aggregate_id="ann@example.com")
    assert len(anns) == 2
    # "_" in a prefix is a literal underscore, not a one-character wildcard.
    assert await all_events(client, tenant.headers, type="activity.email_c*") == []


async def test_another_tenants_events_are_invisible(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await track(client, tenant, {"type": "page_viewed", "email": "secret@acme.io"})
    theirs = await all_events(client, other_tenant.headers)
    assert all("secret@acme.io" not in str(e["data"]) for e in theirs)
    assert {e["aggregate_id"] for e in theirs if e["type"] == "identity.tenant.created"} == {
        other_tenant.tenant_id
    }
    r = await client.get(
        "/api/v1/events", headers=other_tenant.headers, params={"aggregate_id": "secret@acme.io"}
    )
    assert r.json()["items"] == []


async def test_reading_the_log_needs_automation_read(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    crm_only = await key_headers(client, tenant, ["crm:read", "crm:write"])
    problem(await client.get("/api/v1/events", headers=crm_only), 403)
    problem(await client.get("/api/v1/events"), 401)
    reader = await key_headers(client, tenant, ["automation:read"])
    assert (await client.get("/api/v1/events", headers=reader)).status_code == 200


async def test_bad_query_parameters_are_422_with_their_names(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    h = tenant.headers
    assert error_locs(await client.get("/api/v1/events?limit=201", headers=h)) == [
        ["query", "limit"]
    ]
    assert error_locs(await client.get("/api/v1/events?after=-1", headers=h)) == [
        ["query", "after"]
    ]
    assert error_locs(await client.get("/api/v1/events?type=crm.*.created", headers=h)) == [
        ["query", "type"]
    ]
    assert error_locs(await client.get("/api/v1/events?cursor=bogus!", headers=h)) == [
        ["query", "cursor"]
    ]
