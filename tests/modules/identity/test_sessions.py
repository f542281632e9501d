"""Refresh rotation with reuse detection, session expiry and logout."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.events import Event
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem, bearer, login

Travel = Callable[[dt.timedelta], None]


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_returns_a_new_working_pair(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await _refresh(client, tenant.refresh_token)
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["refresh_token"] != tenant.refresh_token
    assert pair["token_type"] == "bearer"
    assert (await client.get("/api/v1/me", headers=bearer(pair["access_token"]))).status_code == 200
    assert (await _refresh(client, pair["refresh_token"])).status_code == 200


async def test_a_spent_refresh_token_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _refresh(client, tenant.refresh_token)
    assert_problem(await _refresh(client, tenant.refresh_token), 401)


async def test_refresh_reuse_revokes_the_whole_session(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    rotated = (await _refresh(client, tenant.refresh_token)).json()
    assert_problem(await _refresh(client, tenant.refresh_token), 401)
    assert_problem(await client.get("/api/v1/me", headers=tenant.headers), 401)
    assert_problem(await client.get("/api/v1/me", headers=bearer(rotated["access_token"])), 401)
    assert_problem(await _refresh(client, rotated["refresh_token"]), 401)


async def test_refresh_reuse_leaves_other_sessions_alone(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    other = (await login(client, tenant.email, tenant.password)).json()
    await _refresh(client, tenant.refresh_token)
    await _refresh(client, tenant.refresh_token)
    assert (
        await client.get("/api/v1/me", headers=bearer(other["access_token"]))
    ).status_code == 200


async def test_concurrent_refreshes_with_one_token_let_exactly_one_through(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    results = await asyncio.gather(*[_refresh(client, tenant.refresh_token) for _ in range(2)])
    assert sorted(r.status_code for r in results) == [200, 401]


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await _refresh(client, "no-such-session.no-such-secret"), 401)


async def test_expired_session_cannot_be_refreshed(
    client: httpx.AsyncClient, tenant: TenantLogin, travel: Travel
) -> None:
    travel(dt.timedelta(days=31))
    assert_problem(await _refresh(client, tenant.refresh_token), 401)


async def test_expired_session_rejects_its_access_token(
    client: httpx.AsyncClient, tenant: TenantLogin, travel: Travel
) -> None:
    travel(dt.timedelta(days=31))
    assert_problem(await client.get("/api/v1/me", headers=tenant.headers), 401)


async def test_logout_rejects_the_access_token_afterwards(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post("/api/v1/auth/logout", headers=tenant.headers)
    assert r.status_code == 204
    assert r.content == b""
    assert_problem(await client.get("/api/v1/me", headers=tenant.headers), 401)


async def test_logout_ends_the_refresh_token_too(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.post("/api/v1/auth/logout", headers=tenant.headers)
    assert_problem(await _refresh(client, tenant.refresh_token), 401)


async def test_logout_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/api/v1/auth/logout"), 401)


async def test_session_events_say_why_a_session_was_revoked(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    await _refresh(client, tenant.refresh_token)
    await _refresh(client, tenant.refresh_token)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        events = (
            await session.scalars(sa.select(Event).where(Event.type == "identity.session.revoked"))
        ).all()
    assert [e.data["reason"] for e in events] == ["refresh_token_reuse"]
