"""On the demo tenant, "hot" means something: only the top tenth to fifth of its leads
are hot, and a lead that arrives with nothing but an email is not one of them."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.demo import DEMO_SLUG
from bizos.modules.crm.models import Lead
from bizos.modules.crm.scoring import service
from bizos.modules.identity.models import Tenant


async def _demo_tenant(db: Database) -> str:
    async with db.unit_of_work(system=True, readonly=True) as session:
        tenant_id = await session.scalar(sa.select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
    assert tenant_id is not None
    return tenant_id


@pytest.mark.demo
async def test_hot_leads_are_the_top_tenth_to_fifth_of_the_demo(db: Database) -> None:
    tenant_id = await _demo_tenant(db)
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        settings = await service.get_scoring_settings(session, system_context(tenant_id))
        scores = list(await session.scalars(sa.select(Lead.score)))
    assert len(scores) >= 300 and all(s is not None for s in scores)
    hot = sum(1 for s in scores if s is not None and s >= settings.hot_threshold)
    assert 0.10 <= hot / len(scores) <= 0.20, f"{hot} of {len(scores)} leads are hot"


@pytest.mark.demo
async def test_a_lead_with_only_an_email_is_not_hot_on_the_demo(
    settings: Settings, db: Database, client: httpx.AsyncClient
) -> None:
    """The demo scores with the model it trained on its year of outcomes; a bare lead
    still scores low, and its age is not a reason for its score."""
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": settings.demo_email, "password": settings.demo_password, "tenant": "demo"},
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    created = await client.post(
        "/api/v1/crm/leads", json={"email": "someone@quiet-prospect.example"}, headers=headers
    )
    assert created.status_code == 201, created.text

    tenant_id = await _demo_tenant(db)
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        lead = await service.score_lead(
            session, system_context(tenant_id), created.json()["id"], reason="created"
        )
    assert lead.score_model != "rules"  # the demo's own trained model
    assert lead.score is not None and lead.score < 40
    assert not any(
        f["feature"] == "lead_recency" and f["impact"] > 0 for f in lead.score_factors
    ), lead.score_factors
