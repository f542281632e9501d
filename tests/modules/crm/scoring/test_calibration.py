"""Scores mean something: a lead that tells us nothing but its address scores low, each
real signal (size, seniority, an enriched company, a budget, a good source, engagement)
lifts it, and a lead's age only ever pulls a score down, under the rules and under a
trained model alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import httpx
from hypothesis import given
from hypothesis import strategies as st

from bizos.core.context import system_context
from bizos.core.db import Database, utcnow
from bizos.modules.crm.models import Lead
from bizos.modules.crm.scoring import service
from bizos.modules.crm.scoring.features import LeadFeatures, title_seniority
from bizos.modules.crm.scoring.rules import Targets, rule_points, rule_score
from tests.conftest import TenantLogin
from tests.modules.crm.scoring.factories import add_lead, close_lead

BARE = LeadFeatures(
    employees=None,
    industry=None,
    country=None,
    source="api",
    activities_30d=0,
    activities_total=0,
    days_since_activity=None,
    free_mail=False,
    has_phone=False,
    message_length=0,
    lead_age_days=0.0,
)


def _rules(f: LeadFeatures) -> int:
    return rule_score(rule_points(f, Targets()))


def test_a_lead_with_nothing_but_an_email_scores_low() -> None:
    assert _rules(BARE) < 25
    assert _rules(dataclasses.replace(BARE, free_mail=True)) <= 10
    assert _rules(dataclasses.replace(BARE, source="web_form")) < 30


def test_each_signal_lifts_a_bare_lead() -> None:
    bare = _rules(BARE)
    signals = {
        "company size": {"employees": 400},
        "title seniority": {"title_seniority": title_seniority("Head of Purchasing")},
        "enriched company": {"enriched": True},
        "budget": {"has_budget": True},
        "referral": {"source": "referral"},
        "trade show": {"source": "trade_show"},
        "engagement": {"activities_30d": 3, "activities_total": 3, "days_since_activity": 0.5},
    }
    for name, change in signals.items():
        assert _rules(dataclasses.replace(BARE, **change)) > bare, name  # type: ignore[arg-type]


def test_a_strong_lead_is_hot_under_the_rules() -> None:
    strong = dataclasses.replace(
        BARE,
        employees=800,
        industry="Hotel",
        source="referral",
        title_seniority=title_seniority("Director of Food & Beverage"),
        enriched=True,
        has_budget=True,
        has_phone=True,
        message_length=180,
        activities_30d=2,
        activities_total=2,
        days_since_activity=1.0,
    )
    assert _rules(strong) >= 70


def test_titles_read_as_seniority() -> None:
    assert title_seniority(None) == 0
    assert title_seniority("") == 0
    assert title_seniority("Barista") == 1
    assert title_seniority("Purchasing Manager") == 2
    assert title_seniority("Category Buyer") == 2
    assert title_seniority("Chef-Owner") == 3
    assert title_seniority("Head of Purchasing") == 3
    assert title_seniority("VP Operations") == 3


@given(
    younger=st.floats(min_value=0, max_value=2000, allow_nan=False),
    extra=st.floats(min_value=0, max_value=2000, allow_nan=False),
    employees=st.one_of(st.none(), st.integers(min_value=1, max_value=100_000)),
    free_mail=st.booleans(),
)
def test_age_never_raises_a_rules_score(
    younger: float, extra: float, employees: int | None, free_mail: bool
) -> None:
    young = dataclasses.replace(
        BARE, lead_age_days=younger, employees=employees, free_mail=free_mail
    )
    old = dataclasses.replace(young, lead_age_days=younger + extra)
    assert rule_points(young, Targets())["lead_recency"] <= 0
    assert _rules(old) <= _rules(young)


async def test_a_trained_model_never_rewards_a_young_lead(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    """History where big companies win more, and wins were decided within days while
    losses dragged on for weeks: the model must not read "the lead is new" as a reason
    to score it higher."""
    rng = random.Random(3)
    start = utcnow() - dt.timedelta(days=300)
    for i in range(60):
        big = rng.random() < 0.5
        won = rng.random() < (0.7 if big else 0.15)
        created = start + dt.timedelta(days=i * 4)
        lead_id = await add_lead(
            db,
            tenant.tenant_id,
            email=f"p{i}@firm{i}.com",
            enrichment={"employees": rng.randint(500, 3000) if big else rng.randint(2, 30)},
            created_at=created,
        )
        decided = created + dt.timedelta(days=rng.uniform(1, 4) if won else rng.uniform(30, 60))
        await close_lead(db, tenant.tenant_id, lead_id, won=won or None, at=decided)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        attempt = await service.retrain(session, system_context(tenant.tenant_id))
    assert attempt.status == "trained", attempt.detail

    fresh = await add_lead(db, tenant.tenant_id, enrichment={"employees": 200})
    stale = await add_lead(
        db,
        tenant.tenant_id,
        enrichment={"employees": 200},
        created_at=utcnow() - dt.timedelta(days=120),
    )
    scored: dict[str, Lead] = {}
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        for lead_id in (fresh, stale):
            scored[lead_id] = await service.score_lead(
                session, system_context(tenant.tenant_id), lead_id, reason="created"
            )
    assert scored[fresh].score_model != "rules"
    for lead in scored.values():
        age = [f for f in lead.score_factors if f["feature"] == "lead_recency"]
        assert all(f["impact"] <= 0 for f in age), lead.score_factors
    assert (scored[stale].score or 0) <= (scored[fresh].score or 0)
