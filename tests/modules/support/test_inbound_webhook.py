"""POST /webhooks/email/{tenant}: only a message signed with the workspace's inbound
secret is stored, byte for byte, once per Message-ID; everything else is refused and
stores nothing."""

from __future__ import annotations

import asyncio

import httpx

from bizos.core.config import Settings
from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.support.test_inbound_helpers import (
    build_email,
    configure_inbound,
    deliver,
    fixture,
    inbound_rows,
    process,
    sign,
    tickets_of,
)


async def test_a_signed_message_is_stored_raw_and_accepted(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    raw = fixture("plain_utf8.eml")
    r = await deliver(client, tenant.slug, raw)
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted"}
    [row] = await inbound_rows(db, tenant.tenant_id)
    assert row.body == raw and row.status == "received"
    assert row.external_id == "<CAF7h2+plain-0001@mail.example.com>"
    assert row.topic == "message/rfc822"


async def test_the_same_message_id_is_a_duplicate_stored_once(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    raw = fixture("plain_utf8.eml")
    # A relay that rewrote a header still delivers the same message.
    relayed = b"X-Relayed-By: mx2.example.net\r\n" + raw
    first = await deliver(client, tenant.slug, raw)
    again = await deliver(client, tenant.slug, relayed)
    assert first.json() == {"status": "accepted"}
    assert again.status_code == 202 and again.json() == {"status": "duplicate"}
    [row] = await inbound_rows(db, tenant.tenant_id)
    assert row.duplicates == 1 and row.body == raw


async def test_without_a_message_id_the_same_bytes_are_a_duplicate(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    raw = fixture("no_message_id.eml")
    assert (await deliver(client, tenant.slug, raw)).json() == {"status": "accepted"}
    assert (await deliver(client, tenant.slug, raw)).json() == {"status": "duplicate"}
    other = raw.replace(b"Sundays", b"Saturdays")
    assert (await deliver(client, tenant.slug, other)).json() == {"status": "accepted"}
    rows = await inbound_rows(db, tenant.tenant_id)
    assert len(rows) == 2 and all(r.external_id.startswith("sha256:") for r in rows)


async def test_bad_signatures_are_401_and_store_nothing(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    raw = fixture("plain_utf8.eml")
    tampered = raw.replace(b"#1042", b"#9999")
    assert tampered != raw
    digest = sign(raw).removeprefix("sha256=")
    attempts = [
        await deliver(client, tenant.slug, raw, secret="not-the-secret"),
        await deliver(client, tenant.slug, tampered, signature=sign(raw)),
        await deliver(client, tenant.slug, raw, signature=""),
        await deliver(client, tenant.slug, raw, signature=digest),  # no scheme
        await deliver(client, tenant.slug, raw, signature="sha1=" + digest),
        await deliver(client, tenant.slug, raw, signature="sha256=" + digest[:-2]),
        await deliver(client, tenant.slug, raw, signature="sha256=not hex at all"),
        await deliver(client, tenant.slug, raw, signed=False),
    ]
    for r in attempts:
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await inbound_rows(db, tenant.tenant_id) == []


async def test_the_signature_scheme_and_hex_case_do_not_matter(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    raw = fixture("plain_utf8.eml")
    upper = "SHA256=" + sign(raw).removeprefix("sha256=").upper()
    assert (await deliver(client, tenant.slug, raw, signature=upper)).status_code == 202


async def test_no_secret_and_unknown_workspace_get_the_same_401(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    raw = fixture("plain_utf8.eml")
    unconfigured = await deliver(client, tenant.slug, raw)
    unknown = await deliver(client, "no-such-workspace", raw)
    assert unconfigured.status_code == unknown.status_code == 401
    assert unconfigured.json() == {**unknown.json(), "instance": unconfigured.json()["instance"]}
    assert await inbound_rows(db, tenant.tenant_id) == []


async def test_another_workspaces_secret_does_not_open_this_one(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await configure_inbound(client, other_tenant)
    raw = fixture("plain_utf8.eml")
    assert (await deliver(client, tenant.slug, raw)).status_code == 401
    assert await inbound_rows(db, tenant.tenant_id) == []


async def test_a_signed_body_of_another_media_type_is_415_and_an_empty_one_422(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    raw = fixture("plain_utf8.eml")
    r = await deliver(client, tenant.slug, raw, content_type="application/json")
    assert r.status_code == 415 and r.json()["errors"][0]["loc"] == ["header", "content-type"]
    r = await deliver(client, tenant.slug, b"\r\n")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body"]
    assert await inbound_rows(db, tenant.tenant_id) == []


async def test_concurrent_deliveries_of_one_message_make_one_ticket(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    await configure_inbound(client, tenant)
    raw = build_email(message_id="<race-1@mail.example.com>")
    replies = await asyncio.gather(*(deliver(client, tenant.slug, raw) for _ in range(8)))
    assert all(r.status_code == 202 for r in replies)
    statuses = sorted(r.json()["status"] for r in replies)
    assert statuses == ["accepted"] + ["duplicate"] * 7
    [row] = await process(db, settings, tenant.tenant_id)
    assert row.status == "processed" and row.duplicates == 7
    [ticket] = await tickets_of(db, tenant.tenant_id)
    assert ticket.number == "T-000001"
