"""The outbound message log as users see it: queue, deliver after commit, list."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database, utcnow
from bizos.core.events import Event
from bizos.modules.outreach import service
from bizos.modules.outreach.delivery import MessageDelivery, deliver_due_messages
from bizos.modules.outreach.schemas import Related
from tests.conftest import TenantLogin
from tests.connectors.helpers import api_key_headers
from tests.connectors.servers import smtp_server, twilio_server

EMAIL = {
    "channel": "email",
    "to": "Ada@Customer.example",
    "subject": "Your order shipped",
    "body": "Hi Ada, it is on its way.",
    "related": {"type": "order", "id": "ord_1042"},
}


async def _send(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await client.post("/api/v1/messages", json=body, headers=headers)


async def _message(
    client: httpx.AsyncClient, tenant: TenantLogin, message_id: str
) -> dict[str, Any]:
    r = await client.get(f"/api/v1/messages/{message_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _events(db: Database, aggregate_id: str) -> list[Event]:
    async with db.unit_of_work(system=True, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event).where(Event.aggregate_id == aggregate_id).order_by(Event.position)
        )
        return list(rows)


async def _configure(
    client: httpx.AsyncClient, tenant: TenantLogin, provider: str, body: dict[str, Any]
) -> None:
    r = await client.put(f"/api/v1/connectors/{provider}", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_with_the_sandbox_an_email_is_recorded_and_ends_sandboxed(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await _send(client, tenant.headers, EMAIL)
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["status"] == "queued"
    assert queued["to"] == "ada@customer.example"
    assert queued["from"] == "no-reply@bizos.example"
    assert queued["message_id"] == f"<{queued['id']}@bizos.example>"

    assert await deliver_due_messages(db) == 1

    listed = (await client.get("/api/v1/messages", headers=tenant.headers)).json()
    [item] = listed["items"]
    assert listed["next_cursor"] is None
    assert item["id"] == queued["id"]
    assert item["channel"] == "email"
    assert item["to"] == "ada@customer.example"
    assert item["subject"] == "Your order shipped"
    assert item["body"] == "Hi Ada, it is on its way."
    assert item["status"] == "sandboxed"
    assert item["provider"] == "sandbox"
    assert item["related"] == {"type": "order", "id": "ord_1042"}
    assert item["created_at"].endswith(("+00:00", "Z"))
    assert item["attempts"] == 1

    types = [e.type for e in await _events(db, queued["id"])]
    assert types == ["outreach.message.queued", "outreach.message.sent"]
    assert await deliver_due_messages(db) == 0, "a delivered message is not sent again"


async def test_sent_event_continues_the_correlation_of_the_request(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/messages",
        json=EMAIL,
        headers={**tenant.headers, "X-Correlation-ID": "corr-outreach-1"},
    )
    await deliver_due_messages(db)
    queued, sent = await _events(db, r.json()["id"])
    assert queued.correlation_id == sent.correlation_id == "corr-outreach-1"
    assert sent.causation_id == queued.id
    assert sent.data["status"] == "sandboxed"
    assert sent.data["related"] == {"type": "order", "id": "ord_1042"}


async def test_a_message_queued_in_a_rolled_back_transaction_never_exists(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ctx = Context(tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user")
    with pytest.raises(RuntimeError):
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            await service.send_email(
                session,
                ctx,
                to="ada@customer.example",
                subject="Hi",
                body="x",
                related=Related(type="ticket", id="t1"),
            )
            raise RuntimeError("the ticket reply failed")
    assert await deliver_due_messages(db) == 0
    listed = await client.get("/api/v1/messages", headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_email_goes_out_through_the_tenants_smtp_server(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    async with smtp_server() as server:
        await _configure(
            client,
            tenant,
            "smtp",
            {
                "config": {
                    "host": server.host,
                    "port": server.port,
                    "from_address": "hello@acme.example",
                    "from_name": "Acme",
                    "starttls": False,
                }
            },
        )
        reply = {
            **EMAIL,
            "in_reply_to": "<q1@customer.example>",
            "references": ["<q1@customer.example>"],
        }
        queued = (await _send(client, tenant.headers, reply)).json()
        assert queued["from"] == "hello@acme.example"
        await deliver_due_messages(db)
        [mail] = server.received

    assert mail.rcpt_tos == ["ada@customer.example"]
    assert mail.mail_from == "hello@acme.example"
    assert mail.message["Message-ID"] == queued["message_id"] == f"<{queued['id']}@acme.example>"
    assert mail.message["In-Reply-To"] == "<q1@customer.example>"
    assert mail.message["Subject"] == "Your order shipped"
    assert mail.message.get_content().strip() == "Hi Ada, it is on its way."
    sent = await _message(client, tenant, queued["id"])
    assert (sent["status"], sent["provider"], sent["provider_message_id"]) == (
        "sent",
        "smtp",
        queued["message_id"],
    )
    assert sent["sent_at"] is not None


async def test_a_refused_recipient_fails_the_message_with_its_reason(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    async with smtp_server() as server:
        server.refuse["ada@customer.example"] = "550 5.1.1 no such user"
        await _configure(
            client,
            tenant,
            "smtp",
            {
                "config": {
                    "host": server.host,
                    "port": server.port,
                    "from_address": "hello@acme.example",
                }
            },
        )
        queued = (await _send(client, tenant.headers, EMAIL)).json()
        await deliver_due_messages(db)

    failed = await _message(client, tenant, queued["id"])
    assert failed["status"] == "failed"
    assert failed["provider"] == "smtp"
    assert "550" in failed["error"]
    events = await _events(db, queued["id"])
    assert events[-1].type == "outreach.message.failed"
    assert events[-1].data["retryable"] is False


async def test_an_unreachable_server_is_retried_later_then_delivered(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await _configure(
        client,
        tenant,
        "smtp",
        {
            "config": {
                "host": "127.0.0.1",
                "port": _closed_port(),
                "from_address": "hello@acme.example",
            }
        },
    )
    queued = (await _send(client, tenant.headers, EMAIL)).json()
    await deliver_due_messages(db)
    waiting = await _message(client, tenant, queued["id"])
    assert waiting["status"] == "queued"
    assert waiting["attempts"] == 1
    assert "unreachable" in waiting["error"]
    assert await deliver_due_messages(db) == 0, "not due before its backoff ends"

    async with smtp_server() as server:
        await _configure(
            client,
            tenant,
            "smtp",
            {
                "config": {
                    "host": server.host,
                    "port": server.port,
                    "from_address": "hello@acme.example",
                }
            },
        )
        later = utcnow() + dt.timedelta(hours=2)
        assert await deliver_due_messages(db, now=later) == 1
        assert len(server.received) == 1
    done = await _message(client, tenant, queued["id"])
    assert (done["status"], done["attempts"], done["error"]) == ("sent", 2, None)


async def test_retries_stop_after_the_last_attempt(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await _configure(
        client,
        tenant,
        "smtp",
        {
            "config": {
                "host": "127.0.0.1",
                "port": _closed_port(),
                "from_address": "hello@acme.example",
            }
        },
    )
    queued = (await _send(client, tenant.headers, EMAIL)).json()
    when = utcnow()
    for _ in range(service.MAX_ATTEMPTS):
        await deliver_due_messages(db, now=when)
        when += dt.timedelta(days=1)
    failed = await _message(client, tenant, queued["id"])
    assert (failed["status"], failed["attempts"]) == ("failed", service.MAX_ATTEMPTS)
    assert (await _events(db, queued["id"]))[-1].type == "outreach.message.failed"


async def test_an_attempt_that_died_mid_send_is_taken_up_after_its_lease(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    queued = (await _send(client, tenant.headers, EMAIL)).json()
    ctx = Context(tenant_id=tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        claim = await service.claim_delivery(session, ctx, message_id=queued["id"])
    assert claim is not None  # ... and the process dies before sending or recording

    assert await deliver_due_messages(db) == 0, "the lease still holds"
    after_lease = utcnow() + service.DELIVERY_LEASE + dt.timedelta(seconds=1)
    assert await deliver_due_messages(db, now=after_lease) == 1
    done = await _message(client, tenant, queued["id"])
    assert (done["status"], done["attempts"]) == ("sandboxed", 2)


async def test_two_workers_racing_for_one_message_send_it_once(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    queued = (await _send(client, tenant.headers, EMAIL)).json()
    first, second = await asyncio.gather(deliver_due_messages(db), deliver_due_messages(db))
    assert first + second == 1
    assert len(await _events(db, queued["id"])) == 2


async def test_sms_goes_out_through_twilio_when_configured(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    with twilio_server() as server:
        await _configure(
            client,
            tenant,
            "twilio",
            {
                "config": {
                    "account_sid": server.account_sid,
                    "from_number": "+15550009999",
                    "base_url": server.base_url,
                },
                "secrets": {"auth_token": server.auth_token},
            },
        )
        r = await _send(
            client,
            tenant.headers,
            {"channel": "sms", "to": "+15551230001", "body": "Your parcel arrives today"},
        )
        assert r.status_code == 202, r.text
        await deliver_due_messages(db)
        [request] = server.requests
    assert request["form"] == {
        "To": "+15551230001",
        "From": "+15550009999",
        "Body": "Your parcel arrives today",
    }
    sent = await _message(client, tenant, r.json()["id"])
    assert (sent["status"], sent["provider"]) == ("sent", "twilio")
    assert sent["provider_message_id"].startswith("SM")
    assert sent["subject"] is None


async def test_sms_without_twilio_is_sandboxed(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await _send(
        client, tenant.headers, {"channel": "sms", "to": "+15551230001", "body": "hello"}
    )
    await deliver_due_messages(db)
    assert (await _message(client, tenant, r.json()["id"]))["status"] == "sandboxed"


async def test_messages_are_filtered_by_channel_and_recipient_and_paged(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    for to in ("a@x.example", "b@x.example", "a@x.example"):
        await _send(client, tenant.headers, {**EMAIL, "to": to})
    await _send(client, tenant.headers, {"channel": "sms", "to": "+15551230001", "body": "hi"})
    await deliver_due_messages(db)

    def ids(r: httpx.Response) -> list[str]:
        return [m["to"] for m in r.json()["items"]]

    h = tenant.headers
    assert ids(await client.get("/api/v1/messages?channel=sms", headers=h)) == ["+15551230001"]
    assert ids(await client.get("/api/v1/messages?to=A@x.example", headers=h)) == [
        "a@x.example",
        "a@x.example",
    ]
    assert ids(await client.get("/api/v1/messages?channel=email&to=b@x.example", headers=h)) == [
        "b@x.example"
    ]
    assert ids(await client.get("/api/v1/messages?status=queued", headers=h)) == []
    related = await client.get("/api/v1/messages?related_type=order&related_id=ord_1042", headers=h)
    assert len(related.json()["items"]) == 3

    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/messages", params=params, headers=h)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 4
    assert seen == sorted(seen, reverse=True), "newest first"


async def test_another_tenants_messages_are_invisible(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    mine = (await _send(client, tenant.headers, EMAIL)).json()
    await _send(client, other_tenant.headers, {**EMAIL, "to": "theirs@x.example"})
    await deliver_due_messages(db)

    theirs = await client.get("/api/v1/messages", headers=other_tenant.headers)
    assert [m["to"] for m in theirs.json()["items"]] == ["theirs@x.example"]
    filtered = await client.get(
        "/api/v1/messages?to=ada@customer.example", headers=other_tenant.headers
    )
    assert filtered.json()["items"] == []
    missing = await client.get(f"/api/v1/messages/{mine['id']}", headers=other_tenant.headers)
    assert missing.status_code == 404


async def test_reading_needs_crm_or_support_read_and_sending_needs_a_write_scope(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    support = await api_key_headers(client, tenant, ["support:read", "support:write"])
    crm_reader = await api_key_headers(client, tenant, ["crm:read"])
    outsider = await api_key_headers(client, tenant, ["kb:read", "billing:write"])

    assert (await client.get("/api/v1/messages", headers=support)).status_code == 200
    assert (await client.get("/api/v1/messages", headers=crm_reader)).status_code == 200
    denied = await client.get("/api/v1/messages", headers=outsider)
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/messages")).status_code == 401

    assert (await _send(client, support, EMAIL)).status_code == 202
    assert (await _send(client, crm_reader, EMAIL)).status_code == 403
    assert (await _send(client, outsider, EMAIL)).status_code == 403


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({k: v for k, v in EMAIL.items() if k != "subject"}, ["body", "email", "subject"]),
        ({**EMAIL, "to": "not-an-address"}, ["body", "email", "to"]),
        ({**EMAIL, "subject": "Hi\r\nBcc: x@y.example"}, ["body", "email", "subject"]),
        ({"channel": "sms", "to": "555-1234", "body": "hi"}, ["body", "sms", "to"]),
        ({**EMAIL, "channel": "fax"}, ["body"]),
        ({**EMAIL, "related": {"type": "order"}}, ["body", "email", "related", "id"]),
    ],
    ids=[
        "no-subject",
        "bad-address",
        "header-injection",
        "bad-phone",
        "bad-channel",
        "half-related",
    ],
)
async def test_malformed_message_is_422_with_field_path(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, Any], loc: list[str]
) -> None:
    r = await _send(client, tenant.headers, body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["loc"][: len(loc)] == loc for e in r.json()["errors"]), r.json()


async def test_bad_cursor_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    r = await client.get("/api/v1/messages?cursor=%%%", headers=tenant.headers)
    assert r.status_code == 422


async def test_the_delivery_loop_sends_as_soon_as_the_queueing_commit_lands(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    # A poll interval far longer than the wait below: only the commit wake-up can explain
    # the delivery.
    loop = MessageDelivery(db, poll_interval=3600)
    await loop.start()
    try:
        await asyncio.sleep(0.1)  # let the first (empty) pass finish
        queued = (await _send(client, tenant.headers, EMAIL)).json()
        status = queued["status"]
        for _ in range(200):
            status = (await _message(client, tenant, queued["id"]))["status"]
            if status != "queued":
                break
            await asyncio.sleep(0.05)
    finally:
        await loop.stop()
    assert status == "sandboxed"
