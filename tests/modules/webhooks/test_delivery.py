"""Webhook delivery to a real local HTTP server: signed, retried, in order per endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.dispatcher import Dispatcher
from bizos.core.events import NewEvent, append_events
from bizos.modules.webhooks.delivery import WebhookSender
from tests.conftest import TenantLogin
from tests.core.test_dispatcher import drain
from tests.modules.webhooks.receiver import Receiver, running_receiver, verify_standard_webhook
from tests.modules.webhooks.test_endpoints import ENDPOINTS, create_endpoint


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture
def sender(db: Database, settings: Settings) -> WebhookSender:
    quick = settings.model_copy(
        update={
            "webhook_base_backoff": 0.0,
            "webhook_max_attempts": 3,
            "webhook_allow_private_targets": True,  # the receiver listens on 127.0.0.1
        }
    )
    return WebhookSender(db, quick)


async def emit(app: Any, db: Database, tenant: TenantLogin, *types: str) -> list[str]:
    """Commit events for the tenant and let the dispatcher queue their deliveries."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        rows = await append_events(
            s,
            Context(tenant_id=tenant.tenant_id),
            [
                NewEvent(t, "lead", f"lead-{i}", {"email": f"l{i}@example.com"})
                for i, t in enumerate(types)
            ],
        )
    await drain(app.state.runtime.dispatcher)
    return [r["id"] for r in rows]


async def deliver_all(sender: WebhookSender, max_rounds: int = 50) -> None:
    for _ in range(max_rounds):
        if await sender.deliver_due() == 0:
            return
    raise AssertionError("deliveries did not settle")


async def attempts(
    client: httpx.AsyncClient, tenant: TenantLogin, endpoint_id: str
) -> list[dict[str, Any]]:
    r = await client.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", headers=tenant.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_matching_event_is_posted_with_a_valid_standard_webhooks_signature(
    app: Any,
    db: Database,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
    sender: WebhookSender,
) -> None:
    endpoint = await create_endpoint(client, tenant, url=receiver.url("/hook"))
    lead, _deal = await emit(app, db, tenant, "crm.lead.created", "crm.deal.won")
    assert await sender.deliver_due() == 1

    [request] = receiver.at("/hook")
    assert verify_standard_webhook(endpoint["secret"], request.headers, request.body)
    assert not verify_standard_webhook(endpoint["secret"], request.headers, request.body + b" ")
    assert request.headers["webhook-id"] == lead
    assert request.headers["content-type"] == "application/json"
    body = request.json
    assert (body["id"], body["type"]) == (lead, "crm.lead.created")
    assert body["data"] == {"email": "l0@example.com"}
    assert body["timestamp"].startswith("20")

    [attempt] = await attempts(client, tenant, endpoint["id"])
    assert (attempt["event_id"], attempt["event_type"]) == (lead, "crm.lead.created")
    assert (attempt["attempt"], attempt["status"], attempt["response_status"]) == (
        1,
        "succeeded",
        200,
    )
    assert attempt["error"] is None and attempt["next_attempt_at"] is None
    assert await sender.deliver_due() == 0  # delivered once


async def test_failed_delivery_is_retried_with_the_same_id_until_it_succeeds(
    app: Any,
    db: Database,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
    sender: WebhookSender,
) -> None:
    receiver.scripts["/flaky"] = [500, 503]
    endpoint = await create_endpoint(client, tenant, url=receiver.url("/flaky"))
    [lead] = await emit(app, db, tenant, "crm.lead.created")
    await deliver_all(sender)

    requests = receiver.at("/flaky")
    assert [r.headers["webhook-id"] for r in requests] == [lead] * 3
    assert all(verify_standard_webhook(endpoint["secret"], r.headers, r.body) for r in requests)
    newest_first = await attempts(client, tenant, endpoint["id"])
    assert [(a["attempt"], a["status"], a["response_status"]) for a in newest_first] == [
        (3, "succeeded", 200),
        (2, "failed", 503),
        (1, "failed", 500),
    ]
    assert newest_first[1]["error"] == "HTTP 503"
    assert newest_first[1]["next_attempt_at"] is not None
    assert newest_first[0]["next_attempt_at"] is None


async def test_a_later_event_waits_while_an_earlier_one_is_retried(
    app: Any,
    db: Database,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
    sender: WebhookSender,
) -> None:
    receiver.scripts["/ordered"] = [500]
    await create_endpoint(client, tenant, url=receiver.url("/ordered"))
    first, second, third = await emit(
        app, db, tenant, "crm.lead.created", "crm.lead.scored", "crm.lead.assigned"
    )
    assert await sender.deliver_due() == 1  # only the head of the queue goes out
    assert [r.headers["webhook-id"] for r in receiver.at("/ordered")] == [first]
    await deliver_all(sender)
    assert [r.headers["webhook-id"] for r in receiver.at("/ordered")] == [
        first,
        first,
        second,
        third,
    ]


async def test_a_failing_endpoint_does_not_hold_back_another(
    app: Any,
    db: Database,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
    sender: WebhookSender,
) -> None:
    receiver.scripts["/down"] = [500] * 100
    down = await create_endpoint(client, tenant, url=receiver.url("/down"))
    await create_endpoint(client, tenant, url=receiver.url("/up"))
    first, second = await emit(app, db, tenant, "crm.lead.created", "crm.lead.scored")

    await sender.deliver_due()
    assert [r.headers["webhook-id"] for r in receiver.at("/up")] == [first]
    await deliver_all(sender)
    assert [r.headers["webhook-id"] for r in receiver.at("/up")] == [first, second]
    # The broken endpoint got every attempt for the first event, then (given up on) the next.
    assert [r.headers["webhook-id"] for r in receiver.at("/down")] == [first] * 3 + [second] * 3
    history = await attempts(client, tenant, down["id"])
    assert {a["status"] for a in history} == {"failed"}
    assert [a["next_attempt_at"] is None for a in history if a["attempt"] == 3] == [True, True]


async def test_unreachable_endpoint_records_the_connection_error(
    app: Any, db: Database, client: httpx.AsyncClient, tenant: TenantLogin, sender: WebhookSender
) -> None:
    with running_receiver() as closed:
        url = closed.url("/gone")
    endpoint = await create_endpoint(client, tenant, url=url)
    await emit(app, db, tenant, "crm.lead.created")
    await sender.deliver_due()
    [attempt] = await attempts(client, tenant, endpoint["id"])
    assert attempt["status"] == "failed" and attempt["response_status"] is None
    assert attempt["error"].startswith("ConnectError")


async def test_deleting_an_endpoint_cancels_what_it_has_not_received(
    app: Any,
    db: Database,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
    sender: WebhookSender,
) -> None:
    endpoint = await create_endpoint(client, tenant, url=receiver.url("/bye"))
    await emit(app, db, tenant, "crm.lead.created")
    r = await client.delete(f"{ENDPOINTS}/{endpoint['id']}", headers=tenant.headers)
    assert r.status_code == 204
    await emit(app, db, tenant, "crm.lead.created")
    assert await sender.deliver_due() == 0
    assert receiver.at("/bye") == []


async def test_other_tenants_events_are_not_sent_to_my_endpoint(
    app: Any,
    db: Database,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    receiver: Receiver,
    sender: WebhookSender,
) -> None:
    await create_endpoint(client, tenant, url=receiver.url("/mine"), events=["*"])
    theirs = await emit(app, db, other_tenant, "crm.lead.created")
    mine = await emit(app, db, tenant, "crm.lead.created")
    await deliver_all(sender)
    ids = [r.headers["webhook-id"] for r in receiver.at("/mine")]
    assert mine[0] in ids and theirs[0] not in ids


async def test_running_workers_deliver_a_committed_event_on_their_own(
    app: Any,
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
) -> None:
    endpoint = await create_endpoint(client, tenant, url=receiver.url("/live"))
    dispatcher: Dispatcher = app.state.runtime.dispatcher
    sender = WebhookSender(db, settings.model_copy(update={"webhook_allow_private_targets": True}))
    loops = [
        asyncio.create_task(dispatcher.run_forever()),
        asyncio.create_task(sender.run_forever()),
    ]
    try:
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
            [row] = await append_events(
                s, Context(tenant_id=tenant.tenant_id), [NewEvent("crm.lead.created", "lead", "l")]
            )
        arrived = await asyncio.to_thread(receiver.arrived.wait, 30)
        assert arrived
    finally:
        dispatcher.stop()
        sender.stop()
        await asyncio.wait_for(asyncio.gather(*loops), timeout=30)
    [request] = receiver.at("/live")
    assert request.headers["webhook-id"] == row["id"]
    assert verify_standard_webhook(endpoint["secret"], request.headers, request.body)


async def test_serving_with_workers_delivers_tracked_activity_end_to_end(
    db: Database, settings: Settings, receiver: Receiver
) -> None:
    from bizos.app import create_app
    from tests.conftest import signup

    local = settings.model_copy(update={"webhook_allow_private_targets": True})
    application = create_app(local, database=db, workers=True)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            owner = await signup(c, "Live Co")
            endpoint = await create_endpoint(
                c, owner, url=receiver.url("/activity"), events=["activity.*"]
            )
            r = await c.post(
                "/api/v1/track",
                headers=owner.headers,
                json={"events": [{"type": "email_opened", "email": "ann@example.com"}]},
            )
            assert r.status_code == 202
            assert await asyncio.to_thread(receiver.arrived.wait, 30)
    [request] = receiver.at("/activity")
    assert request.json["type"] == "activity.email_opened"
    assert verify_standard_webhook(endpoint["secret"], request.headers, request.body)


async def test_deliveries_to_private_addresses_are_refused_by_default(
    app: Any,
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    receiver: Receiver,
) -> None:
    # Created while allowed (as if its DNS name pointed outside then); sent while refused.
    endpoint = await create_endpoint(client, tenant, url=receiver.url("/internal"))
    await emit(app, db, tenant, "crm.lead.created")
    strict = settings.model_copy(update={"webhook_allow_private_targets": False})
    await WebhookSender(db, strict).deliver_due()
    assert receiver.at("/internal") == []
    [attempt] = await attempts(client, tenant, endpoint["id"])
    assert attempt["status"] == "failed"
    assert attempt["error"] == "refused: 127.0.0.1 is a loopback address"
