"""Login lockout under attack: attempts are counted before the password is checked, per
account and source, under an account-wide ceiling that tells the user."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.db import Database, utcnow
from bizos.modules.identity import clock, passwords
from bizos.modules.identity import service as identity
from tests.conftest import TenantLogin
from tests.modules.identity.helpers import assert_problem, login
from tests.modules.identity.workspaces import client_from, comparable

LIMIT = 5  # login_max_failures


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification (the slow, guessable step) from now on, by password."""
    seen: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            seen.append(password if isinstance(password, str) else password.decode())
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "_hasher", CountingHasher())
    return seen


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.timedelta], None]:
    """Stop the identity clock (so two refusals carry the same ``Retry-After``); the
    returned function moves it."""
    start = utcnow()
    monkeypatch.setattr(clock, "now", lambda: start)

    def move(by: dt.timedelta) -> None:
        monkeypatch.setattr(clock, "now", lambda: start + by)

    return move


async def test_a_burst_of_thirty_wrong_logins_verifies_at_most_the_limit(
    client: httpx.AsyncClient, tenant: TenantLogin, verifications: list[str]
) -> None:
    burst = await asyncio.gather(
        *(login(client, tenant.email, f"wrong guess {i}") for i in range(30))
    )
    statuses = [r.status_code for r in burst]
    assert len(verifications) <= LIMIT
    assert statuses.count(401) == len(verifications)
    assert statuses.count(429) == 30 - len(verifications)
    for r in burst:
        if r.status_code == 429:
            assert_problem(r, 429)
            assert 0 < int(r.headers["Retry-After"]) <= 15 * 60


async def test_a_burst_answers_the_right_password_like_the_wrong_ones_once_locked(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    verifications: list[str],
    frozen_clock: Callable[[dt.timedelta], None],
) -> None:
    for _ in range(LIMIT - 1):
        assert_problem(await login(client, tenant.email, "wrong password"), 401)
    verifications.clear()
    # One attempt is left: whichever request takes it is checked, every other one is
    # refused before its password is looked at, right or wrong.
    passwords_sent = [f"wrong guess {i}" for i in range(20)] + [tenant.password]
    burst = await asyncio.gather(*(login(client, tenant.email, pw) for pw in passwords_sent))
    answers = dict(zip(passwords_sent, burst, strict=True))
    assert len(verifications) == 1
    checked = verifications[0]
    assert answers[checked].status_code == (200 if checked == tenant.password else 401)
    locked = {pw: comparable(r) for pw, r in answers.items() if pw != checked}
    assert {status for status, _, _ in locked.values()} == {429}
    first = next(iter(locked.values()))
    assert all(answer == first for answer in locked.values()), "answers differ by password"


async def test_a_locked_account_answers_right_and_wrong_passwords_identically(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    verifications: list[str],
    frozen_clock: Callable[[dt.timedelta], None],
) -> None:
    for _ in range(LIMIT):
        await login(client, tenant.email, "wrong password")
    verifications.clear()
    right, wrong = await asyncio.gather(
        login(client, tenant.email, tenant.password), login(client, tenant.email, "nope")
    )
    assert_problem(right, 429)
    assert comparable(right) == comparable(wrong)
    assert verifications == []


async def test_a_stranger_elsewhere_cannot_lock_the_owner_out(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    async with client_from(app, "203.0.113.7") as stranger:
        for _ in range(LIMIT):
            assert_problem(await login(stranger, tenant.email, "guess"), 401)
        assert_problem(await login(stranger, tenant.email, tenant.password), 429)
    r = await login(client, tenant.email, tenant.password)
    assert r.status_code == 200, r.text


async def test_addresses_of_one_ipv6_network_are_one_source(app: Any, tenant: TenantLogin) -> None:
    for host in range(1, LIMIT + 1):
        async with client_from(app, f"2001:db8:1:2::{host:x}") as c:
            assert_problem(await login(c, tenant.email, "guess"), 401)
    async with client_from(app, "2001:db8:1:2:ffff::1") as c:
        assert_problem(await login(c, tenant.email, "guess"), 429)
    async with client_from(app, "2001:db8:1:3::1") as c:
        assert_problem(await login(c, tenant.email, "guess"), 401)


async def test_the_account_wide_ceiling_stops_a_spread_out_guess_and_tells_the_user(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "login_account_max_failures", 8)
    # The owner has signed in from here before: a known source.
    assert (await login(client, tenant.email, tenant.password)).status_code == 200
    statuses = []
    for ip in ("198.51.100.1", "198.51.100.2"):
        async with client_from(app, ip) as stranger:
            for _ in range(LIMIT):
                statuses.append((await login(stranger, tenant.email, "guess")).status_code)
    assert statuses == [401] * 8 + [429] * 2
    async with client_from(app, "198.51.100.3") as newcomer:
        assert_problem(await login(newcomer, tenant.email, tenant.password), 429)
    # Sources the owner signed in from before are not subject to the ceiling.
    assert (await login(client, tenant.email, tenant.password)).status_code == 200

    sent = await client.get(f"/api/v1/messages?to={tenant.email}", headers=tenant.headers)
    [warning] = [m for m in sent.json()["items"] if "sign-in" in (m["subject"] or "").lower()]
    assert "from new addresses" in warning["body"]
    assert "8" in warning["body"]


async def test_the_user_is_told_once_per_window(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "login_account_max_failures", 3)
    for ip in ("198.51.100.1", "198.51.100.2"):
        async with client_from(app, ip) as stranger:
            for _ in range(4):
                await login(stranger, tenant.email, "guess")
    sent = await client.get(f"/api/v1/messages?to={tenant.email}", headers=tenant.headers)
    warnings = [m for m in sent.json()["items"] if "sign-in" in (m["subject"] or "").lower()]
    assert len(warnings) == 1


async def test_the_lock_of_one_source_ends_with_its_window(
    client: httpx.AsyncClient, tenant: TenantLogin, frozen_clock: Callable[[dt.timedelta], None]
) -> None:
    for _ in range(LIMIT):
        await login(client, tenant.email, "wrong password")
    locked = await login(client, tenant.email, tenant.password)
    assert_problem(locked, 429)
    retry_after = int(locked.headers["Retry-After"])
    frozen_clock(dt.timedelta(seconds=retry_after - 1))
    assert_problem(await login(client, tenant.email, tenant.password), 429)
    frozen_clock(dt.timedelta(seconds=retry_after))
    assert (await login(client, tenant.email, tenant.password)).status_code == 200


async def test_the_ceiling_holds_for_an_address_no_email_can_reach(
    app: Any, tenant: TenantLogin, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "login_account_max_failures", 2)
    # The CLI accepts addresses email cannot be sent to.
    async with db.unit_of_work(system=True) as session:
        await identity.create_user(
            session,
            Context(actor_type="system", tenant_id=tenant.tenant_id),
            tenant_id=tenant.tenant_id,
            email="ops@corp.local",
            name="Ops",
            role="member",
            password="ops password 1",
        )
    async with client_from(app, "198.51.100.1") as stranger:
        statuses = [
            (await login(stranger, "ops@corp.local", "guess")).status_code for _ in range(4)
        ]
    assert statuses == [401, 401, 429, 429]
