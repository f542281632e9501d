"""Starting order-to-cash: a received order, or a backorder whose stock arrived.

``commerce.order.received`` starts the order's first run (its id derives from the
event id, so a redelivered event finds the run already there). Stock arriving
(``commerce.stock.received``, ``.adjusted``) or given back (an order cancelled or failed)
restarts backordered orders, oldest first, that the stock now on hand can fill: each
restart is a new attempt (``Order.fulfilment_attempts``), run id
``commerce.order_to_cash:{order_id}:{attempt}``. The attempt is counted in the handler's
transaction, so a handler that fails and runs again asks for the same run id; an order
whose current attempt is still running is left to it.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.workflows import (
    WorkflowsNotRunning,
    get_workflow_status,
    start_workflow,
    workflow_id_for_event,
)
from bizos.modules.commerce.fulfilment.workflow import WORKFLOW_NAME, order_to_cash
from bizos.modules.commerce.models import Order, OrderLine, Product
from bizos.modules.commerce.orders import service as orders

log = structlog.get_logger("bizos.commerce.fulfilment")

# Events after which stock may be available for backorders: a delivery or a return, an
# adjustment, and an order that gave its allocation back.
STOCK_FREED = (
    "commerce.stock.received",
    "commerce.stock.adjusted",
    "commerce.order.cancelled",
    "commerce.order.failed",
)
# How many backordered orders one stock receipt looks at (oldest first).
RESTART_SCAN_LIMIT = 500


def attempt_workflow_id(order_id: str, attempt: int) -> str:
    return f"{WORKFLOW_NAME}:{order_id}:{attempt}"


async def start_order_to_cash(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """Start the order's first run once per ``commerce.order.received``. Where workflows
    are switched off the order stays received; where they should run but are not up
    yet, the handler fails so the dispatcher retries it."""
    order = await session.get(Order, event.aggregate_id)
    if order is None or order.tenant_id != event.tenant_id or order.status != "received":
        return  # gone, or already failed at intake (an unknown SKU) or cancelled
    order.fulfilment_attempts = max(order.fulfilment_attempts, 1)
    await _start(order.id, event.tenant_id, workflow_id_for_event(event.id, WORKFLOW_NAME))


async def restart_backorders(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """Restart the backordered orders (oldest first) that the stock on hand can fill."""
    backordered = list(
        await session.scalars(
            sa.select(Order)
            .where(Order.tenant_id == event.tenant_id, Order.status == "backordered")
            .order_by(Order.placed_at, Order.created_at, Order.id)
            .limit(RESTART_SCAN_LIMIT)
        )
    )
    if not backordered:
        return
    all_lines = await session.scalars(
        sa.select(OrderLine)
        .where(
            OrderLine.tenant_id == event.tenant_id,
            OrderLine.order_id.in_([order.id for order in backordered]),
        )
        .order_by(OrderLine.order_id, OrderLine.position)
    )
    by_order: dict[str, list[OrderLine]] = defaultdict(list)
    for line in all_lines:
        by_order[line.order_id].append(line)
    wanted = {order.id: orders.fulfillable_lines(by_order[order.id]) for order in backordered}
    product_ids = {product_id for lines in wanted.values() for product_id, _ in lines}
    available = dict(
        (
            await session.execute(
                sa.select(Product.id, Product.stock_on_hand - Product.allocated).where(
                    Product.tenant_id == event.tenant_id, Product.id.in_(product_ids)
                )
            )
        ).all()
    )
    for order in backordered:
        lines = wanted[order.id]
        if not all(available.get(product_id, 0) >= qty for product_id, qty in lines):
            continue  # an older order may still take what it needs; this one waits
        for product_id, qty in lines:
            available[product_id] -= qty
        if await _running(attempt_workflow_id(order.id, order.fulfilment_attempts)):
            continue
        order.fulfilment_attempts += 1
        await _start(
            order.id, event.tenant_id, attempt_workflow_id(order.id, order.fulfilment_attempts)
        )
        log.info(
            "commerce.backorder_restarted", order_id=order.id, attempt=order.fulfilment_attempts
        )


async def _running(workflow_id: str) -> bool:
    try:
        state = await get_workflow_status(workflow_id)
    except WorkflowsNotRunning:
        return False
    return state is not None and not state.finished


async def _start(order_id: str, tenant_id: str, workflow_id: str) -> None:
    try:
        await start_workflow(order_to_cash, tenant_id, order_id, workflow_id=workflow_id)
    except WorkflowsNotRunning:
        if get_settings().workflows_enabled:
            raise
        log.info("commerce.order_to_cash.not_started", order_id=order_id, reason="disabled")


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe(
        "commerce.fulfilment.start_order_to_cash", "commerce.order.received", start_order_to_cash
    )
    dispatcher.subscribe("commerce.fulfilment.restart_backorders", STOCK_FREED, restart_backorders)
