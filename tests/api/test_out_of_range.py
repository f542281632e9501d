"""Values at the edge of what Python's dates and a 64-bit column can hold are refused with
a 422 problem naming the parameter, never a 500: the days and moments bizos accepts are
the years 1900 to 2999 (written ISO 8601), event positions fit a signed 64-bit integer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import assert_problem
from tests.conftest import TenantLogin


def error_locs(body: dict[str, Any]) -> list[list[Any]]:
    return [e["loc"] for e in body.get("errors", [])]


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/api/v1/billing/metrics/receivables?as_of=0001-01-01", ["query", "as_of"]),
        ("/api/v1/billing/metrics/receivables?as_of=9999-12-31", ["query", "as_of"]),
        ("/api/v1/crm/pipeline/velocity?until=9999-12-31", ["query", "until"]),
        ("/api/v1/crm/pipeline/velocity?since=0001-01-01", ["query", "since"]),
        ("/api/v1/commerce/metrics/revenue?to=9999-12-31", ["query", "to"]),
        ("/api/v1/commerce/metrics/orders?to=9999-12-31", ["query", "to"]),
        ("/api/v1/commerce/metrics/top-customers?to=9999-12-31", ["query", "to"]),
        ("/api/v1/commerce/metrics/revenue?from=0001-01-01", ["query", "from"]),
        ("/api/v1/billing/metrics/refunds?to=9999-12-31", ["query", "to"]),
        ("/api/v1/finance/expenses?to=9999-12-31", ["query", "to"]),
        ("/api/v1/kb/contracts?notice_before=9999-12-31", ["query", "notice_before"]),
        ("/api/v1/tasks?due_before=9999-12-31T23:59:59-05:00", ["query", "due_before"]),
        ("/api/v1/ai/usage?period=9999-12", ["query", "period"]),
        ("/api/v1/events?after=99999999999999999999", ["query", "after"]),
        ("/api/v1/events?after=9223372036854775808", ["query", "after"]),
    ],
)
async def test_out_of_range_query_is_a_422_naming_the_parameter(
    client: httpx.AsyncClient, tenant: TenantLogin, path: str, loc: list[str]
) -> None:
    r = await client.get(path, headers=tenant.headers)
    body = assert_problem(r, 422)
    assert loc in error_locs(body)


async def test_the_largest_event_position_is_a_valid_cursor(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.get("/api/v1/events?after=9223372036854775807", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []


async def test_days_at_the_ends_of_the_supported_range_are_answered(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for path in (
        "/api/v1/billing/metrics/receivables?as_of=1900-01-01",
        "/api/v1/billing/metrics/receivables?as_of=2999-12-31",
        "/api/v1/crm/pipeline/velocity?since=1900-01-01&until=2999-12-31",
        "/api/v1/commerce/metrics/orders?from=2999-12-01&to=2999-12-31",
        "/api/v1/billing/metrics/refunds?from=1900-01-01&to=1900-01-31",
        "/api/v1/ai/usage?period=2999-12",
    ):
        r = await client.get(path, headers=tenant.headers)
        assert r.status_code == 200, (path, r.text)


async def test_an_expense_in_year_9999_is_refused_even_with_a_budget_to_charge(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    budget = {"name": "Travel", "category": "travel", "amount": "500.00", "currency": "USD"}
    r = await client.post("/api/v1/finance/budgets", json=budget, headers=tenant.headers)
    assert r.status_code == 201, r.text
    expense = {"category": "travel", "amount": "10.00", "currency": "USD"}
    r = await client.post(
        "/api/v1/finance/expenses",
        json={**expense, "spent_on": "9999-12-31"},
        headers=tenant.headers,
    )
    assert ["body", "spent_on"] in error_locs(assert_problem(r, 422))
    r = await client.post(
        "/api/v1/finance/expenses",
        json={**expense, "spent_on": "2999-12-31"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
