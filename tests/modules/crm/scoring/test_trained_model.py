"""With enough won/lost history the tenant gets its own logistic regression: it learns
what wins (here: big, engaged companies), is stored as plain numbers with held-out
metrics, scores new leads with factors that add up, and is retrained daily."""

from __future__ import annotations

import datetime as dt
import math
import random

import httpx
import sqlalchemy as sa

from bizos import registry
from bizos.core.context import system_context
from bizos.core.db import Database, utcnow
from bizos.core.scheduler import Scheduler
from bizos.modules.crm.models import Lead, ScoringModel
from bizos.modules.crm.scoring import service
from bizos.modules.crm.scoring.features import gather_features
from bizos.modules.crm.scoring.jobs import RETRAIN_JOB
from tests.conftest import TenantLogin
from tests.modules.crm.scoring.factories import add_lead, close_lead, contact_of, track


async def _history(db: Database, tenant_id: str, n: int = 80, seed: int = 7) -> None:
    """``n`` closed leads where size and engagement vary independently: big companies
    that engaged win 85% of the time, one of the two 45%, neither 10%."""
    rng = random.Random(seed)
    start = utcnow() - dt.timedelta(days=200)
    for i in range(n):
        big, engaged = rng.random() < 0.5, rng.random() < 0.5
        wins = rng.random() < {2: 0.85, 1: 0.45, 0: 0.1}[big + engaged]
        created = start + dt.timedelta(days=i * 2)
        lead_id = await add_lead(
            db,
            tenant_id,
            email=f"p{i}@corp{i}.com",
            source=rng.choice(["web", "referral", "event"]),
            enrichment={"employees": rng.randint(500, 5000) if big else rng.randint(1, 30)},
            created_at=created,
        )
        decided = created + dt.timedelta(days=5)
        if engaged:
            times = [created + dt.timedelta(hours=h) for h in rng.sample(range(1, 110), 6)]
            await track(db, tenant_id, await contact_of(db, tenant_id, lead_id), times)
        outcome = True if wins else rng.choice([False, None])  # lost deal or disqualified
        await close_lead(db, tenant_id, lead_id, won=outcome, at=decided)


async def _retrain(db: Database, tenant_id: str) -> service.TrainingAttempt:
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        return await service.retrain(session, system_context(tenant_id))


async def _score(db: Database, tenant_id: str, lead_id: str) -> Lead:
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        return await service.score_lead(
            session, system_context(tenant_id), lead_id, reason="created"
        )


async def test_rules_stay_until_there_is_enough_history(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await _history(db, tenant.tenant_id, n=12)
    r = await client.post("/api/v1/crm/scoring/retrain", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "insufficient_history"

    status = (await client.get("/api/v1/crm/scoring/model", headers=tenant.headers)).json()
    assert status["rules_in_use"] is True and status["model"] is None
    assert status["history"]["outcomes"] == 12
    assert "needs at least 30" in status["reason"]
    assert status["last_training"]["status"] == "insufficient_history"
    assert {r["feature"] for r in status["rules"]} >= {"employees", "engagement", "source"}


async def test_trained_model_learns_that_big_engaged_companies_win(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await _history(db, tenant.tenant_id)
    r = await client.post("/api/v1/crm/scoring/retrain", headers=tenant.headers)
    assert r.status_code == 200, r.text
    attempt = r.json()
    assert attempt["status"] == "trained", attempt

    status = (await client.get("/api/v1/crm/scoring/model", headers=tenant.headers)).json()
    model = status["model"]
    assert status["rules_in_use"] is False and model["id"] == attempt["model_id"]
    # Every outcome was scored once by a model that had not seen it (cross-validation).
    assert model["samples"] == 80 and model["metrics"]["test_samples"] == 80
    assert model["metrics"]["auc"] >= 0.7
    assert model["coefficients"]["employees_log"] > 0

    # Stored as plain numbers, no pickles.
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        row = await session.scalar(sa.select(ScoringModel).where(ScoringModel.active.is_(True)))
    assert row is not None
    assert set(row.parameters) == {"means", "scales", "coefficients", "intercept"}
    assert len(row.parameters["coefficients"]) == len(row.features)

    strong = await add_lead(
        db, tenant.tenant_id, email="cto@bigco.com", enrichment={"employees": 3000}
    )
    await track(
        db,
        tenant.tenant_id,
        await contact_of(db, tenant.tenant_id, strong),
        [utcnow() - dt.timedelta(hours=h) for h in (1, 5, 20, 30, 50)],
    )
    weak = await add_lead(db, tenant.tenant_id, email="x@gmail.com", enrichment={"employees": 3})
    strong_lead = await _score(db, tenant.tenant_id, strong)
    weak_lead = await _score(db, tenant.tenant_id, weak)
    assert strong_lead.score_model == model["id"]
    assert strong_lead.score is not None and weak_lead.score is not None
    assert strong_lead.score >= 65 and weak_lead.score <= 35
    strong_factors = {f["feature"]: f["impact"] for f in strong_lead.score_factors}
    weak_factors = {f["feature"]: f["impact"] for f in weak_lead.score_factors}
    assert 3 <= len(strong_factors) <= 6
    assert strong_factors["employees"] > 0 > weak_factors["employees"]


async def test_model_factors_add_up_to_the_score(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await _history(db, tenant.tenant_id)
    assert (await _retrain(db, tenant.tenant_id)).status == "trained"
    lead_id = await add_lead(db, tenant.tenant_id, enrichment={"employees": 800})
    lead = await _score(db, tenant.tenant_id, lead_id)

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        row = await session.scalar(sa.select(Lead).where(Lead.id == lead_id))
        assert row is not None
        features = await gather_features(session, [row], as_of={lead_id: utcnow()})
        scorer = await service.scorer_for(session, system_context(tenant.tenant_id))
    explained = scorer.explain(features[lead_id])
    assert scorer.stored is not None
    logit = scorer.stored.intercept + sum(explained.impacts.values())
    assert lead.score == explained.score == round(100 / (1 + math.exp(-logit)))
    impacts = [abs(f["impact"]) for f in lead.score_factors]
    assert impacts == sorted(impacts, reverse=True)
    assert round(max(abs(v) for v in explained.impacts.values()), 3) == max(impacts)


async def test_retraining_rescores_open_leads_with_the_new_model(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    open_lead = await add_lead(db, tenant.tenant_id, enrichment={"employees": 900})
    assert (await _score(db, tenant.tenant_id, open_lead)).score_model == "rules"
    await _history(db, tenant.tenant_id)
    attempt = await _retrain(db, tenant.tenant_id)
    history = (
        await client.get(f"/api/v1/crm/leads/{open_lead}/scores", headers=tenant.headers)
    ).json()["items"]
    assert [(h["reason"], h["model"]) for h in history] == [
        ("retrained", attempt.model_id),
        ("created", "rules"),
    ]


async def test_daily_job_retrains_every_tenant_with_history(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await _history(db, tenant.tenant_id)
    await add_lead(db, other_tenant.tenant_id)  # a tenant without history keeps the rules

    ran = await Scheduler(db, [registry.job(RETRAIN_JOB)]).run_due(now=utcnow())
    assert ran == [RETRAIN_JOB]

    mine = (await client.get("/api/v1/crm/scoring/model", headers=tenant.headers)).json()
    theirs = (await client.get("/api/v1/crm/scoring/model", headers=other_tenant.headers)).json()
    assert mine["rules_in_use"] is False and mine["last_training"]["status"] == "trained"
    assert theirs["rules_in_use"] is True
    assert theirs["last_training"]["status"] == "insufficient_history"
    assert theirs["history"]["outcomes"] == 0
