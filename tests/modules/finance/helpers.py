"""Helpers for finance tests: posting expenses and budgets, reading the alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.conftest import TenantLogin

EXPENSES = "/api/v1/finance/expenses"
BUDGETS = "/api/v1/finance/budgets"


def this_month(day: int = 1) -> dt.date:
    today = dt.datetime.now(dt.UTC).date()
    return today.replace(day=day)


def next_month(day: int = 1) -> dt.date:
    first = this_month()
    return (first + dt.timedelta(days=32)).replace(day=day)


async def post_budget(
    client: httpx.AsyncClient, tenant: TenantLogin, **fields: Any
) -> dict[str, Any]:
    body = {"name": "Marketing", "category": "marketing", "amount": "500.00", "currency": "USD"}
    r = await client.post(BUDGETS, json={**body, **fields}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def spend(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    amount: str,
    *,
    category: str = "marketing",
    currency: str = "USD",
    spent_on: dt.date | None = None,
    **fields: Any,
) -> dict[str, Any]:
    r = await client.post(
        EXPENSES,
        json={
            "category": category,
            "amount": amount,
            "currency": currency,
            "spent_on": (spent_on or this_month(2)).isoformat(),
            "description": "ads",
            **fields,
        },
        headers=tenant.headers,
    )
    assert r.status_code in (200, 201), r.text
    data: dict[str, Any] = r.json()
    return data


async def get_budget(
    client: httpx.AsyncClient, tenant: TenantLogin, budget_id: str
) -> dict[str, Any]:
    r = await client.get(f"{BUDGETS}/{budget_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def exceeded_events(client: httpx.AsyncClient, tenant: TenantLogin) -> list[dict[str, Any]]:
    r = await client.get(
        "/api/v1/events", params={"type": "finance.budget.exceeded"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    return [e["data"] for e in r.json()["items"]]


async def budget_notifications(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/notifications", headers=headers)
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["kind"] == "finance.budget_exceeded"]
