"""The monthly forecast, checked against figures worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Protocol

import httpx

from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.modules.crm.deals.helpers import make_contact, patch_deal, seed_deal
from tests.modules.identity.helpers import add_member, assert_problem

FORECAST = "/api/v1/crm/forecast"
FORECASTS = "/api/v1/crm/forecasts"
MARCH = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
IN_MARCH = dt.date(2026, 3, 20)
DAY = dt.timedelta(days=1)


class _Caller(Protocol):
    @property
    def headers(self) -> dict[str, str]: ...


async def _forecast(
    client: httpx.AsyncClient, tenant: _Caller, period: str, **params: str
) -> dict[str, Any]:
    r = await client.get(FORECAST, params={"period": period, **params}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _stage(forecast: dict[str, Any], stage: str) -> dict[str, Any]:
    return next(s for s in forecast["by_stage"] if s["stage"] == stage)


async def test_default_probabilities_weight_the_months_pipeline(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    ada = await make_contact(db, tenant, "ada@customer.example")
    for stage, amount in (("lead", "1000"), ("qualified", "2000"), ("proposal", "3000")):
        await seed_deal(db, tenant, path=[(stage, MARCH)], amount=amount, close_date=IN_MARCH)
    await seed_deal(db, tenant, path=[("negotiation", MARCH)], amount="4000", close_date=IN_MARCH)
    await seed_deal(  # the rep is sure of this one: 0.9 overrides proposal's 0.4
        db, tenant, path=[("proposal", MARCH)], amount="500", close_date=IN_MARCH, probability=0.9
    )
    await seed_deal(
        db,
        tenant,
        path=[("lead", MARCH), ("won", MARCH + 3 * DAY)],
        amount="1500",
        contact_id=ada,
        close_date=dt.date(2026, 3, 5),
    )
    # Left out: another month, no close date, another currency (listed apart), lost.
    await seed_deal(
        db, tenant, path=[("lead", MARCH)], amount="9999", close_date=dt.date(2026, 4, 1)
    )
    await seed_deal(db, tenant, path=[("lead", MARCH)], amount="9999")
    await seed_deal(
        db, tenant, path=[("lead", MARCH)], amount="700", currency="USD", close_date=IN_MARCH
    )
    await seed_deal(db, tenant, path=[("lost", MARCH)], amount="9999", close_date=IN_MARCH)

    forecast = await _forecast(client, tenant, "2026-03")
    assert forecast["period"] == "2026-03"
    assert forecast["currency"] == "EUR"  # the tenant's main currency
    assert forecast["method"] == "default"
    assert forecast["probabilities"] == {
        "lead": 0.1,
        "qualified": 0.2,
        "proposal": 0.4,
        "negotiation": 0.6,
    }
    # 1500 won + 1000*.1 + 2000*.2 + 3000*.4 + 500*.9 + 4000*.6
    assert forecast["weighted_amount"] == "6050.00"
    # won + negotiation + the deal at .9 (commit from .7)
    assert forecast["commit_amount"] == "6000.00"
    assert forecast["best_case_amount"] == "12000.00"
    assert forecast["won_amount"] == "1500.00"
    assert _stage(forecast, "proposal") == {
        "stage": "proposal",
        "count": 2,
        "amount": "3500.00",
        "probability": 0.4,
        "weighted_amount": "1650.00",
        "sample_size": None,
    }
    assert _stage(forecast, "won")["amount"] == "1500.00"
    assert [
        (o["currency"], o["open_count"], o["open_amount"]) for o in forecast["other_currencies"]
    ] == [("USD", 1, "700.00")]
    low, high = Decimal(forecast["interval"]["low"]), Decimal(forecast["interval"]["high"])
    assert Decimal("1500") <= low <= Decimal("6050") <= high <= Decimal("12000")
    assert forecast["interval"]["draws"] == 2000

    usd = await _forecast(client, tenant, "2026-03", currency="usd")
    assert (usd["currency"], usd["weighted_amount"], usd["best_case_amount"]) == (
        "USD",
        "70.00",
        "700.00",
    )


async def _history(db: Database, tenant: TenantLogin) -> None:
    """20 closed deals: 6 won; lost after lead 6, after qualified 4, after proposal 2,
    after negotiation 2."""
    start = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
    stages = ["lead", "qualified", "proposal", "negotiation"]
    plans = [(4, "won")] * 6 + [(1, "lost")] * 6 + [(2, "lost")] * 4
    plans += [(3, "lost")] * 2 + [(4, "lost")] * 2
    for i, (reached, outcome) in enumerate(plans):
        at = start + i * DAY
        path = [(s, at + n * DAY) for n, s in enumerate(stages[:reached])]
        path.append((outcome, at + reached * DAY))
        await seed_deal(db, tenant, path=path, close_date=dt.date(2025, 11, 1))


async def test_probabilities_are_learned_from_the_tenants_closed_deals(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    r = await client.put(
        "/api/v1/crm/pipeline", json={"stage_requirements": {}}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    await _history(db, tenant)
    await seed_deal(db, tenant, path=[("lead", MARCH)], amount="1000", close_date=IN_MARCH)
    await seed_deal(db, tenant, path=[("negotiation", MARCH)], amount="1000", close_date=IN_MARCH)

    forecast = await _forecast(client, tenant, "2026-03")
    assert forecast["method"] == "learned"
    assert forecast["closed_deals"] == 20
    # (wins + 2 * default) / (reached + 2)
    assert forecast["sample_sizes"] == {
        "lead": 20,
        "qualified": 14,
        "proposal": 10,
        "negotiation": 8,
    }
    assert forecast["probabilities"] == {
        "lead": round(6.2 / 22, 4),
        "qualified": 0.4,
        "proposal": round(6.8 / 12, 4),
        "negotiation": 0.72,
    }
    assert forecast["weighted_amount"] == "1001.82"  # 1000 * 6.2/22 + 1000 * .72
    assert forecast["commit_amount"] == "1000.00"
    assert forecast["best_case_amount"] == "2000.00"
    low, high = Decimal(forecast["interval"]["low"]), Decimal(forecast["interval"]["high"])
    assert low <= Decimal("1001.82") <= high


async def test_below_the_learning_threshold_the_defaults_stay(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await client.put(
        "/api/v1/crm/pipeline", json={"stage_requirements": {}}, headers=tenant.headers
    )
    for i in range(3):
        await seed_deal(db, tenant, path=[("lead", MARCH), ("won", MARCH + (i + 1) * DAY)])
    forecast = await _forecast(client, tenant, "2026-03")
    assert forecast["method"] == "default"
    assert forecast["closed_deals"] == 3
    assert forecast["probabilities"]["lead"] == 0.1


async def test_the_same_data_gives_the_same_forecast_and_one_stored_row(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    for amount in ("1000", "2500", "4000"):
        await seed_deal(db, tenant, path=[("qualified", MARCH)], amount=amount, close_date=IN_MARCH)
    first = await _forecast(client, tenant, "2026-03")
    again = await _forecast(client, tenant, "2026-03")
    assert again == first
    await seed_deal(db, tenant, path=[("lead", MARCH)], amount="100", close_date=IN_MARCH)
    changed = await _forecast(client, tenant, "2026-03")
    assert changed["id"] != first["id"]
    stored = (
        await client.get(FORECASTS, params={"period": "2026-03"}, headers=tenant.headers)
    ).json()
    assert [f["id"] for f in stored["items"]] == [changed["id"], first["id"]]  # newest first


async def test_stored_forecasts_report_their_accuracy_once_the_month_is_over(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    december = dt.datetime(2025, 12, 1, 9, tzinfo=dt.UTC)
    ada = await make_contact(db, tenant, "ada@customer.example")
    await seed_deal(
        db,
        tenant,
        path=[("lead", december), ("won", december + 2 * DAY)],
        amount="1000",
        contact_id=ada,
        close_date=dt.date(2025, 12, 5),
    )
    open_deal = await seed_deal(
        db,
        tenant,
        path=[("proposal", december)],
        amount="2000",
        close_date=dt.date(2025, 12, 20),
        contact_id=ada,
    )
    before = await _forecast(client, tenant, "2025-12")
    assert before["weighted_amount"] == "1800.00"  # 1000 won + 2000 * .4

    r = await patch_deal(client, tenant, open_deal, {"stage": "won", "close_date": "2025-12-20"})
    assert r.status_code == 200, r.text
    after = await _forecast(client, tenant, "2025-12")
    assert after["weighted_amount"] == "3000.00"

    listed = (
        await client.get(
            FORECASTS, params={"period": "2025-12", "sort": "created_at"}, headers=tenant.headers
        )
    ).json()
    first, second = listed["items"]
    assert first["id"] == before["id"] and first["period_over"] is True
    assert first["accuracy"] == {
        "actual_won_amount": "3000.00",
        "absolute_error": "1200.00",
        "absolute_percentage_error": 40.0,
        "within_interval": True,  # 10th-90th: 1000 (lost) to 3000 (won)
    }
    assert second["accuracy"]["absolute_percentage_error"] == 0.0

    future = await _forecast(client, tenant, "2099-01")
    assert future["period_over"] is False
    listed = (
        await client.get(FORECASTS, params={"period": "2099-01"}, headers=tenant.headers)
    ).json()
    assert listed["items"][0]["accuracy"] is None


async def test_a_bad_period_or_currency_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for period in ("2026-13", "2026-3", "march", "2026-03-01"):
        r = await client.get(FORECAST, params={"period": period}, headers=tenant.headers)
        problem = assert_problem(r, 422)
        assert problem["errors"][0]["loc"] == ["query", "period"], period
    assert_problem(await client.get(FORECAST, headers=tenant.headers), 422)
    r = await client.get(
        FORECAST, params={"period": "2026-03", "currency": "XXQ"}, headers=tenant.headers
    )
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", "currency"]
    r = await client.get(FORECASTS, params={"period": "26-03"}, headers=tenant.headers)
    assert_problem(r, 422)
    # The stored list refuses an unknown currency as the forecast does (not an empty 200).
    r = await client.get(FORECASTS, params={"currency": "ZZ"}, headers=tenant.headers)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", "currency"]


async def test_forecasts_are_per_tenant_and_readable_by_a_viewer(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await seed_deal(db, tenant, path=[("lead", MARCH)], amount="1000", close_date=IN_MARCH)
    await _forecast(client, tenant, "2026-03")
    theirs = await _forecast(client, other_tenant, "2026-03")
    assert theirs["best_case_amount"] == "0.00"
    assert (theirs["interval"]["low"], theirs["interval"]["high"]) == ("0.00", "0.00")
    stored = (await client.get(FORECASTS, headers=other_tenant.headers)).json()["items"]
    assert [f["id"] for f in stored] == [theirs["id"]]

    viewer = await add_member(client, tenant, "viewer")
    assert (await _forecast(client, viewer, "2026-03"))["best_case_amount"] == "1000.00"
