"""Sales orders: the only writer of ``commerce_orders`` and ``commerce_order_lines``.

Three doors create orders (the API, the Shopify webhook, a won deal); each names its
``source`` and, for outside systems, the outside id: ``(source, external_id)`` is unique,
so a repeated delivery returns the order it already made. A new order is ``received``
(``commerce.order.received`` starts order-to-cash) or, when the Shopify door names a SKU
we do not sell, ``failed`` with the reason and a task for operations.

Order-to-cash moves the order with the state steps below. Every step locks the order
row, checks where it stands and is idempotent (a repeat returns the order unchanged);
a cancelled order raises :class:`OrderCancelled` so the workflow stops.

Totals: ``subtotal`` = Σ quantity x unit price; ``discount_total`` = line discounts plus
an order-level discount; tax is computed per line on the discounted line amount (unless
the door hands the tax over); ``total`` = subtotal - discounts + tax + shipping, or
without the tax when prices already include it (Shopify ``taxes_included``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core import money
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, Unprocessable, field_error
from bizos.core.money import cents
from bizos.core.pagination import PageParams
from bizos.core.sequences import format_number, next_value
from bizos.modules.billing.invoices import service as invoices_service
from bizos.modules.commerce.inventory import service as inventory_service
from bizos.modules.commerce.models import ORDER_SOURCES, Order, OrderLine
from bizos.modules.commerce.orders import backorders
from bizos.modules.commerce.orders.pricing import MAX_AMOUNT, PricedLine, price_line
from bizos.modules.commerce.orders.reads import ORDERS_ORDER as ORDERS_ORDER
from bizos.modules.commerce.orders.reads import contact_orders as contact_orders
from bizos.modules.commerce.orders.reads import fillable_backorders as fillable_backorders
from bizos.modules.commerce.orders.reads import find_order as find_order
from bizos.modules.commerce.orders.reads import fulfillable_lines as fulfillable_lines
from bizos.modules.commerce.orders.reads import get_order as get_order
from bizos.modules.commerce.orders.reads import list_orders as list_orders
from bizos.modules.commerce.orders.reads import order_lines as order_lines
from bizos.modules.commerce.orders.reads import order_read as order_read
from bizos.modules.commerce.orders.reads import order_reads as order_reads
from bizos.modules.commerce.orders.reads import prices_include_tax as prices_include_tax
from bizos.modules.commerce.orders.reads import shipping_tax as shipping_tax
from bizos.modules.commerce.orders.schemas import OrderDraft
from bizos.modules.commerce.rows import emit, pick, tenant_row
from bizos.modules.commerce.settings import service as commerce_settings
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.work import service as work_service

log = structlog.get_logger("bizos.commerce.orders")

# Where an order may go next in order-to-cash; anything later is already done.
_PROGRESS = ("received", "backordered", "allocated", "invoiced", "shipped", "fulfilled")
_SHIPPED = ("shipped", "fulfilled")
# The draft's fields an order keeps as the door gave them.
_AS_GIVEN = {
    "source",
    "external_id",
    "external_name",
    "deal_id",
    "shipping_address",
    "billing_address",
}
# Where the customer's order email is recorded (its message id): it is sent once.
NOTIFIED_KEY = "customer_notified_message_id"


class OrderCancelled(Exception):
    """The order was cancelled: order-to-cash stops here (it pickles by its id)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(order_id)
        self.order_id = order_id

    def __str__(self) -> str:
        return f"order {self.order_id} is cancelled"


async def _locked(session: AsyncSession, ctx: Context, order_id: str) -> Order:
    return await tenant_row(session, ctx, Order, order_id, what="order", lock=True)


# --- placing an order -----------------------------------------------------------------


async def _customer(
    session: AsyncSession, ctx: Context, draft: OrderDraft
) -> tuple[str | None, str | None, str | None]:
    """``(contact_id, email, name)``: the named contact (or its survivor after a merge),
    else the contact found or created from the email."""
    contact_id, email, name, source = (
        draft.contact_id,
        draft.email,
        draft.customer_name,
        draft.source,
    )
    if contact_id is not None:
        contact = await contacts_service.given_contact(session, ctx, contact_id)
        return contact.id, email or contact.email, name or contact.name
    if email:
        try:
            contact = await contacts_service.contact_for_email(
                session, ctx, email=email, name=name, phone=draft.phone, source=source
            )
        except ValueError:  # crm's InvalidEmail
            if source != "api":
                # An outside shop's odd address must not lose the order: no contact then.
                log.info("commerce.order.customer_email_unusable", source=source)
                return None, None, name
            raise Unprocessable(
                "the email is not valid", errors=[field_error(["body", "email"], "invalid email")]
            ) from None
        return contact.id, contact.email, name or contact.name
    return None, None, name


async def create_order(session: AsyncSession, ctx: Context, **draft: Any) -> Order:
    """:func:`place_order` for callers holding the fields of an :class:`OrderDraft`."""
    order, _ = await place_order(session, ctx, OrderDraft(**draft))
    return order


async def place_order(session: AsyncSession, ctx: Context, draft: OrderDraft) -> tuple[Order, bool]:
    """A new order, or the one ``(source, external_id)`` already made, and whether it is
    new (see the module docstring for totals and ``schemas.UnknownSku`` for a line that
    cannot be sold). A new order is ``received``, or ``failed`` with the reason."""
    if draft.source not in ORDER_SOURCES:
        raise ValueError(f"unknown order source {draft.source!r}")
    if draft.external_id is not None:
        existing = await find_order(
            session, ctx, source=draft.source, external_id=draft.external_id
        )
        if existing is not None:
            return existing, False
    currency = inventory_service.checked_currency(draft.currency, title=None)
    priced = await _priced_lines(session, ctx, draft, currency)
    contact_id, email, customer_name = await _customer(session, ctx, draft)
    problems = [p.problem for p in priced if p.problem]
    now = utcnow()
    order = Order(
        tenant_id=ctx.require_tenant(),
        **draft.model_dump(include=_AS_GIVEN),
        status="failed" if problems else "received",
        contact_id=contact_id,
        email=email,
        customer_name=customer_name,
        currency=currency,
        failure_reason="; ".join(problems) if problems else None,
        failed_at=now if problems else None,
        placed_at=draft.placed_at or now,
        properties=draft.properties or {},
        created_at=now,
        updated_at=now,
        **_totals(draft, [p.line for p in priced]),
    )
    stored = await _insert(session, ctx, draft, order, [p.line for p in priced])
    if stored is not order:
        return stored, False
    if problems:
        await _announce_failure(session, ctx, order)
    else:
        received = _summary(order, "email", "external_id")
        await _event(session, ctx, order, "commerce.order.received", **received)
    log.info("commerce.order.placed", order_id=order.id, source=draft.source, status=order.status)
    return order, True


async def _priced_lines(
    session: AsyncSession, ctx: Context, draft: OrderDraft, currency: str
) -> list[PricedLine]:
    """The draft's lines priced from the catalogue (422 for none, or for a line that
    cannot be sold when the draft rejects those)."""
    if not draft.lines:
        raise Unprocessable(
            "an order needs lines", errors=[field_error(["body", "lines"], "at least one line")]
        )
    settings = await commerce_settings.load_settings(session, ctx)
    products = await inventory_service.get_products_by_sku(
        session, ctx, [ln.sku.strip() for ln in draft.lines if ln.sku]
    )
    return [
        price_line(
            i,
            ln,
            products.get(ln.sku.strip()) if ln.sku else None,
            currency=currency,
            default_tax_rate=Decimal(settings.default_tax_rate),
            unknown_sku=draft.unknown_sku,
        )
        for i, ln in enumerate(draft.lines)
    ]


def _totals(draft: OrderDraft, lines: Sequence[OrderLine]) -> dict[str, Decimal]:
    """The order's amounts from its priced lines and the draft's order-level amounts;
    422 for discounts beyond the amount, or a total no money column holds."""
    subtotal = sum((cents(ln.unit_price * ln.quantity) for ln in lines), Decimal("0"))
    discounts = sum((ln.discount for ln in lines), Decimal("0")) + cents(draft.discount_total)
    tax = sum((ln.tax_amount for ln in lines), Decimal("0")) + cents(draft.shipping_tax)
    total = (
        subtotal
        - discounts
        + cents(draft.shipping_total)
        + (0 if draft.prices_include_tax else tax)
    )
    if total < 0:
        raise Unprocessable(
            "the discounts exceed the order amount",
            errors=[field_error(["body", "discount_total"], "more than the order amount")],
        )
    if max(subtotal, tax, cents(total)) > MAX_AMOUNT:
        raise Unprocessable(
            f"the order amount exceeds {MAX_AMOUNT}",
            errors=[field_error(["body", "lines"], f"the order amount exceeds {MAX_AMOUNT}")],
        )
    return {
        "subtotal": subtotal,
        "discount_total": discounts,
        "tax_total": tax,
        "shipping_total": cents(draft.shipping_total),
        "total": cents(total),
    }


async def _insert(
    session: AsyncSession,
    ctx: Context,
    draft: OrderDraft,
    order: Order,
    lines: Sequence[OrderLine],
) -> Order:
    """Store the order with its number and lines: ``order``, or the order a concurrent
    delivery of the same outside order stored first."""
    try:
        # The number is taken inside the savepoint: a lost race gives it back (gapless).
        async with session.begin_nested():
            order.number = format_number(
                "SO", await next_value(session, order.tenant_id, "sales_order")
            )
            session.add(order)
            await session.flush()
            for line in lines:
                line.tenant_id = order.tenant_id
                line.order_id = order.id
            session.add_all(lines)
    except IntegrityError:
        if draft.external_id is None:
            raise
        existing = await find_order(
            session, ctx, source=draft.source, external_id=draft.external_id
        )
        if existing is None:
            raise
        return existing
    return order


# --- order-to-cash steps --------------------------------------------------------------


async def _event(
    session: AsyncSession, ctx: Context, order: Order, type_: str, **data: Any
) -> None:
    facts = {"order_id": order.id, **pick(order, "number", "status"), **data}
    await emit(session, ctx, type_, order, "order", facts)


def _summary(order: Order, *more: str) -> dict[str, Any]:
    """What an order's received and fulfilled events say of it, then its ``more`` fields."""
    total = money.text(order.total)
    return {"source": order.source, "total": total, **pick(order, "currency", "contact_id", *more)}


def _touch(order: Order, status: str, now: dt.datetime) -> None:
    order.status = status
    order.version += 1
    order.updated_at = now


async def _step_target(session: AsyncSession, ctx: Context, order_id: str) -> Order:
    """The order, locked; a cancelled order stops order-to-cash."""
    order = await _locked(session, ctx, order_id)
    if order.status == "cancelled":
        raise OrderCancelled(order.id)
    if order.status == "failed":
        raise Conflict(f"order {order.number} failed: {order.failure_reason}")
    return order


async def _reached(
    session: AsyncSession, ctx: Context, order: Order, step: str, **data: Any
) -> Order:
    """The order is at ``step`` now (its ``<step>_at``; an ``invoice_id`` or
    ``shipment_id`` in ``data`` is recorded on it) and ``commerce.order.<step>`` says so
    with ``data``."""
    now = utcnow()
    _touch(order, step, now)
    setattr(order, f"{step}_at", now)
    for name in ("invoice_id", "shipment_id"):
        if name in data:
            setattr(order, name, data[name])
    await session.flush()
    await _event(session, ctx, order, f"commerce.order.{step}", **data)
    return order


def _done(order: Order, step: str) -> bool:
    """Whether the order already went through ``step`` (a repeat is a no-op)."""
    return _PROGRESS.index(order.status) >= _PROGRESS.index(step)


async def allocate_order(session: AsyncSession, ctx: Context, order_id: str) -> str:
    """Reserve the order's stock: ``"allocated"``, or ``"backordered"`` when some line
    lacks stock (nothing is reserved then). An order of service lines needs none."""
    order = await _step_target(session, ctx, order_id)
    if _done(order, "allocated"):
        return "allocated"
    stock = fulfillable_lines(await order_lines(session, ctx, order.id))
    now = utcnow()
    if stock and not await inventory_service.allocate_lines(
        session, ctx, order_id=order.id, lines=stock
    ):
        if order.status != "backordered":
            _touch(order, "backordered", now)
            await session.flush()
            missing = await backorders.order_shortage(session, ctx, order.id)
            await _event(
                session,
                ctx,
                order,
                "commerce.order.backordered",
                lines=len(stock),
                missing=[m.as_json() for m in missing],
            )
        return "backordered"
    _touch(order, "allocated", now)
    order.allocated_at = now
    await session.flush()
    await _event(session, ctx, order, "commerce.order.allocated", lines=len(stock))
    return "allocated"


async def mark_invoiced(
    session: AsyncSession, ctx: Context, order_id: str, invoice_id: str
) -> Order:
    order = await _step_target(session, ctx, order_id)
    if _done(order, "invoiced"):
        return order
    if order.status != "allocated":
        raise Conflict(f"order {order.number} is {order.status}; it is invoiced once allocated")
    return await _reached(session, ctx, order, "invoiced", invoice_id=invoice_id)


async def mark_shipped(
    session: AsyncSession, ctx: Context, order_id: str, shipment_id: str | None
) -> Order:
    """The order's stock leaves the warehouse (``ship_lines``) and it is ``shipped``."""
    order = await _step_target(session, ctx, order_id)
    if _done(order, "shipped"):
        return order
    if order.status not in ("allocated", "invoiced"):
        raise Conflict(f"order {order.number} is {order.status}; it ships once allocated")
    stock = fulfillable_lines(await order_lines(session, ctx, order.id))
    await inventory_service.ship_lines(session, ctx, order_id=order.id, lines=stock)
    return await _reached(session, ctx, order, "shipped", shipment_id=shipment_id)


async def mark_fulfilled(session: AsyncSession, ctx: Context, order_id: str) -> Order:
    order = await _step_target(session, ctx, order_id)
    if order.status == "fulfilled":
        return order
    if order.status not in ("allocated", "invoiced", "shipped"):
        raise Conflict(f"order {order.number} is {order.status}; it cannot be fulfilled yet")
    fulfilled = _summary(order, "invoice_id", "shipment_id")
    return await _reached(session, ctx, order, "fulfilled", **fulfilled)


async def release_order_stock(session: AsyncSession, ctx: Context, order_id: str) -> None:
    """Compensation: give back whatever stock the order still holds (idempotent; runs
    whatever the order's status)."""
    order = await get_order(session, ctx, order_id)
    stock = fulfillable_lines(await order_lines(session, ctx, order.id))
    if stock:
        await inventory_service.release_lines(session, ctx, order_id=order.id, lines=stock)


async def count_first_attempt(session: AsyncSession, ctx: Context, order_id: str) -> bool:
    """Count order-to-cash's first run of a ``received`` order; False (nothing to run)
    for an order that is gone, failed at intake (an unknown SKU) or cancelled."""
    order = await session.get(Order, order_id)
    if order is None or order.tenant_id != ctx.tenant_id or order.status != "received":
        return False
    order.fulfilment_attempts = max(order.fulfilment_attempts, 1)
    return True


async def count_next_attempt(session: AsyncSession, ctx: Context, order: Order) -> int:
    """Count another order-to-cash run of a backordered order; its attempt number."""
    order.fulfilment_attempts += 1
    return order.fulfilment_attempts


def customer_notified(order: Order) -> str | None:
    """The id of the email that told the customer about the order, once it was sent."""
    already = (order.properties or {}).get(NOTIFIED_KEY)
    return str(already) if already else None


async def record_customer_notified(
    session: AsyncSession, ctx: Context, order: Order, message_id: str
) -> None:
    order.properties = {**(order.properties or {}), NOTIFIED_KEY: message_id}
    await session.flush()


async def _announce_failure(session: AsyncSession, ctx: Context, order: Order) -> None:
    """``commerce.order.failed``, a task and a notification for operations."""
    reason = order.failure_reason or "unknown"
    assignee = await commerce_settings.operations_assignee(session, ctx)
    title = f"Order {order.external_name or order.number} failed"
    description = (
        f"Order {order.number} ({order.source}"
        + (f" {order.external_name or order.external_id}" if order.external_id else "")
        + f") could not be fulfilled: {reason}."
    )
    await work_service.escalate(
        session,
        ctx,
        assignee_id=assignee,
        title=title,
        body=description,
        origin="commerce.order.failed",
        related_type="order",
        related_id=order.id,
        kind="commerce.order.failed",
        contact_id=order.contact_id,
    )
    await _event(session, ctx, order, "commerce.order.failed", reason=reason, source=order.source)


async def fail_order(session: AsyncSession, ctx: Context, order_id: str, reason: str) -> Order:
    """Order-to-cash gave up: ``failed`` with why, a task and a notification. An order
    already failed, cancelled or fulfilled is left as it is."""
    order = await _locked(session, ctx, order_id)
    if order.status in ("failed", "cancelled", "fulfilled"):
        return order
    now = utcnow()
    _touch(order, "failed", now)
    order.failure_reason = reason[:4000]
    order.failed_at = now
    await session.flush()
    await _announce_failure(session, ctx, order)
    log.info("commerce.order.failed", order_id=order.id)
    return order


async def _void_invoices(session: AsyncSession, ctx: Context, order: Order) -> None:
    """Void every live invoice of the order: the one it records, and one order-to-cash
    may have issued but not yet recorded (a cancellation between those two steps)."""
    invoice_ids = {order.invoice_id} if order.invoice_id else set()
    live, _ = await invoices_service.list_invoices(
        session, ctx, page=PageParams(limit=20), order_id=order.id
    )
    invoice_ids |= {inv.id for inv in live if inv.status != "void"}
    for invoice_id in sorted(invoice_ids):
        await invoices_service.void_order_invoice(
            session, ctx, invoice_id, reason=f"order {order.number} cancelled"
        )


async def cancel_order(
    session: AsyncSession,
    ctx: Context,
    order_id: str,
    *,
    reason: str | None = None,
    after_shipping: Literal["conflict", "task"] = "conflict",
) -> Order:
    """Cancel before shipping: release the stock, void the invoice, ``cancelled``.

    A shipped or fulfilled order cannot be cancelled: 409, or with ``after_shipping=
    "task"`` (an outside shop already cancelled it) a task to arrange the return. An
    invoice that was paid makes it a 409 (refund first)."""
    order = await _locked(session, ctx, order_id)
    if order.status == "cancelled":
        return order
    if order.status in _SHIPPED:
        if after_shipping == "conflict":
            raise Conflict(
                f"order {order.number} is {order.status}; a shipped order is returned, "
                "not cancelled"
            )
        await work_service.create_task(
            session,
            ctx,
            title=f"Order {order.external_name or order.number} cancelled after shipping "
            "— arrange a return",
            description=f"The order was cancelled at its source ({order.source}) after it "
            f"shipped. Reason: {reason or 'none given'}.",
            assignee_id=await commerce_settings.operations_assignee(session, ctx),
            priority="high",
            related_type="order",
            related_id=order.id,
            contact_id=order.contact_id,
            origin="commerce.order.cancelled",
        )
        return order
    previous = order.status
    stock = fulfillable_lines(await order_lines(session, ctx, order.id))
    if stock:
        await inventory_service.release_lines(session, ctx, order_id=order.id, lines=stock)
    await _void_invoices(session, ctx, order)
    now = utcnow()
    _touch(order, "cancelled", now)
    order.cancel_reason = reason[:500] if reason else None
    order.cancelled_at = now
    await session.flush()
    await _event(
        session,
        ctx,
        order,
        "commerce.order.cancelled",
        reason=order.cancel_reason,
        previous_status=previous,
        invoice_id=order.invoice_id,
        source=order.source,
    )
    log.info("commerce.order.cancelled", order_id=order.id, previous_status=previous)
    return order
