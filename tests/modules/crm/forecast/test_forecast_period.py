"""The forecast's month is written YYYY-MM, and a month written otherwise is told so."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantLogin

MESSAGE = "period must be a month written YYYY-MM, e.g. 2026-12"


@pytest.mark.parametrize(
    "period", ["December", "2026-13", "2026-1", "26-12", "2026-12-01", "0999-12"]
)
async def test_a_period_not_written_yyyy_mm_is_refused_with_the_format(
    client: httpx.AsyncClient, tenant: TenantLogin, period: str
) -> None:
    r = await client.get("/api/v1/crm/forecast", params={"period": period}, headers=tenant.headers)

    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == MESSAGE
    assert r.json()["errors"] == [{"loc": ["query", "period"], "msg": MESSAGE}]


async def test_stored_forecasts_are_filtered_by_a_month_written_yyyy_mm(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.get(
        "/api/v1/crm/forecasts", params={"period": "December"}, headers=tenant.headers
    )

    assert r.status_code == 422
    assert r.json()["errors"] == [{"loc": ["query", "period"], "msg": MESSAGE}]


async def test_a_month_written_yyyy_mm_is_forecast(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await client.get(
        "/api/v1/crm/forecast", params={"period": "2026-12"}, headers=tenant.headers
    )

    assert r.status_code == 200, r.text
    assert r.json()["period"] == "2026-12"


async def test_the_period_format_is_documented(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    [period] = [
        p
        for p in document["paths"]["/api/v1/crm/forecast"]["get"]["parameters"]
        if p["name"] == "period"
    ]

    assert "YYYY-MM" in period["description"]
    assert period["schema"]["pattern"]
