"""Account emails (verification links, lockout warnings) go out through the operator's
platform mail when it is configured: the link reaches the mailbox it was sent to, and
the copy a workspace keeps in ``/api/v1/messages`` has it redacted, so holding a
workspace's tokens is no way to "verify" an address one does not own."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from bizos.core.config import get_settings
from bizos.core.db import Database
from bizos.modules.outreach.delivery import deliver_due_messages
from bizos.modules.outreach.models import Message
from tests.conftest import TenantLogin
from tests.connectors.servers import ReceivedMail, SmtpServer, smtp_server
from tests.modules.identity.helpers import assert_problem, login
from tests.modules.identity.workspaces import (
    LINK,
    client_from,
    follow,
    sign_up,
    verification_tokens,
)

Travel = Callable[[dt.timedelta], None]
PLATFORM_FROM = "accounts@platform.example"
NOTE = "sent by the platform mail; the link is only in the recipient's mailbox"


@pytest.fixture
async def mailbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SmtpServer]:
    """The operator's mail server, configured as the platform mail."""
    async with smtp_server() as server:
        settings = get_settings()
        url = SecretStr(f"smtp://{server.host}:{server.port}")
        monkeypatch.setattr(settings, "platform_smtp_url", url)
        monkeypatch.setattr(settings, "platform_mail_from", f"bizos accounts <{PLATFORM_FROM}>")
        yield server


def text_of(mail: ReceivedMail) -> str:
    body = mail.message.get_body(("plain",))
    assert body is not None
    content: str = body.get_content()
    return content


def mailed_tokens(server: SmtpServer, to: str) -> list[str]:
    """The tokens of the verification links that reached ``to``'s mailbox, in order."""
    texts = [text_of(mail) for mail in server.received if mail.rcpt_tos == [to]]
    return [m.group(1) for text in texts if (m := LINK.search(text))]


async def messages_to(client: httpx.AsyncClient, headers: dict[str, str], to: str) -> Any:
    r = await client.get("/api/v1/messages", params={"to": to}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_the_link_reaches_the_mailbox_and_the_workspace_keeps_a_redacted_copy(
    client: httpx.AsyncClient, db: Database, mailbox: SmtpServer
) -> None:
    ws = await sign_up(client)
    await deliver_due_messages(db)

    [mail] = mailbox.received
    assert (mail.mail_from, mail.rcpt_tos) == (PLATFORM_FROM, [ws.email])
    [token] = mailed_tokens(mailbox, ws.email)
    signature = token.rsplit(".", 1)[1]

    [copy] = await messages_to(client, ws.headers, ws.email)
    assert (copy["status"], copy["provider"]) == ("sent", "platform")
    assert copy["from"] == PLATFORM_FROM
    assert NOTE in copy["body"]
    assert "verify-email?token=[redacted]" in copy["body"]
    assert signature not in copy["body"]
    async with db.unit_of_work(system=True, readonly=True) as session:
        sealed = await session.scalar(
            sa.select(Message.body_ciphertext).where(Message.id == copy["id"])
        )
    assert sealed is None  # once sent, the link is kept nowhere but in the mailbox

    r = await follow(client, token)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == ws.email


async def test_a_squatter_cannot_read_the_link_sent_to_someone_elses_address(
    client: httpx.AsyncClient, db: Database, mailbox: SmtpServer
) -> None:
    squatter = await sign_up(client, email="owner@northwind.example")
    await deliver_due_messages(db)

    # No link the squatter's workspace shows verifies the address...
    for candidate in await verification_tokens(client, squatter):
        assert_problem(await follow(client, candidate), 400)
    r = await client.get("/api/v1/me", headers=squatter.headers)
    assert r.json()["user"]["email_verified_at"] is None

    # ...and the real one, in the real owner's mailbox, is nowhere in what it can read.
    [token] = mailed_tokens(mailbox, "owner@northwind.example")
    signature = token.rsplit(".", 1)[1]
    seen = []
    for path in ("/api/v1/messages", "/api/v1/audit", "/api/v1/events"):
        r = await client.get(path, headers=squatter.headers)
        assert r.status_code == 200, r.text
        seen.append(r.text)
        for item in r.json()["items"] if path == "/api/v1/messages" else []:
            one = await client.get(f"/api/v1/messages/{item['id']}", headers=squatter.headers)
            seen.append(one.text)
    assert signature not in "".join(seen)


async def test_a_new_link_goes_to_the_mailbox_too(
    client: httpx.AsyncClient, db: Database, mailbox: SmtpServer, travel: Travel
) -> None:
    ws = await sign_up(client)
    travel(dt.timedelta(minutes=2))
    r = await client.post("/api/v1/auth/verify-email/resend", headers=ws.headers)
    assert r.status_code == 202, r.text
    await deliver_due_messages(db)

    first, second = mailed_tokens(mailbox, ws.email)
    assert first != second
    copies = await messages_to(client, ws.headers, ws.email)
    assert len(copies) == 2
    assert all(NOTE in c["body"] and second not in c["body"] for c in copies)
    assert (await follow(client, second)).status_code == 200


async def test_platform_mail_carries_account_emails_only(
    client: httpx.AsyncClient, db: Database, mailbox: SmtpServer
) -> None:
    ws = await sign_up(client)
    outbound = {"channel": "email", "to": "anyone@world.example", "subject": "Hi", "body": "x"}
    r = await client.post("/api/v1/messages", json=outbound, headers=ws.headers)
    assert r.status_code in (201, 202), r.text
    await deliver_due_messages(db)

    assert [mail.rcpt_tos for mail in mailbox.received] == [[ws.email]]
    r = await client.get(f"/api/v1/messages/{r.json()['id']}", headers=ws.headers)
    assert (r.json()["status"], r.json()["provider"]) == ("sandboxed", "sandbox")


async def test_the_lockout_warning_reaches_the_mailbox(
    app: Any,
    client: httpx.AsyncClient,
    db: Database,
    tenant: TenantLogin,
    mailbox: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "login_account_max_failures", 3)
    for ip in ("198.51.100.1", "198.51.100.2"):
        async with client_from(app, ip) as stranger:
            for _ in range(2):
                await login(stranger, tenant.email, "guess")
    await deliver_due_messages(db)

    [mail] = mailbox.received
    assert (mail.mail_from, mail.rcpt_tos) == (PLATFORM_FROM, [tenant.email])
    assert "from new addresses" in text_of(mail)
    [copy] = await messages_to(client, tenant.headers, tenant.email)
    assert (copy["status"], copy["provider"]) == ("sent", "platform")
    assert "sent by the platform mail" in copy["body"]


async def test_a_broken_platform_mail_setting_is_a_clear_error_not_a_500(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "platform_smtp_url", SecretStr("http://mail.example"))
    r = await client.post(
        "/api/v1/auth/signup",
        json={
            "company_name": "Fresh Co",
            "email": "me@fresh.example",
            "password": "a fine password",
            "name": "Me",
        },
    )
    assert_problem(r, 503)
