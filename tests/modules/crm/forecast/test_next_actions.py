"""Next best action: what the rules suggest for a contact, why, and in which order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from bizos.core.db import Database, utcnow
from bizos.modules.crm.leads import service as leads_service
from bizos.modules.work import service as work_service
from tests.conftest import TenantLogin
from tests.modules.crm.deals.helpers import make_contact, owner_ctx, seed_deal
from tests.modules.identity.helpers import assert_problem

DAY = dt.timedelta(days=1)


async def _actions(
    client: httpx.AsyncClient, tenant: TenantLogin, contact_id: str
) -> dict[str, Any]:
    r = await client.get(f"/api/v1/crm/contacts/{contact_id}/next-actions", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _overdue_task(db: Database, tenant: TenantLogin, contact_id: str, days: int) -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        task = await work_service.create_task(
            session,
            owner_ctx(tenant),
            title="Send the signed contract back",
            assignee_id=tenant.user_id,
            due_at=utcnow() - days * DAY,
            priority="high",
            contact_id=contact_id,
        )
        return task.id


async def _hot_lead(db: Database, tenant: TenantLogin, email: str, score: int) -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        lead = await leads_service.create_lead(session, owner_ctx(tenant), email=email, name="Ada")
        lead.score = score  # as the scoring model left it
        return lead.id


async def test_no_reply_after_our_last_message_suggests_a_follow_up(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    now = utcnow()
    silent = await make_contact(
        db, tenant, "ada@customer.example", "Ada", last_contacted_at=now - 5 * DAY
    )
    answered = await make_contact(
        db,
        tenant,
        "bo@customer.example",
        last_contacted_at=now - 5 * DAY,
        last_replied_at=now - 4 * DAY,
    )
    recent = await make_contact(db, tenant, "cy@customer.example", last_contacted_at=now - DAY)

    items = (await _actions(client, tenant, silent))["items"]
    assert [(a["action"], a["related"]) for a in items] == [
        ("follow_up", {"type": "contact", "id": silent})
    ]
    assert items[0]["title"] == "Follow up with Ada"
    assert "5 days ago" in items[0]["reason"] and "3 days" in items[0]["reason"]
    assert items[0]["priority"] == 66  # 60 + 3 per day past the threshold
    assert (await _actions(client, tenant, answered))["items"] == []
    assert (await _actions(client, tenant, recent))["items"] == []


async def test_a_deal_stalled_in_its_stage_suggests_a_call(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    now = utcnow()
    contact = await make_contact(db, tenant, "ada@customer.example")
    stalled = await seed_deal(
        db,
        tenant,
        path=[("proposal", now - 20 * DAY)],
        amount="12000",
        contact_id=contact,
        name="Annual plan",
    )
    await seed_deal(db, tenant, path=[("lead", now - 3 * DAY)], contact_id=contact)  # moving

    items = (await _actions(client, tenant, contact))["items"]
    assert [(a["action"], a["related"]["id"]) for a in items] == [("call", stalled)]
    assert items[0]["title"] == "Call about Annual plan"
    assert "12000.00 EUR" in items[0]["reason"]
    assert "proposal for 20 days" in items[0]["reason"] and "within 10 days" in items[0]["reason"]


async def test_a_hot_lead_nobody_reached_suggests_a_first_call(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    hot = await _hot_lead(db, tenant, "ada@customer.example", score=85)
    await _hot_lead(db, tenant, "bo@customer.example", score=40)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        ada = (await leads_service.get_lead(session, owner_ctx(tenant), hot)).contact_id

    items = (await _actions(client, tenant, ada))["items"]
    assert [(a["action"], a["related"]) for a in items] == [
        ("first_call", {"type": "lead", "id": hot})
    ]
    assert "scores 85" in items[0]["reason"]


async def test_overdue_tasks_and_quiet_customers_are_ranked_with_the_rest(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    now = utcnow()
    contact = await make_contact(
        db,
        tenant,
        "ada@customer.example",
        lifecycle_stage="customer",
        became_customer_at=now - 200 * DAY,
        last_activity_at=now - 120 * DAY,
        last_contacted_at=now - 120 * DAY,
        last_replied_at=now - 119 * DAY,
    )
    task = await _overdue_task(db, tenant, contact, days=2)

    items = (await _actions(client, tenant, contact))["items"]
    assert [(a["action"], a["related"]["id"]) for a in items] == [
        ("complete_task", task),
        ("check_in", contact),
    ]
    assert [a["priority"] for a in items] == sorted((a["priority"] for a in items), reverse=True)
    assert "2 days overdue" in items[0]["reason"]
    assert "119 days" in items[1]["reason"]


async def test_do_not_contact_keeps_outreach_suggestions_back_and_says_so(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    contact = await make_contact(
        db,
        tenant,
        "ada@customer.example",
        last_contacted_at=utcnow() - 9 * DAY,
        do_not_contact=True,
    )
    task = await _overdue_task(db, tenant, contact, days=1)

    answer = await _actions(client, tenant, contact)
    assert answer["do_not_contact"] is True
    assert [a["related"]["id"] for a in answer["items"]] == [task]
    assert [(s["action"], s["related"]["id"]) for s in answer["suppressed"]] == [
        ("follow_up", contact)
    ]


async def test_another_tenants_contact_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await make_contact(db, other_tenant, "secret@globex.example")
    r = await client.get(f"/api/v1/crm/contacts/{theirs}/next-actions", headers=tenant.headers)
    assert_problem(r, 404)
    r = await client.get("/api/v1/crm/contacts/nope/next-actions", headers=tenant.headers)
    assert_problem(r, 404)
