from __future__ import annotations

import httpx

from tests.conftest import signup


async def test_signup_creates_tenant_and_owner(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/signup",
        json={
            "company_name": "Bean & Co",
            "email": "Ana@Example.com",
            "password": "s3cret-pass",
            "name": "Ana",
        },
    )
    assert r.status_code == 201
    body = r.json()
    assert body["tenant"]["slug"] == "bean-co"
    assert body["user"] == {**body["user"], "email": "ana@example.com", "role": "owner"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0


async def test_signup_rejects_short_password_with_field_path(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/signup",
        json={"company_name": "X", "email": "x@example.com", "password": "short", "name": "X"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert ["body", "password"] in [e["loc"] for e in r.json()["errors"]]


async def test_two_signups_same_company_get_distinct_slugs(client: httpx.AsyncClient) -> None:
    a = await signup(client, "Same Name")
    b = await signup(client, "Same Name")
    assert a.slug != b.slug
