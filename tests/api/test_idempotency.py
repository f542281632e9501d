"""Idempotency keys: a retried POST returns the first response without doing it again."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
import sqlalchemy as sa

from bizos.core.db import Database, utcnow
from bizos.core.idempotency import IN_PROGRESS, IdempotencyRecord
from tests.api.conftest import Workbench, assert_problem
from tests.conftest import TenantLogin


def _with_key(tenant: TenantLogin, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


async def test_a_retry_returns_the_first_response_without_running_again(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    headers = _with_key(tenant, "order-2024-0001")
    first = await client.post("/api/v1/test/orders", json={"item": "anvil"}, headers=headers)
    retry = await client.post("/api/v1/test/orders", json={"item": "anvil"}, headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() == {"order_no": 1, "item": "anvil", "quantity": 1}
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["content-type"] == first.headers["content-type"]
    assert retry.headers["x-request-id"] != first.headers["x-request-id"]
    assert bench.runs == 1


async def test_the_same_body_in_another_key_order_is_still_a_retry(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    headers = {**_with_key(tenant, "k-1"), "Content-Type": "application/json"}
    await client.post(
        "/api/v1/test/orders", content='{"item": "anvil", "quantity": 2}', headers=headers
    )
    retry = await client.post(
        "/api/v1/test/orders", content='{"quantity":2,"item":"anvil"}', headers=headers
    )
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert bench.runs == 1


async def test_the_same_key_with_a_different_body_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    headers = _with_key(tenant, "k-2")
    await client.post("/api/v1/test/orders", json={"item": "anvil"}, headers=headers)
    other = await client.post("/api/v1/test/orders", json={"item": "rocket"}, headers=headers)
    body = assert_problem(other, 422)
    assert body["errors"] == [
        {"loc": ["header", "Idempotency-Key"], "msg": "reused with another body"}
    ]
    assert bench.runs == 1


async def test_the_same_key_on_another_path_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    headers = _with_key(tenant, "k-3")
    await client.post("/api/v1/test/orders", json={"item": "anvil"}, headers=headers)
    other = await client.post(
        "/api/v1/test/unavailable-orders", json={"item": "anvil"}, headers=headers
    )
    assert_problem(other, 422)
    assert bench.runs == 1


async def test_keys_belong_to_their_caller(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin, bench: Workbench
) -> None:
    mine = await client.post(
        "/api/v1/test/orders", json={"item": "anvil"}, headers=_with_key(tenant, "shared-key")
    )
    theirs = await client.post(
        "/api/v1/test/orders", json={"item": "anvil"}, headers=_with_key(other_tenant, "shared-key")
    )
    assert mine.json()["order_no"] == 1
    assert theirs.json()["order_no"] == 2
    assert "idempotent-replayed" not in theirs.headers


async def test_a_duplicate_while_the_first_still_runs_gets_409(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    headers = _with_key(tenant, "slow-1")
    first = asyncio.create_task(
        client.post("/api/v1/test/slow-orders", json={"item": "anvil"}, headers=headers)
    )
    await asyncio.wait_for(bench.entered.wait(), timeout=10)

    duplicate = await client.post(
        "/api/v1/test/slow-orders", json={"item": "anvil"}, headers=headers
    )
    body = assert_problem(duplicate, 409)
    assert "still being processed" in body["detail"]
    assert duplicate.headers["retry-after"] == "1"

    bench.gate.set()
    done = await asyncio.wait_for(first, timeout=10)
    assert done.status_code == 201
    after = await client.post("/api/v1/test/slow-orders", json={"item": "anvil"}, headers=headers)
    assert after.json() == done.json()
    assert after.headers["idempotent-replayed"] == "true"
    assert bench.runs == 1


async def test_a_server_error_is_not_recorded_so_the_retry_runs(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    headers = _with_key(tenant, "flaky-1")
    down = await client.post(
        "/api/v1/test/unavailable-orders", json={"item": "anvil"}, headers=headers
    )
    assert_problem(down, 503)
    retry = await client.post(
        "/api/v1/test/unavailable-orders", json={"item": "anvil"}, headers=headers
    )
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert bench.runs == 2


async def test_a_crash_is_not_recorded_so_the_retry_runs(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    headers = _with_key(tenant, "crash-1")
    for _ in range(2):
        r = await client.post("/api/v1/test/broken-orders", json={"item": "anvil"}, headers=headers)
        assert_problem(r, 500)
    assert bench.runs == 2


async def test_client_errors_are_replayed_like_successes(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    headers = _with_key(tenant, "bad-1")
    first = await client.post("/api/v1/test/orders", json={"quantity": 1}, headers=headers)
    retry = await client.post("/api/v1/test/orders", json={"quantity": 1}, headers=headers)
    assert_problem(first, 422)
    assert retry.status_code == 422
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"


async def test_a_reservation_left_by_a_dead_process_is_taken_over_after_its_lease(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench, db: Database
) -> None:
    headers = _with_key(tenant, "orphan-1")
    await client.post("/api/v1/test/orders", json={"item": "anvil"}, headers=headers)
    # Make it look like a request that started ten minutes ago and never finished.
    async with db.unit_of_work(system=True) as session:
        await session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "orphan-1")
            .values(status=IN_PROGRESS, locked_at=utcnow() - dt.timedelta(minutes=10))
        )
    retry = await client.post("/api/v1/test/orders", json={"item": "anvil"}, headers=headers)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert bench.runs == 2


async def test_an_expired_key_can_be_used_again(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench, db: Database
) -> None:
    headers = _with_key(tenant, "old-1")
    await client.post("/api/v1/test/orders", json={"item": "anvil"}, headers=headers)
    async with db.unit_of_work(system=True) as session:
        await session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "old-1")
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    again = await client.post("/api/v1/test/orders", json={"item": "rocket"}, headers=headers)
    assert again.status_code == 201
    assert again.json()["item"] == "rocket"
    assert bench.runs == 2


async def test_stored_responses_are_not_readable_in_the_database(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    r = await client.post(
        "/api/v1/api-keys",
        json={"name": "shop sync", "scopes": ["crm:read"]},
        headers=_with_key(tenant, "key-1"),
    )
    assert r.status_code == 201, r.text
    secret = r.json()["key"]
    async with db.unit_of_work(system=True, readonly=True) as session:
        stored = (await session.scalars(sa.select(IdempotencyRecord))).one()
    assert stored.response_body is not None
    assert secret.encode() not in stored.response_body
    assert b"shop sync" not in stored.response_body
    assert secret not in json.dumps(stored.response_headers)

    retry = await client.post(
        "/api/v1/api-keys",
        json={"name": "shop sync", "scopes": ["crm:read"]},
        headers=_with_key(tenant, "key-1"),
    )
    assert retry.json()["key"] == secret
    assert retry.headers["idempotent-replayed"] == "true"


async def test_without_a_credential_the_key_is_ignored_and_the_route_answers(
    client: httpx.AsyncClient, bench: Workbench
) -> None:
    r = await client.post(
        "/api/v1/test/orders", json={"item": "anvil"}, headers={"Idempotency-Key": "anon-1"}
    )
    assert_problem(r, 401)
    assert bench.runs == 0


async def test_a_malformed_key_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    for bad in ("x" * 256, "with space"):
        r = await client.post(
            "/api/v1/test/orders", json={"item": "anvil"}, headers=_with_key(tenant, bad)
        )
        body = assert_problem(r, 422)
        assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert bench.runs == 0


async def test_requests_without_a_key_run_every_time(
    client: httpx.AsyncClient, tenant: TenantLogin, bench: Workbench
) -> None:
    for _ in range(2):
        await client.post("/api/v1/test/orders", json={"item": "anvil"}, headers=tenant.headers)
    assert bench.runs == 2
