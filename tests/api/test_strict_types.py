"""JSON bodies are read as JSON means them: ``false`` is not the integer 0 (nor ``true``
a probability of 1), and a number is not a moment (``0`` was read as 1970-01-01). Each is
a 422 naming the field; the values the OpenAPI document describes still pass."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.api.conftest import assert_problem
from tests.conftest import TenantLogin

PRODUCT = {"sku": "MUG-1", "name": "Mug", "price": "9.50", "currency": "USD"}
DEAL = {"name": "Big one", "amount": "100.00", "currency": "USD"}


def locs(r: httpx.Response) -> list[list[Any]]:
    return [e["loc"] for e in assert_problem(r, 422).get("errors", [])]


@pytest.mark.parametrize("value", [False, True, "3", 3.0])
async def test_an_integer_field_takes_only_a_json_integer(
    client: httpx.AsyncClient, tenant: TenantLogin, value: Any
) -> None:
    r = await client.post(
        "/api/v1/commerce/products",
        json={**PRODUCT, "stock_on_hand": value},
        headers=tenant.headers,
    )
    assert ["body", "stock_on_hand"] in locs(r)


async def test_a_json_integer_still_counts_stock(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/commerce/products", json={**PRODUCT, "stock_on_hand": 3}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["stock_on_hand"] == 3


@pytest.mark.parametrize("value", [0, 1700000000, "0", "1700000000"])
async def test_a_number_is_not_a_due_date(
    client: httpx.AsyncClient, tenant: TenantLogin, value: Any
) -> None:
    r = await client.post(
        "/api/v1/tasks", json={"title": "Call back", "due_at": value}, headers=tenant.headers
    )
    assert ["body", "due_at"] in locs(r)


async def test_an_iso_moment_with_offset_is_a_due_date(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/tasks",
        json={"title": "Call back", "due_at": "2030-01-31T09:00:00+01:00"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    due = dt.datetime.fromisoformat(r.json()["due_at"])
    assert due == dt.datetime(2030, 1, 31, 8, tzinfo=dt.UTC)


async def test_a_boolean_is_not_a_probability_and_a_number_not_a_close_date(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.post(
        "/api/v1/crm/deals", json={**DEAL, "probability": True}, headers=tenant.headers
    )
    assert ["body", "probability"] in locs(r)
    r = await client.post(
        "/api/v1/crm/deals", json={**DEAL, "close_date": 0}, headers=tenant.headers
    )
    assert ["body", "close_date"] in locs(r)
    r = await client.post(
        "/api/v1/crm/deals",
        json={**DEAL, "probability": 1, "close_date": "2030-06-30"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("query", ["since=0", "since=1700000000", "until=2030-01-01T00:00:00"])
async def test_query_days_are_written_yyyy_mm_dd(
    client: httpx.AsyncClient, tenant: TenantLogin, query: str
) -> None:
    r = await client.get(f"/api/v1/crm/pipeline/velocity?{query}", headers=tenant.headers)
    name = query.split("=", 1)[0]
    assert ["query", name] in locs(r)
