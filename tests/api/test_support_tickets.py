"""/api/v1/support/tickets: the queue, one ticket whole (messages, attachments, the
pending AI draft, the SLA), changes under If-Match, manual tickets, attachment
downloads — each workspace seeing only its own, each action behind its scope."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.db import Database, utcnow
from bizos.modules.support.drafts.models import AiDraft
from tests.conftest import TenantLogin
from tests.modules.support.test_inbound_helpers import (
    TICKETS,
    api_key,
    build_email,
    configure_inbound,
    deliver,
    events_of,
    fixture,
    process,
)


async def mail_ticket(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    raw: bytes | None = None,
) -> dict[str, Any]:
    """A ticket made the way customers make them: by email."""
    await configure_inbound(client, tenant)
    r = await deliver(client, tenant.slug, raw or build_email())
    assert r.status_code == 202, r.text
    await process(db, settings, tenant.tenant_id)
    r = await client.get(TICKETS, headers=tenant.headers)
    ticket: dict[str, Any] = r.json()["items"][0]
    return ticket


async def manual_ticket(
    client: httpx.AsyncClient, tenant: TenantLogin, **body: Any
) -> httpx.Response:
    payload = {"subject": "Phone call", "body": "Customer called about a refund.", **body}
    payload.setdefault("email", "caller@example.com")
    return await client.post(TICKETS, json=payload, headers=tenant.headers)


async def test_a_mailed_ticket_reads_whole(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    listed = await mail_ticket(client, db, settings, tenant, fixture("mixed_attachments.eml"))
    r = await client.get(f"{TICKETS}/{listed['id']}", headers=tenant.headers)
    assert r.status_code == 200
    assert r.headers["etag"] == f'W/"{r.json()["version"]}"'
    ticket = r.json()
    assert ticket == listed
    assert (ticket["number"], ticket["status"], ticket["channel"]) == ("T-000001", "new", "email")
    assert ticket["ai_draft"] is None
    assert set(ticket["sla"]) >= {"first_response_due_at", "resolution_due_at", "breached"}
    [message] = ticket["messages"]
    assert message["direction"] == "inbound" and message["from"] == "tom@example.org"
    assert message["to"] == ["support@acme.example"] and message["cc"] == ["jane@example.org"]
    assert message["body"] == "I'd like to return the grinder. Photo and receipt attached."
    assert len(message["attachments"]) == 4 and ticket["attachments"] == message["attachments"]


async def test_an_attachment_downloads_as_received_and_never_renders(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    ticket = await mail_ticket(client, db, settings, tenant, fixture("mixed_attachments.eml"))
    pdf = next(a for a in ticket["attachments"] if a["filename"].endswith(".pdf"))
    r = await client.get(pdf["url"], headers=tenant.headers)
    assert r.status_code == 200
    assert r.content.startswith(b"%PDF-1.4") and len(r.content) == pdf["size_bytes"]
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-type-options"] == "nosniff"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''re%C3%A7u%20%E2%84%9699.pdf" in disposition


async def test_another_workspace_gets_404_for_tickets_and_attachments(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
) -> None:
    ticket = await mail_ticket(client, db, settings, tenant, fixture("mixed_attachments.eml"))
    url = f"{TICKETS}/{ticket['id']}"
    attachment = ticket["attachments"][0]
    theirs = other_tenant.headers
    assert (await client.get(url, headers=theirs)).status_code == 404
    assert (await client.get(attachment["url"], headers=theirs)).status_code == 404
    patch = await client.patch(url, json={"status": "closed"}, headers=theirs)
    assert patch.status_code == 404
    assert (await client.get(TICKETS, headers=theirs)).json()["items"] == []
    # Their own ticket id with our attachment id is 404 too.
    other = (await manual_ticket(client, other_tenant)).json()
    mixed = f"{TICKETS}/{other['id']}/attachments/{attachment['id']}"
    assert (await client.get(mixed, headers=theirs)).status_code == 404
    r = await client.get(url, headers=tenant.headers)
    assert r.json()["status"] == "new"


async def test_reading_needs_support_read_and_changing_support_write(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    ticket = await mail_ticket(client, db, settings, tenant, fixture("mixed_attachments.eml"))
    url = f"{TICKETS}/{ticket['id']}"
    crm_only = await api_key(client, tenant, "crm:read")
    reader = await api_key(client, tenant, "support:read")
    for path in (TICKETS, url, ticket["attachments"][0]["url"]):
        assert (await client.get(path, headers=crm_only)).status_code == 403
        assert (await client.get(path, headers=reader)).status_code == 200
        assert (await client.get(path)).status_code == 401
    assert (await client.patch(url, json={"status": "open"}, headers=reader)).status_code == 403
    r = await client.post(
        TICKETS, json={"subject": "s", "body": "b", "email": "a@b.example"}, headers=reader
    )
    assert r.status_code == 403
    writer = await api_key(client, tenant, "support:read", "support:write")
    assert (await client.patch(url, json={"status": "open"}, headers=writer)).status_code == 200


async def test_patch_with_a_stale_if_match_is_409_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    ticket = await mail_ticket(client, db, settings, tenant)
    url = f"{TICKETS}/{ticket['id']}"
    version = ticket["version"]
    first = await client.patch(
        url,
        json={"status": "open", "tags": ["vip", "vip", "late"]},
        headers={**tenant.headers, "If-Match": f'W/"{version}"'},
    )
    assert first.status_code == 200, first.text
    assert first.json()["tags"] == ["vip", "late"] and first.json()["version"] == version + 1
    stale = await client.patch(
        url, json={"status": "closed"}, headers={**tenant.headers, "If-Match": str(version)}
    )
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(url, headers=tenant.headers)).json()["status"] == "open"
    bad = await client.patch(
        url, json={"status": "open"}, headers={**tenant.headers, "If-Match": "yesterday"}
    )
    assert bad.status_code == 422


async def test_concurrent_patches_with_the_same_version_let_one_win(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    ticket = await mail_ticket(client, db, settings, tenant)
    url = f"{TICKETS}/{ticket['id']}"
    headers = {**tenant.headers, "If-Match": str(ticket["version"])}
    replies = await asyncio.gather(
        *(client.patch(url, json={"priority": p}, headers=headers) for p in ("low", "urgent"))
    )
    assert sorted(r.status_code for r in replies) == [200, 409]
    winner = next(r for r in replies if r.status_code == 200).json()
    after = (await client.get(url, headers=tenant.headers)).json()
    assert after["priority"] == winner["priority"] and after["version"] == ticket["version"] + 1


async def test_resolving_stamps_resolved_at_and_records_events(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantLogin
) -> None:
    ticket = await mail_ticket(client, db, settings, tenant)
    url = f"{TICKETS}/{ticket['id']}"
    r = await client.patch(
        url, json={"status": "resolved", "assignee_id": tenant.user_id}, headers=tenant.headers
    )
    assert r.status_code == 200
    assert r.json()["resolved_at"] is not None and r.json()["assignee_id"] == tenant.user_id
    [updated] = await events_of(db, tenant.tenant_id, "support.ticket.updated")
    assert updated.data["changed"] == ["assignee_id", "status"]
    assert updated.data["previous"] == {"status": "new", "assignee_id": None}
    [resolved] = await events_of(db, tenant.tenant_id, "support.ticket.resolved")
    assert resolved.data["ticket_id"] == ticket["id"]
    # Sending the same values again changes nothing and records nothing.
    same = await client.patch(url, json={"status": "resolved"}, headers=tenant.headers)
    assert same.json()["version"] == r.json()["version"]
    assert len(await events_of(db, tenant.tenant_id, "support.ticket.updated")) == 1
    back = await client.patch(url, json={"status": "open"}, headers=tenant.headers)
    assert back.json()["resolved_at"] is None


async def test_a_priority_change_recomputes_the_sla(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bizos.modules.support.sla.triage import TICKET_RULES

    ticket = await mail_ticket(client, db, settings, tenant)
    seen: list[str] = []

    async def apply_sla(session: Any, ctx: Any, row: Any, now: dt.datetime) -> None:
        seen.append(row.priority)
        row.first_response_due_at = now + dt.timedelta(hours=1)

    monkeypatch.setattr(TICKET_RULES, "apply_sla", apply_sla)
    r = await client.patch(
        f"{TICKETS}/{ticket['id']}", json={"priority": "urgent"}, headers=tenant.headers
    )
    assert seen == ["urgent"] and r.json()["sla"]["first_response_due_at"] is not None
    await client.patch(f"{TICKETS}/{ticket['id']}", json={"tags": ["x"]}, headers=tenant.headers)
    assert seen == ["urgent"]  # no priority change, no recompute


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"status": "archived"}, ["body", "status"]),
        ({"priority": None}, ["body", "priority"]),
        ({"tags": None}, ["body", "tags"]),
        ({"assignee_id": "01900000-0000-7000-8000-000000000000"}, ["body", "assignee_id"]),
        ({"owner": "me"}, ["body", "owner"]),
    ],
)
async def test_bad_changes_are_422_with_the_field(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: TenantLogin,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    ticket = await mail_ticket(client, db, settings, tenant)
    r = await client.patch(f"{TICKETS}/{ticket['id']}", json=body, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["loc"] == loc


async def test_a_manual_ticket_is_numbered_and_announced(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await manual_ticket(client, tenant, priority="high", tags=["phone"], name="Carl Caller")
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert r.headers["location"] == f"{TICKETS}/{ticket['id']}"
    assert (ticket["number"], ticket["channel"], ticket["tags"]) == ("T-000001", "api", ["phone"])
    assert ticket["priority"] in ("high", "urgent")  # triage may raise, never lower
    [message] = ticket["messages"]
    assert message["from"] == "caller@example.com" and message["author_id"] == tenant.user_id
    contact = await client.get(
        f"/api/v1/crm/contacts/{ticket['contact_id']}", headers=tenant.headers
    )
    assert contact.json()["name"] == "Carl Caller"
    [created] = await events_of(db, tenant.tenant_id, "support.ticket.created")
    assert created.data["channel"] == "api" and created.data["message_id"] == message["id"]
    second = await manual_ticket(client, tenant, contact_id=ticket["contact_id"], email=None)
    assert second.status_code == 201 and second.json()["number"] == "T-000002"
    assert second.json()["customer_email"] == "caller@example.com"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"email": None}, ["body", "contact_id"]),
        ({"email": "not an email"}, ["body", "email"]),
        (
            {"email": None, "contact_id": "01900000-0000-7000-8000-000000000000"},
            ["body", "contact_id"],
        ),
        ({"subject": "  "}, ["body", "subject"]),
        ({"priority": "asap"}, ["body", "priority"]),
        ({"assignee_id": "01900000-0000-7000-8000-000000000000"}, ["body", "assignee_id"]),
    ],
)
async def test_a_malformed_manual_ticket_is_422_and_stores_nothing(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, Any], loc: list[str]
) -> None:
    r = await manual_ticket(client, tenant, **body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == loc
    assert (await client.get(TICKETS, headers=tenant.headers)).json()["items"] == []


async def test_the_queue_filters_and_pages_newest_first(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    made = [(await manual_ticket(client, tenant, subject=f"T{i}")).json() for i in range(5)]
    await client.patch(
        f"{TICKETS}/{made[1]['id']}",
        json={"status": "pending", "assignee_id": tenant.user_id},
        headers=tenant.headers,
    )
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await client.get(TICKETS, params=params, headers=tenant.headers)).json()
        seen += [t["subject"] for t in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == ["T4", "T3", "T2", "T1", "T0"]
    for query in ({"status": "pending"}, {"assignee_id": tenant.user_id}):
        items = (await client.get(TICKETS, params=query, headers=tenant.headers)).json()["items"]
        assert [t["subject"] for t in items] == ["T1"]
    by_contact = await client.get(
        TICKETS, params={"contact_id": made[0]["contact_id"]}, headers=tenant.headers
    )
    assert len(by_contact.json()["items"]) == 5
    for bad in ({"status": "lost"}, {"cursor": "forged"}, {"limit": 0}):
        assert (await client.get(TICKETS, params=bad, headers=tenant.headers)).status_code == 422


async def test_ai_draft_is_the_latest_pending_draft(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ticket = (await manual_ticket(client, tenant)).json()
    message_id = ticket["messages"][0]["id"]
    now = utcnow()
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        for i, status in enumerate(("superseded", "pending", "discarded")):
            s.add(
                AiDraft(
                    tenant_id=tenant.tenant_id,
                    ticket_id=ticket["id"],
                    message_id=f"{message_id[:-1]}{i}",
                    status=status,
                    body=f"draft {i}",
                    sources=[
                        {"document_id": "d1", "title": "Refunds", "text": "14 days", "kind": "kb"}
                    ],
                    provider="local",
                    model="bizos-local",
                    created_at=now + dt.timedelta(seconds=i),
                )
            )
    draft = (await client.get(f"{TICKETS}/{ticket['id']}", headers=tenant.headers)).json()[
        "ai_draft"
    ]
    assert draft["body"] == "draft 1" and draft["provider"] == "local"
    assert draft["sources"][0]["document_id"] == "d1" and draft["sources"][0]["title"] == "Refunds"
