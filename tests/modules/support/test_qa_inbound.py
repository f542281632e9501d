"""Regressions found by testing the support desk from outside (QA on issue 5): raw 8-bit
sender names, names given as comments, a reply's subject re-read as news, a priority
raised by triage without a new version, angry emoji, and the webhook's OpenAPI entry."""

from __future__ import annotations

import httpx

from bizos.ai.extract.classify import classify
from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.modules.support.inbound.mime import parse_message
from bizos.modules.support.sla.triage import thread_subject
from tests.conftest import TenantLogin
from tests.modules.support.test_inbound_helpers import (
    TICKETS,
    build_email,
    configure_inbound,
    deliver,
    events_of,
    process,
    tickets_of,
)


def test_raw_utf8_and_latin1_names_in_address_headers_are_decoded() -> None:
    raw = "From: Jürgen Groß <j@x.de>\r\nTo: Séverine <s@x.fr>, b@c.com\r\n\r\nHallo\r\n"
    m = parse_message(raw.encode("utf-8"))
    assert m.sender is not None and m.sender.name == "Jürgen Groß"
    assert [(a.email, a.name) for a in m.to] == [("s@x.fr", "Séverine"), ("b@c.com", None)]
    latin = parse_message("From: Zoë <zoe@x.de>\r\n\r\nx\r\n".encode("latin-1"))
    assert latin.sender is not None and latin.sender.name == "Zoë"


def test_a_name_given_as_a_comment_is_kept() -> None:
    m = parse_message(b"From: ann@b.com (Ann Smith)\r\n\r\nx\r\n")
    assert m.sender is not None and (m.sender.email, m.sender.name) == ("ann@b.com", "Ann Smith")
    encoded = parse_message(b"From: f@x.com (=?utf-8?q?Fran=C3=A7ois?=)\r\n\r\nx\r\n")
    assert encoded.sender is not None and encoded.sender.name == "François"
    quoted = parse_message(b'From: "Smith, Ann" <a@x.com>\r\n\r\nx\r\n')
    assert quoted.sender is not None and quoted.sender.name == "Smith, Ann"


def test_thread_subject_drops_reply_prefixes_and_ticket_numbers() -> None:
    assert thread_subject("Re: AW: Fwd: [T-000012] URGENT:  site down") == "urgent: site down"
    assert thread_subject("RE[2]: Order") == thread_subject("order")
    assert thread_subject("Order problem") != thread_subject("Refund")


def test_angry_and_happy_emoji_count() -> None:
    angry = classify("Problème avec ma commande 😡")
    assert angry.sentiment == "negative" and angry.sentiment_score <= -0.5
    assert classify("ok thanks 👍").sentiment == "positive"
    assert classify("ok").sentiment == "neutral"


async def test_a_thank_you_under_an_urgent_subject_does_not_raise_priority_again(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    first = build_email(
        subject="URGENT: site down", body="Our shop is down.", message_id="<u1@c.example>"
    )
    assert (await deliver(client, tenant.slug, first)).status_code == 202
    await process(db, settings, tenant.tenant_id)
    [ticket] = await tickets_of(db, tenant.tenant_id)
    assert ticket.priority == "high"
    thanks = build_email(
        subject="Re: URGENT: site down",
        body="Thanks, all fine now, it works again.",
        in_reply_to="<u1@c.example>",
    )
    assert (await deliver(client, tenant.slug, thanks)).status_code == 202
    await process(db, settings, tenant.tenant_id)
    [after] = await tickets_of(db, tenant.tenant_id)
    assert after.priority == "high" and after.version == ticket.version


async def test_a_priority_raised_by_a_reply_makes_an_older_if_match_stale(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    raw = build_email(subject="Question", body="How do I export?", message_id="<v1@c.example>")
    await deliver(client, tenant.slug, raw)
    await process(db, settings, tenant.tenant_id)
    [ticket] = await tickets_of(db, tenant.tenant_id)
    assert ticket.priority == "normal"
    angry = build_email(
        subject="Re: Question",
        body="This is unacceptable, a waste of my time. Fix it immediately!",
        in_reply_to="<v1@c.example>",
    )
    await deliver(client, tenant.slug, angry)
    await process(db, settings, tenant.tenant_id)
    [after] = await tickets_of(db, tenant.tenant_id)
    assert after.status == "new" and after.priority in ("high", "urgent")
    assert after.version == ticket.version + 1
    r = await client.patch(
        f"{TICKETS}/{ticket.id}",
        json={"priority": "low"},
        headers={**tenant.headers, "If-Match": str(ticket.version)},
    )
    assert r.status_code == 409, r.text
    [triaged] = [
        e
        for e in await events_of(db, tenant.tenant_id, "support.ticket.triaged")
        if e.data["priority"] != e.data["priority_before"]
    ]
    assert triaged.data["priority_before"] == "normal"


async def test_the_email_webhook_documents_its_raw_body_signature_and_problems(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    op = spec["paths"]["/webhooks/email/{tenant_slug}"]["post"]
    assert "message/rfc822" in op["requestBody"]["content"]
    assert {"401", "415", "422"} <= set(op["responses"])
    assert "application/problem+json" in op["responses"]["415"]["content"]
    headers = {p["name"].lower() for p in op["parameters"] if p["in"] == "header"}
    assert "x-bizos-signature" in headers
    accepted = op["responses"]["202"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][accepted.rsplit("/", 1)[-1]]
    assert schema["properties"]["status"]["enum"] == ["accepted", "duplicate"]


async def test_ticket_messages_have_a_plain_schema_name_with_from(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    message = schemas["TicketMessageRead"]
    assert "from" in message["properties"] and "from_" not in message["properties"]
    assert not any(name.startswith("bizos__modules__support") for name in schemas)


async def test_a_form_relay_files_the_ticket_under_the_customer_named_in_reply_to(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    relayed = build_email(
        sender="Website form <no-reply@forms.example>",
        subject="Contact form: broken grinder",
        body="My grinder stopped working after a week.",
        headers={"Reply-To": "Lena Fischer <lena@customer.example>"},
    )
    assert (await deliver(client, tenant.slug, relayed)).status_code == 202
    await process(db, settings, tenant.tenant_id)
    [ticket] = await tickets_of(db, tenant.tenant_id)
    assert ticket.customer_email == "lena@customer.example"
    contact = await client.get(f"/api/v1/crm/contacts/{ticket.contact_id}", headers=tenant.headers)
    assert contact.json()["email"] == "lena@customer.example"
    # The answer goes to the customer, never to the relay's no-reply address.
    r = await client.post(
        f"{TICKETS}/{ticket.id}/replies",
        json={"body": "Sorry about that. We will send a prepaid label for the repair."},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    sent = await client.get("/api/v1/messages?channel=email", headers=tenant.headers)
    assert [m["to"] for m in sent.json()["items"]] == ["lena@customer.example"]
