"""The built-in SMTP receiver, spoken to by a real SMTP client on a free port: a
recipient names the workspace, the message is stored like a webhook delivery and filed
the same way; anything it cannot file is refused at RCPT time."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiosmtplib
import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.modules.support.inbound.smtp import start_smtp_receiver, tenant_slug_for
from tests.conftest import TenantLogin
from tests.modules.support.test_inbound_helpers import (
    build_email,
    configure_inbound,
    deliver,
    inbound_rows,
    messages_of,
    process,
    tickets_of,
)

DOMAIN = "help.bizos.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def smtp_port(db: Database) -> AsyncIterator[int]:
    port = free_port()
    server = await start_smtp_receiver(host="127.0.0.1", port=port, domains=[DOMAIN])
    yield port
    server.close()
    await server.wait_closed()


async def send(port: int, raw: bytes, recipients: list[str]) -> tuple[dict[str, object], str]:
    result = await aiosmtplib.send(
        raw,
        sender="maria@example.com",
        recipients=recipients,
        hostname="127.0.0.1",
        port=port,
        start_tls=False,
        use_tls=False,
    )
    errors, response = result
    return dict(errors), response


@pytest.mark.parametrize(
    ("address", "slug"),
    [
        ("support+acme-ltd@anything.example", "acme-ltd"),
        ("<Support+Acme-Ltd@anything.example>", "acme-ltd"),
        (f"acme-ltd@{DOMAIN}", "acme-ltd"),
        (f"acme-ltd@{DOMAIN.upper()}.", "acme-ltd"),
        ("acme-ltd@other.example", None),
        ("support+@anything.example", None),
        ("not-an-address", None),
    ],
)
def test_recipients_name_a_workspace(address: str, slug: str | None) -> None:
    assert tenant_slug_for(address, [DOMAIN]) == slug


async def test_mail_over_smtp_becomes_a_ticket(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    smtp_port: int,
) -> None:
    raw = build_email(message_id="<smtp-1@mail.example.com>", body="Sent over SMTP.")
    errors, response = await send(smtp_port, raw, [f"support+{tenant.slug}@acme.example"])
    assert errors == {} and "accepted" in response.lower()

    [row] = await process(db, settings, tenant.tenant_id)
    assert row.status == "processed" and row.external_id == "<smtp-1@mail.example.com>"
    [ticket] = await tickets_of(db, tenant.tenant_id)
    [message] = await messages_of(db, tenant.tenant_id, ticket.id)
    assert message.body == "Sent over SMTP." and ticket.number == "T-000001"


async def test_the_same_message_by_smtp_and_webhook_is_filed_once(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    smtp_port: int,
) -> None:
    await configure_inbound(client, tenant)
    raw = build_email(message_id="<both@mail.example.com>")
    await send(smtp_port, raw, [f"{tenant.slug}@{DOMAIN}"])
    assert (await deliver(client, tenant.slug, raw)).json() == {"status": "duplicate"}
    await process(db, settings, tenant.tenant_id)
    assert len(await tickets_of(db, tenant.tenant_id)) == 1


async def test_one_message_to_two_workspaces_is_filed_in_each(
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    smtp_port: int,
) -> None:
    raw = build_email(message_id="<cc-both@mail.example.com>")
    errors, _ = await send(
        smtp_port,
        raw,
        [f"support+{tenant.slug}@x.example", f"support+{other_tenant.slug}@x.example"],
    )
    assert errors == {}
    await process(db, settings, tenant.tenant_id)
    await process(db, settings, other_tenant.tenant_id)
    assert len(await tickets_of(db, tenant.tenant_id)) == 1
    assert len(await tickets_of(db, other_tenant.tenant_id)) == 1


async def test_unknown_recipients_are_refused_and_nothing_is_stored(
    db: Database, tenant: TenantLogin, smtp_port: int
) -> None:
    raw = build_email()
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send(
            smtp_port,
            raw,
            ["support+no-such-workspace@x.example", f"{tenant.slug}@elsewhere.example"],
        )
    assert {r.code for r in refused.value.recipients} == {550}
    assert await inbound_rows(db, tenant.tenant_id) == []


async def test_a_known_recipient_is_accepted_beside_an_unknown_one(
    db: Database, tenant: TenantLogin, smtp_port: int
) -> None:
    errors, _ = await send(
        smtp_port, build_email(), [f"support+{tenant.slug}@x.example", "nobody@x.example"]
    )
    assert list(errors) == ["nobody@x.example"]
    assert len(await inbound_rows(db, tenant.tenant_id)) == 1
