"""Backorder alerts: who hears that an order waits for stock, what it waits for, and
when it stops waiting.

A backordered order gets one task, for the purchasing assignee (the tenant owner when
none is set: whoever gets reorder tasks gets the stock orders wait for), and a
notification (``commerce.order.backordered``), both naming each missing SKU with the
units ordered, available and missing. While the order waits, stock moves (a delivery,
a count, another order taking or giving back units) recompute what is missing and keep
the task's title and text current. When the order is allocated (the stock arrived and
order-to-cash goes on) the task is closed as done with a note; a backorder cancelled or
failed closes it as cancelled, with the reason.

One task per order, however often an event is delivered: the task is looked up by the
order before one is made, under the order's row lock, in the transaction that makes it.
A task someone closed by hand stays closed; nothing reopens it. A backorder that has
no task (one from before these alerts) gets one with the next stock move it waits for.

"Available" is on hand less allocated at the moment of the check; older backorders
waiting for the same SKU are not subtracted (they are told about their own shortage).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.pagination import PageParams
from bizos.modules.commerce.models import Order, OrderLine, Product
from bizos.modules.commerce.orders.reads import fulfillable_lines
from bizos.modules.commerce.settings import service as commerce_settings
from bizos.modules.work import service as work_service
from bizos.modules.work.schemas import OPEN_STATUSES, TaskUpdate

log = structlog.get_logger("bizos.commerce.backorders")

ORIGIN = "commerce.order.backordered"
NOTIFICATION_KIND = "commerce.order.backordered"
# Orders one stock event looks at (oldest first), as the restart scan does.
SCAN_LIMIT = 500
# SKUs the task names one by one; the rest are counted.
LISTED_SKUS = 20
TITLE_MAX = 300
DESCRIPTION_MAX = 20_000
# Past these, the order went on: the stock arrived and it was allocated.
_WENT_ON = ("allocated", "invoiced", "shipped", "fulfilled")


@dataclass(frozen=True, slots=True)
class Missing:
    """One SKU an order lacks: units ordered and available now."""

    product_id: str
    sku: str
    name: str
    ordered: int
    available: int

    @property
    def missing(self) -> int:
        return self.ordered - max(self.available, 0)

    def as_json(self) -> dict[str, str | int]:
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "ordered": self.ordered,
            "available": self.available,
            "missing": self.missing,
        }


@dataclass(frozen=True, slots=True)
class Stocked:
    """A stock-tracked product as a shortage is worked out from it."""

    product_id: str
    sku: str
    name: str
    available: int

    @classmethod
    def of(cls, product: Product) -> Stocked:
        return cls(product.id, product.sku, product.name, product.stock_on_hand - product.allocated)


def shortage_of(lines: Iterable[tuple[str, int]], stock: dict[str, Stocked]) -> list[Missing]:
    """What ``(product_id, quantity)`` lines lack of the stock available, one entry per
    SKU (lines of the same product are added up), by SKU. Products not in ``stock``
    (services, or gone) lack nothing."""
    wanted: dict[str, int] = {}
    for product_id, quantity in lines:
        wanted[product_id] = wanted.get(product_id, 0) + quantity
    out = []
    for product_id, quantity in wanted.items():
        item = stock.get(product_id)
        if item is not None and item.available < quantity:
            out.append(Missing(item.product_id, item.sku, item.name, quantity, item.available))
    return sorted(out, key=lambda m: (m.sku, m.product_id))


def _order_label(order: Order) -> str:
    return order.external_name or order.number


def alert_text(order: Order, missing: Sequence[Missing]) -> tuple[str, str]:
    """The task's (and notification's) title and text for ``order`` lacking ``missing``."""
    needs = ", ".join(f"{m.missing} x {m.sku}" for m in missing)
    title = f"Order {_order_label(order)} is backordered: missing {needs}"
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"
    outside = f" ({order.source} {order.external_name})" if order.external_name else ""
    customer = f" for {order.customer_name}" if order.customer_name else ""
    lines = [
        f"Order {order.number}{outside}{customer} is backordered: it ships once this "
        "stock arrives.",
        "",
        "Missing:",
    ]
    lines += [
        f"- {m.missing} x {m.sku} ({m.name}): {m.ordered} ordered, {max(m.available, 0)} available"
        for m in missing[:LISTED_SKUS]
    ]
    if len(missing) > LISTED_SKUS:
        lines.append(f"- and {len(missing) - LISTED_SKUS} more SKUs")
    lines += [
        "",
        "The order restarts by itself when the stock is received; this task closes then.",
    ]
    return title, "\n".join(lines)


# --- reading ----------------------------------------------------------------------------


async def _lines_by_order(
    session: AsyncSession, ctx: Context, order_ids: Sequence[str]
) -> dict[str, list[tuple[str, int]]]:
    rows = await session.scalars(
        sa.select(OrderLine).where(
            OrderLine.tenant_id == ctx.require_tenant(), OrderLine.order_id.in_(list(order_ids))
        )
    )
    by_order: dict[str, list[OrderLine]] = {order_id: [] for order_id in order_ids}
    for line in rows:
        by_order[line.order_id].append(line)
    return {order_id: fulfillable_lines(lines) for order_id, lines in by_order.items()}


async def _stock(
    session: AsyncSession, ctx: Context, product_ids: Iterable[str]
) -> dict[str, Stocked]:
    """The stock-tracked products among ``product_ids``, as they stand now."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = await session.scalars(
        sa.select(Product)
        .where(
            Product.tenant_id == ctx.require_tenant(),
            Product.id.in_(ids),
            Product.tracks_stock.is_(True),
        )
        .execution_options(populate_existing=True)
    )
    return {p.id: Stocked.of(p) for p in rows}


async def order_shortage(session: AsyncSession, ctx: Context, order_id: str) -> list[Missing]:
    """What ``order_id`` lacks of the stock available now."""
    lines = (await _lines_by_order(session, ctx, [order_id]))[order_id]
    return shortage_of(lines, await _stock(session, ctx, (pid for pid, _ in lines)))


async def _alert_tasks(session: AsyncSession, ctx: Context, order_id: str) -> list[str]:
    """Ids of the order's backorder tasks (any status), oldest first."""
    tasks, _ = await work_service.list_tasks(
        session,
        ctx,
        page=PageParams(limit=100),
        related_type="order",
        related_id=order_id,
    )
    return [t.id for t in tasks if t.origin == ORIGIN]


async def _order(
    session: AsyncSession, ctx: Context, order_id: str, *, lock: bool = False
) -> Order | None:
    query = sa.select(Order).where(Order.tenant_id == ctx.require_tenant(), Order.id == order_id)
    if lock:
        query = query.with_for_update()
    row: Order | None = await session.scalar(query.execution_options(populate_existing=True))
    return row


# --- keeping the alert in step with the order ----------------------------------------------


async def sync_alert(
    session: AsyncSession, ctx: Context, order_id: str, *, missing: Sequence[Missing] | None = None
) -> None:
    """Bring the order's backorder alert in line with the order: made (task and
    notification) when a backordered order lacks stock and has no task yet, retitled
    while the shortage changes, closed once the order went on or was given up."""
    order = await _order(session, ctx, order_id)
    if order is None:
        return
    task_ids = await _alert_tasks(session, ctx, order.id)
    if order.status != "backordered":
        for task_id in task_ids:
            await _close(session, ctx, task_id, order)
        return
    if missing is None:
        missing = await order_shortage(session, ctx, order.id)
    if not missing:
        # Everything is on the shelf again: the restart that stock set off allocates it
        # (and closes the task); until then the task keeps saying what was missing.
        return
    title, description = alert_text(order, missing)
    if task_ids:
        await _retitle(session, ctx, task_ids[0], title, description)
        return
    # Only making one takes the order's row lock, and then looks again: two deliveries
    # of the same news (or an admin's replay racing the dispatcher) make one task.
    order = await _order(session, ctx, order_id, lock=True)
    if order is None or order.status != "backordered" or await _alert_tasks(session, ctx, order_id):
        return
    await _raise(session, ctx, order, title, description, missing)


async def _raise(
    session: AsyncSession,
    ctx: Context,
    order: Order,
    title: str,
    description: str,
    missing: Sequence[Missing],
) -> None:
    assignee = await commerce_settings.purchasing_assignee(session, ctx)
    missing_json = {"missing": [m.as_json() for m in missing]}
    task = await work_service.escalate(
        session,
        ctx,
        assignee_id=assignee,
        title=title,
        body=description,
        origin=ORIGIN,
        related_type="order",
        related_id=order.id,
        kind=NOTIFICATION_KIND,
        data=missing_json,
        contact_id=order.contact_id,
        names_task=True,
    )
    log.info("commerce.backorder_alert_raised", order_id=order.id, task_id=task.id)


async def _retitle(
    session: AsyncSession, ctx: Context, task_id: str, title: str, description: str
) -> None:
    task = await work_service.get_task(session, ctx, task_id)
    if task.status not in OPEN_STATUSES:
        return  # closed by hand: it stays closed
    if (task.title, task.description) == (title, description):
        return
    await work_service.update_task(
        session, ctx, task.id, TaskUpdate(title=title, description=description)
    )
    log.info("commerce.backorder_alert_updated", order_id=task.related_id, task_id=task.id)


def _closing_note(order: Order, now: dt.datetime) -> tuple[str, str]:
    """(task status, note) for an order that no longer waits."""
    when = f"{now:%Y-%m-%d %H:%M} UTC"
    if order.status in _WENT_ON:
        return "done", (
            f"Closed by bizos on {when}: the stock arrived and the order was allocated; "
            "it goes on to invoicing and shipping."
        )
    if order.status == "cancelled":
        why = f" ({order.cancel_reason})" if order.cancel_reason else ""
        return "cancelled", f"Closed by bizos on {when}: the order was cancelled{why}."
    why = f": {order.failure_reason}" if order.failure_reason else ""
    return "cancelled", f"Closed by bizos on {when}: the order failed{why}."


async def _close(session: AsyncSession, ctx: Context, task_id: str, order: Order) -> None:
    task = await work_service.get_task(session, ctx, task_id)
    if task.status not in OPEN_STATUSES:
        return
    status, note = _closing_note(order, utcnow())
    description = f"{task.description or ''}\n\n{note}".strip()[:DESCRIPTION_MAX]
    await work_service.update_task(
        session, ctx, task.id, TaskUpdate(status=status, description=description)
    )
    log.info("commerce.backorder_alert_closed", order_id=order.id, task_id=task.id, status=status)


async def sync_waiting(
    session: AsyncSession, ctx: Context, *, product_ids: Iterable[str] | None
) -> None:
    """Re-check the backordered orders (oldest first) that wait for any of
    ``product_ids`` (``None``: for anything): their shortage may have changed."""
    orders = list(
        await session.scalars(
            sa.select(Order.id)
            .where(Order.tenant_id == ctx.require_tenant(), Order.status == "backordered")
            .order_by(Order.placed_at, Order.created_at, Order.id)
            .limit(SCAN_LIMIT)
        )
    )
    if not orders:
        return
    lines = await _lines_by_order(session, ctx, orders)
    touched = None if product_ids is None else set(product_ids)
    waiting = [
        order_id
        for order_id in orders
        if touched is None or any(pid in touched for pid, _ in lines[order_id])
    ]
    stock = await _stock(session, ctx, (pid for o in waiting for pid, _ in lines[o]))
    for order_id in waiting:
        await sync_alert(session, ctx, order_id, missing=shortage_of(lines[order_id], stock))
