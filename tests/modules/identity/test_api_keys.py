"""Scoped API keys: shown once, stored hashed, limited to their scopes, revocable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.modules.identity.models import ApiKey
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem, bearer, create_key

Travel = Callable[[dt.timedelta], None]


def _in(delta: dt.timedelta) -> str:
    return (dt.datetime.now(dt.UTC) + delta).isoformat()


async def test_created_key_is_shown_once_and_works(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await create_key(client, tenant, ["admin"])
    assert created["key"].startswith("bos_")
    assert created["key"].startswith(created["prefix"])
    assert created["scopes"] == ["admin"]
    r = await client.get("/api/v1/users", headers=bearer(created["key"]))
    assert r.status_code == 200


async def test_key_listing_never_shows_secrets(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await create_key(client, tenant, ["crm:read"])
    r = await client.get("/api/v1/api-keys", headers=tenant.headers)
    assert r.status_code == 200
    assert [k["id"] for k in r.json()["items"]] == [created["id"]]
    assert created["key"] not in r.text
    assert "key" not in r.json()["items"][0]


async def test_key_is_stored_only_as_a_hash(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    created = await create_key(client, tenant, ["crm:read"])
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        row = (await session.execute(sa.select(ApiKey.__table__))).one()
    assert created["key"] not in [str(v) for v in row]


async def test_key_is_limited_to_its_scopes(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    crm_reader = await create_key(client, tenant, ["crm:read"])
    assert_problem(await client.get("/api/v1/users", headers=bearer(crm_reader["key"])), 403)


async def test_key_without_admin_cannot_create_users(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    crm_reader = await create_key(client, tenant, ["crm:read"])
    r = await client.post(
        "/api/v1/users",
        headers=bearer(crm_reader["key"]),
        json={"email": "k@example.com", "name": "K", "role": "member", "password": "x" * 10},
    )
    assert_problem(r, 403)


async def test_expired_key_is_401(
    client: httpx.AsyncClient, tenant: TenantLogin, travel: Travel
) -> None:
    key = await create_key(client, tenant, ["admin"], expires_at=_in(dt.timedelta(hours=1)))
    assert (await client.get("/api/v1/me", headers=bearer(key["key"]))).status_code == 200
    travel(dt.timedelta(hours=2))
    assert_problem(await client.get("/api/v1/me", headers=bearer(key["key"])), 401)


async def test_revoked_key_is_401(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    key = await create_key(client, tenant, ["admin"])
    r = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant.headers)
    assert r.status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=bearer(key["key"])), 401)


async def test_revoked_key_stays_listed_as_revoked(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    key = await create_key(client, tenant, ["admin"])
    await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant.headers)
    listed = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"]
    assert [(k["id"], k["revoked_at"] is not None) for k in listed] == [(key["id"], True)]


async def test_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/me", headers=bearer("bos_made-up")), 401)


async def test_a_key_cannot_grant_scopes_its_creator_lacks(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    admin_only = await create_key(client, tenant, ["admin"])
    r = await client.post(
        "/api/v1/api-keys",
        headers=bearer(admin_only["key"]),
        json={"name": "wider", "scopes": ["crm:write"]},
    )
    assert_problem(r, 403)


async def test_unknown_scope_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    r = await client.post(
        "/api/v1/api-keys", headers=tenant.headers, json={"name": "k", "scopes": ["root"]}
    )
    assert ["body", "scopes", 0] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_expiry_in_the_past_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    r = await client.post(
        "/api/v1/api-keys",
        headers=tenant.headers,
        json={"name": "k", "scopes": ["crm:read"], "expires_at": _in(-dt.timedelta(minutes=1))},
    )
    assert ["body", "expires_at"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_expiry_without_timezone_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/api-keys",
        headers=tenant.headers,
        json={"name": "k", "scopes": ["crm:read"], "expires_at": "2999-01-01T00:00:00"},
    )
    assert ["body", "expires_at"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_revoking_another_tenants_key_is_404(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await create_key(client, other_tenant, ["crm:read"])
    r = await client.delete(f"/api/v1/api-keys/{theirs['id']}", headers=tenant.headers)
    assert_problem(r, 404)
    assert (await client.get("/api/v1/me", headers=bearer(theirs["key"]))).status_code == 200


async def test_me_describes_the_key(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    key = await create_key(client, tenant, ["crm:read", "crm:write"])
    r = await client.get("/api/v1/me", headers=bearer(key["key"]))
    assert r.status_code == 200
    body = r.json()
    assert body["user"] is None
    assert body["actor_type"] == "api_key"
    assert body["api_key"]["id"] == key["id"]
    assert body["tenant"]["id"] == tenant.tenant_id
    assert body["scopes"] == ["crm:read", "crm:write"]
    assert body["api_key"]["last_used_at"] is not None


async def test_api_key_cannot_log_out(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    key = await create_key(client, tenant, ["admin"])
    assert_problem(await client.post("/api/v1/auth/logout", headers=bearer(key["key"])), 400)
