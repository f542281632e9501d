"""Password login: one answer for every wrong credential, lockout, workspace choice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest
from argon2 import PasswordHasher

from bizos.core.db import Database
from bizos.modules.identity import passwords
from bizos.modules.identity.models import User
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem, bearer, login

Travel = Callable[[dt.timedelta], None]


def _comparable(r: httpx.Response) -> tuple[int, dict[str, str], str]:
    """What distinguishes one refusal from another (request ids and rate-limit counters
    differ on every response by design)."""
    varying = ("x-request-id", "date", "traceparent")
    headers = {
        k: v for k, v in r.headers.items() if k not in varying and not k.startswith("ratelimit")
    }
    return r.status_code, headers, r.text


async def test_login_returns_a_working_token_pair(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await login(client, tenant.email, tenant.password)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["tenant"]["slug"] == tenant.slug
    assert body["user"]["id"] == tenant.user_id
    me = await client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["user"]["email"] == tenant.email


async def test_login_ignores_email_case_and_spaces(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await login(client, f"  {tenant.email.upper()} ", tenant.password)
    assert r.status_code == 200, r.text


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    wrong_password = await login(client, tenant.email, "not the password")
    unknown_email = await login(client, "nobody@example.com", "not the password")
    unknown_workspace = await login(client, tenant.email, tenant.password, tenant="no-such-co")
    assert_problem(wrong_password, 401)
    assert _comparable(wrong_password) == _comparable(unknown_email)
    assert _comparable(wrong_password) == _comparable(unknown_workspace)


async def test_five_failures_lock_the_account_with_retry_after(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for _ in range(5):
        assert (await login(client, tenant.email, "wrong password")).status_code == 401
    r = await login(client, tenant.email, "wrong password")
    assert_problem(r, 429)
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60


async def test_locked_account_refuses_the_correct_password(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for _ in range(5):
        await login(client, tenant.email, "wrong password")
    r = await login(client, tenant.email, tenant.password)
    assert_problem(r, 429)
    assert "Retry-After" in r.headers


async def test_lock_ends_when_the_oldest_failure_leaves_the_window(
    client: httpx.AsyncClient, tenant: TenantLogin, travel: Travel
) -> None:
    for _ in range(5):
        await login(client, tenant.email, "wrong password")
    retry_after = int((await login(client, tenant.email, tenant.password)).headers["Retry-After"])
    travel(dt.timedelta(seconds=retry_after + 1))
    assert (await login(client, tenant.email, tenant.password)).status_code == 200


async def test_unknown_emails_lock_like_real_ones(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        await login(client, "ghost@example.com", "guess")
    assert_problem(await login(client, "ghost@example.com", "guess"), 429)


async def test_lockout_is_per_account(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    for _ in range(5):
        await login(client, "someone-else@example.com", "guess")
    assert (await login(client, tenant.email, tenant.password)).status_code == 200


async def test_successful_login_resets_earlier_failures(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for _ in range(4):
        await login(client, tenant.email, "wrong password")
    assert (await login(client, tenant.email, tenant.password)).status_code == 200
    for _ in range(4):
        await login(client, tenant.email, "wrong password")
    assert (await login(client, tenant.email, tenant.password)).status_code == 200


async def test_deactivated_user_cannot_log_in(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/users",
        headers=tenant.headers,
        json={
            "email": "leaver@example.com",
            "name": "Lee",
            "role": "member",
            "password": "leaver password",
        },
    )
    await client.patch(
        f"/api/v1/users/{r.json()['id']}", headers=tenant.headers, json={"is_active": False}
    )
    assert_problem(await login(client, "leaver@example.com", "leaver password"), 401)


async def test_login_rehashes_a_password_hashed_with_old_parameters(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    stronger = PasswordHasher(time_cost=passwords._hasher.time_cost + 1)
    monkeypatch.setattr(passwords, "_hasher", stronger)
    assert (await login(client, tenant.email, tenant.password)).status_code == 200
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        user = await session.get(User, tenant.user_id)
    assert user is not None
    assert not stronger.check_needs_rehash(user.password_hash)
    assert (await login(client, tenant.email, tenant.password)).status_code == 200


async def test_malformed_login_body_is_422_with_field_paths(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/login", json={"email": "a@example.com"})
    body = assert_problem(r, 422)
    assert ["body", "password"] in [e["loc"] for e in body["errors"]]
