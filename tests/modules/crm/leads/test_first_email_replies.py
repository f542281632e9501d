"""The lead's first email asks for a reply, so a reply must reach someone: it names the
lead's owner in Reply-To (or comes from the owner, where the relay sends for the
owner's domain), and a reply that comes back through the inbound email path is filed
on the contact's timeline and told to the owner, not opened as a support ticket."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.crm.leads import first_outreach
from bizos.modules.crm.models import Contact, Lead
from bizos.modules.notifications.models import Notification
from tests.conftest import TenantLogin
from tests.modules.crm.leads.helpers import post_lead
from tests.modules.support.test_inbound_helpers import (
    build_email,
    configure_inbound,
    deliver,
    process,
    tickets_of,
)


async def _first_email(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, email: str
) -> dict[str, Any]:
    """A lead owned by the workspace owner, and the first email the flow queues for it."""
    lead = await post_lead(client, tenant, email=email, name="Ada Lovelace")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await session.execute(
            sa.update(Lead).where(Lead.id == lead["id"]).values(owner_id=tenant.user_id)
        )
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        outcome = await first_outreach.send_first_outreach(
            session, Context(tenant_id=tenant.tenant_id), lead["id"]
        )
    assert outcome.message_id is not None, outcome.skipped
    r = await client.get(f"/api/v1/messages/{outcome.message_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    message: dict[str, Any] = r.json()
    return {"lead": lead, "message": message}


async def test_the_first_email_names_its_owner_to_reply_to(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    sent = (await _first_email(client, db, tenant, "ada@contoso.com"))["message"]

    assert "reply to this email" in " ".join(sent["body"].split())  # the promise ...
    assert sent["reply_to"] == tenant.email  # ... goes to the person who made it
    headers = sent["headers"]
    assert headers["Reply-To"] == tenant.email
    assert headers["From"] == f"Olive <{sent['from']}>"
    assert headers["To"] == "ada@contoso.com"
    assert headers["Message-ID"] == sent["message_id"]


async def _smtp(client: httpx.AsyncClient, tenant: TenantLogin, from_address: str) -> None:
    r = await client.put(
        "/api/v1/connectors/smtp",
        json={
            "config": {"host": "smtp.example.net", "port": 587, "from_address": from_address},
            "secrets": {"password": "relay-password"},
        },
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text


async def test_the_first_email_comes_from_the_owner_where_the_relay_sends_for_their_domain(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    domain = tenant.email.partition("@")[2]
    await _smtp(client, tenant, f"hello@{domain}")
    sent = (await _first_email(client, db, tenant, "ada@contoso.com"))["message"]
    assert sent["from"] == tenant.email
    assert sent["reply_to"] == tenant.email


async def test_the_first_email_from_another_domains_relay_answers_to_the_owner(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await _smtp(client, tenant, "mailer@relay-elsewhere.example")
    sent = (await _first_email(client, db, tenant, "ada@contoso.com"))["message"]
    assert sent["from"] == "mailer@relay-elsewhere.example"
    assert sent["headers"]["From"] == "Olive <mailer@relay-elsewhere.example>"
    assert sent["reply_to"] == tenant.email


async def _timeline(
    client: httpx.AsyncClient, tenant: TenantLogin, contact_id: str
) -> list[dict[str, Any]]:
    r = await client.get(
        f"/api/v1/crm/contacts/{contact_id}/timeline",
        headers=tenant.headers,
        params={"limit": 200},
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_reply_to_the_first_email_lands_on_the_contacts_timeline_not_in_support(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, settings: Settings
) -> None:
    await configure_inbound(client, tenant)
    first = await _first_email(client, db, tenant, "ada@contoso.com")
    sent, lead = first["message"], first["lead"]

    reply = build_email(
        sender="Ada Lovelace <ada@contoso.com>",
        to=tenant.email,
        subject=f"Re: {sent['subject']}",
        body="Yes please: we need about 20 kg a week. Could you call me on Tuesday?\n\n"
        "On Monday, Olive wrote:\n> thank you for reaching out.",
        in_reply_to=sent["message_id"],
        references=[sent["message_id"]],
    )
    r = await deliver(client, tenant.slug, reply)
    assert r.status_code == 202, r.text
    [inbound] = await process(db, settings, tenant.tenant_id)

    assert inbound.status == "processed", inbound.error
    assert await tickets_of(db, tenant.tenant_id) == []
    entries = await _timeline(client, tenant, lead["contact_id"])
    [filed] = [e for e in entries if e["kind"] == "message.email.inbound"]
    assert filed["title"] == f"Email from Ada Lovelace: Re: {sent['subject']}"
    assert filed["summary"].startswith("Yes please: we need about 20 kg a week.")
    assert "thank you for reaching out" not in filed["summary"]  # the quote is cut off
    assert filed["data"]["lead_id"] == lead["id"]
    assert filed["data"]["in_reply_to"] == sent["id"]
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        contact = await session.get(Contact, lead["contact_id"])
        notes = list(
            await session.scalars(
                sa.select(Notification).where(Notification.kind == "lead.replied")
            )
        )
    assert contact is not None and contact.last_replied_at is not None
    [note] = notes
    assert note.user_id == tenant.user_id and note.related_id == lead["id"]
    assert "Ada Lovelace replied" in note.title


async def test_an_out_of_office_answer_to_the_first_email_is_not_a_reply(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, settings: Settings
) -> None:
    await configure_inbound(client, tenant)
    first = await _first_email(client, db, tenant, "ada@contoso.com")
    sent = first["message"]
    auto = build_email(
        sender="ada@contoso.com",
        to=tenant.email,
        subject=f"Automatic reply: {sent['subject']}",
        body="I am out of the office until Monday.",
        in_reply_to=sent["message_id"],
        headers={"Auto-Submitted": "auto-replied"},
    )
    assert (await deliver(client, tenant.slug, auto)).status_code == 202
    [inbound] = await process(db, settings, tenant.tenant_id)

    assert inbound.status == "ignored"
    assert await tickets_of(db, tenant.tenant_id) == []
    entries = await _timeline(client, tenant, first["lead"]["contact_id"])
    assert not [e for e in entries if e["kind"] == "message.email.inbound"]
