"""GET /api/v1/audit: admins see who changed what, from where; nobody else does."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import add_member, assert_problem
from tests.conftest import TenantLogin


async def _rename(
    client: httpx.AsyncClient, tenant: TenantLogin, headers: dict[str, str], name: str
) -> httpx.Response:
    return await client.patch(
        f"/api/v1/test/users/{tenant.user_id}", json={"name": name}, headers=headers
    )


async def _audit(
    client: httpx.AsyncClient, tenant: TenantLogin, **params: Any
) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/audit", params=params, headers=tenant.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_write_through_the_api_is_audited_with_actor_origin_and_changes(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _rename(client, tenant, {**tenant.headers, "User-Agent": "audit-test/1.0"}, "Olivia")
    assert r.status_code == 200

    [entry] = await _audit(
        client, tenant, resource_type="users", resource_id=tenant.user_id, action="update"
    )
    assert entry["actor_id"] == tenant.user_id
    assert entry["actor_type"] == "user"
    assert entry["changed_fields"] == {"name": ["Olive", "Olivia"], "version": [1, 2]}
    assert entry["ip"] == "127.0.0.1"
    assert entry["user_agent"] == "audit-test/1.0"
    assert entry["request_id"] == r.headers["x-request-id"]
    assert entry["created_at"].endswith(("Z", "+00:00"))


async def test_signup_is_audited_without_the_password_hash(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    [created] = await _audit(
        client, tenant, resource_type="users", resource_id=tenant.user_id, action="create"
    )
    assert created["changed_fields"]["email"] == [None, tenant.email]
    assert created["changed_fields"]["password_hash"] == [None, "[redacted]"]
    assert "argon2" not in str(created)


async def test_an_api_key_is_recorded_as_the_actor(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    made = await client.post(
        "/api/v1/api-keys", json={"name": "ops bot", "scopes": ["admin"]}, headers=tenant.headers
    )
    assert made.status_code == 201, made.text
    key = made.json()
    r = await _rename(client, tenant, {"Authorization": f"Bearer {key['key']}"}, "Bot-renamed")
    assert r.status_code == 200, r.text
    [entry] = await _audit(client, tenant, actor_id=key["id"])
    assert entry["actor_type"] == "api_key"
    assert entry["resource_id"] == tenant.user_id
    # The key's own creation is audited with its hash redacted.
    [key_created] = await _audit(client, tenant, resource_type="api_keys", action="create")
    assert key_created["changed_fields"]["key_hash"] == [None, "[redacted]"]
    assert key["key"] not in str(key_created)


async def test_a_refused_write_leaves_no_audit_entry(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    stale = await _rename(client, tenant, {**tenant.headers, "If-Match": "7"}, "Never")
    assert_problem(stale, 409)
    assert await _audit(client, tenant, resource_type="users", action="update") == []


async def test_the_log_pages_newest_first(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    for name in ("A", "B", "C"):
        assert (await _rename(client, tenant, tenant.headers, name)).status_code == 200
    names = []
    cursor = None
    while True:
        params: dict[str, Any] = {"action": "update", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/api/v1/audit", params=params, headers=tenant.headers)
        page = r.json()
        names += [e["changed_fields"]["name"][1] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["C", "B", "A"]


async def test_bad_list_parameters_are_422_with_their_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for params, loc in (
        ({"cursor": "not-a-cursor!"}, ["query", "cursor"]),
        ({"limit": 500}, ["query", "limit"]),
        ({"action": "explode"}, ["query", "action"]),
    ):
        r = await client.get("/api/v1/audit", params=params, headers=tenant.headers)
        body = assert_problem(r, 422)
        assert body["errors"][0]["loc"] == loc


async def test_another_tenant_sees_none_of_it(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await _rename(client, tenant, tenant.headers, "Olivia")
    theirs = await _audit(client, other_tenant)
    assert theirs
    assert {e["actor_id"] for e in theirs} <= {other_tenant.user_id, None}
    assert tenant.user_id not in str(theirs)


async def test_only_admins_may_read_the_log(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    member = await add_member(client, tenant, "member")
    viewer = await add_member(client, tenant, "viewer")
    assert_problem(await client.get("/api/v1/audit", headers=member.headers), 403)
    assert_problem(await client.get("/api/v1/audit", headers=viewer.headers), 403)
    assert_problem(await client.get("/api/v1/audit"), 401)
    scoped = await client.post(
        "/api/v1/api-keys", json={"name": "crm", "scopes": ["crm:read"]}, headers=tenant.headers
    )
    key_headers = {"Authorization": f"Bearer {scoped.json()['key']}"}
    assert_problem(await client.get("/api/v1/audit", headers=key_headers), 403)
