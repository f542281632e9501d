"""Stage history and pipeline velocity, checked against figures worked out by hand.

Deal A: lead (day 0) → qualified (day 2) → proposal (day 5) → won (day 9).
Deal B: lead (day 0) → qualified (day 4) → lost (day 10).
Deal C: lead (day 1), still open.
"""

from __future__ import annotations

import datetime as dt

import httpx

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.crm.deals.helpers import DEALS, T0, make_contact, seed_deal
from tests.modules.identity.helpers import add_member

DAY = dt.timedelta(days=1)
VELOCITY = "/api/v1/crm/pipeline/velocity"


async def _pipeline(db: Database, tenant: TenantLogin) -> dict[str, str]:
    contact = await make_contact(db, tenant, "ada@customer.example")
    a = await seed_deal(
        db,
        tenant,
        contact_id=contact,
        amount="1000.00",
        path=[
            ("lead", T0),
            ("qualified", T0 + 2 * DAY),
            ("proposal", T0 + 5 * DAY),
            ("won", T0 + 9 * DAY),
        ],
    )
    b = await seed_deal(
        db, tenant, path=[("lead", T0), ("qualified", T0 + 4 * DAY), ("lost", T0 + 10 * DAY)]
    )
    c = await seed_deal(db, tenant, path=[("lead", T0 + DAY)])
    return {"a": a, "b": b, "c": c}


async def test_history_lists_each_stage_with_the_time_spent_before(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    deals = await _pipeline(db, tenant)
    r = await client.get(
        f"{DEALS}/{deals['a']}/history", params={"sort": "changed_at"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    history = r.json()["items"]
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [
        (None, "lead"),
        ("lead", "qualified"),
        ("qualified", "proposal"),
        ("proposal", "won"),
    ]
    assert [h["seconds_in_previous"] for h in history] == [None, 172800.0, 259200.0, 345600.0]
    assert [h["days_in_previous"] for h in history] == [None, 2.0, 3.0, 4.0]
    assert dt.datetime.fromisoformat(history[3]["changed_at"]) == T0 + 9 * DAY
    assert all(h["actor_id"] == tenant.user_id for h in history)


async def test_velocity_reports_days_per_stage_win_rate_and_cycle(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await _pipeline(db, tenant)
    r = await client.get(VELOCITY, headers=tenant.headers)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["stages"] == [
        {"stage": "lead", "exits": 2, "average_days": 3.0},  # (2 + 4) / 2
        {"stage": "qualified", "exits": 2, "average_days": 4.5},  # (3 + 6) / 2
        {"stage": "proposal", "exits": 1, "average_days": 4.0},
        {"stage": "negotiation", "exits": 0, "average_days": None},
    ]
    assert (report["won_count"], report["lost_count"], report["win_rate"]) == (1, 1, 0.5)
    assert report["average_cycle_days"] == 9.0
    assert report["won_amount_by_currency"] == {"EUR": "1000.00"}


async def test_velocity_within_dates_and_for_one_owner(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await _pipeline(db, tenant)
    # Day 5 (2026-01-10) to day 9 (2026-01-14): A's last two moves, B is lost later.
    r = await client.get(
        VELOCITY, params={"since": "2026-01-10", "until": "2026-01-14"}, headers=tenant.headers
    )
    report = r.json()
    assert [(s["stage"], s["exits"], s["average_days"]) for s in report["stages"]] == [
        ("lead", 0, None),
        ("qualified", 1, 3.0),
        ("proposal", 1, 4.0),
        ("negotiation", 0, None),
    ]
    assert (report["won_count"], report["lost_count"], report["win_rate"]) == (1, 0, 1.0)

    member = await add_member(client, tenant, "member")
    r = await client.get(VELOCITY, params={"owner_id": member.id}, headers=tenant.headers)
    assert r.json()["won_count"] == 0
    assert all(s["exits"] == 0 for s in r.json()["stages"])

    r = await client.get(
        VELOCITY, params={"since": "2026-02-01", "until": "2026-01-01"}, headers=tenant.headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "until"]


async def test_velocity_is_per_tenant(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await _pipeline(db, tenant)
    report = (await client.get(VELOCITY, headers=other_tenant.headers)).json()
    assert report["won_count"] == report["lost_count"] == 0
    assert report["win_rate"] is None
