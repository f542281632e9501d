"""Helpers for event API tests: scoped API keys and problem assertions."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantLogin


async def key_headers(
    client: httpx.AsyncClient, tenant: TenantLogin, scopes: list[str]
) -> dict[str, str]:
    """Headers for a fresh API key of ``tenant`` holding exactly ``scopes``."""
    r = await client.post(
        "/api/v1/api-keys", headers=tenant.headers, json={"name": "integration", "scopes": scopes}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


def error_locs(r: httpx.Response) -> list[list[Any]]:
    return [e["loc"] for e in problem(r, 422)["errors"]]
