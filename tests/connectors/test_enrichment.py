"""The Enricher capability: the Clearbit-style HTTP provider against a local server that
speaks its protocol, the sandbox's bundled demo companies, and how a tenant's
``enrichment`` connector picks between them."""

from __future__ import annotations

import socket
from decimal import Decimal

import httpx
import pytest

from bizos.connectors.enrichment import (
    ClearbitEnricher,
    EnrichmentRefused,
    EnrichmentUnavailable,
)
from bizos.connectors.enrichment.resolver import enricher_for
from bizos.connectors.enrichment.sandbox import DEMO_COMPANIES, SandboxEnricher
from bizos.core.context import Context
from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.connectors.clearbit_server import clearbit_server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_http_enricher_reads_a_company_the_way_the_provider_answers() -> None:
    with clearbit_server() as server:
        enricher = ClearbitEnricher(api_key=server.api_key, base_url=server.base_url)

        profile = await enricher.lookup_company("contoso.com")

    assert profile is not None
    assert profile.summary() == {
        "name": "Contoso Ltd",
        "domain": "contoso.com",
        "industry": "Software",
        "employees": 1200,
        "country": "US",
        "city": "Seattle",
        "annual_revenue": "240000000.00",
        "description": "Business software and cloud services.",
    }
    assert profile.annual_revenue == Decimal("240000000.00")
    assert profile.raw["legalName"] == "Contoso Limited"
    assert server.requests == [
        {"path": "/v2/companies/find", "domain": "contoso.com", "auth": "Bearer sk_test_enrich"}
    ]


async def test_an_unknown_domain_is_none() -> None:
    with clearbit_server() as server:
        enricher = ClearbitEnricher(api_key=server.api_key, base_url=server.base_url)

        assert await enricher.lookup_company("nobody-here.example") is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 202])
async def test_rate_limits_and_server_errors_may_pass_later(status: int) -> None:
    with clearbit_server() as server:
        server.script.append((status, {"error": {"type": "busy", "message": "try later"}}))
        enricher = ClearbitEnricher(api_key=server.api_key, base_url=server.base_url)

        with pytest.raises(EnrichmentUnavailable) as failed:
            await enricher.lookup_company("contoso.com")
        assert str(status) in failed.value.detail
        # The next call goes through: nothing is remembered between lookups.
        assert await enricher.lookup_company("contoso.com") is not None


async def test_a_wrong_key_is_refused_for_good_and_never_shown() -> None:
    with clearbit_server() as server:
        enricher = ClearbitEnricher(api_key="sk_wrong_key", base_url=server.base_url)

        with pytest.raises(EnrichmentRefused) as refused:
            await enricher.lookup_company("contoso.com")

    assert "401" in refused.value.detail
    assert "sk_wrong_key" not in refused.value.detail
    assert "sk_wrong_key" not in repr(enricher)


async def test_timeouts_and_refused_connections_may_pass_later() -> None:
    with clearbit_server() as server:
        server.delay = 0.5
        slow = ClearbitEnricher(api_key=server.api_key, base_url=server.base_url, timeout=0.1)
        with pytest.raises(EnrichmentUnavailable):
            await slow.lookup_company("contoso.com")
    down = ClearbitEnricher(api_key="k", base_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(EnrichmentUnavailable):
        await down.lookup_company("contoso.com")


async def test_the_sandbox_answers_from_its_demo_companies_and_records_lookups() -> None:
    sandbox = SandboxEnricher()

    found = await sandbox.lookup_company("Fabrikam.com")
    missing = await sandbox.lookup_company("unknown.example")

    assert len(DEMO_COMPANIES) >= 30
    assert found is not None and found.name == "Fabrikam Inc"
    assert found.employees == 850 and found.country == "US"
    assert missing is None
    assert [(x.domain, x.found) for x in sandbox.lookups] == [
        ("Fabrikam.com", True),
        ("unknown.example", False),
    ]


# --- the tenant's connector ---------------------------------------------------------


async def _put(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, object]
) -> httpx.Response:
    return await client.put("/api/v1/connectors/enrichment", json=body, headers=tenant.headers)


async def test_a_tenant_without_a_connector_gets_the_sandbox(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        enricher = await enricher_for(session, Context(tenant_id=tenant.tenant_id))

    assert enricher.provider == "sandbox"


async def test_a_clearbit_connector_calls_its_server_with_the_tenants_key(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    with clearbit_server(api_key="sk_live_tenant") as server:
        r = await _put(
            client,
            tenant,
            {
                "config": {"provider": "clearbit", "base_url": server.base_url},
                "secrets": {"api_key": "sk_live_tenant"},
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["secrets_set"] == ["api_key"]
        assert "sk_live_tenant" not in r.text
        async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
            enricher = await enricher_for(session, Context(tenant_id=tenant.tenant_id))

        profile = await enricher.lookup_company("contoso.com")

    assert enricher.provider == "clearbit"
    assert profile is not None and profile.name == "Contoso Ltd"


async def test_an_enrichment_connector_is_checked_when_saved(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    unknown = await _put(client, tenant, {"config": {"provider": "crystal-ball"}})
    keyless = await _put(client, tenant, {"config": {"provider": "clearbit"}})
    bad_url = await _put(
        client,
        tenant,
        {"config": {"provider": "clearbit", "base_url": "not a url"}, "secrets": {"api_key": "k"}},
    )
    sandbox = await _put(client, tenant, {"config": {"provider": "sandbox"}})

    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "config", "provider"]
    assert keyless.status_code == 422
    assert keyless.json()["errors"][0]["loc"] == ["body", "secrets", "api_key"]
    assert bad_url.status_code == 422
    assert sandbox.status_code == 200
