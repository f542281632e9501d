"""Team management: roles, scopes, versions and tenant isolation of /users."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import TenantLogin
from tests.modules.identity.helpers import PASSWORD, add_member, assert_problem, login


def _new_user(role: str = "member", email: str = "new@example.com") -> dict[str, str]:
    return {"email": email, "name": "Nia", "role": role, "password": PASSWORD}


async def test_admin_creates_a_user_who_can_log_in(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post("/api/v1/users", headers=tenant.headers, json=_new_user())
    assert r.status_code == 201, r.text
    assert r.json() == {**r.json(), "email": "new@example.com", "role": "member", "version": 1}
    assert "password" not in r.text
    assert (await login(client, "new@example.com", PASSWORD)).status_code == 200


async def test_duplicate_email_in_a_workspace_is_409(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.post("/api/v1/users", headers=tenant.headers, json=_new_user())
    r = await client.post("/api/v1/users", headers=tenant.headers, json=_new_user())
    assert_problem(r, 409)


async def test_malformed_user_is_422_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/users",
        headers=tenant.headers,
        json={"email": "not-an-email", "name": "", "role": "boss", "password": "short"},
    )
    locs = [e["loc"] for e in assert_problem(r, 422)["errors"]]
    for field in ("email", "name", "role", "password"):
        assert ["body", field] in locs


async def test_viewer_can_read_the_team(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    viewer = await add_member(client, tenant, "viewer")
    r = await client.get("/api/v1/users", headers=viewer.headers)
    assert r.status_code == 200
    assert {u["id"] for u in r.json()["items"]} == {tenant.user_id, viewer.id}


async def test_viewer_cannot_create_users(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    viewer = await add_member(client, tenant, "viewer")
    assert_problem(
        await client.post("/api/v1/users", headers=viewer.headers, json=_new_user()), 403
    )


async def test_member_is_refused_on_admin_routes(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    h = member.headers
    assert_problem(await client.post("/api/v1/users", headers=h, json=_new_user()), 403)
    assert_problem(
        await client.patch(f"/api/v1/users/{member.id}", headers=h, json={"role": "admin"}), 403
    )
    assert_problem(await client.get("/api/v1/api-keys", headers=h), 403)
    assert_problem(
        await client.post(
            "/api/v1/api-keys", headers=h, json={"name": "k", "scopes": ["crm:read"]}
        ),
        403,
    )


async def test_only_an_owner_may_create_an_owner(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin = await add_member(client, tenant, "admin")
    r = await client.post("/api/v1/users", headers=admin.headers, json=_new_user("owner"))
    assert_problem(r, 403)
    r = await client.post("/api/v1/users", headers=tenant.headers, json=_new_user("owner"))
    assert r.status_code == 201


async def test_admin_cannot_demote_an_owner(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    admin = await add_member(client, tenant, "admin")
    r = await client.patch(
        f"/api/v1/users/{tenant.user_id}", headers=admin.headers, json={"role": "member"}
    )
    assert_problem(r, 403)


async def test_admin_cannot_deactivate_an_owner(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin = await add_member(client, tenant, "admin")
    r = await client.patch(
        f"/api/v1/users/{tenant.user_id}", headers=admin.headers, json={"is_active": False}
    )
    assert_problem(r, 403)


async def test_the_last_owner_cannot_step_down(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.patch(
        f"/api/v1/users/{tenant.user_id}", headers=tenant.headers, json={"role": "admin"}
    )
    assert_problem(r, 409)


async def test_owner_promotes_and_demotes(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    member = await add_member(client, tenant, "member")
    url = f"/api/v1/users/{member.id}"
    r = await client.patch(url, headers=tenant.headers, json={"role": "admin"})
    assert r.status_code == 200
    assert r.json()["role"] == "admin"
    assert r.json()["version"] == 2
    assert (await client.get("/api/v1/api-keys", headers=member.headers)).status_code == 200


async def test_patch_with_stale_if_match_is_409(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    url = f"/api/v1/users/{member.id}"
    first = await client.patch(url, headers={**tenant.headers, "If-Match": "1"}, json={"name": "A"})
    assert first.status_code == 200
    stale = await client.patch(url, headers={**tenant.headers, "If-Match": "1"}, json={"name": "B"})
    assert_problem(stale, 409)
    assert (await client.get(url, headers=tenant.headers)).json()["name"] == "A"


async def test_concurrent_patches_against_one_version_let_exactly_one_through(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    url = f"/api/v1/users/{member.id}"
    headers = {**tenant.headers, "If-Match": "1"}
    replies = await asyncio.gather(
        *(client.patch(url, headers=headers, json={"name": f"Name {i}"}) for i in range(5))
    )
    assert sorted(r.status_code for r in replies) == [200, 409, 409, 409, 409]
    winner = next(r for r in replies if r.status_code == 200).json()
    stored = (await client.get(url, headers=tenant.headers)).json()
    assert (stored["name"], stored["version"]) == (winner["name"], 2)


async def test_patch_with_current_etag_succeeds(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    url = f"/api/v1/users/{member.id}"
    etag = (await client.get(url, headers=tenant.headers)).headers["ETag"]
    r = await client.patch(url, headers={**tenant.headers, "If-Match": etag}, json={"name": "Z"})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] != etag


async def test_patch_rejects_null_for_required_fields(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.patch(
        f"/api/v1/users/{tenant.user_id}", headers=tenant.headers, json={"name": None}
    )
    assert ["body", "name"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_deactivating_a_user_ends_their_sessions(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    assert (await client.get("/api/v1/me", headers=member.headers)).status_code == 200
    r = await client.patch(
        f"/api/v1/users/{member.id}", headers=tenant.headers, json={"is_active": False}
    )
    assert r.status_code == 200
    assert_problem(await client.get("/api/v1/me", headers=member.headers), 401)
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": member.refresh_token})
    assert_problem(r, 401)


async def test_reporting_cycles_are_refused(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    member = await add_member(client, tenant, "member")
    r = await client.patch(
        f"/api/v1/users/{member.id}", headers=tenant.headers, json={"manager_id": tenant.user_id}
    )
    assert r.json()["manager_id"] == tenant.user_id
    r = await client.patch(
        f"/api/v1/users/{tenant.user_id}", headers=tenant.headers, json={"manager_id": member.id}
    )
    assert ["body", "manager_id"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_manager_from_another_tenant_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    r = await client.patch(
        f"/api/v1/users/{member.id}",
        headers=tenant.headers,
        json={"manager_id": other_tenant.user_id},
    )
    assert ["body", "manager_id"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_another_tenants_user_is_404_on_get(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    r = await client.get(f"/api/v1/users/{other_tenant.user_id}", headers=tenant.headers)
    assert_problem(r, 404)


async def test_another_tenants_user_is_404_on_patch(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    r = await client.patch(
        f"/api/v1/users/{other_tenant.user_id}", headers=tenant.headers, json={"name": "Evil"}
    )
    assert_problem(r, 404)
    r = await client.get("/api/v1/me", headers=other_tenant.headers)
    assert r.json()["user"]["name"] == "Olive"


async def test_user_list_only_shows_the_callers_tenant(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    r = await client.get("/api/v1/users", headers=tenant.headers)
    assert [u["id"] for u in r.json()["items"]] == [tenant.user_id]


async def test_user_list_pages_with_a_cursor(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for i in range(4):
        await client.post(
            "/api/v1/users", headers=tenant.headers, json=_new_user(email=f"u{i}@example.com")
        )
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/users", headers=tenant.headers, params=params)).json()
        assert len(page["items"]) <= 2
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5


async def test_user_list_filters_by_role(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    await add_member(client, tenant, "viewer")
    r = await client.get("/api/v1/users", headers=tenant.headers, params={"role": "owner"})
    assert [u["id"] for u in r.json()["items"]] == [tenant.user_id]


async def test_bad_cursor_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    r = await client.get("/api/v1/users", headers=tenant.headers, params={"cursor": "%%%"})
    assert ["query", "cursor"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_limit_above_200_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    r = await client.get("/api/v1/users", headers=tenant.headers, params={"limit": 201})
    assert ["query", "limit"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
