"""SLA policies over HTTP: CRUD with If-Match, one default per tenant, validation with
field paths, admin-only writes, and other tenants' policies answering 404."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.conftest import add_member, assert_problem
from tests.conftest import TenantLogin

BASE = "/api/v1/support/sla-policies"

OFFICE = {
    "timezone": "Europe/Berlin",
    "days": {"mon": [["09:00", "12:30"], ["13:30", "17:00"]], "fri": [["09:00", "15:00"]]},
    "holidays": ["2026-12-25"],
}


async def create(client: httpx.AsyncClient, who: TenantLogin, **body: Any) -> dict[str, Any]:
    r = await client.post(BASE, headers=who.headers, json={"name": "Standard", **body})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"{BASE}/{r.json()['id']}"
    assert r.headers["ETag"] == f'W/"{r.json()["version"]}"'
    data: dict[str, Any] = r.json()
    return data


async def test_create_read_and_list_a_policy(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await create(
        client,
        tenant,
        business_hours=OFFICE,
        targets={"urgent": {"first_response_minutes": 30, "resolution_minutes": 240}},
    )
    assert created["is_default"] is True  # the tenant's first policy
    assert created["business_hours"] == {**OFFICE, "days": OFFICE["days"]}
    assert created["targets"]["urgent"] == {"first_response_minutes": 30, "resolution_minutes": 240}
    assert created["targets"]["normal"] == {
        "first_response_minutes": 480,
        "resolution_minutes": 2400,
    }
    r = await client.get(f"{BASE}/{created['id']}", headers=tenant.headers)
    assert r.status_code == 200 and r.json() == created
    listed = await client.get(BASE, headers=tenant.headers)
    assert [p["id"] for p in listed.json()["items"]] == [created["id"]]
    assert listed.json()["next_cursor"] is None


async def test_business_hours_default_to_weekdays_and_null_means_around_the_clock(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    office = await create(client, tenant)
    assert office["business_hours"]["days"]["mon"] == [["09:00", "17:00"]]
    always = await create(client, tenant, name="24/7", business_hours=None)
    assert always["business_hours"] is None and always["is_default"] is False


async def test_making_a_policy_the_default_moves_the_default(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await create(client, tenant)
    second = await create(client, tenant, name="VIP", is_default=True)
    items = (await client.get(BASE, headers=tenant.headers)).json()["items"]
    assert {p["id"]: p["is_default"] for p in items} == {first["id"]: False, second["id"]: True}
    moved = await client.get(f"{BASE}/{first['id']}", headers=tenant.headers)
    assert moved.json()["version"] == first["version"] + 1  # its representation changed


async def test_two_admins_flipping_the_default_at_once_leave_one_default(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await create(client, tenant)
    others = [await create(client, tenant, name=f"P{i}") for i in range(3)]
    results = await asyncio.gather(
        *(
            client.patch(f"{BASE}/{p['id']}", headers=tenant.headers, json={"is_default": True})
            for p in others
        )
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    items = (await client.get(BASE, headers=tenant.headers)).json()["items"]
    assert sum(p["is_default"] for p in items) == 1


async def test_update_needs_the_current_version(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    policy = await create(client, tenant)
    url = f"{BASE}/{policy['id']}"
    ok = await client.patch(
        url,
        headers={**tenant.headers, "If-Match": f'W/"{policy["version"]}"'},
        json={
            "name": "Gold",
            "targets": {"high": {"first_response_minutes": 60, "resolution_minutes": 600}},
        },
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "Gold" and ok.json()["version"] == policy["version"] + 1
    assert ok.json()["targets"]["high"]["first_response_minutes"] == 60
    assert ok.json()["targets"]["urgent"] == policy["targets"]["urgent"]  # untouched
    stale = await client.patch(
        url, headers={**tenant.headers, "If-Match": str(policy["version"])}, json={"name": "X"}
    )
    assert_problem(stale, 409)
    around = await client.patch(url, headers=tenant.headers, json={"business_hours": None})
    assert around.status_code == 200 and around.json()["business_hours"] is None


async def test_the_default_cannot_be_unset_deactivated_or_deleted(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    default = await create(client, tenant)
    url = f"{BASE}/{default['id']}"
    assert_problem(await client.patch(url, headers=tenant.headers, json={"is_default": False}), 409)
    assert_problem(await client.patch(url, headers=tenant.headers, json={"active": False}), 409)
    assert_problem(await client.delete(url, headers=tenant.headers), 409)
    other = await create(client, tenant, name="Other", active=False)
    assert_problem(
        await client.patch(
            f"{BASE}/{other['id']}", headers=tenant.headers, json={"is_default": True}
        ),
        409,
    )
    assert (await client.get(url, headers=tenant.headers)).json()["is_default"] is True


async def test_delete_a_policy(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    await create(client, tenant)
    other = await create(client, tenant, name="Other")
    url = f"{BASE}/{other['id']}"
    assert_problem(await client.delete(url, headers={**tenant.headers, "If-Match": "99"}), 409)
    r = await client.delete(url, headers={**tenant.headers, "If-Match": str(other["version"])})
    assert r.status_code == 204
    assert_problem(await client.get(url, headers=tenant.headers), 404)
    assert_problem(await client.delete(url, headers=tenant.headers), 404)


async def test_a_name_already_used_is_a_conflict(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await create(client, tenant)
    second = await create(client, tenant, name="Second")
    r = await client.post(BASE, headers=tenant.headers, json={"name": "Standard"})
    assert assert_problem(r, 409)["errors"][0]["loc"] == ["body", "name"]
    r = await client.patch(
        f"{BASE}/{second['id']}", headers=tenant.headers, json={"name": first["name"]}
    )
    assert_problem(r, 409)


async def test_malformed_policies_are_422_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    def hours(**over: Any) -> dict[str, Any]:
        return {"name": "Bad", "business_hours": {**OFFICE, **over}}

    cases: list[tuple[dict[str, Any], list[Any]]] = [
        (hours(timezone="Mars/Olympus"), ["body", "business_hours", "timezone"]),
        (
            hours(days={"mon": [["25:00", "26:00"]]}),
            ["body", "business_hours", "days", "mon", 0, 0],
        ),
        (hours(days={"mon": [["9:00", "17:00"]]}), ["body", "business_hours", "days", "mon", 0, 0]),
        (hours(days={"mon": [["17:00", "09:00"]]}), ["body", "business_hours", "days", "mon", 0]),
        (
            hours(days={"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}),
            ["body", "business_hours", "days", "mon"],
        ),
        (
            hours(days={"funday": [["09:00", "17:00"]]}),
            ["body", "business_hours", "days", "funday"],
        ),
        (hours(days={"mon": []}), ["body", "business_hours"]),
        (hours(holidays=["2026-13-01"]), ["body", "business_hours", "holidays", 0]),
        (
            {
                "name": "Bad",
                "targets": {"high": {"first_response_minutes": 600, "resolution_minutes": 60}},
            },
            ["body", "targets", "high"],
        ),
        (
            {
                "name": "Bad",
                "targets": {"high": {"first_response_minutes": 0, "resolution_minutes": 60}},
            },
            ["body", "targets", "high", "first_response_minutes"],
        ),
        ({"name": "Bad", "targets": {"critical": {}}}, ["body", "targets", "critical"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "Bad", "colour": "red"}, ["body", "colour"]),
    ]
    for body, loc in cases:
        r = await client.post(BASE, headers=tenant.headers, json=body)
        problem = assert_problem(r, 422)
        assert loc in [e["loc"][: len(loc)] for e in problem["errors"]], (body, problem)
    policy = await create(client, tenant)
    r = await client.patch(f"{BASE}/{policy['id']}", headers=tenant.headers, json={"name": None})
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["body", "name"]
    assert (await client.get(BASE, headers=tenant.headers)).json()["items"] == [policy]


async def test_midnight_closing_is_accepted(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    policy = await create(
        client, tenant, business_hours={"timezone": "UTC", "days": {"sat": [["18:00", "24:00"]]}}
    )
    assert policy["business_hours"]["days"] == {"sat": [["18:00", "24:00"]]}


async def test_another_tenants_policy_is_not_found(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    policy = await create(client, tenant)
    url = f"{BASE}/{policy['id']}"
    assert_problem(await client.get(url, headers=other_tenant.headers), 404)
    assert_problem(
        await client.patch(url, headers=other_tenant.headers, json={"name": "Mine"}), 404
    )
    assert_problem(await client.delete(url, headers=other_tenant.headers), 404)
    assert (await client.get(BASE, headers=other_tenant.headers)).json()["items"] == []
    assert (await client.get(url, headers=tenant.headers)).json() == policy


async def test_members_read_policies_but_only_admins_change_them(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    policy = await create(client, tenant)
    url = f"{BASE}/{policy['id']}"
    member = await add_member(client, tenant, "member")
    assert (await client.get(url, headers=member.headers)).status_code == 200
    assert_problem(await client.post(BASE, headers=member.headers, json={"name": "M"}), 403)
    assert_problem(await client.patch(url, headers=member.headers, json={"name": "M"}), 403)
    assert_problem(await client.delete(url, headers=member.headers), 403)
    admin = await add_member(client, tenant, "admin")
    r = await client.patch(url, headers=admin.headers, json={"name": "Renamed"})
    assert r.status_code == 200
    assert_problem(await client.get(BASE), 401)
