"""The lead flow end to end, as a running server does it: the dispatcher hands
``crm.lead.created`` to the leads handler, which starts the durable ``crm.lead_flow``
workflow (DBOS); it enriches, scores and assigns the lead and queues the owner's first
email, which the delivery loop sends through the sandbox channel.

Also: a failing enrichment provider is retried and then skipped without losing the lead,
free-mail addresses are not enriched as companies, do-not-contact and a switched-off
email are respected, and running the steps again sends nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.core.workflows import start_workflow
from bizos.modules.crm.contacts.service import find_or_create_contact
from bizos.modules.crm.leads import first_outreach
from bizos.modules.crm.leads.workflows import FlowContext, lead_flow
from bizos.modules.crm.models import Contact, Lead
from bizos.modules.identity.models import User
from bizos.modules.outreach.models import Message
from tests.conftest import TenantLogin, signup
from tests.connectors.clearbit_server import clearbit_server
from tests.modules.crm.leads.helpers import event_types, get_lead, post_lead

Lead_ = dict[str, Any]


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A whole server: API plus dispatcher, durable workflows and message delivery."""
    running = settings.model_copy(
        update={"workflows_enabled": True, "executor_id": f"test-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(running, database=db, workers=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def until_lead(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    lead_id: str,
    done: Callable[[Lead_], bool],
    *,
    within_seconds: float = 60,
) -> Lead_:
    async with asyncio.timeout(within_seconds):
        while True:
            lead = await get_lead(client, tenant, lead_id)
            if done(lead):
                return lead
            await asyncio.sleep(0.05)


async def until_emailed(client: httpx.AsyncClient, tenant: TenantLogin, lead_id: str) -> Lead_:
    """The lead once its first email has left (sandboxed)."""
    lead = await until_lead(client, tenant, lead_id, lambda x: bool(x["first_outreach_message_id"]))
    async with asyncio.timeout(60):
        while True:
            r = await client.get(
                f"/api/v1/messages/{lead['first_outreach_message_id']}", headers=tenant.headers
            )
            if r.json()["status"] != "queued":
                assert r.json()["status"] == "sandboxed", r.text
                return await get_lead(client, tenant, lead_id)
            await asyncio.sleep(0.05)


async def until_event(db: Database, tenant_id: str, aggregate_id: str, type_: str) -> list[str]:
    async with asyncio.timeout(60):
        while True:
            types = await event_types(db, tenant_id, aggregate_id)
            if type_ in types:
                return types
            await asyncio.sleep(0.05)


async def messages_about(db: Database, tenant_id: str, lead_id: str) -> list[Message]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Message).where(Message.related_type == "lead", Message.related_id == lead_id)
        )
        return list(rows)


async def _contact(db: Database, tenant_id: str, contact_id: str) -> Contact:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None
        return contact


# --- the whole flow -----------------------------------------------------------------


async def test_a_new_lead_is_enriched_scored_assigned_and_greeted_by_its_owner(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client, "Acme Ltd")

    created = await post_lead(client, tenant, email="ada@contoso.com", name="Ada Lovelace")
    lead = await until_emailed(client, tenant, created["id"])

    assert lead["enrichment_status"] == "enriched"
    enrichment = lead["enrichment"]
    assert enrichment["company"] == "Contoso Ltd"
    assert (enrichment["domain"], enrichment["industry"]) == ("contoso.com", "Software")
    assert (enrichment["employees"], enrichment["country"]) == (1200, "US")
    assert enrichment["provider"] == "sandbox"
    assert lead["company_id"] == enrichment["company_id"]
    assert (await _contact(db, tenant.tenant_id, lead["contact_id"])).company_id == lead[
        "company_id"
    ]
    assert 0 <= lead["score"] <= 100 and lead["score_factors"]
    assert lead["owner_id"] == tenant.user_id and lead["assignment_reason"]
    [message] = await messages_about(db, tenant.tenant_id, lead["id"])
    assert message.id == lead["first_outreach_message_id"]
    assert message.recipient == "ada@contoso.com"
    assert message.subject == "Thanks for getting in touch, Ada"
    assert message.sender_name == "Olive"
    assert message.reply_to == tenant.email
    assert "I'm Olive" in message.body
    assert message.status == "sandboxed"
    assert await event_types(db, tenant.tenant_id, lead["id"]) == [
        "crm.lead.created",
        "crm.lead.enriched",
        "crm.lead.scored",
        "crm.lead.assigned",
    ]
    assert "outreach.message.sent" in await event_types(db, tenant.tenant_id, message.id)


async def test_a_free_mail_lead_is_not_enriched_as_a_company(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client)

    created = await post_lead(client, tenant, email="ada.lovelace@gmail.com", company="Contoso")
    lead = await until_emailed(client, tenant, created["id"])

    assert lead["enrichment_status"] == "skipped"
    assert lead["enrichment"] is None and lead["company_id"] is None
    assert lead["owner_id"] == tenant.user_id and lead["score"] is not None
    types = await event_types(db, tenant.tenant_id, lead["id"])
    assert types[:2] == ["crm.lead.created", "crm.lead.enriched"]


async def test_a_failing_provider_is_retried_then_skipped_and_the_lead_still_assigned(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client)
    with clearbit_server() as provider:
        provider.script = [(503, {"error": {"message": "down"}})] * 10
        r = await client.put(
            "/api/v1/connectors/enrichment",
            json={
                "config": {"provider": "clearbit", "base_url": provider.base_url},
                "secrets": {"api_key": provider.api_key},
            },
            headers=tenant.headers,
        )
        assert r.status_code == 200, r.text

        created = await post_lead(client, tenant, email="ada@contoso.com", company="Contoso")
        lead = await until_emailed(client, tenant, created["id"])
        lookups = provider.lookups()

    assert lookups == 4
    assert lead["enrichment_status"] == "failed"
    assert lead["enrichment"] is None
    assert lead["score"] is not None and lead["owner_id"] == tenant.user_id
    types = await event_types(db, tenant.tenant_id, lead["id"])
    assert types == [
        "crm.lead.created",
        "crm.lead.enrichment_failed",
        "crm.lead.scored",
        "crm.lead.assigned",
    ]


async def test_a_provider_that_recovers_within_the_retries_enriches_the_lead(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client)
    with clearbit_server() as provider:
        provider.script = [(429, {}), (502, {})]
        await client.put(
            "/api/v1/connectors/enrichment",
            json={
                "config": {"provider": "clearbit", "base_url": provider.base_url},
                "secrets": {"api_key": provider.api_key},
            },
            headers=tenant.headers,
        )

        created = await post_lead(client, tenant, email="ada@contoso.com")
        lead = await until_lead(
            client, tenant, created["id"], lambda x: x["enrichment_status"] != "pending"
        )
        lookups = provider.lookups()

    assert lookups == 3
    assert lead["enrichment_status"] == "enriched"
    assert lead["enrichment"]["provider"] == "clearbit"
    assert lead["enrichment"]["company"] == "Contoso Ltd"


async def test_a_do_not_contact_person_is_assigned_but_not_emailed(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        contact, _ = await find_or_create_contact(
            session, Context(tenant_id=tenant.tenant_id), email="ada@contoso.com"
        )
        contact.do_not_contact = True

    created = await post_lead(client, tenant, email="ada@contoso.com")
    await until_event(db, tenant.tenant_id, created["id"], "crm.lead.outreach_skipped")

    lead = await get_lead(client, tenant, created["id"])
    assert lead["owner_id"] == tenant.user_id
    assert lead["first_outreach_message_id"] is None
    assert await messages_about(db, tenant.tenant_id, created["id"]) == []


async def test_a_switched_off_first_email_is_not_sent(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client)
    r = await client.put("/api/v1/crm/lead-flow", json={"enabled": False}, headers=tenant.headers)
    assert r.status_code == 200

    created = await post_lead(client, tenant, email="bo@fabrikam.com")
    await until_event(db, tenant.tenant_id, created["id"], "crm.lead.outreach_skipped")

    assert await messages_about(db, tenant.tenant_id, created["id"]) == []


async def test_a_form_lead_goes_through_the_same_flow(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client)

    r = await client.post(
        f"/forms/{tenant.slug}/leads", data={"email": "cy@fabrikam.com", "name": "Cy Young"}
    )
    assert r.status_code == 202

    async with asyncio.timeout(60):
        while True:
            r = await client.get("/api/v1/crm/leads", headers=tenant.headers)
            if leads := r.json()["items"]:
                break
            await asyncio.sleep(0.05)
    lead = await until_emailed(client, tenant, leads[0]["id"])
    assert lead["source"] == "web_form"
    assert lead["enrichment"]["company"] == "Fabrikam Inc"


# --- running again sends nothing twice ----------------------------------------------


async def test_running_the_flow_again_for_a_lead_changes_and_sends_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client)
    created = await post_lead(client, tenant, email="ada@contoso.com")
    lead = await until_emailed(client, tenant, created["id"])
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        [created_event] = await session.scalars(
            sa.select(Event.id).where(
                Event.aggregate_id == lead["id"], Event.type == "crm.lead.created"
            )
        )

    # As after a crash: the same steps run again from the top, as a new run.
    again = await start_workflow(
        lead_flow,
        FlowContext(tenant.tenant_id, lead["id"], created_event, "rerun"),
        workflow_id=f"rerun-{uuid.uuid4().hex}",
    )
    outcome = await again.result(timeout_seconds=60)

    assert outcome["message_id"] == lead["first_outreach_message_id"]
    assert outcome["owner_id"] == lead["owner_id"]
    assert len(await messages_about(db, tenant.tenant_id, lead["id"])) == 1
    assert await get_lead(client, tenant, lead["id"]) == lead


async def test_concurrent_first_emails_for_one_lead_queue_one_message(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client)
    r = await client.put("/api/v1/crm/lead-flow", json={"enabled": False}, headers=tenant.headers)
    created = await post_lead(client, tenant, email="di@fabrikam.com")
    await until_event(db, tenant.tenant_id, created["id"], "crm.lead.outreach_skipped")
    r = await client.put("/api/v1/crm/lead-flow", json={"enabled": True}, headers=tenant.headers)
    assert r.status_code == 200

    async def send() -> str | None:
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            outcome = await first_outreach.send_first_outreach(
                session, Context(tenant_id=tenant.tenant_id), created["id"]
            )
            return outcome.message_id

    ids = await asyncio.gather(*(send() for _ in range(4)))

    assert len(set(ids)) == 1 and ids[0] is not None
    assert [m.id for m in await messages_about(db, tenant.tenant_id, created["id"])] == [ids[0]]
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        row = await session.get(Lead, created["id"])
        assert row is not None and row.first_outreach_message_id == ids[0]


async def test_an_owner_address_no_channel_can_send_from_skips_the_email_not_the_flow(
    client: httpx.AsyncClient, db: Database
) -> None:
    tenant = await signup(client)
    # An address written before the validator refused special-use domains (.local).
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await session.execute(
            sa.update(User).where(User.id == tenant.user_id).values(email="owner@example.local")
        )

    created = await post_lead(client, tenant, email="di@fabrikam.com")
    await until_event(db, tenant.tenant_id, created["id"], "crm.lead.outreach_skipped")

    lead = await get_lead(client, tenant, created["id"])
    assert lead["score"] is not None
    assert lead["owner_id"] == tenant.user_id
    assert lead["first_outreach_message_id"] is None
    assert await messages_about(db, tenant.tenant_id, created["id"]) == []
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        skipped = await session.scalar(
            sa.select(Event.data).where(
                Event.aggregate_id == created["id"], Event.type == "crm.lead.outreach_skipped"
            )
        )
    assert skipped is not None
    assert skipped["reason"].startswith("undeliverable:"), skipped
