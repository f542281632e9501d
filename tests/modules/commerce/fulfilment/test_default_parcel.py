"""The parcel a label is bought for comes from the ``default_parcel`` setting, in the
spelling the settings document (``length_cm``, ``width_cm``, ``height_cm``,
``weight_kg``); settings stored in the older ``length``/``width``/``height`` spelling
still count, and a parcel that is not one is refused with 422.

The label is bought by order-to-cash's own steps (called in turn, as the workflow calls
them) from the sandbox provider, which records what it was asked for on the shipment.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.modules.commerce.fulfilment import workflows as workflow
from bizos.modules.commerce.models import CommerceSettings, Shipment
from tests.conftest import TenantLogin
from tests.modules.commerce.fulfilment.helpers import place_order, product, ship_from_warehouse
from tests.modules.identity.helpers import assert_problem

SETTINGS = "/api/v1/commerce/settings"


async def label_request(db: Database, tenant_id: str, order_id: str) -> dict[str, Any]:
    """Run the order to its label as order-to-cash does; what the provider was sent."""
    assert await workflow.allocate(tenant_id, order_id) == "allocated"
    invoice_id = await workflow.create_invoice(tenant_id, order_id)
    await workflow.mark_invoiced(tenant_id, order_id, invoice_id)
    shipment_id = await workflow.buy_label(tenant_id, order_id)
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        shipment = await session.get(Shipment, shipment_id)
        assert shipment is not None and shipment.provider == "sandbox"
        return dict(shipment.request)


async def put_settings(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, Any]
) -> httpx.Response:
    return await client.put(SETTINGS, json=body, headers=tenant.headers)


async def test_the_default_parcel_setting_sizes_the_label(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await ship_from_warehouse(client, tenant)
    r = await put_settings(
        client, tenant, {"default_parcel": {"length_cm": 30, "width_cm": 20, "height_cm": 12}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["default_parcel"] == {
        "length_cm": "30",
        "width_cm": "20",
        "height_cm": "12",
        "weight_kg": None,
    }
    await product(client, tenant, "MUG", stock=5, weight_grams=350)
    order = await place_order(client, tenant, [("MUG", 2)])

    request = await label_request(db, tenant.tenant_id, order["id"])

    [parcel] = request["parcels"]
    assert parcel == {
        "length": "30",
        "width": "20",
        "height": "12",
        "weight": "0.700",  # the products' weights, not the box's
        "distance_unit": "cm",
        "mass_unit": "kg",
    }


async def test_without_a_parcel_setting_labels_are_bought_for_the_standard_box(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await ship_from_warehouse(client, tenant)
    assert (await client.get(SETTINGS, headers=tenant.headers)).json()["default_parcel"] is None
    await product(client, tenant, "SOAP", stock=5)  # no weight: the box's default 1 kg
    order = await place_order(client, tenant, [("SOAP", 1)])

    [parcel] = (await label_request(db, tenant.tenant_id, order["id"]))["parcels"]

    assert (parcel["length"], parcel["width"], parcel["height"]) == ("30", "20", "10")
    assert (parcel["weight"], parcel["mass_unit"]) == ("1", "kg")


async def test_a_weight_in_the_setting_is_declared_for_products_without_one(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await ship_from_warehouse(client, tenant)
    box = {"length_cm": "25.5", "width_cm": 18, "height_cm": 9, "weight_kg": "0.4"}
    assert (await put_settings(client, tenant, {"default_parcel": box})).status_code == 200
    await product(client, tenant, "SOAP", stock=5)
    order = await place_order(client, tenant, [("SOAP", 1)])

    [parcel] = (await label_request(db, tenant.tenant_id, order["id"]))["parcels"]

    assert (parcel["length"], parcel["height"], parcel["weight"]) == ("25.5", "9", "0.4")


async def test_a_parcel_stored_in_the_old_spelling_still_sizes_the_label(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await ship_from_warehouse(client, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await session.execute(
            sa.update(CommerceSettings)
            .where(CommerceSettings.tenant_id == tenant.tenant_id)
            .values(default_parcel={"length": 10, "width": 8, "height": 4, "distance_unit": "in"})
        )
    settings = (await client.get(SETTINGS, headers=tenant.headers)).json()
    assert settings["default_parcel"] == {
        "length_cm": "25.400",
        "width_cm": "20.320",
        "height_cm": "10.160",
        "weight_kg": None,
    }
    await product(client, tenant, "SOAP", stock=5, weight_grams=200)
    order = await place_order(client, tenant, [("SOAP", 1)])

    [parcel] = (await label_request(db, tenant.tenant_id, order["id"]))["parcels"]

    assert (parcel["length"], parcel["width"], parcel["height"]) == ("25.400", "20.320", "10.160")
    assert parcel["distance_unit"] == "cm"


async def test_the_old_spelling_is_accepted_and_stored_in_the_documented_one(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    r = await put_settings(
        client, tenant, {"default_parcel": {"length": 30, "width": 20, "height": 12}}
    )

    assert r.status_code == 200, r.text
    assert r.json()["default_parcel"] == {
        "length_cm": "30",
        "width_cm": "20",
        "height_cm": "12",
        "weight_kg": None,
    }


@pytest.mark.parametrize(
    "parcel",
    [
        {"length_cm": 30, "width_cm": 20},  # no height
        {"length_cm": 30, "width_cm": 20, "height_cm": 0},
        {"length_cm": 30, "width_cm": 20, "height_cm": -12},
        {"length_cm": 30, "width_cm": 20, "height_cm": True},
        {"length_cm": 30, "width_cm": 20, "height_cm": "tall"},
        {"length_cm": 30, "width_cm": 20, "height_cm": 12, "depth_cm": 5},
        {"length_cm": 30, "width_cm": 20, "height_cm": 12, "height": 12},
        {"length": 30, "width": 20, "height": 12, "distance_unit": "furlong"},
        {"length_cm": 30, "width_cm": 20, "height_cm": 12, "weight_kg": 0},
    ],
)
async def test_a_parcel_that_is_not_one_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin, parcel: dict[str, Any]
) -> None:
    r = await put_settings(client, tenant, {"default_parcel": parcel})

    problem = assert_problem(r, 422)
    assert any(e["loc"][:2] == ["body", "default_parcel"] for e in problem["errors"]), problem
    assert (await client.get(SETTINGS, headers=tenant.headers)).json()["default_parcel"] is None
