"""The assignment API's edges: validated rules (422 with paths), admin-only settings,
manual reassignment, reps with If-Match, and another tenant's ids."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.notifications.models import Notification
from tests.conftest import TenantLogin
from tests.modules.crm.scoring.factories import add_lead, add_user
from tests.modules.events.helpers import error_locs
from tests.modules.identity.helpers import add_member


async def test_assignment_rules_round_trip(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    r = await client.get("/api/v1/crm/assignment-rules", headers=tenant.headers)
    assert r.status_code == 200
    assert r.json() == {
        "strategy": "round_robin",
        "pool": [],
        "rules": [],
        "fallback": "round_robin",
    }
    rep = await add_member(client, tenant, "member")
    config = {
        "strategy": "rules",
        "rules": [{"name": "Web", "match": {"sources": ["Web Form"]}, "pool": [rep.id, rep.id]}],
        "fallback": "load_balanced",
    }
    r = await client.put("/api/v1/crm/assignment-rules", headers=tenant.headers, json=config)
    assert r.status_code == 200, r.text
    stored = (await client.get("/api/v1/crm/assignment-rules", headers=tenant.headers)).json()
    assert stored["rules"][0]["match"]["sources"] == ["web_form"]
    assert stored["rules"][0]["pool"] == [rep.id]
    assert stored["strategy"] == "rules" and stored["fallback"] == "load_balanced"


async def test_bad_assignment_rules_are_422_with_paths(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    viewer = await add_member(client, tenant, "viewer")
    r = await client.put(
        "/api/v1/crm/assignment-rules", headers=tenant.headers, json={"strategy": "random"}
    )
    assert error_locs(r) == [["body", "strategy"]]

    r = await client.put(
        "/api/v1/crm/assignment-rules",
        headers=tenant.headers,
        json={"strategy": "rules", "rules": [{"name": "x", "match": {"countries": ["Germany"]}}]},
    )
    assert error_locs(r) == [["body", "rules", 0, "match", "countries", 0]]

    r = await client.put(
        "/api/v1/crm/assignment-rules",
        headers=tenant.headers,
        json={
            "strategy": "rules",
            "pool": [viewer.id],
            "rules": [
                {"name": "both", "user_id": tenant.user_id, "pool": [tenant.user_id]},
                {"name": "stranger", "user_id": other_tenant.user_id},
                {"name": "band", "match": {"score_min": 80, "score_max": 20}, "pool": ["nope"]},
                {"name": "neither"},
            ],
        },
    )
    assert error_locs(r) == [
        ["body", "pool", 0],
        ["body", "rules", 0],
        ["body", "rules", 1, "user_id"],
        ["body", "rules", 2, "pool", 0],
        ["body", "rules", 2, "match", "score_min"],
        ["body", "rules", 3],
    ]
    r = await client.put(
        "/api/v1/crm/assignment-rules", headers=tenant.headers, json={"strategy": "rules"}
    )
    assert error_locs(r) == [["body", "rules"]]
    # Nothing bad was stored.
    stored = (await client.get("/api/v1/crm/assignment-rules", headers=tenant.headers)).json()
    assert stored["strategy"] == "round_robin"


async def test_assignment_settings_need_admin(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    viewer = await add_member(client, tenant, "viewer")
    lead_id = await add_lead(db, tenant.tenant_id)
    for method, path, body in (
        ("GET", "/api/v1/crm/assignment-rules", None),
        ("PUT", "/api/v1/crm/assignment-rules", {}),
        ("PUT", f"/api/v1/crm/reps/{member.id}", {}),
    ):
        r = await client.request(method, path, headers=member.headers, json=body)
        assert r.status_code == 403, (method, path, r.text)
    assert (await client.get("/api/v1/crm/reps", headers=viewer.headers)).status_code == 200
    r = await client.post(f"/api/v1/crm/leads/{lead_id}/assign", headers=viewer.headers, json={})
    assert r.status_code == 403


async def test_manual_reassignment(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    rep = await add_member(client, tenant, "member", name="Rita")
    viewer = await add_member(client, tenant, "viewer")
    lead_id = await add_lead(db, tenant.tenant_id, owner_id=tenant.user_id)

    r = await client.post(
        f"/api/v1/crm/leads/{lead_id}/assign", headers=tenant.headers, json={"owner_id": rep.id}
    )
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == rep.id
    assert r.json()["assignment_reason"] == f"assigned by hand by {tenant.user_id}"
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        event = await session.scalar(sa.select(Event).where(Event.type == "crm.lead.assigned"))
    assert event is not None
    assert event.data["strategy"] == "manual"
    assert (event.data["owner_id"], event.data["previous_owner_id"]) == (rep.id, tenant.user_id)

    for owner_id in ("no-such-user", other_tenant.user_id, viewer.id):
        r = await client.post(
            f"/api/v1/crm/leads/{lead_id}/assign",
            headers=tenant.headers,
            json={"owner_id": owner_id},
        )
        assert error_locs(r) == [["body", "owner_id"]]

    r = await client.post(
        f"/api/v1/crm/leads/{lead_id}/assign",
        headers=other_tenant.headers,
        json={"owner_id": other_tenant.user_id},
    )
    assert r.status_code == 404


async def test_a_hot_lead_notifies_the_owner_it_is_assigned_to(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    rep_id = await add_user(db, tenant.tenant_id, name="Rita")
    hot = await add_lead(db, tenant.tenant_id, score=85)
    cold = await add_lead(db, tenant.tenant_id, score=20)
    await client.put(
        "/api/v1/crm/assignment-rules", headers=tenant.headers, json={"pool": [rep_id]}
    )
    for lead_id in (hot, cold):
        r = await client.post(f"/api/v1/crm/leads/{lead_id}/assign", headers=tenant.headers)
        assert r.status_code == 200 and r.json()["owner_id"] == rep_id
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        notes = list(await session.scalars(sa.select(Notification.related_id).where(
            Notification.user_id == rep_id, Notification.kind == "lead.hot")))  # fmt: skip
    assert notes == [hot]


async def test_reps_are_listed_and_updated_with_if_match(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    rep = await add_member(client, tenant, "member", name="Rita")
    await add_member(client, tenant, "viewer")  # viewers take no leads: not listed
    r = await client.get("/api/v1/crm/reps", headers=tenant.headers)
    items = {i["user_id"]: i for i in r.json()["items"]}
    assert set(items) == {tenant.user_id, rep.id}
    assert items[rep.id]["available"] is True and items[rep.id]["version"] == 0

    body: dict[str, Any] = {"capacity": 10, "territories": ["de"], "sources": ["Web Form"]}
    r = await client.put(
        f"/api/v1/crm/reps/{rep.id}", headers={**tenant.headers, "If-Match": "0"}, json=body
    )
    assert r.status_code == 200, r.text
    assert r.json()["territories"] == ["DE"] and r.json()["sources"] == ["web_form"]
    assert r.json()["version"] == 1
    r = await client.put(
        f"/api/v1/crm/reps/{rep.id}", headers={**tenant.headers, "If-Match": "0"}, json=body
    )
    assert r.status_code == 409

    r = await client.put(
        f"/api/v1/crm/reps/{rep.id}",
        headers=tenant.headers,
        json={"capacity": -1, "away_until": "2030-01-01T00:00:00", "territories": ["DEU"]},
    )
    assert sorted(error_locs(r)) == [
        ["body", "away_until"],
        ["body", "capacity"],
        ["body", "territories", 0],
    ]
    r = await client.put(
        f"/api/v1/crm/reps/{other_tenant.user_id}", headers=tenant.headers, json={}
    )
    assert r.status_code == 404

    page = await client.get("/api/v1/crm/reps", params={"limit": 1}, headers=tenant.headers)
    rest = await client.get(
        "/api/v1/crm/reps",
        params={"limit": 1, "cursor": page.json()["next_cursor"]},
        headers=tenant.headers,
    )
    assert len(page.json()["items"]) == len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None


async def test_countries_must_exist_and_away_until_is_answered_in_utc(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    rep = await add_member(client, tenant, "member")
    # "UK" looks like a country but is not ISO 3166 (that is GB): it would never match.
    r = await client.put(
        f"/api/v1/crm/reps/{rep.id}", headers=tenant.headers, json={"territories": ["GB", "UK"]}
    )
    assert error_locs(r) == [["body", "territories", 1]]
    rules = {"strategy": "rules", "rules": [{"name": "x", "match": {"countries": ["ZZ"]},
                                            "user_id": rep.id}]}  # fmt: skip
    r = await client.put("/api/v1/crm/assignment-rules", headers=tenant.headers, json=rules)
    assert error_locs(r) == [["body", "rules", 0, "match", "countries", 0]]
    r = await client.put(
        "/api/v1/crm/scoring/settings", headers=tenant.headers, json={"target_countries": ["XX"]}
    )
    assert error_locs(r) == [["body", "target_countries", 0]]

    # Given with an offset, answered in UTC, the same on write as on read.
    r = await client.put(
        f"/api/v1/crm/reps/{rep.id}",
        headers=tenant.headers,
        json={"territories": ["gb"], "away_until": "2030-01-01T02:00:00+02:00"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["away_until"] == "2030-01-01T00:00:00Z"
    listed = (await client.get("/api/v1/crm/reps", headers=tenant.headers)).json()["items"]
    assert [i["away_until"] for i in listed if i["user_id"] == rep.id] == ["2030-01-01T00:00:00Z"]
