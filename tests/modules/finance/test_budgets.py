"""Budgets as a finance lead uses them: spending counts towards the budget of its
category and currency, crossing the limit alerts exactly once, and coming back under
re-arms the alert (seed 003, flow 6)."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin
from tests.modules.finance.helpers import (
    BUDGETS,
    EXPENSES,
    budget_notifications,
    exceeded_events,
    get_budget,
    next_month,
    post_budget,
    spend,
    this_month,
)
from tests.modules.identity.helpers import add_member


async def test_crossing_the_limit_emits_one_event_with_what_it_is_over_by(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    await spend(client, tenant, "200.00")
    await spend(client, tenant, "250.00")
    assert await exceeded_events(client, tenant) == []

    await spend(client, tenant, "100.00")

    [event] = await exceeded_events(client, tenant)
    assert event == {
        "budget_id": budget["id"],
        "name": "Marketing",
        "category": "marketing",
        "period": "month",
        "period_start": this_month().isoformat(),
        "period_end": next_month().isoformat(),
        "limit": "500.00",
        "spent": "550.00",
        "over_by": "50.00",
        "currency": "USD",
    }
    read = await get_budget(client, tenant, budget["id"])
    assert (read["spent"], read["remaining"], read["utilization"]) == ("550.00", "0.00", 1.1)
    assert read["exceeded"] is True
    assert read["current_period"]["over_by"] == "50.00"
    [note] = await budget_notifications(client, tenant.headers)
    assert note["related"] == {"type": "budget", "id": budget["id"]}
    assert "50.00 USD" in note["title"]


async def test_more_spending_after_the_crossing_does_not_alert_again(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await post_budget(client, tenant)
    await spend(client, tenant, "550.00")
    for amount in ("10.00", "20.00", "30.00"):
        await spend(client, tenant, amount)

    assert [e["spent"] for e in await exceeded_events(client, tenant)] == ["550.00"]
    assert len(await budget_notifications(client, tenant.headers)) == 1


async def test_a_new_period_starts_from_zero_and_can_alert_again(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    await spend(client, tenant, "550.00", spent_on=this_month(3))
    await spend(client, tenant, "400.00", spent_on=next_month(1))
    assert len(await exceeded_events(client, tenant)) == 1

    await spend(client, tenant, "101.00", spent_on=next_month(20))

    events = await exceeded_events(client, tenant)
    assert [(e["period_start"], e["over_by"]) for e in events] == [
        (this_month().isoformat(), "50.00"),
        (next_month().isoformat(), "1.00"),
    ]
    r = await client.get(f"{BUDGETS}/{budget['id']}/periods", headers=tenant.headers)
    assert [(p["period_start"], p["spent"], p["exceeded"]) for p in r.json()["items"]] == [
        (next_month().isoformat(), "501.00", True),
        (this_month().isoformat(), "550.00", True),
    ]


async def test_a_deleted_expense_brings_spending_back_under_and_rearms(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    await spend(client, tenant, "300.00")
    big = await spend(client, tenant, "250.00")

    r = await client.delete(f"{EXPENSES}/{big['id']}", headers=tenant.headers)
    assert r.status_code == 204
    read = await get_budget(client, tenant, budget["id"])
    assert (read["spent"], read["exceeded"]) == ("300.00", False)
    again = await client.delete(f"{EXPENSES}/{big['id']}", headers=tenant.headers)
    assert again.status_code == 204
    assert (await get_budget(client, tenant, budget["id"]))["spent"] == "300.00"

    await spend(client, tenant, "200.01")
    assert [e["spent"] for e in await exceeded_events(client, tenant)] == ["550.00", "500.01"]


async def test_a_refund_and_a_raised_limit_rearm_the_alert(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    await spend(client, tenant, "520.00")
    await spend(client, tenant, "-40.00", description="refund")
    assert (await get_budget(client, tenant, budget["id"]))["exceeded"] is False
    await spend(client, tenant, "30.00")  # 510: over again
    assert len(await exceeded_events(client, tenant)) == 2

    r = await client.patch(
        f"{BUDGETS}/{budget['id']}", json={"amount": "600.00"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["exceeded"], r.json()["remaining"]) == (False, "90.00")
    await spend(client, tenant, "100.00")  # 610 > 600
    events = await exceeded_events(client, tenant)
    assert [(e["limit"], e["spent"]) for e in events][-1] == ("600.00", "610.00")


async def test_lowering_the_limit_under_what_was_spent_alerts(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    await spend(client, tenant, "450.00")
    r = await client.patch(
        f"{BUDGETS}/{budget['id']}",
        json={"amount": "400.00"},
        headers={**tenant.headers, "If-Match": str(budget["version"])},
    )
    assert r.status_code == 200, r.text
    [event] = await exceeded_events(client, tenant)
    assert (event["limit"], event["over_by"]) == ("400.00", "50.00")


async def test_only_the_same_category_and_currency_count(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    await spend(client, tenant, "400.00", currency="EUR")
    await spend(client, tenant, "400.00", category="travel")
    await spend(client, tenant, "100.00", category="  Marketing ")

    read = await get_budget(client, tenant, budget["id"])
    assert read["spent"] == "100.00"
    assert await exceeded_events(client, tenant) == []


async def test_a_budget_created_after_spending_counts_it_and_alerts_at_once(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await spend(client, tenant, "700.00", category="software")
    budget = await post_budget(client, tenant, name="Tools", category="software")
    assert (budget["spent"], budget["exceeded"]) == ("700.00", True)
    [event] = await exceeded_events(client, tenant)
    assert event["over_by"] == "200.00"

    await spend(client, tenant, "1.00", category="software")
    assert (await get_budget(client, tenant, budget["id"]))["spent"] == "701.00"
    assert len(await exceeded_events(client, tenant)) == 1


async def test_the_budget_owner_is_told_rather_than_the_tenant_owner(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    member = await add_member(client, tenant, "member")
    await post_budget(client, tenant, owner_id=member.id)
    await spend(client, tenant, "501.00")

    assert len(await budget_notifications(client, member.headers)) == 1
    assert await budget_notifications(client, tenant.headers) == []


async def test_quarter_and_year_budgets_follow_calendar_boundaries(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    quarter = await post_budget(client, tenant, period="quarter", amount="1000.00")
    year = await post_budget(client, tenant, period="year", amount="5000.00")
    today = this_month()
    q_start = today.replace(month=(today.month - 1) // 3 * 3 + 1)
    assert quarter["current_period"]["period_start"] == q_start.isoformat()
    assert year["current_period"]["period_start"] == today.replace(month=1).isoformat()
    assert year["current_period"]["period_end"] == f"{today.year + 1}-01-01"


async def test_an_inactive_budget_counts_but_alerts_only_once_switched_back_on(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant, active=False)
    await spend(client, tenant, "600.00")
    read = await get_budget(client, tenant, budget["id"])
    assert (read["spent"], read["exceeded"]) == ("600.00", False)
    assert await exceeded_events(client, tenant) == []

    r = await client.patch(
        f"{BUDGETS}/{budget['id']}", json={"active": True}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["exceeded"] is True
    [event] = await exceeded_events(client, tenant)
    assert event["over_by"] == "100.00"
    await spend(client, tenant, "5.00")
    assert len(await exceeded_events(client, tenant)) == 1
