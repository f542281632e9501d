"""Rate limits as a client sees them: headers on every response, 429 with Retry-After."""

from __future__ import annotations

import os

import httpx
import pytest
from redis.asyncio import Redis

from tests.api.conftest import AppFactory, assert_problem, client_for
from tests.conftest import signup

REDIS_URL = os.environ.get("BIZOS_TEST_REDIS_URL", "")


def _login(client: httpx.AsyncClient) -> object:
    return client.post("/api/v1/auth/login", json={"email": "x@example.com", "password": "nope"})


async def test_every_response_carries_rate_limit_headers(make_app: AppFactory) -> None:
    async with make_app(rate_limit_per_minute=50) as (_app, client):
        tenant = await signup(client)
        responses = [
            await client.get("/healthz"),
            await client.get("/api/v1/me", headers=tenant.headers),
            await client.get("/api/v1/me"),
            await client.get("/api/v1/nowhere"),
            await client.post("/api/v1/test/orders", json={}, headers=tenant.headers),
        ]
    for r in responses:
        assert r.headers["ratelimit-limit"].isdigit(), r.request.url
        assert r.headers["ratelimit-remaining"].isdigit()
        assert r.headers["ratelimit-reset"].isdigit()


async def test_a_caller_over_the_limit_gets_429_with_retry_after(make_app: AppFactory) -> None:
    async with make_app(rate_limit_per_minute=3) as (_app, client):
        tenant = await signup(client)
        seen = [await client.get("/api/v1/me", headers=tenant.headers) for _ in range(3)]
        refused = await client.get("/api/v1/me", headers=tenant.headers)
        metrics = (await client.get("/metrics")).text

    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in seen] == ["2", "1", "0"]
    assert all(r.headers["ratelimit-limit"] == "3" for r in seen)
    body = assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    assert "3 requests per minute" in body["detail"]
    assert refused.headers["x-request-id"]
    assert 'bizos_http_requests_total{method="GET",route="/api/v1/me",status="429"}' in metrics


async def test_each_credential_has_its_own_allowance(make_app: AppFactory) -> None:
    async with make_app(rate_limit_per_minute=2) as (_app, client):
        acme = await signup(client, "Acme Ltd")
        globex = await signup(client, "Globex Corp")
        for _ in range(2):
            assert (await client.get("/api/v1/me", headers=acme.headers)).status_code == 200
        assert (await client.get("/api/v1/me", headers=acme.headers)).status_code == 429
        # Same IP, other credential: untouched. Anonymous callers draw on the IP's allowance.
        assert (await client.get("/api/v1/me", headers=globex.headers)).status_code == 200
        assert (await client.get("/healthz")).status_code == 200


async def test_public_endpoints_have_a_stricter_limit_per_ip(make_app: AppFactory) -> None:
    async with make_app(rate_limit_public_per_minute=4) as (app, client):
        tenant = await signup(client)  # made directly, not through the public API
        for _ in range(4):
            r = await _login(client)  # type: ignore[misc]
            assert r.status_code == 401
            assert r.headers["ratelimit-limit"] == "4"
        blocked = await _login(client)  # type: ignore[misc]
        assert_problem(blocked, 429)
        assert int(blocked.headers["retry-after"]) >= 1
        blocked_form = await client.post(f"/forms/{tenant.slug}/leads", json={})
        assert_problem(blocked_form, 429)
        # The signed-in API is not affected, and another address has its own allowance.
        assert (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 200
        async with client_for(app, "203.0.113.9") as elsewhere:
            assert (await _login(elsewhere)).status_code == 401  # type: ignore[misc]


async def test_rate_limits_can_be_switched_off(make_app: AppFactory) -> None:
    async with make_app(rate_limit_enabled=False, rate_limit_public_per_minute=1) as (_a, client):
        for _ in range(3):
            r = await client.get("/healthz")
            assert r.status_code == 200
            assert "ratelimit-limit" not in r.headers


async def test_an_unreachable_redis_fails_open(make_app: AppFactory) -> None:
    # Nothing listens on port 1: the limiter errors, and the API keeps serving.
    async with make_app(redis_url="redis://127.0.0.1:1/0") as (_app, client):
        r = await client.get("/healthz")
    assert r.status_code == 200
    assert "ratelimit-limit" not in r.headers


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="BIZOS_TEST_REDIS_URL is not set")
async def test_api_nodes_sharing_redis_share_one_allowance(make_app: AppFactory) -> None:
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    async with make_app(redis_url=REDIS_URL, rate_limit_per_minute=3) as (_a, node_a):
        tenant = await signup(node_a)
        async with make_app(redis_url=REDIS_URL, rate_limit_per_minute=3) as (_b, node_b):
            assert (await node_a.get("/api/v1/me", headers=tenant.headers)).status_code == 200
            assert (await node_b.get("/api/v1/me", headers=tenant.headers)).status_code == 200
            third = await node_a.get("/api/v1/me", headers=tenant.headers)
            assert third.status_code == 200
            assert third.headers["ratelimit-remaining"] == "0"
            assert_problem(await node_b.get("/api/v1/me", headers=tenant.headers), 429)
