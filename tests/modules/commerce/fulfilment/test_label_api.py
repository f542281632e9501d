"""GET /api/v1/commerce/orders/{id}/shipment/label: a sandbox label renders as a PDF, a
real provider's label is a redirect to it; another tenant's order, an order without a
label and a key without commerce:read are refused."""

from __future__ import annotations

import httpx

from bizos.core.db import Database
from bizos.modules.commerce.fulfilment.service import label_path
from bizos.modules.commerce.models import Shipment
from tests.conftest import TenantLogin
from tests.connectors.helpers import api_key_headers
from tests.modules.commerce.fulfilment.helpers import WAREHOUSE, place_order, product


async def _order_with_label(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, provider: str
) -> str:
    await product(client, tenant, "WID-1", stock=5)
    order = await place_order(client, tenant, [("WID-1", 1)])
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.add(
            Shipment(
                tenant_id=tenant.tenant_id,
                order_id=order["id"],
                provider=provider,
                carrier="sandbox" if provider == "sandbox" else "USPS",
                service="sandbox_ground",
                tracking_number="SBX0123456789ABCDEF",
                label_url=(
                    label_path(order["id"])
                    if provider == "sandbox"
                    else "https://shippo-delivery.example/label.pdf"
                ),
                provider_ref="ref-1",
                request={
                    "reference": order["number"],
                    "address_from": WAREHOUSE,
                    "address_to": {"name": "Zoë Ünicode", "street1": "1 Main St"},
                },
            )
        )
    return str(order["id"])


async def test_a_sandbox_label_opens_as_a_pdf(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    order_id = await _order_with_label(client, db, tenant, "sandbox")

    r = await client.get(label_path(order_id), headers=tenant.headers)

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert "label-SBX0123456789ABCDEF.pdf" in r.headers["content-disposition"]


async def test_a_providers_label_is_a_redirect_to_where_it_keeps_it(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    order_id = await _order_with_label(client, db, tenant, "shippo")

    r = await client.get(label_path(order_id), headers=tenant.headers)

    assert r.status_code == 307
    assert r.headers["location"] == "https://shippo-delivery.example/label.pdf"


async def test_who_may_not_see_a_label_and_orders_without_one(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    order_id = await _order_with_label(client, db, tenant, "sandbox")
    unlabelled = await place_order(client, tenant, [("WID-1", 1)])
    billing_only = await api_key_headers(client, tenant, ["billing:read"])

    other = await client.get(label_path(order_id), headers=other_tenant.headers)
    missing = await client.get(label_path(unlabelled["id"]), headers=tenant.headers)
    unknown = await client.get(label_path("no-such-order"), headers=tenant.headers)
    no_scope = await client.get(label_path(order_id), headers=billing_only)

    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    assert missing.status_code == 404
    assert "has no shipping label" in missing.json()["detail"]
    assert unknown.status_code == 404
    assert no_scope.status_code == 403
