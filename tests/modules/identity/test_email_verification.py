"""A workspace's owner proves their address by following a signed, expiring, single-use
link; until then the workspace's email stays in the sandbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx

from bizos.core.db import Database
from bizos.modules.outreach.delivery import deliver_due_messages
from tests.connectors.servers import smtp_server
from tests.modules.identity.helpers import assert_problem
from tests.modules.identity.workspaces import (
    LINK,
    NewWorkspace,
    follow,
    sign_up,
    verification_tokens,
)

Travel = Callable[[dt.timedelta], None]


async def me(client: httpx.AsyncClient, ws: NewWorkspace) -> dict[str, Any]:
    r = await client.get("/api/v1/me", headers=ws.headers)
    assert r.status_code == 200, r.text
    user: dict[str, Any] = r.json()["user"]
    return user


async def test_signup_returns_tokens_but_leaves_the_address_unverified(
    client: httpx.AsyncClient,
) -> None:
    ws = await sign_up(client)
    user = await me(client, ws)
    assert user["email_verified_at"] is None


async def test_signup_emails_the_link_through_the_workspace_channel(
    client: httpx.AsyncClient,
) -> None:
    ws = await sign_up(client)
    r = await client.get("/api/v1/messages", params={"to": ws.email}, headers=ws.headers)
    [message] = r.json()["items"]
    assert message["channel"] == "email"
    assert LINK.search(message["body"])
    assert "did not sign up" in message["body"]


async def test_following_the_link_verifies_the_address(client: httpx.AsyncClient) -> None:
    ws = await sign_up(client)
    [token] = await verification_tokens(client, ws)
    r = await follow(client, token)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == ws.email
    assert r.json()["tenant"]["slug"] == ws.slug
    assert (await me(client, ws))["email_verified_at"] is not None


async def test_a_link_works_once(client: httpx.AsyncClient) -> None:
    ws = await sign_up(client)
    [token] = await verification_tokens(client, ws)
    assert (await follow(client, token)).status_code == 200
    assert_problem(await follow(client, token), 409)


async def test_a_link_expires(client: httpx.AsyncClient, travel: Travel) -> None:
    ws = await sign_up(client)
    [token] = await verification_tokens(client, ws)
    travel(dt.timedelta(days=3, seconds=1))
    assert_problem(await follow(client, token), 410)
    travel(dt.timedelta(0))
    assert (await me(client, ws))["email_verified_at"] is None


async def test_a_tampered_link_verifies_nothing(client: httpx.AsyncClient) -> None:
    ws = await sign_up(client)
    other = await sign_up(client)
    [token] = await verification_tokens(client, ws)
    [other_token] = await verification_tokens(client, other)
    user_id, expires, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    later = str(int(expires) + 86400)
    forged = [
        f"{user_id}.{expires}.{flipped}",
        f"{user_id}.{later}.{signature}",
        f"{other_token.split('.')[0]}.{expires}.{signature}",
        "not-a-token",
        f"{user_id}.\u00b2.{signature}",  # a digit to Unicode, not to int()
        "",
    ]
    for bad in forged:
        assert_problem(await follow(client, bad), 400 if bad else 422)
    assert (await me(client, ws))["email_verified_at"] is None
    assert (await me(client, other))["email_verified_at"] is None


async def test_the_owner_can_ask_for_a_new_link(client: httpx.AsyncClient, travel: Travel) -> None:
    ws = await sign_up(client)
    r = await client.post("/api/v1/auth/verify-email/resend", headers=ws.headers)
    assert_problem(r, 429)  # the first link went out a moment ago
    assert int(r.headers["Retry-After"]) > 0
    travel(dt.timedelta(minutes=2))
    r = await client.post("/api/v1/auth/verify-email/resend", headers=ws.headers)
    assert r.status_code == 202, r.text
    assert r.json() == {"sent_to": ws.email}
    first, second = await verification_tokens(client, ws)
    assert first != second
    assert (await follow(client, second)).status_code == 200
    r = await client.post("/api/v1/auth/verify-email/resend", headers=ws.headers)
    assert_problem(r, 409)


async def test_an_unverified_workspace_records_email_but_sends_none(
    client: httpx.AsyncClient, db: Database
) -> None:
    ws = await sign_up(client, email="owner@northwind.example")
    async with smtp_server() as server:
        r = await client.put(
            "/api/v1/connectors/smtp",
            headers=ws.headers,
            json={
                "config": {
                    "host": server.host,
                    "port": server.port,
                    "from_address": "owner@northwind.example",
                    "starttls": False,
                }
            },
        )
        assert r.status_code == 200, r.text
        outbound = {"channel": "email", "to": "anyone@world.example", "subject": "Hi", "body": "x"}
        held = (await client.post("/api/v1/messages", json=outbound, headers=ws.headers)).json()
        await deliver_due_messages(db)
        assert server.received == []
        r = await client.get(f"/api/v1/messages/{held['id']}", headers=ws.headers)
        assert (r.json()["status"], r.json()["provider"]) == ("sandboxed", "sandbox")

        [token] = await verification_tokens(client, ws)
        assert (await follow(client, token)).status_code == 200
        sent = (await client.post("/api/v1/messages", json=outbound, headers=ws.headers)).json()
        await deliver_due_messages(db)
        [mail] = server.received
    assert mail.rcpt_tos == ["anyone@world.example"]
    r = await client.get(f"/api/v1/messages/{sent['id']}", headers=ws.headers)
    assert (r.json()["status"], r.json()["provider"]) == ("sent", "smtp")
