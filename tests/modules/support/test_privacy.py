"""A contact's support data, exported: every ticket they opened with its messages, and
the AI drafts written for them; another contact's tickets stay out."""

from __future__ import annotations

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.ids import new_id
from bizos.modules.support.drafts.models import AiDraft
from bizos.modules.support.manifest import MANIFEST
from bizos.modules.support.tickets import service as tickets
from tests.conftest import TenantLogin


async def _ticket(db: Database, tenant_id: str, contact_id: str, body: str) -> str:
    ctx = Context(tenant_id=tenant_id, actor_type="system")
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        ticket = await tickets.open_ticket(
            s,
            ctx,
            subject="Where is my refund?",
            channel="email",
            contact_id=contact_id,
            customer_email="ada@example.com",
        )
        message = await tickets.add_message(
            s, ctx, ticket, direction="inbound", from_address="ada@example.com", body=body
        )
        s.add(
            AiDraft(
                id=new_id(),
                tenant_id=tenant_id,
                ticket_id=ticket.id,
                message_id=message.id,
                attempt=1,
                status="pending",
                body="Your refund is on its way.",
                sources=[],
                provider="local",
                model="local",
            )
        )
        return ticket.id


async def test_export_holds_the_contacts_tickets_messages_and_drafts(
    db: Database, tenant: TenantLogin
) -> None:
    ada, grace = new_id(), new_id()
    mine = await _ticket(db, tenant.tenant_id, ada, "I returned the blender.")
    await _ticket(db, tenant.tenant_id, grace, "Someone else's question.")
    assert MANIFEST.privacy is not None
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        exported = await MANIFEST.privacy.export(s, Context(tenant_id=tenant.tenant_id), ada)

    [ticket] = exported["tickets"]
    assert ticket["id"] == mine and ticket["contact_id"] == ada
    assert [m["body"] for m in ticket["messages"]] == ["I returned the blender."]
    assert ticket["ai_draft"]["body"] == "Your refund is on its way."
    [draft] = exported["drafts"]
    assert draft["ticket_id"] == mine and draft["status"] == "pending"


async def test_a_contact_without_tickets_exports_nothing(db: Database, tenant: TenantLogin) -> None:
    assert MANIFEST.privacy is not None
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        exported = await MANIFEST.privacy.export(s, Context(tenant_id=tenant.tenant_id), new_id())
    assert exported == {"tickets": [], "drafts": []}
