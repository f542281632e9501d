"""Factories shared by the connector and outreach tests: principals with fewer rights."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import TenantLogin


async def api_key_headers(
    client: httpx.AsyncClient, tenant: TenantLogin, scopes: list[str]
) -> dict[str, str]:
    r = await client.post(
        "/api/v1/api-keys", json={"name": "limited", "scopes": scopes}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def user_headers(
    client: httpx.AsyncClient, tenant: TenantLogin, role: str = "member"
) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    password = "member password 123"
    r = await client.post(
        "/api/v1/users",
        json={"email": email, "name": role.title(), "role": role, "password": password},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
