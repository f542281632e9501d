"""POST /api/v1/track: bulk activity ingest that cannot forge domain events."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantLogin
from tests.modules.events.helpers import error_locs, key_headers, problem


async def tracked(client: httpx.AsyncClient, tenant: TenantLogin) -> list[dict[str, Any]]:
    r = await client.get(
        "/api/v1/events", headers=tenant.headers, params={"type": "activity.*", "limit": 200}
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_activities_land_in_the_log_keyed_by_contact(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/track",
        headers=tenant.headers,
        json={
            "events": [
                {
                    "type": "email_opened",
                    "email": "  Ann@Example.COM ",
                    "occurred_at": "2024-05-01T09:30:00+02:00",
                    "properties": {"campaign": "spring", "opens": 2},
                },
                {"type": "call.answered", "contact_id": "c-42", "properties": {}},
            ]
        },
    )
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2}
    opened, answered = await tracked(client, tenant)
    assert opened["type"] == "activity.email_opened"
    assert (opened["aggregate_type"], opened["aggregate_id"]) == ("contact", "ann@example.com")
    assert opened["data"] == {
        "properties": {"campaign": "spring", "opens": 2},
        "email": "ann@example.com",
    }
    assert opened["occurred_at"].startswith("2024-05-01T07:30:00")
    assert opened["actor_id"] == tenant.user_id
    assert (answered["type"], answered["aggregate_id"]) == ("activity.call.answered", "c-42")


async def test_a_domain_event_type_is_recorded_as_activity_not_forged(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/track",
        headers=tenant.headers,
        json={"events": [{"type": "billing.invoice.paid", "contact_id": "c-1"}]},
    )
    assert r.status_code == 202
    r = await client.get(
        "/api/v1/events", headers=tenant.headers, params={"type": "billing.invoice.paid"}
    )
    assert r.json()["items"] == []
    assert [e["type"] for e in await tracked(client, tenant)] == ["activity.billing.invoice.paid"]


async def test_a_thousand_events_are_accepted_and_one_more_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    batch = [{"type": "page_viewed", "email": f"v{i}@example.com"} for i in range(1000)]
    r = await client.post("/api/v1/track", headers=tenant.headers, json={"events": batch})
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1000}
    too_many = [*batch, {"type": "page_viewed", "email": "one-more@example.com"}]
    r = await client.post("/api/v1/track", headers=tenant.headers, json={"events": too_many})
    assert error_locs(r) == [["body", "events"]]


async def test_invalid_activities_are_422_with_field_paths_and_nothing_is_stored(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    bad = [
        {"type": "page_viewed", "email": "ok@example.com"},
        {"type": "page viewed!", "email": "ok@example.com"},
        {"type": "page_viewed"},
        {"type": "page_viewed", "email": "not-an-email"},
        {"type": "page_viewed", "contact_id": "c-1", "occurred_at": "2024-05-01T09:30:00"},
        {"type": "page_viewed", "contact_id": "c-1", "surprise": True},
    ]
    r = await client.post("/api/v1/track", headers=tenant.headers, json={"events": bad})
    locs = error_locs(r)
    assert ["body", "events", 1, "type"] in locs
    assert ["body", "events", 2] in locs
    assert ["body", "events", 3, "email"] in locs
    assert ["body", "events", 4, "occurred_at"] in locs
    assert ["body", "events", 5, "surprise"] in locs
    assert not any(loc[:3] == ["body", "events", 0] for loc in locs)
    assert await tracked(client, tenant) == []
    assert error_locs(await client.post("/api/v1/track", headers=tenant.headers, json={})) == [
        ["body", "events"]
    ]


async def test_tracking_needs_crm_write(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    body = {"events": [{"type": "page_viewed", "contact_id": "c-1"}]}
    reader = await key_headers(client, tenant, ["crm:read", "automation:read"])
    problem(await client.post("/api/v1/track", headers=reader, json=body), 403)
    problem(await client.post("/api/v1/track", json=body), 401)
    writer = await key_headers(client, tenant, ["crm:write"])
    assert (await client.post("/api/v1/track", headers=writer, json=body)).status_code == 202
