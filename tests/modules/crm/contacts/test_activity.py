"""Handlers: tracked activity and sent messages move a contact's activity times; the
lifecycle functions other parts call."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import NotFound
from bizos.core.events import Event
from bizos.modules.crm.contacts import service
from bizos.modules.outreach.delivery import deliver_due_messages
from tests.conftest import TenantLogin
from tests.core.test_dispatcher import drain
from tests.modules.crm.contacts.helpers import CONTACTS, add_contact

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


async def _track(client: httpx.AsyncClient, who: TenantLogin, *events: dict[str, Any]) -> None:
    r = await client.post("/api/v1/track", headers=who.headers, json={"events": list(events)})
    assert r.status_code == 202, r.text


async def test_tracked_activity_moves_last_activity_and_replies(
    client: httpx.AsyncClient, tenant: TenantLogin, app: Any
) -> None:
    contact = await add_contact(client, tenant, name="Ada", email="ada@example.com")
    url = f"{CONTACTS}/{contact['id']}"
    await _track(
        client,
        tenant,
        {"type": "page_viewed", "email": "ADA@example.com", "occurred_at": T0.isoformat()},
        {
            "type": "email_opened",
            "contact_id": contact["id"],
            "occurred_at": (T0 + dt.timedelta(hours=1)).isoformat(),
        },
        # Older, handled later: never moves the time back.
        {"type": "page_viewed", "contact_id": contact["id"], "occurred_at": "2025-01-01T00:00:00Z"},
        {"type": "nobody_home", "email": "stranger@example.com"},
    )
    await drain(app.state.runtime.dispatcher)
    got = (await client.get(url, headers=tenant.headers)).json()
    assert dt.datetime.fromisoformat(got["last_activity_at"]) == T0 + dt.timedelta(hours=1)
    assert got["last_replied_at"] is None
    assert got["version"] == 1  # activity is not an edit: If-Match copies stay valid

    await _track(
        client,
        tenant,
        {
            "type": "email_replied",
            "contact_id": contact["id"],
            "occurred_at": (T0 + dt.timedelta(days=1)).isoformat(),
        },
    )
    await drain(app.state.runtime.dispatcher)
    got = (await client.get(url, headers=tenant.headers)).json()
    assert dt.datetime.fromisoformat(got["last_replied_at"]) == T0 + dt.timedelta(days=1)
    assert got["last_activity_at"] == got["last_replied_at"]
    listed = await client.get(CONTACTS, headers=tenant.headers)
    assert len(listed.json()["items"]) == 1  # tracking does not create contacts


async def test_a_sent_message_about_a_contact_sets_last_contacted(
    client: httpx.AsyncClient, tenant: TenantLogin, app: Any, db: Database
) -> None:
    contact = await add_contact(client, tenant, name="Bea", email="bea@example.com")
    r = await client.post(
        "/api/v1/messages",
        headers=tenant.headers,
        json={
            "channel": "email",
            "to": "bea@example.com",
            "subject": "Hello",
            "body": "Hi",
            "related": {"type": "contact", "id": contact["id"]},
        },
    )
    assert r.status_code == 202, r.text
    assert await deliver_due_messages(db) == 1
    await drain(app.state.runtime.dispatcher)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        sent_at = await session.scalar(
            sa.select(Event.occurred_at).where(Event.type == "outreach.message.sent")
        )
    got = (await client.get(f"{CONTACTS}/{contact['id']}", headers=tenant.headers)).json()
    assert sent_at is not None
    assert dt.datetime.fromisoformat(got["last_contacted_at"]) == sent_at
    assert got["last_activity_at"] == got["last_contacted_at"]


async def test_mark_customer_once_and_get_contact_follows_merges(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    contact = await add_contact(client, tenant, name="Cy", email="cy@example.com")
    ctx = Context(tenant_id=tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.mark_customer(session, ctx, contact["id"], deal_id="d1")
        await service.mark_customer(session, ctx, contact["id"], deal_id="d2")
        row = await service.get_contact(session, ctx, contact["id"])
        assert row.lifecycle_stage == "customer" and row.became_customer_at is not None
        events = list(
            await session.scalars(
                sa.select(Event.data).where(Event.type == "crm.contact.became_customer")
            )
        )
        assert [e["deal_id"] for e in events] == ["d1"]
        with pytest.raises(NotFound):
            await service.get_contact(session, ctx, "missing")
        await service.record_activity(session, ctx, contact["id"], at=T0, kind="contacted")
        assert (row.last_contacted_at, row.last_activity_at) == (T0, T0)
