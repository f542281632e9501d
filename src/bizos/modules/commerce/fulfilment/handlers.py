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
from bizos.modules.commerce.fulfilment.workflows import WORKFLOW_NAME, order_to_cash
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
    if not await orders.count_first_attempt(session, ctx, event.aggregate_id):
        return  # gone, or already failed at intake (an unknown SKU) or cancelled
    await _start(
        event.aggregate_id, event.tenant_id, workflow_id_for_event(event.id, WORKFLOW_NAME)
    )


async def restart_backorders(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """Restart the backordered orders (oldest first) that the stock on hand can fill."""
    for order in await orders.fillable_backorders(session, ctx, limit=RESTART_SCAN_LIMIT):
        if await _running(attempt_workflow_id(order.id, order.fulfilment_attempts)):
            continue
        attempt = await orders.count_next_attempt(session, ctx, order)
        await _start(order.id, event.tenant_id, attempt_workflow_id(order.id, attempt))
        log.info("commerce.backorder_restarted", order_id=order.id, attempt=attempt)


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
