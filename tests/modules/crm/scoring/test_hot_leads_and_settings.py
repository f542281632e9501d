"""A lead crossing the hot threshold upward notifies its owner once per crossing; the
threshold and training requirements are admin settings, validated."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from bizos.core.config import Settings
from bizos.core.context import system_context
from bizos.core.db import Database, utcnow
from bizos.modules.crm.scoring import service
from bizos.modules.notifications.models import Notification
from tests.conftest import TenantLogin
from tests.modules.crm.scoring.factories import add_lead, contact_of, run_scoring_handlers, track
from tests.modules.events.helpers import error_locs
from tests.modules.identity.helpers import add_member


async def _hot_notifications(db: Database, tenant_id: str, user_id: str) -> list[Notification]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Notification).where(
                Notification.user_id == user_id, Notification.kind == "lead.hot"
            )
        )
        return list(rows)


async def _set_threshold(client: httpx.AsyncClient, tenant: TenantLogin, threshold: int) -> None:
    r = await client.put(
        "/api/v1/crm/scoring/settings", headers=tenant.headers, json={"hot_threshold": threshold}
    )
    assert r.status_code == 200, r.text


async def test_owner_is_notified_once_per_upward_crossing(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, settings: Settings
) -> None:
    rep = await add_member(client, tenant, "member", name="Rita")
    lead_id = await add_lead(db, tenant.tenant_id, owner_id=rep.id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        lead = await service.score_lead(
            session, system_context(tenant.tenant_id), lead_id, reason="created"
        )
        base = lead.score
    assert base is not None
    contact_id = await contact_of(db, tenant.tenant_id, lead_id)

    async def activity_then_rescore() -> None:
        await track(db, tenant.tenant_id, contact_id, [utcnow()])
        await run_scoring_handlers(db, settings)

    await _set_threshold(client, tenant, base + 3)
    await activity_then_rescore()  # base + 10.5: crosses
    await activity_then_rescore()  # base + 13: still above, no second notice
    notes = await _hot_notifications(db, tenant.tenant_id, rep.id)
    assert len(notes) == 1
    assert notes[0].related_type == "lead" and notes[0].related_id == lead_id
    assert notes[0].data["previous_score"] == base

    await _set_threshold(client, tenant, base + 20)
    await activity_then_rescore()  # base + 15.5: below the new threshold
    await activity_then_rescore()  # base + 18
    assert len(await _hot_notifications(db, tenant.tenant_id, rep.id)) == 1
    await activity_then_rescore()  # base + 20.5: a new crossing
    assert len(await _hot_notifications(db, tenant.tenant_id, rep.id)) == 2


async def test_scoring_settings_round_trip(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    r = await client.get("/api/v1/crm/scoring/settings", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["hot_threshold"] == 70
    assert r.json()["min_outcomes"] == 30 and r.json()["min_per_class"] == 5
    body = {"hot_threshold": 60, "min_outcomes": 40, "target_countries": ["de", "AT"]}
    r = await client.put("/api/v1/crm/scoring/settings", headers=tenant.headers, json=body)
    assert r.status_code == 200, r.text
    again = (await client.get("/api/v1/crm/scoring/settings", headers=tenant.headers)).json()
    assert again["hot_threshold"] == 60 and again["target_countries"] == ["DE", "AT"]


async def test_bad_scoring_settings_are_422_with_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.put(
        "/api/v1/crm/scoring/settings",
        headers=tenant.headers,
        json={"hot_threshold": 101, "target_countries": ["Germany"], "surprise": 1},
    )
    assert sorted(error_locs(r)) == [
        ["body", "hot_threshold"],
        ["body", "surprise"],
        ["body", "target_countries", 0],
    ]
    r = await client.put(
        "/api/v1/crm/scoring/settings",
        headers=tenant.headers,
        json={"min_outcomes": 10, "min_per_class": 6},
    )
    assert error_locs(r) == [["body"]]


async def test_scoring_admin_endpoints_need_admin(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    for method, path in (
        ("GET", "/api/v1/crm/scoring/settings"),
        ("PUT", "/api/v1/crm/scoring/settings"),
        ("POST", "/api/v1/crm/scoring/retrain"),
    ):
        r = await client.request(method, path, headers=member.headers, json={})
        assert r.status_code == 403, (method, path, r.text)
    # Reading the model is for anyone with crm:read.
    r = await client.get("/api/v1/crm/scoring/model", headers=member.headers)
    assert r.status_code == 200
