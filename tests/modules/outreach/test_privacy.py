"""A contact's personal data in outreach: the messages sent about them, exported through
the privacy port the manifest declares."""

from __future__ import annotations

import httpx

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.ports import ports
from tests.conftest import TenantLogin

MESSAGE = {"channel": "email", "subject": "Hello", "body": "Hi Ada."}


async def test_the_messages_about_a_contact_are_exported(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    sent = []
    for to, related_id in (("ada@example.com", "ct_ada"), ("bob@example.com", "ct_bob")):
        r = await client.post(
            "/api/v1/messages",
            json={**MESSAGE, "to": to, "related": {"type": "contact", "id": related_id}},
            headers=tenant.headers,
        )
        assert r.status_code in (200, 201, 202), r.text
        sent.append(r.json())

    ctx = Context(actor_type="system").with_tenant(tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        exported = await ports.privacy["outreach"].export(session, ctx, "ct_ada")

    assert [m["id"] for m in exported["messages"]] == [sent[0]["id"]]
    assert exported["messages"][0]["to"] == "ada@example.com"
