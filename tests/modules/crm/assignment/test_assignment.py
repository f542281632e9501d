"""Assignment: round robin, load balancing and ordered rules over a team whose members
have capacity and availability; nobody able means the workspace owner, said so."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.context import system_context
from bizos.core.db import Database, utcnow
from bizos.core.events import Event
from bizos.modules.crm.assignment import service
from bizos.modules.crm.models import Lead
from tests.conftest import TenantLogin
from tests.modules.crm.scoring.factories import add_lead, add_user


@dataclass(frozen=True)
class Rep:
    id: str


async def _team(db: Database, tenant: TenantLogin, n: int) -> list[Rep]:
    return [Rep(await add_user(db, tenant.tenant_id, name=f"Rep {i}")) for i in range(n)]


async def _rules(client: httpx.AsyncClient, tenant: TenantLogin, config: dict[str, Any]) -> None:
    r = await client.put("/api/v1/crm/assignment-rules", headers=tenant.headers, json=config)
    assert r.status_code == 200, r.text


async def _rep(
    client: httpx.AsyncClient, tenant: TenantLogin, user_id: str, **body: Any
) -> dict[str, Any]:
    r = await client.put(f"/api/v1/crm/reps/{user_id}", headers=tenant.headers, json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def _assign(db: Database, tenant_id: str, lead_id: str) -> Lead:
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        return await service.assign_lead(session, system_context(tenant_id), lead_id)


async def test_round_robin_takes_turns_and_says_why(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    reps = await _team(db, tenant, 3)
    await _rules(client, tenant, {"strategy": "round_robin", "pool": [m.id for m in reps]})
    owners = [
        (await _assign(db, tenant.tenant_id, await add_lead(db, tenant.tenant_id))).owner_id
        for _ in range(6)
    ]
    order = sorted(m.id for m in reps)
    assert owners == order + order

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        event = await session.scalar(
            sa.select(Event).where(Event.type == "crm.lead.assigned").order_by(Event.sequence)
        )
    assert event is not None
    assert event.data["strategy"] == "round_robin"
    assert event.data["owner_id"] == order[0] and event.data["previous_owner_id"] is None
    assert event.data["reason"] == "round robin"


async def test_concurrent_round_robin_gives_each_rep_an_equal_share(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    reps = await _team(db, tenant, 4)
    await _rules(client, tenant, {"strategy": "round_robin", "pool": [m.id for m in reps]})
    leads = [await add_lead(db, tenant.tenant_id) for _ in range(20)]

    responses = await asyncio.gather(
        *(
            client.post(f"/api/v1/crm/leads/{lead_id}/assign", headers=tenant.headers, json={})
            for lead_id in leads
        )
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    shares = Counter(r.json()["owner_id"] for r in responses)
    assert shares == {m.id: 5 for m in reps}


async def test_load_balanced_evens_out_open_leads(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    a, b, c = await _team(db, tenant, 3)
    for owner, n in ((a, 3), (c, 1)):
        for _ in range(n):
            await add_lead(db, tenant.tenant_id, owner_id=owner.id, status="working")
    await add_lead(db, tenant.tenant_id, owner_id=b.id, status="converted")  # not open
    await _rules(client, tenant, {"strategy": "load_balanced", "pool": [a.id, b.id, c.id]})

    first = await _assign(db, tenant.tenant_id, await add_lead(db, tenant.tenant_id))
    assert first.owner_id == b.id
    assert first.assignment_reason == "fewest open leads (0 open leads)"
    for _ in range(4):
        await _assign(db, tenant.tenant_id, await add_lead(db, tenant.tenant_id))

    r = await client.get("/api/v1/crm/reps", headers=tenant.headers)
    load = {rep["user_id"]: rep["open_leads"] for rep in r.json()["items"]}
    assert [load[a.id], load[b.id], load[c.id]] == [3, 3, 3]


async def test_rules_route_by_territory_source_and_score_band(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    dach, ref1, ref2, vip = await _team(db, tenant, 4)
    await _rules(
        client,
        tenant,
        {
            "strategy": "rules",
            "rules": [
                {"name": "DACH", "match": {"countries": ["de", "AT"]}, "user_id": dach.id},
                {
                    "name": "Referrals",
                    "match": {"sources": ["Referral"]},
                    "pool": [ref1.id, ref2.id],
                },
                {"name": "VIP", "match": {"score_min": 80}, "user_id": vip.id},
            ],
            "fallback": "load_balanced",
        },
    )
    by_enrichment = await add_lead(db, tenant.tenant_id, enrichment={"country": "de"})
    by_contact = await add_lead(db, tenant.tenant_id, country="AT", source="referral")
    referrals = [await add_lead(db, tenant.tenant_id, source="referral") for _ in range(2)]
    vip_lead = await add_lead(db, tenant.tenant_id, score=91, source="web")
    nobody = await add_lead(db, tenant.tenant_id, score=50)

    assigned = {lid: await _assign(db, tenant.tenant_id, lid) for lid in
                [by_enrichment, by_contact, *referrals, vip_lead, nobody]}  # fmt: skip
    assert assigned[by_enrichment].owner_id == dach.id
    assert assigned[by_enrichment].assignment_reason == "rule 1 'DACH' matched"
    assert assigned[by_contact].owner_id == dach.id  # first matching rule wins
    assert {assigned[lid].owner_id for lid in referrals} == {ref1.id, ref2.id}
    assert assigned[referrals[0]].assignment_reason == (
        "rule 2 'Referrals' matched; round robin within its pool of 2"
    )
    assert assigned[vip_lead].owner_id == vip.id
    reason = assigned[nobody].assignment_reason
    assert reason is not None and reason.startswith("no rule matched; fallback fewest open leads")
    # The fallback balanced over the whole team: the owner had no open lead yet.
    assert assigned[nobody].owner_id == tenant.user_id


async def test_unavailable_away_and_full_reps_are_skipped(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    off, away, full, back, ok = await _team(db, tenant, 5)
    await _rep(client, tenant, off.id, available=False)
    await _rep(client, tenant, away.id, away_until=(utcnow() + dt.timedelta(days=3)).isoformat())
    await _rep(client, tenant, back.id, away_until=(utcnow() - dt.timedelta(days=1)).isoformat())
    await _rep(client, tenant, full.id, capacity=1)
    await add_lead(db, tenant.tenant_id, owner_id=full.id, status="new")
    await _rules(client, tenant, {"pool": [off.id, away.id, full.id, back.id, ok.id]})

    owners = [
        (await _assign(db, tenant.tenant_id, await add_lead(db, tenant.tenant_id))).owner_id
        for _ in range(4)
    ]
    assert set(owners) == {back.id, ok.id} and Counter(owners) == {back.id: 2, ok.id: 2}

    reps = (await client.get("/api/v1/crm/reps", headers=tenant.headers)).json()["items"]
    accepting = {r["user_id"]: r["accepting"] for r in reps}
    assert accepting[off.id] is accepting[away.id] is accepting[full.id] is False
    assert accepting[back.id] is accepting[ok.id] is True


async def test_rep_territories_and_sources_limit_what_they_take(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    france, events = await _team(db, tenant, 2)
    await _rep(client, tenant, france.id, territories=["fr"])
    await _rep(client, tenant, events.id, sources=["Trade Show"])
    await _rules(client, tenant, {"strategy": "load_balanced", "pool": [france.id, events.id]})

    french = await _assign(db, tenant.tenant_id, await add_lead(db, tenant.tenant_id, country="FR"))
    show = await _assign(
        db, tenant.tenant_id, await add_lead(db, tenant.tenant_id, source="trade_show")
    )
    assert french.owner_id == france.id and show.owner_id == events.id


async def test_nobody_able_falls_back_to_the_workspace_owner(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    a, b = await _team(db, tenant, 2)
    await _rep(client, tenant, a.id, available=False)
    await _rep(client, tenant, b.id, capacity=0)
    await _rules(client, tenant, {"strategy": "round_robin", "pool": [a.id, b.id]})

    lead = await _assign(db, tenant.tenant_id, await add_lead(db, tenant.tenant_id))
    assert lead.owner_id == tenant.user_id
    reason = lead.assignment_reason or ""
    assert "nobody in the team could take the lead" in reason
    assert "Rep 0: unavailable" in reason and "Rep 1: at capacity (0/0)" in reason
    assert reason.endswith("assigned to the workspace owner")
