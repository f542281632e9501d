"""Order to cash as a durable saga (seed 000 §3): allocate stock -> invoice -> buy a
shipping label -> ship -> email the customer -> ``commerce.order.fulfilled``.

``commerce.order.received`` starts one run per order; a backordered order ends its run
and is started again (a new run id per attempt) when stock arrives. Every step takes
ids, opens its own unit of work and is idempotent, because a step that was running when
the process died runs again on recovery:

* allocation, invoicing and the order's state changes are idempotent in their services
  (an allocated order is not allocated twice; an order's live invoice is returned);
* a label is bought only while the order has no purchased shipment, outside any
  transaction, and recorded at once. The provider is retried with backoff while it may
  recover (timeouts, 429, 5xx) and given up at once when it refuses (credentials, an
  address). Only a crash between the provider's answer and that commit can buy twice;
* the customer's email is queued with its id recorded on the order in one transaction.

Up to the shipment a failure that survives its retries runs the compensations in
reverse (void the label, void the invoice, release the stock) and fails the order with
the reason (a task and a notification for operations). A cancelled order stops the run
(cancellation has undone what it needs; the compensations still run, and are no-ops
for what it undid). Once the goods have left, nothing is undone: a failing email is
logged and the order is still fulfilled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from bizos.connectors.shipping.base import ShippingError, ShippingProvider, ShippingRefused
from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.errors import Conflict, NotFound, Unprocessable
from bizos.core.sagas import Saga
from bizos.core.workflows import RetryPolicy, SagaFailed, step, workflow
from bizos.modules.commerce.fulfilment import service as fulfilment
from bizos.modules.commerce.orders import service as orders
from bizos.modules.commerce.orders.service import OrderCancelled

log = structlog.get_logger("bizos.commerce.fulfilment")
T = TypeVar("T")

WORKFLOW_NAME = "commerce.order_to_cash"
# Retrying will not change these: a cancelled order, a missing record, a state that
# forbids the step (the services lock the rows they change), invalid data.
FINAL_ERRORS: tuple[type[BaseException], ...] = (OrderCancelled, NotFound, Conflict, Unprocessable)
STEP_RETRY = RetryPolicy(
    max_attempts=4, interval_seconds=0.2, backoff_rate=2.0, give_up_on=FINAL_ERRORS
)
# Five tries over about 15 s (1 + 2 + 4 + 8 between them); a refusal is final at once.
LABEL_RETRY = RetryPolicy(
    max_attempts=5,
    interval_seconds=1.0,
    backoff_rate=2.0,
    give_up_on=(ShippingRefused, *FINAL_ERRORS),
)
COMPENSATION_RETRY = RetryPolicy(max_attempts=4, interval_seconds=0.5, backoff_rate=2.0)
# Orders in these states have nothing left for the workflow to do.
FINISHED = ("fulfilled", "cancelled", "failed")


def _ctx(tenant_id: str, order_id: str) -> Context:
    # Every event of an order's fulfilment shares the order id as its correlation id.
    return Context(tenant_id=tenant_id, actor_type="system", correlation_id=order_id)


async def _write(
    tenant_id: str, order_id: str, run: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
) -> T:
    """``run(session, ctx, *args, **kwargs)`` in a unit of work of its own, in the
    order's context (a step's one write)."""
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        return await run(session, _ctx(tenant_id, order_id), *args, **kwargs)


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the order stands when a run starts, and whether it ships goods at all."""

    status: str
    ships: bool


# --- steps ------------------------------------------------------------------------------


@step("commerce.order_to_cash.plan", retry=STEP_RETRY)
async def plan(tenant_id: str, order_id: str) -> Plan:
    ctx = _ctx(tenant_id, order_id)
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        order = await orders.get_order(session, ctx, order_id)
        lines = await orders.order_lines(session, ctx, order.id)
        return Plan(order.status, ships=bool(orders.fulfillable_lines(lines)))


@step("commerce.order_to_cash.allocate", retry=STEP_RETRY)
async def allocate(tenant_id: str, order_id: str) -> str:
    return await _write(tenant_id, order_id, orders.allocate_order, order_id)


@step("commerce.order_to_cash.release_stock", retry=COMPENSATION_RETRY)
async def release_stock(tenant_id: str, order_id: str) -> None:
    await _write(tenant_id, order_id, orders.release_order_stock, order_id)


@step("commerce.order_to_cash.create_invoice", retry=STEP_RETRY)
async def create_invoice(tenant_id: str, order_id: str) -> str:
    return await _write(tenant_id, order_id, fulfilment.invoice_order, order_id)


@step("commerce.order_to_cash.void_invoice", retry=COMPENSATION_RETRY)
async def void_invoice(tenant_id: str, order_id: str, invoice_id: str) -> None:
    await _write(
        tenant_id,
        order_id,
        fulfilment.void_order_invoice,
        invoice_id,
        reason="the order could not be fulfilled",
    )


@step("commerce.order_to_cash.mark_invoiced", retry=STEP_RETRY)
async def mark_invoiced(tenant_id: str, order_id: str, invoice_id: str) -> None:
    await _write(tenant_id, order_id, orders.mark_invoiced, order_id, invoice_id=invoice_id)


@step("commerce.order_to_cash.buy_label", retry=LABEL_RETRY)
async def buy_label(tenant_id: str, order_id: str) -> str:
    """Buy the order's label (or find the one already bought); returns the shipment id."""
    ctx = _ctx(tenant_id, order_id)
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        to_buy = await fulfilment.label_to_buy(session, ctx, order_id)
    if isinstance(to_buy, str):
        return to_buy  # bought already
    request, provider = to_buy
    # No transaction is open while the provider is asked.
    try:
        label = await provider.buy_label(request)
    except ShippingRefused:
        raise
    except ShippingError as exc:
        if not exc.retryable:
            raise ShippingRefused(exc.detail) from exc
        raise
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        shipment_id, recorded = await fulfilment.record_label(session, ctx, order_id, label)
    if not recorded:  # a concurrent run recorded one first
        await _void_quietly(provider, label.provider_ref)
    return shipment_id


@step("commerce.order_to_cash.void_label", retry=COMPENSATION_RETRY)
async def void_label(tenant_id: str, order_id: str, shipment_id: str) -> None:
    ctx = _ctx(tenant_id, order_id)
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        target = await fulfilment.label_to_void(session, ctx, shipment_id)
    if target is None:
        return
    provider, label_ref = target
    await provider.void_label(label_ref)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        await fulfilment.mark_label_voided(session, ctx, shipment_id)
    log.info("commerce.label_voided", order_id=order_id, shipment_id=shipment_id)


@step("commerce.order_to_cash.mark_shipped", retry=STEP_RETRY)
async def mark_shipped(tenant_id: str, order_id: str, shipment_id: str) -> None:
    await _write(tenant_id, order_id, orders.mark_shipped, order_id, shipment_id=shipment_id)


@step("commerce.order_to_cash.notify_customer", retry=STEP_RETRY)
async def notify_customer(tenant_id: str, order_id: str) -> str | None:
    """Email the customer once (tracking and invoice number); the message id, or None
    when the tenant turned customer emails off or the order has no address."""
    return await _write(tenant_id, order_id, fulfilment.notify_customer, order_id)


@step("commerce.order_to_cash.mark_fulfilled", retry=STEP_RETRY)
async def mark_fulfilled(tenant_id: str, order_id: str) -> None:
    await _write(tenant_id, order_id, orders.mark_fulfilled, order_id)


@step("commerce.order_to_cash.fail_order", retry=STEP_RETRY)
async def fail_order(tenant_id: str, order_id: str, reason: str) -> None:
    await _write(tenant_id, order_id, orders.fail_order, order_id, reason=reason)


# --- the workflow -------------------------------------------------------------------------


@workflow(WORKFLOW_NAME)
async def order_to_cash(tenant_id: str, order_id: str) -> str:
    """Take one order from received to fulfilled. Returns how the run ended:
    ``fulfilled``, ``backordered``, ``cancelled`` or ``failed`` (or the state a
    finished order was already in)."""
    start = await plan(tenant_id, order_id)
    if start.status in FINISHED:
        return start.status
    try:
        async with Saga(WORKFLOW_NAME, compensation_retry=COMPENSATION_RETRY) as saga:
            # An order of service lines is allocated without reserving anything.
            if await allocate(tenant_id, order_id) == "backordered":
                return "backordered"
            if start.ships:
                saga.add_compensation(release_stock, tenant_id, order_id)
            invoice_id = await create_invoice(tenant_id, order_id)
            saga.add_compensation(void_invoice, tenant_id, order_id, invoice_id)
            await mark_invoiced(tenant_id, order_id, invoice_id)
            if start.ships:
                shipment_id = await buy_label(tenant_id, order_id)
                saga.add_compensation(void_label, tenant_id, order_id, shipment_id)
                await mark_shipped(tenant_id, order_id, shipment_id)
    except SagaFailed as failed:
        cause = failed.__cause__
        if isinstance(cause, OrderCancelled):
            log.info("commerce.order_to_cash.cancelled", order_id=order_id)
            return "cancelled"
        await fail_order(tenant_id, order_id, failure_reason(cause, failed))
        return "failed"
    # The goods have left (or there were none): nothing from here on is undone.
    try:
        await notify_customer(tenant_id, order_id)
    except Exception as exc:
        log.error("commerce.customer_email_failed", order_id=order_id, error=type(exc).__name__)
    await mark_fulfilled(tenant_id, order_id)
    return "fulfilled"


def failure_reason(cause: BaseException | None, failed: SagaFailed) -> str:
    """Why the order failed, for the operations task (no secrets: errors carry none)."""
    if isinstance(cause, ShippingError):
        reason = f"No shipping label could be bought: {cause.detail}"
    elif cause is not None:
        detail = getattr(cause, "detail", None) or str(cause) or type(cause).__name__
        reason = f"Order to cash stopped: {detail}"
    else:
        reason = f"Order to cash stopped: {failed.reason}"
    undone = {
        "commerce.order_to_cash.void_label": "label voided",
        "commerce.order_to_cash.void_invoice": "invoice voided",
        "commerce.order_to_cash.release_stock": "stock released",
    }
    done = [undone[name] for name in failed.compensated if name in undone]
    if done:
        reason += f" ({', '.join(done)})"
    if failed.failed_compensations:
        reason += f"; could not undo: {', '.join(failed.failed_compensations)}"
    return reason


# --- helpers ------------------------------------------------------------------------------


async def _void_quietly(provider: ShippingProvider, label_ref: str) -> None:
    try:
        await provider.void_label(label_ref)
    except ShippingError as exc:
        log.error("commerce.duplicate_label_not_voided", label_ref=label_ref, error=exc.detail)
