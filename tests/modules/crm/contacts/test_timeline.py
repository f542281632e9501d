"""The contact timeline: one newest-first view over events, activity, notes, files,
leads, deals and messages, including contacts merged in; private to the tenant."""

from __future__ import annotations

from typing import Any

import httpx

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.crm.contacts.helpers import (
    CONTACTS,
    add_contact,
    add_deal_row,
    add_lead_row,
    assert_problem,
)


async def _timeline(
    client: httpx.AsyncClient, who: TenantLogin, contact_id: str, **params: Any
) -> dict[str, Any]:
    r = await client.get(f"{CONTACTS}/{contact_id}/timeline", headers=who.headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_the_timeline_gathers_everything_newest_first(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    contact = await add_contact(client, tenant, name="Tia", email="tia@example.com")
    cid = contact["id"]
    lead_id = await add_lead_row(db, tenant.tenant_id, cid, "tia@example.com")
    await client.post(f"{CONTACTS}/{cid}/notes", headers=tenant.headers, json={"body": "hello"})
    r = await client.post(
        "/api/v1/track",
        headers=tenant.headers,
        json={"events": [{"type": "page_viewed", "email": "tia@example.com"}]},
    )
    assert r.status_code == 202, r.text
    deal_id = await add_deal_row(db, tenant.tenant_id, cid, "First order")
    await client.post(
        f"{CONTACTS}/{cid}/attachments",
        headers=tenant.headers,
        files={"file": ("quote.txt", b"quote", "text/plain")},
    )
    sent = await client.post(
        "/api/v1/messages",
        headers=tenant.headers,
        json={
            "channel": "email",
            "to": "tia@example.com",
            "subject": "Welcome",
            "body": "Hi Tia",
            "related": {"type": "contact", "id": cid},
        },
    )
    assert sent.status_code == 202, sent.text

    entries = (await _timeline(client, tenant, cid))["items"]
    kinds = [e["kind"] for e in entries]
    assert kinds == [
        "message.email",
        "attachment",
        "deal",
        "activity.page_viewed",
        "note",
        "lead",
        "crm.contact.created",
    ]
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    by_kind = {e["kind"]: e for e in entries}
    assert by_kind["deal"]["ref_id"] == deal_id and by_kind["lead"]["ref_id"] == lead_id
    assert by_kind["note"]["summary"] == "hello"
    assert by_kind["message.email"]["title"] == "Email queued: Welcome"

    # Paged with a cursor: the same entries, in the same order, none twice.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    for _ in range(5):
        page = await _timeline(client, tenant, cid, **params)
        seen += [e["kind"] for e in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == kinds

    only = await _timeline(client, tenant, cid, kind=["note", "deal"])
    assert [e["kind"] for e in only["items"]] == ["deal", "note"]


async def test_the_timeline_includes_contacts_merged_in(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    keep = await add_contact(client, tenant, name="Keep", email="keep@example.com")
    gone = await add_contact(client, tenant, name="Gone", email="gone@example.com")
    await client.post(
        f"{CONTACTS}/{gone['id']}/notes", headers=tenant.headers, json={"body": "old note"}
    )
    await client.post(
        "/api/v1/track",
        headers=tenant.headers,
        json={"events": [{"type": "email_opened", "email": "gone@example.com"}]},
    )
    r = await client.post(
        f"{CONTACTS}/{keep['id']}/merge",
        headers=tenant.headers,
        json={"duplicate_ids": [gone["id"]]},
    )
    assert r.status_code == 200, r.text
    entries = (await _timeline(client, tenant, keep["id"]))["items"]
    kinds = [e["kind"] for e in entries]
    assert kinds.count("crm.contact.created") == 2
    for kind in ("note", "activity.email_opened", "crm.contact.merged"):
        assert kind in kinds
    # Reading through the merged id gives the same timeline.
    assert (await _timeline(client, tenant, gone["id"]))["items"] == entries


async def test_another_tenants_timeline_is_404_and_bad_cursors_422(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await add_contact(client, other_tenant, name="T", email="t@example.com")
    r = await client.get(f"{CONTACTS}/{theirs['id']}/timeline", headers=tenant.headers)
    assert_problem(r, 404)
    mine = await add_contact(client, tenant, name="Me", email="t@example.com")
    entries = (await _timeline(client, tenant, mine["id"]))["items"]
    assert [e["kind"] for e in entries] == ["crm.contact.created"]
    r = await client.get(
        f"{CONTACTS}/{mine['id']}/timeline", headers=tenant.headers, params={"cursor": "Zm9v"}
    )
    assert ["query", "cursor"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]


async def test_event_entries_read_as_sentences_not_event_types(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact = await add_contact(client, tenant, name="Uma", email="uma@example.com")
    deal = await client.post(
        "/api/v1/crm/deals",
        headers=tenant.headers,
        json={"name": "Pilot", "amount": "900.00", "currency": "EUR", "contact_id": contact["id"]},
    )
    assert deal.status_code == 201, deal.text
    moved = await client.patch(
        f"/api/v1/crm/deals/{deal.json()['id']}",
        headers=tenant.headers,
        json={"stage": "qualified"},
    )
    assert moved.status_code == 200, moved.text

    entries = (await _timeline(client, tenant, contact["id"]))["items"]
    by_kind = {e["kind"]: e for e in entries}
    assert by_kind["crm.contact.created"]["title"] == "Contact created"
    assert by_kind["crm.deal.stage_changed"]["title"] == "Deal stage changed"
    assert by_kind["crm.deal.stage_changed"]["summary"] == "lead → qualified"
