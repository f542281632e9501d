"""Every response carries X-Request-ID: the caller's when it is sane, else a new one."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.conftest import assert_problem
from tests.conftest import TenantLogin


async def test_a_request_without_an_id_gets_a_fresh_one(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert uuid.UUID(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_the_callers_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "checkout-7f3a:retry.2"})
    assert r.headers["x-request-id"] == "checkout-7f3a:retry.2"


@pytest.mark.parametrize(
    "hostile",
    ["x" * 65, "has spaces in it", "line\\nbreak", "<script>", ""],
)
async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient, hostile: str) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": hostile})
    assert r.headers["x-request-id"] != hostile
    assert uuid.UUID(r.headers["x-request-id"])


async def test_error_responses_carry_the_request_id_too(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    headers = {"X-Request-ID": "trace-me"}
    not_found = await client.get("/api/v1/no-such-thing", headers=headers)
    unauthenticated = await client.get("/api/v1/me", headers=headers)
    invalid = await client.post(
        "/api/v1/test/orders", json={"quantity": "many"}, headers={**headers, **tenant.headers}
    )
    for r, status in ((not_found, 404), (unauthenticated, 401), (invalid, 422)):
        assert_problem(r, status)
        assert r.headers["x-request-id"] == "trace-me"


async def test_an_unhandled_error_is_a_problem_with_the_request_id(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/test/broken-orders",
        json={"item": "anvil"},
        headers={"X-Request-ID": "boom-1", **tenant.headers},
    )
    body = assert_problem(r, 500)
    assert r.headers["x-request-id"] == "boom-1"
    assert "exploded" not in r.text  # internals stay in the log, not the response
    assert body["title"] == "Internal server error"
    assert "ratelimit-limit" in r.headers
