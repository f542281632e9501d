"""Cold start: without won/lost history a lead is scored by transparent rules, every
point of the score accounted for by a factor; scores are kept as history and a lead is
re-scored when its contact's tracked activity comes in."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.context import system_context
from bizos.core.db import Database, utcnow
from bizos.core.events import Event
from bizos.modules.crm.models import Lead, LeadScore
from bizos.modules.crm.scoring import service
from bizos.modules.crm.scoring.features import gather_features
from bizos.modules.crm.scoring.rules import BASE_POINTS
from tests.conftest import TenantLogin
from tests.modules.crm.scoring.factories import (
    add_lead,
    contact_of,
    run_scoring_handlers,
    track,
)

ENTERPRISE = {"company": "Initech", "domain": "initech.com", "employees": 2500, "country": "DE"}


async def _score(db: Database, tenant_id: str, lead_id: str, reason: str = "created") -> Lead:
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        return await service.score_lead(session, system_context(tenant_id), lead_id, reason=reason)


async def _scored_events(db: Database, tenant_id: str, lead_id: str) -> list[dict[str, Any]]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event)
            .where(Event.type == "crm.lead.scored", Event.aggregate_id == lead_id)
            .order_by(Event.sequence)
        )
        return [e.data for e in rows]


async def test_rules_score_is_explained_by_its_factors(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    lead_id = await add_lead(
        db,
        tenant.tenant_id,
        source="referral",
        phone="+49 30 1234567",
        message="We need a CRM for 40 sales people across three offices, rollout this quarter.",
        enrichment=ENTERPRISE,
    )
    lead = await _score(db, tenant.tenant_id, lead_id)

    assert lead.score_model == "rules"
    assert lead.score is not None and 0 <= lead.score <= 100
    factors = lead.score_factors
    assert 3 <= len(factors) <= 6
    assert all({"feature", "label", "impact", "value"} <= f.keys() for f in factors)
    impacts = [abs(f["impact"]) for f in factors]
    assert impacts == sorted(impacts, reverse=True)
    by_feature = {f["feature"]: f for f in factors}
    assert by_feature["employees"]["value"] == "1001+"
    assert by_feature["employees"]["label"] == "Company size 1001+ employees"
    assert by_feature["source"]["value"] == "referral"

    # Every point is accounted for: base + all feature points = the score (not clamped here).
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        row = await session.scalar(sa.select(Lead).where(Lead.id == lead_id))
        assert row is not None
        features = await gather_features(session, [row], as_of={lead_id: utcnow()})
        scorer = await service.scorer_for(session, system_context(tenant.tenant_id))
    explained = scorer.explain(features[lead_id])
    assert explained.score == lead.score == round(BASE_POINTS + sum(explained.impacts.values()))
    assert {f["feature"]: f["impact"] for f in factors}.items() <= explained.impacts.items()


async def test_weak_lead_scores_below_strong_lead(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    strong = await add_lead(
        db, tenant.tenant_id, source="referral", phone="+4930123456", enrichment=ENTERPRISE
    )
    weak = await add_lead(
        db,
        tenant.tenant_id,
        email="someone@gmail.com",
        source="purchased_list",
        created_at=utcnow() - dt.timedelta(days=120),
    )
    strong_lead = await _score(db, tenant.tenant_id, strong)
    weak_lead = await _score(db, tenant.tenant_id, weak)
    assert strong_lead.score is not None and weak_lead.score is not None
    assert strong_lead.score > weak_lead.score + 30
    weak_factors = {f["feature"]: f for f in weak_lead.score_factors}
    assert weak_factors["lead_recency"]["impact"] == -10
    assert weak_factors["email_domain"]["label"] == "Free-mail address"


async def test_every_score_is_kept_as_history_with_an_event(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    lead_id = await add_lead(db, tenant.tenant_id)
    first = (await _score(db, tenant.tenant_id, lead_id)).score
    await track(db, tenant.tenant_id, await contact_of(db, tenant.tenant_id, lead_id), [utcnow()])
    second = (await _score(db, tenant.tenant_id, lead_id, reason="manual")).score
    assert first is not None and second is not None and second > first

    r = await client.get(f"/api/v1/crm/leads/{lead_id}/scores", headers=tenant.headers)
    assert r.status_code == 200, r.text
    history = r.json()["items"]
    assert [(h["score"], h["reason"], h["model"]) for h in history] == [
        (second, "manual", "rules"),
        (first, "created", "rules"),
    ]
    page = await client.get(
        f"/api/v1/crm/leads/{lead_id}/scores", params={"limit": 1}, headers=tenant.headers
    )
    assert [h["score"] for h in page.json()["items"]] == [second]
    rest = await client.get(
        f"/api/v1/crm/leads/{lead_id}/scores",
        params={"limit": 1, "cursor": page.json()["next_cursor"]},
        headers=tenant.headers,
    )
    assert [h["score"] for h in rest.json()["items"]] == [first]
    assert rest.json()["next_cursor"] is None

    events = await _scored_events(db, tenant.tenant_id, lead_id)
    assert [(e["score"], e["previous_score"], e["model"]) for e in events] == [
        (first, None, "rules"),
        (second, first, "rules"),
    ]
    assert events[1]["factors"] == history[0]["factors"]


async def test_tracked_activity_rescores_the_contacts_open_leads(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, settings: Settings
) -> None:
    email = "ada@initech.com"
    open_lead = await add_lead(db, tenant.tenant_id, email=email, enrichment=ENTERPRISE)
    before = (await _score(db, tenant.tenant_id, open_lead)).score
    closed_lead = await add_lead(db, tenant.tenant_id, email="bob@initech.com", status="converted")

    r = await client.post(
        "/api/v1/track",
        headers=tenant.headers,
        json={
            "events": [
                {"type": "email_opened", "email": email.upper(), "properties": {}},
                {"type": "email_opened", "email": "bob@initech.com", "properties": {}},
            ]
        },
    )
    assert r.status_code == 202, r.text
    await run_scoring_handlers(db, settings)

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        scores = (
            await session.execute(
                sa.select(LeadScore.lead_id, LeadScore.score, LeadScore.reason, LeadScore.event_id)
                .where(LeadScore.lead_id.in_([open_lead, closed_lead]))
                .order_by(LeadScore.id)
            )
        ).all()
    assert len(scores) == 2  # the closed lead is not re-scored
    latest = scores[-1]
    assert latest.lead_id == open_lead
    assert latest.reason == "event:activity.email_opened"
    assert latest.event_id is not None
    assert before is not None and latest.score > before

    lead = await client.get(f"/api/v1/crm/leads/{open_lead}/scores", headers=tenant.headers)
    factors = {f["feature"]: f for f in lead.json()["items"][0]["factors"]}
    assert factors["engagement"]["value"] == 1


async def test_a_lead_update_rescores_it(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, settings: Settings
) -> None:
    lead_id = await add_lead(db, tenant.tenant_id)
    before = (await _score(db, tenant.tenant_id, lead_id)).score
    r = await client.patch(
        f"/api/v1/crm/leads/{lead_id}", headers=tenant.headers, json={"phone": "+4930123456"}
    )
    assert r.status_code == 200, r.text
    await run_scoring_handlers(db, settings)
    history = (
        await client.get(f"/api/v1/crm/leads/{lead_id}/scores", headers=tenant.headers)
    ).json()["items"]
    assert history[0]["reason"] == "event:crm.lead.updated"
    assert before is not None and history[0]["score"] == before + 5  # a phone is +5


async def test_rescore_endpoint_and_another_tenants_lead(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    lead_id = await add_lead(db, tenant.tenant_id)
    r = await client.post(f"/api/v1/crm/leads/{lead_id}/score", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["reason"] == "manual" and r.json()["model"] == "rules"

    for method, path in (
        ("GET", f"/api/v1/crm/leads/{lead_id}/scores"),
        ("POST", f"/api/v1/crm/leads/{lead_id}/score"),
    ):
        r = await client.request(method, path, headers=other_tenant.headers)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
