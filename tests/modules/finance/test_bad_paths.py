"""Expenses and budgets refuse what they cannot hold, hide other tenants' records,
guard updates with If-Match and keep duplicates from counting twice."""

from __future__ import annotations

import httpx

from tests.conftest import TenantLogin
from tests.modules.finance.helpers import (
    BUDGETS,
    EXPENSES,
    get_budget,
    post_budget,
    spend,
    this_month,
)
from tests.modules.identity.helpers import add_member, assert_problem


async def test_malformed_expenses_and_budgets_are_422_with_field_paths(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    day = this_month().isoformat()
    good = {"category": "ads", "amount": "10.00", "currency": "USD", "spent_on": day}
    for change, field in (
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"currency": "USX"}, "currency"),
        ({"category": "  "}, "category"),
        ({"spent_on": "yesterday"}, "spent_on"),
        ({"source": "bank"}, "source"),
    ):
        r = await client.post(EXPENSES, json={**good, **change}, headers=tenant.headers)
        problem = assert_problem(r, 422)
        assert ["body", field] in [e["loc"] for e in problem["errors"]], (change, problem)

    budget = {"name": "B", "category": "ads", "amount": "10.00", "currency": "USD"}
    for change, field in (
        ({"amount": "0.00"}, "amount"),
        ({"period": "week"}, "period"),
        ({"currency": "dollars"}, "currency"),
    ):
        r = await client.post(BUDGETS, json={**budget, **change}, headers=tenant.headers)
        problem = assert_problem(r, 422)
        assert ["body", field] in [e["loc"] for e in problem["errors"]], (change, problem)
    r = await client.post(
        BUDGETS, json={**budget, "owner_id": "no-such-user"}, headers=tenant.headers
    )
    assert ["body", "owner_id"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    r = await client.get(
        EXPENSES, params={"from": "2026-02-01", "to": "2026-01-01"}, headers=tenant.headers
    )
    assert_problem(r, 422)


async def test_another_tenants_expenses_and_budgets_are_404(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    expense = await spend(client, tenant, "10.00")
    for path in (
        f"{BUDGETS}/{budget['id']}",
        f"{BUDGETS}/{budget['id']}/periods",
        f"{EXPENSES}/{expense['id']}",
    ):
        assert_problem(await client.get(path, headers=other_tenant.headers), 404)
    assert_problem(
        await client.delete(f"{EXPENSES}/{expense['id']}", headers=other_tenant.headers), 404
    )
    assert_problem(
        await client.patch(
            f"{BUDGETS}/{budget['id']}", json={"name": "x"}, headers=other_tenant.headers
        ),
        404,
    )
    # Their spending never reaches our budget.
    await spend(client, other_tenant, "900.00")
    assert (await get_budget(client, tenant, budget["id"]))["spent"] == "10.00"
    r = await client.get(EXPENSES, headers=other_tenant.headers)
    assert [e["amount"] for e in r.json()["items"]] == ["900.00"]


async def test_a_viewer_reads_but_cannot_write(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    viewer = await add_member(client, tenant, "viewer")
    assert (await client.get(BUDGETS, headers=viewer.headers)).status_code == 200
    body = {"category": "ads", "amount": "1.00", "currency": "USD", "spent_on": "2026-01-01"}
    assert_problem(await client.post(EXPENSES, json=body, headers=viewer.headers), 403)
    assert_problem(
        await client.patch(f"{BUDGETS}/{budget['id']}", json={"name": "x"}, headers=viewer.headers),
        403,
    )


async def test_a_stale_if_match_is_409_and_category_cannot_change(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    r = await client.patch(
        f"{BUDGETS}/{budget['id']}",
        json={"name": "Ads"},
        headers={**tenant.headers, "If-Match": '"1"'},
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await client.patch(
        f"{BUDGETS}/{budget['id']}",
        json={"name": "Late"},
        headers={**tenant.headers, "If-Match": '"1"'},
    )
    assert_problem(r, 409)
    r = await client.patch(
        f"{BUDGETS}/{budget['id']}", json={"category": "travel"}, headers=tenant.headers
    )
    assert_problem(r, 422)
    r = await client.patch(
        f"{BUDGETS}/{budget['id']}", json={"amount": None}, headers=tenant.headers
    )
    assert_problem(r, 422)


async def test_a_repeated_external_id_is_recorded_once(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant)
    first = await spend(client, tenant, "120.00", source="import", external_id="bank-7")
    r = await client.post(
        EXPENSES,
        json={
            "category": "marketing",
            "amount": "120.00",
            "currency": "USD",
            "spent_on": this_month(2).isoformat(),
            "source": "import",
            "external_id": "bank-7",
        },
        headers=tenant.headers,
    )
    assert r.status_code == 200
    assert r.json()["id"] == first["id"]
    assert (await get_budget(client, tenant, budget["id"]))["spent"] == "120.00"


async def test_expenses_filter_by_category_and_dates_and_hide_deleted(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    day = this_month()
    a = await spend(client, tenant, "1.00", spent_on=day.replace(day=1))
    b = await spend(client, tenant, "2.00", spent_on=day.replace(day=5))
    await spend(client, tenant, "3.00", category="travel", spent_on=day.replace(day=5))
    c = await spend(client, tenant, "4.00", spent_on=day.replace(day=9))
    await client.delete(f"{EXPENSES}/{c['id']}", headers=tenant.headers)

    def ids(r: httpx.Response) -> list[str]:
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["items"]]

    params = {"category": "Marketing"}
    assert ids(await client.get(EXPENSES, params=params, headers=tenant.headers)) == [
        b["id"],  # newest first
        a["id"],
    ]
    params = {
        "category": "marketing",
        "from": day.replace(day=2).isoformat(),
        "to": day.replace(day=9).isoformat(),
        "include_deleted": "true",
    }
    assert ids(await client.get(EXPENSES, params=params, headers=tenant.headers)) == [
        c["id"],
        b["id"],
    ]
    page = await client.get(EXPENSES, params={"limit": 1}, headers=tenant.headers)
    assert page.json()["next_cursor"] is not None
