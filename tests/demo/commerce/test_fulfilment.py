"""Order to cash in the demo workspace: a live order's label is bought for the demo's
parcel (30 x 20 x 12 cm, as its settings say), and the wholesale order the demo leaves
backordered carries the alert a live backorder raises (a task for purchasing and a
notification naming what is missing)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.demo import DEMO_SLUG
from bizos.modules.commerce.fulfilment import workflows as workflow
from bizos.modules.commerce.models import Order, Shipment
from bizos.modules.commerce.orders import service as orders
from bizos.modules.commerce.orders.schemas import OrderLineInput
from bizos.modules.identity.models import Tenant, User
from bizos.modules.notifications.models import Notification
from bizos.modules.work.models import Task

BACKORDERED = "commerce.order.backordered"


async def demo_tenant(db: Database) -> str:
    async with db.unit_of_work(system=True, readonly=True) as session:
        tenant_id = await session.scalar(sa.select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
    assert tenant_id is not None
    return str(tenant_id)


@pytest.mark.demo
async def test_a_live_demo_order_is_shipped_in_the_demo_parcel(db: Database) -> None:
    tenant_id = await demo_tenant(db)
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        order = await orders.create_order(
            session,
            Context(tenant_id=tenant_id),
            source="api",
            email="new.buyer@example.com",
            customer_name="New Buyer",
            currency="USD",
            lines=[OrderLineInput(sku="NW-COL-HUILA-250", quantity=2)],
            shipping_address={
                "name": "New Buyer",
                "line1": "8 Pine St",
                "city": "Portland",
                "postal_code": "97204",
                "country": "US",
            },
        )
        order_id = order.id

    assert await workflow.allocate(tenant_id, order_id) == "allocated"
    invoice_id = await workflow.create_invoice(tenant_id, order_id)
    await workflow.mark_invoiced(tenant_id, order_id, invoice_id)
    shipment_id = await workflow.buy_label(tenant_id, order_id)

    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        shipment = await session.get(Shipment, shipment_id)
    assert shipment is not None and shipment.provider == "sandbox"
    [parcel] = shipment.request["parcels"]
    assert (parcel["length"], parcel["width"], parcel["height"]) == ("30", "20", "12")
    assert parcel["distance_unit"] == "cm"
    assert Decimal(parcel["weight"]) == Decimal("0.5")  # two 250 g bags


@pytest.mark.demo
async def test_the_demo_backorders_have_their_alerts_for_purchasing(db: Database) -> None:
    tenant_id = await demo_tenant(db)
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        waiting = list(await session.scalars(sa.select(Order).where(Order.status == "backordered")))
        tasks = list(await session.scalars(sa.select(Task).where(Task.origin == BACKORDERED)))
        notes = list(
            await session.scalars(sa.select(Notification).where(Notification.kind == BACKORDERED))
        )
        buyer = await session.scalar(sa.select(User.id).where(User.name == "Luis Romero"))

    assert waiting and buyer is not None
    assert sorted(t.related_id for t in tasks) == sorted(o.id for o in waiting)
    assert sorted(n.related_id for n in notes) == sorted(o.id for o in waiting)
    by_order = {t.related_id: t for t in tasks}
    note_of = {n.related_id: n for n in notes}
    kenyan = [o for o in waiting if "x NW-KEN-NYERI-1K" in by_order[o.id].title]
    assert kenyan, "the café's order waits for the Kenyan"
    for order in waiting:
        task, note = by_order[order.id], note_of[order.id]
        assert (task.status, task.assignee_id, note.user_id) == ("open", buyer, buyer)
        assert task.title.startswith(f"Order {order.external_name or order.number} is backordered")
        assert "Missing:\n- " in (task.description or "")
        assert note.body == task.description
