"""The personal data commerce holds about a contact: their orders (with the addresses,
email and name they were placed with) and the shipping labels bought for them (the
addresses sent to the carrier). Export hands both over; erasure is not here yet.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.commerce.fulfilment import service as fulfilment
from bizos.modules.commerce.orders import service as orders


async def export(
    session: AsyncSession, ctx: Context, contact_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The contact's orders and their shipments, each as its Read schema dumps it."""
    placed = await orders.contact_orders(session, ctx, contact_id)
    shipments = await fulfilment.order_shipments(session, ctx, [order.id for order in placed])
    return {
        "orders": [order.model_dump(mode="json") for order in placed],
        "shipments": [shipment.model_dump(mode="json") for shipment in shipments],
    }
