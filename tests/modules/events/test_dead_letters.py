"""Dead letters: an admin sees events a subscriber gave up on, and replays them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from tests.conftest import TenantLogin
from tests.core.test_dispatcher import drain, poll_once
from tests.modules.events.helpers import key_headers, problem


class Outage:
    """A subscriber whose downstream is down until ``fixed``."""

    def __init__(self) -> None:
        self.fixed = False
        self.handled: list[str] = []

    async def __call__(self, session: AsyncSession, ctx: Context, event: EventRecord) -> None:
        if not self.fixed:
            raise ConnectionError("scoring service unreachable")
        self.handled.append(event.id)


@pytest.fixture
def outage(app: Any) -> Outage:
    handler = Outage()
    dispatcher: Dispatcher = app.state.runtime.dispatcher
    dispatcher.settings = dispatcher.settings.model_copy(
        update={"dispatcher_base_backoff": 0.0, "dispatcher_max_attempts": 2}
    )
    dispatcher.subscribe("test.scoring", "activity.*", handler)
    return handler


async def dead_letters(
    client: httpx.AsyncClient, tenant: TenantLogin, **params: Any
) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/admin/dead-letters", headers=tenant.headers, params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def track_one(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    body = {"events": [{"type": "page_viewed", "contact_id": "c-1"}]}
    assert (
        await client.post("/api/v1/track", headers=tenant.headers, json=body)
    ).status_code == 202


async def test_dead_letter_is_listed_then_replayed_and_handled(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin, outage: Outage
) -> None:
    dispatcher: Dispatcher = app.state.runtime.dispatcher
    await track_one(client, tenant)
    await poll_once(dispatcher)
    assert await dead_letters(client, tenant) == []  # first failure: still retrying
    [retrying] = await dead_letters(client, tenant, status="retrying")
    assert retrying["attempts"] == 1

    await poll_once(dispatcher)  # second and last attempt
    [dead] = await dead_letters(client, tenant)
    assert dead["subscriber"] == "test.scoring"
    assert dead["event_type"] == "activity.page_viewed"
    assert (dead["status"], dead["attempts"]) == ("dead", 2)
    assert dead["last_error"] == "ConnectionError: scoring service unreachable"

    outage.fixed = True
    r = await client.post(f"/api/v1/admin/dead-letters/{dead['id']}/replay", headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "replayed"
    await drain(dispatcher)
    assert outage.handled == [dead["event_id"]]
    assert await dead_letters(client, tenant) == []
    [resolved] = await dead_letters(client, tenant, status="resolved")
    assert resolved["id"] == dead["id"]

    r = await client.post(f"/api/v1/admin/dead-letters/{dead['id']}/replay", headers=tenant.headers)
    problem(r, 409)  # nothing left to replay
    await drain(dispatcher)
    assert outage.handled == [dead["event_id"]]


async def test_a_replay_that_fails_again_is_dead_again(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin, outage: Outage
) -> None:
    dispatcher: Dispatcher = app.state.runtime.dispatcher
    await track_one(client, tenant)
    await drain(dispatcher)  # both attempts: retries are due at once in these tests
    [dead] = await dead_letters(client, tenant)
    r = await client.post(f"/api/v1/admin/dead-letters/{dead['id']}/replay", headers=tenant.headers)
    assert r.status_code == 202
    await drain(dispatcher)
    [again] = await dead_letters(client, tenant)
    assert (again["id"], again["status"], again["attempts"]) == (dead["id"], "dead", 3)


async def test_dead_letters_are_the_tenants_own_and_need_admin(
    app: Any,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    outage: Outage,
) -> None:
    dispatcher: Dispatcher = app.state.runtime.dispatcher
    await track_one(client, tenant)
    await drain(dispatcher)  # both attempts: retries are due at once in these tests
    [dead] = await dead_letters(client, tenant)
    assert await dead_letters(client, other_tenant) == []
    replay = f"/api/v1/admin/dead-letters/{dead['id']}/replay"
    problem(await client.post(replay, headers=other_tenant.headers), 404)
    problem(
        await client.post("/api/v1/admin/dead-letters/nope/replay", headers=tenant.headers), 404
    )
    not_admin = await key_headers(client, tenant, ["automation:read", "automation:write"])
    problem(await client.get("/api/v1/admin/dead-letters", headers=not_admin), 403)
    problem(await client.post(replay, headers=not_admin), 403)
    [still] = await dead_letters(client, tenant)
    assert still["status"] == "dead"
