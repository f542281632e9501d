"""A contact's personal data in commerce: their orders and the labels bought for them,
exported through the privacy hook commerce declares in its manifest; another contact's
export holds none of it."""

from __future__ import annotations

import httpx

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.commerce.fulfilment.service import label_path
from bizos.modules.commerce.manifest import MANIFEST
from bizos.modules.commerce.models import Shipment
from tests.conftest import TenantLogin
from tests.modules.commerce.fulfilment.helpers import WAREHOUSE, place_order, product


async def test_a_contacts_orders_and_shipments_are_exported(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await product(client, tenant, "WID-1", stock=5)
    order = await place_order(client, tenant, [("WID-1", 1)], email="ada@example.com")
    other = await place_order(client, tenant, [("WID-1", 1)], email="bob@example.com")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        session.add(
            Shipment(
                tenant_id=tenant.tenant_id,
                order_id=order["id"],
                provider="sandbox",
                carrier="sandbox",
                service="sandbox_ground",
                tracking_number="SBX0123456789ABCDEF",
                label_url=label_path(order["id"]),
                request={"reference": order["number"], "address_from": WAREHOUSE},
            )
        )
    assert MANIFEST.privacy is not None

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        ctx = Context(tenant_id=tenant.tenant_id)
        exported = await MANIFEST.privacy.export(session, ctx, order["contact_id"])
        others = await MANIFEST.privacy.export(session, ctx, other["contact_id"])

    [exported_order] = exported["orders"]
    assert exported_order["id"] == order["id"]
    assert exported_order["email"] == "ada@example.com"
    assert exported_order["total"] == order["total"]
    [shipment] = exported["shipments"]
    assert shipment["order_id"] == order["id"]
    assert shipment["tracking_number"] == "SBX0123456789ABCDEF"
    assert [o["id"] for o in others["orders"]] == [other["id"]]
    assert others["shipments"] == []
