"""Support mail as a test sees it: a configured inbound secret, signed deliveries, the
dispatcher filing them, and readers for what was stored. (Helpers only: no tests here.)"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.db import Database, utcnow
from bizos.core.dispatcher import Dispatcher
from bizos.core.events import Event
from bizos.modules.support.inbound import handlers as inbound_handlers
from bizos.modules.support.tickets.models import Ticket, TicketAttachment, TicketMessage
from bizos.modules.webhooks.models import InboundWebhook
from bizos.modules.work.models import Task
from tests.conftest import TenantLogin

FIXTURES = Path(__file__).parents[2] / "fixtures" / "email"
SECRET = "whsec_support_7c1e9a2b4d6f8e0a"
TICKETS = "/api/v1/support/tickets"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def build_email(
    *,
    sender: str = "Maria Gonzalez <maria@example.com>",
    to: str = "support@acme.example",
    subject: str = "Where is my order?",
    body: str = "My order #1042 has not arrived yet. Could you check please?",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id or make_msgid(domain="mail.example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


async def configure_inbound(
    client: httpx.AsyncClient, tenant: TenantLogin, *, config: dict[str, Any] | None = None
) -> None:
    r = await client.put(
        "/api/v1/connectors/email",
        json={"config": config or {}, "secrets": {"webhook_secret": SECRET}},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text


async def deliver(
    client: httpx.AsyncClient,
    slug: str,
    raw: bytes,
    *,
    signature: str | None = None,
    secret: str = SECRET,
    content_type: str = "message/rfc822",
    signed: bool = True,
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if signed:
        headers["X-Bizos-Signature"] = signature if signature is not None else sign(raw, secret)
    return await client.post(f"/webhooks/email/{slug}", content=raw, headers=headers)


async def api_key(client: httpx.AsyncClient, tenant: TenantLogin, *scopes: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/api-keys", json={"name": "k", "scopes": list(scopes)}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def inbound_rows(db: Database, tenant_id: str) -> list[InboundWebhook]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(
            sa.select(InboundWebhook)
            .where(InboundWebhook.provider == "email")
            .order_by(InboundWebhook.received_at, InboundWebhook.id)
        )
        return list(rows)


async def dispatch_until(
    db: Database, settings: Settings, done: Callable[[], Awaitable[bool]]
) -> None:
    """Run the inbound mail subscriber until ``done`` holds (bounded polling: on
    PostgreSQL an event is read once no older transaction is open)."""
    dispatcher = Dispatcher(db, settings)
    inbound_handlers.register(dispatcher)
    for _ in range(300):
        await dispatcher.run_once()
        if await done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the dispatcher never got there")


async def process(db: Database, settings: Settings, tenant_id: str) -> list[InboundWebhook]:
    """File every stored message of the tenant; the inbound rows afterwards."""

    async def finished() -> bool:
        return all(r.status != "received" for r in await inbound_rows(db, tenant_id))

    await dispatch_until(db, settings, finished)
    return await inbound_rows(db, tenant_id)


async def tickets_of(db: Database, tenant_id: str) -> list[Ticket]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        return list(await s.scalars(sa.select(Ticket).order_by(Ticket.number)))


async def messages_of(db: Database, tenant_id: str, ticket_id: str) -> list[TicketMessage]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(
            sa.select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket_id)
            .order_by(TicketMessage.created_at, TicketMessage.id)
        )
        return list(rows)


async def attachments_of(db: Database, tenant_id: str) -> list[TicketAttachment]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(sa.select(TicketAttachment).order_by(TicketAttachment.filename))
        return list(rows)


async def events_of(db: Database, tenant_id: str, type_: str) -> list[Event]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        rows = await s.scalars(sa.select(Event).where(Event.type == type_).order_by(Event.sequence))
        return list(rows)


async def tasks_about(db: Database, tenant_id: str, related_id: str) -> list[Task]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        return list(await s.scalars(sa.select(Task).where(Task.related_id == related_id)))


async def add_outbound(
    db: Database, tenant_id: str, ticket_id: str, header_message_id: str
) -> None:
    """An agent's reply as the replies flow stores it (our Message-ID on the row)."""
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        s.add(
            TicketMessage(
                tenant_id=tenant_id,
                ticket_id=ticket_id,
                direction="outbound",
                from_address="support@acme.example",
                to_addresses=["maria@example.com"],
                subject="Re: Where is my order?",
                body="It ships tomorrow.",
                header_message_id=header_message_id,
                references=[],
            )
        )
        await s.execute(
            sa.update(Ticket)
            .where(Ticket.id == ticket_id)
            .values(status="pending", version=Ticket.version + 1)
        )
