"""What moving a deal sets off: events, template tasks, a won customer, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bizos.core.db import Database
from bizos.modules.crm.contacts import service as contacts_service
from tests.conftest import TenantLogin
from tests.modules.crm.deals.helpers import (
    DEALS,
    events_of,
    make_contact,
    owner_ctx,
    patch_deal,
    post_deal,
)


async def _template(
    client: httpx.AsyncClient, tenant: TenantLogin, trigger: str, title: str
) -> None:
    r = await client.post(
        "/api/v1/task-templates",
        json={"trigger": trigger, "title": title, "priority": "high", "due_in_hours": 48},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text


async def _tasks(
    client: httpx.AsyncClient, tenant: TenantLogin, deal_id: str
) -> list[dict[str, Any]]:
    r = await client.get(
        "/api/v1/tasks",
        params={"related_type": "deal", "related_id": deal_id, "sort": "created_at"},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_won_deal_makes_its_contact_a_customer_and_announces_it(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    contact_id = await make_contact(db, tenant, "ada@customer.example", "Ada")
    deal = await post_deal(
        client, tenant, contact_id=contact_id, amount="4999.00", close_date="2026-06-30"
    )
    await _template(client, tenant, "deal.stage:won", "Send the welcome pack for {deal_name}")

    r = await patch_deal(client, tenant, deal["id"], {"stage": "won"}, if_match=1)
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "won"

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        contact = await contacts_service.get_contact(session, owner_ctx(tenant), contact_id)
        assert contact.lifecycle_stage == "customer"
        assert contact.became_customer_at is not None

    won = await events_of(db, deal["id"], "crm.deal.won")
    assert len(won) == 1
    assert won[0].data["deal_id"] == deal["id"]
    assert won[0].data["contact_id"] == contact_id
    assert won[0].data["amount"] == "4999.00"
    assert won[0].data["currency"] == "EUR"
    assert "lead_id" in won[0].data
    changed = await events_of(db, deal["id"], "crm.deal.stage_changed")
    assert [(e.data["from_stage"], e.data["to_stage"]) for e in changed] == [("lead", "won")]
    assert await events_of(db, contact_id, "crm.contact.became_customer")

    tasks = await _tasks(client, tenant, deal["id"])
    assert [t["title"] for t in tasks] == ["Send the welcome pack for Website redesign"]
    assert tasks[0]["assignee_id"] == tenant.user_id
    assert tasks[0]["contact_id"] == contact_id
    assert tasks[0]["priority"] == "high"


async def test_every_stage_entered_gets_its_templates_tasks(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await _template(client, tenant, "deal.stage:lead", "Qualify {deal_name}")
    await _template(client, tenant, "deal.stage:proposal", "Send the proposal")
    deal = await post_deal(client, tenant)
    assert [t["title"] for t in await _tasks(client, tenant, deal["id"])] == [
        "Qualify Website redesign"
    ]
    await patch_deal(client, tenant, deal["id"], {"stage": "qualified"})
    await patch_deal(client, tenant, deal["id"], {"stage": "proposal"})
    titles = [t["title"] for t in await _tasks(client, tenant, deal["id"])]
    assert titles == ["Qualify Website redesign", "Send the proposal"]


async def test_a_lost_deal_emits_lost_with_its_reason(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant)
    r = await patch_deal(client, tenant, deal["id"], {"stage": "lost", "close_reason": "price"})
    assert r.status_code == 200, r.text
    lost = await events_of(db, deal["id"], "crm.deal.lost")
    assert [e.data["reason"] for e in lost] == ["price"]
    assert await events_of(db, deal["id"], "crm.deal.won") == []


async def test_a_failed_rule_leaves_no_trace(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant, amount="0")
    r = await patch_deal(client, tenant, deal["id"], {"stage": "proposal", "name": "New name"})
    assert r.status_code == 422
    assert await events_of(db, deal["id"], "crm.deal.stage_changed") == []
    current = (await client.get(f"{DEALS}/{deal['id']}", headers=tenant.headers)).json()
    assert (current["name"], current["stage"], current["version"]) == (
        "Website redesign",
        "lead",
        1,
    )
    history = (await client.get(f"{DEALS}/{deal['id']}/history", headers=tenant.headers)).json()
    assert [h["to_stage"] for h in history["items"]] == ["lead"]


async def test_concurrent_stage_changes_on_one_version_exactly_one_wins(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    deal = await post_deal(client, tenant, close_date="2026-04-30")
    results = await asyncio.gather(
        patch_deal(client, tenant, deal["id"], {"stage": "qualified"}, if_match=1),
        patch_deal(client, tenant, deal["id"], {"stage": "proposal"}, if_match=1),
        patch_deal(client, tenant, deal["id"], {"stage": "negotiation"}, if_match=1),
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409]
    winner = next(r.json() for r in results if r.status_code == 200)
    history = (await client.get(f"{DEALS}/{deal['id']}/history", headers=tenant.headers)).json()
    assert [h["to_stage"] for h in history["items"]] == [winner["stage"], "lead"]  # latest first
    assert len(await events_of(db, deal["id"], "crm.deal.stage_changed")) == 1


async def test_a_deal_of_a_merged_contact_points_at_the_survivor(
    db: Database, tenant: TenantLogin, client: httpx.AsyncClient
) -> None:
    survivor = await make_contact(db, tenant, "ada@customer.example")
    merged = await make_contact(db, tenant, "ada.old@customer.example", merged_into_id=survivor)
    deal = await post_deal(client, tenant, contact_id=merged)
    assert deal["contact_id"] == survivor
