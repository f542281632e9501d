"""The ShippingProvider capability: the Shippo-style HTTP provider against a local server
that speaks its protocol, the sandbox, and how a tenant's ``shipping`` connector picks
between them."""

from __future__ import annotations

import pickle
import socket
from decimal import Decimal

import httpx
import pytest

from bizos.connectors.shipping import (
    LabelRequest,
    Parcel,
    ShippingError,
    ShippingRefused,
    ShippingUnavailable,
    ShippoProvider,
)
from bizos.connectors.shipping.resolver import shipping_provider_for
from bizos.connectors.shipping.sandbox import SandboxShipping
from bizos.core.context import Context
from bizos.core.db import Database
from tests.conftest import TenantLogin
from tests.connectors.shippo_server import shippo_server

WAREHOUSE = {
    "name": "Acme Warehouse",
    "street1": "1 Dock Road",
    "city": "San Francisco",
    "state": "CA",
    "zip": "94107",
    "country": "US",
}
CUSTOMER = {
    "name": "Ada Lovelace",
    "street1": "12 Analytical Way",
    "city": "New York",
    "state": "NY",
    "zip": "10001",
    "country": "US",
    "email": "ada@example.com",
}
BOX = Parcel(length=Decimal("30"), width=Decimal("20"), height=Decimal("10"), weight=Decimal("1.5"))


def _request(**changes: object) -> LabelRequest:
    fields: dict[str, object] = {
        "reference": "SO-000001",
        "address_from": WAREHOUSE,
        "address_to": CUSTOMER,
        "parcels": (BOX,),
    }
    fields.update(changes)
    return LabelRequest(**fields)  # type: ignore[arg-type]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_http_provider_buys_the_cheapest_rate_the_way_shippo_is_called() -> None:
    with shippo_server() as server:
        provider = ShippoProvider(api_key=server.api_key, base_url=server.base_url)
        label = await provider.buy_label(_request())

    shipment, transaction = server.requests
    assert shipment["path"] == "/shipments/" and transaction["path"] == "/transactions/"
    assert shipment["auth"] == "ShippoToken shippo_test_key"
    assert shipment["content_type"] == "application/json"
    assert shipment["body"]["async"] is False
    assert shipment["body"]["address_from"] == WAREHOUSE
    assert shipment["body"]["address_to"] == CUSTOMER
    assert shipment["body"]["parcels"] == [
        {
            "length": "30",
            "width": "20",
            "height": "10",
            "weight": "1.5",
            "distance_unit": "cm",
            "mass_unit": "kg",
        }
    ]
    # USPS at 7.35 is cheaper than UPS at 9.10.
    assert transaction["body"] == {
        "rate": "rate_000000",
        "label_file_type": "PDF",
        "metadata": "SO-000001",
        "async": False,
    }
    assert (label.provider, label.carrier, label.service) == ("shippo", "USPS", "usps_priority")
    assert label.tracking_number == "9400000000000000000001"
    assert label.label_url == f"{server.base_url}/labels/9400000000000000000001.pdf"
    assert label.provider_ref == "txn_000001"
    assert (label.cost, label.currency) == (Decimal("7.35"), "USD")
    assert label.request == _request().as_json()


async def test_a_configured_service_level_is_bought_instead_of_the_cheapest() -> None:
    with shippo_server() as server:
        provider = ShippoProvider(
            api_key=server.api_key, base_url=server.base_url, servicelevel="ups_ground"
        )
        label = await provider.buy_label(_request())
        with pytest.raises(ShippingRefused, match="no rate for service level fedex_2day"):
            await provider.buy_label(_request(servicelevel="fedex_2day"))

    assert (label.carrier, label.service, label.cost) == ("UPS", "ups_ground", Decimal("9.10"))
    assert len(server.calls("/transactions/")) == 1


async def test_a_wrong_key_is_refused_for_good_and_never_shown() -> None:
    with shippo_server() as server:
        provider = ShippoProvider(api_key="sk_wrong_secret", base_url=server.base_url)
        with pytest.raises(ShippingRefused) as refused:
            await provider.buy_label(_request())

    assert refused.value.retryable is False
    assert "401" in refused.value.detail
    assert "sk_wrong_secret" not in str(refused.value) and "sk_wrong" not in repr(provider)
    assert server.calls("/transactions/") == []


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_rate_limits_and_server_errors_may_pass_later(status: int) -> None:
    with shippo_server() as server:
        server.script.append((status, {"detail": "try later"}))
        provider = ShippoProvider(api_key=server.api_key, base_url=server.base_url)
        with pytest.raises(ShippingUnavailable) as unavailable:
            await provider.buy_label(_request())
        label = await provider.buy_label(_request())  # the next try goes through

    assert unavailable.value.retryable is True
    assert str(status) in unavailable.value.detail
    assert label.tracking_number


async def test_an_unreachable_provider_may_pass_later() -> None:
    provider = ShippoProvider(api_key="k", base_url=f"http://127.0.0.1:{_closed_port()}")

    with pytest.raises(ShippingUnavailable, match="unreachable"):
        await provider.buy_label(_request())


async def test_a_label_the_carrier_will_not_sell_is_refused_with_its_reason() -> None:
    with shippo_server() as server:
        server.script += [
            (
                201,
                {
                    "object_id": "shp_1",
                    "status": "SUCCESS",
                    "rates": [
                        {
                            "object_id": "rate_x",
                            "amount": "5.00",
                            "currency": "USD",
                            "provider": "USPS",
                            "servicelevel": {"token": "usps_priority"},
                        }
                    ],
                },
            ),
            (201, {"status": "ERROR", "messages": [{"text": "Address not deliverable"}]}),
        ]
        provider = ShippoProvider(api_key=server.api_key, base_url=server.base_url)
        with pytest.raises(ShippingRefused, match="Address not deliverable"):
            await provider.buy_label(_request())


async def test_a_request_without_an_address_is_refused_before_calling_out() -> None:
    with shippo_server() as server:
        provider = ShippoProvider(api_key=server.api_key, base_url=server.base_url)
        with pytest.raises(ShippingRefused, match="ship-to address is missing"):
            await provider.buy_label(_request(address_to={}))

    assert server.requests == []


async def test_a_bought_label_is_voided_by_a_refund() -> None:
    with shippo_server() as server:
        provider = ShippoProvider(api_key=server.api_key, base_url=server.base_url)
        label = await provider.buy_label(_request())
        await provider.void_label(label.provider_ref)
        with pytest.raises(ShippingRefused):
            await provider.void_label("txn_unknown")

    assert server.refunds == [label.provider_ref]
    assert server.calls("/refunds/")[0]["body"] == {
        "transaction": label.provider_ref,
        "async": False,
    }


def test_shipping_errors_pickle_with_their_flag() -> None:
    for error in (ShippingUnavailable("slow"), ShippingRefused("no"), ShippingError("x", True)):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), copy.detail, copy.retryable) == (
            type(error),
            error.detail,
            error.retryable,
        )


async def test_the_sandbox_records_what_it_would_buy_with_deterministic_tracking() -> None:
    sandbox = SandboxShipping()

    first = await sandbox.buy_label(_request())
    again = await sandbox.buy_label(_request())
    other = await sandbox.buy_label(_request(reference="SO-000002"))
    await sandbox.void_label(first.provider_ref)

    assert first.tracking_number == again.tracking_number != other.tracking_number
    assert first.tracking_number.startswith("SBX")
    assert first.label_url.endswith(f"/{first.tracking_number}.pdf")
    assert first.request == _request().as_json()
    assert [(c.action, c.reference) for c in sandbox.calls] == [
        ("buy_label", "SO-000001"),
        ("buy_label", "SO-000001"),
        ("buy_label", "SO-000002"),
        ("void_label", first.provider_ref),
    ]


# --- the tenant's connector ---------------------------------------------------------


async def _put(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, object]
) -> httpx.Response:
    return await client.put("/api/v1/connectors/shipping", json=body, headers=tenant.headers)


async def test_a_tenant_without_a_connector_gets_the_sandbox(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        provider = await shipping_provider_for(session, Context(tenant_id=tenant.tenant_id))

    assert provider.provider == "sandbox"


async def test_a_shippo_connector_buys_from_its_server_with_the_tenants_key(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    with shippo_server(api_key="shippo_live_tenant") as server:
        r = await _put(
            client,
            tenant,
            {
                "config": {"vendor": "shippo", "base_url": server.base_url},
                "secrets": {"api_key": "shippo_live_tenant"},
            },
        )
        assert r.status_code == 200, r.text
        assert "shippo_live_tenant" not in r.text
        async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
            provider = await shipping_provider_for(session, Context(tenant_id=tenant.tenant_id))
        label = await provider.buy_label(_request())

    assert provider.provider == "shippo"
    assert label.carrier == "USPS"
    assert server.requests[0]["auth"] == "ShippoToken shippo_live_tenant"


async def test_a_shipping_connector_is_checked_when_saved(
    db: Database, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    unknown = await _put(client, tenant, {"config": {"vendor": "pigeon"}})
    keyless = await _put(client, tenant, {"config": {"vendor": "shippo"}})
    key_in_config = await _put(client, tenant, {"config": {"vendor": "shippo", "api_key": "k"}})
    sandbox = await _put(client, tenant, {"config": {"vendor": "sandbox"}})
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        provider = await shipping_provider_for(session, Context(tenant_id=tenant.tenant_id))

    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "config", "vendor"]
    assert keyless.status_code == 422
    assert keyless.json()["errors"][0]["loc"] == ["body", "secrets", "api_key"]
    assert key_in_config.status_code == 422
    assert sandbox.status_code == 200
    assert provider.provider == "sandbox"
