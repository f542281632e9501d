"""Helpers for identity tests: problem assertions and team-member factories."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import TenantLogin

PASSWORD = "another good password"


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Member:
    id: str
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


async def login(
    client: httpx.AsyncClient, email: str, password: str, tenant: str | None = None
) -> httpx.Response:
    body = {"email": email, "password": password}
    if tenant is not None:
        body["tenant"] = tenant
    return await client.post("/api/v1/auth/login", json=body)


async def add_member(
    client: httpx.AsyncClient, admin: TenantLogin, role: str, *, name: str = "Max"
) -> Member:
    """A user of ``admin``'s tenant with ``role``, created through the API and logged in."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={"email": email, "name": name, "role": role, "password": PASSWORD},
    )
    assert r.status_code == 201, r.text
    r2 = await login(client, email, PASSWORD)
    assert r2.status_code == 200, r2.text
    return Member(
        id=r.json()["id"],
        email=email,
        access_token=r2.json()["access_token"],
        refresh_token=r2.json()["refresh_token"],
    )


async def create_key(
    client: httpx.AsyncClient, admin: TenantLogin, scopes: list[str], **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/api-keys",
        headers=admin.headers,
        json={"name": "integration", "scopes": scopes, **extra},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body
