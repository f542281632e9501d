"""Inventory reactions: a low-stock alert becomes a purchasing task."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.modules.commerce.settings import service as commerce_settings
from bizos.modules.work import service as work_service


async def create_purchasing_task(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """One task per crossing of the reorder point (the event is emitted once per
    crossing), for the purchasing assignee or, without one, the workspace owner."""
    data = event.data
    product_id = data.get("product_id") or event.aggregate_id
    sku = data.get("sku") or "?"
    quantity = data.get("reorder_quantity")
    lines = [
        f"{data.get('name') or sku} ({sku}) is low on stock: "
        f"{data.get('available')} available, reorder point {data.get('reorder_point')}.",
        f"Suggested order: {quantity} units." if quantity else "Decide how many to order.",
    ]
    await work_service.create_task(
        session,
        ctx,
        title=f"Reorder {sku}"[:300],
        assignee_id=await commerce_settings.purchasing_assignee(session, ctx),
        priority="high",
        description="\n".join(lines),
        related_type="product",
        related_id=product_id,
        origin="commerce.stock.reorder_needed",
    )


def register(dispatcher: Dispatcher) -> None:
    """Subscribe this part's handlers."""
    dispatcher.subscribe(
        "commerce.inventory.purchasing_task",
        "commerce.stock.reorder_needed",
        create_purchasing_task,
    )
