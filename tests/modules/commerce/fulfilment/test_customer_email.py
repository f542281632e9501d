"""The customer's email names the order the way the customer knows it: a Shopify order
by its Shopify name (``#9001``), never our internal ``SO-`` number; an order placed
here (API, won deal) by our number, the only one it has.

The order runs through order-to-cash's own steps, called in turn as the workflow calls
them, and the email is read back from the outbox."""

from __future__ import annotations

from decimal import Decimal

import httpx
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.commerce.fulfilment import workflows as workflow
from bizos.modules.commerce.orders import service as orders
from bizos.modules.commerce.orders.schemas import OrderLineInput
from bizos.modules.outreach.models import Message
from tests.conftest import TenantLogin
from tests.modules.commerce.fulfilment.helpers import (
    CUSTOMER_ADDRESS,
    place_order,
    product,
    ship_from_warehouse,
)


async def shopify_order(db: Database, tenant: TenantLogin, sku: str, name: str) -> str:
    """An order as the Shopify door makes it: Shopify's id and its name for the order."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        order = await orders.create_order(
            session,
            Context(tenant_id=tenant.tenant_id),
            source="shopify",
            external_id=f"548000{name.lstrip('#')}",
            external_name=name,
            email="ada@example.com",
            customer_name="Ada Lovelace",
            currency="USD",
            lines=[OrderLineInput(sku=sku, quantity=1, unit_price=Decimal("25.00"))],
            shipping_address=CUSTOMER_ADDRESS,
            unknown_sku="fail",
        )
        return order.id


async def order_to_cash(tenant_id: str, order_id: str, *, ships: bool = True) -> None:
    assert await workflow.allocate(tenant_id, order_id) == "allocated"
    invoice_id = await workflow.create_invoice(tenant_id, order_id)
    await workflow.mark_invoiced(tenant_id, order_id, invoice_id)
    if ships:
        shipment_id = await workflow.buy_label(tenant_id, order_id)
        await workflow.mark_shipped(tenant_id, order_id, shipment_id)
    assert await workflow.notify_customer(tenant_id, order_id) is not None


async def email_about(db: Database, tenant_id: str, order_id: str) -> Message:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        [message] = await session.scalars(
            sa.select(Message).where(
                Message.related_type == "order", Message.related_id == order_id
            )
        )
        return message


async def order_number(db: Database, tenant: TenantLogin, order_id: str) -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        return (
            await orders.get_order(session, Context(tenant_id=tenant.tenant_id), order_id)
        ).number


async def test_a_shopify_customer_is_told_about_order_9001_not_our_number(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await ship_from_warehouse(client, tenant)
    await product(client, tenant, "MUG", stock=5)
    order_id = await shopify_order(db, tenant, "MUG", "#9001")

    await order_to_cash(tenant.tenant_id, order_id)

    email = await email_about(db, tenant.tenant_id, order_id)
    assert email.subject == "Your order #9001 is on its way"
    assert "Your order #9001 has shipped with sandbox." in email.body
    internal = await order_number(db, tenant, order_id)
    assert internal.startswith("SO-")
    assert internal not in email.subject and internal not in email.body


async def test_a_shopify_order_without_shipping_is_confirmed_by_its_shopify_name(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await product(client, tenant, "GIFT-CARD", tracks_stock=False)
    order_id = await shopify_order(db, tenant, "GIFT-CARD", "#9002")

    await order_to_cash(tenant.tenant_id, order_id, ships=False)

    email = await email_about(db, tenant.tenant_id, order_id)
    assert email.subject == "Your order #9002 is confirmed"
    assert "Your order #9002 is confirmed." in email.body
    assert "SO-" not in email.subject + email.body


async def test_an_order_placed_here_is_named_by_our_number(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    await ship_from_warehouse(client, tenant)
    await product(client, tenant, "MUG", stock=5)
    order = await place_order(client, tenant, [("MUG", 1)])

    await order_to_cash(tenant.tenant_id, order["id"])

    email = await email_about(db, tenant.tenant_id, order["id"])
    assert email.subject == f"Your order {order['number']} is on its way"
