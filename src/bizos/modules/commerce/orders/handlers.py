"""Order reactions: a won deal becomes a sales order when the tenant enables it, and a
backordered order keeps its alert (task and notification) in step with the stock.

Seed 004 §3.8.2: closing a deal hands it to the financial side. With
``orders_from_won_deals`` on, ``crm.deal.won`` makes an order (source ``deal``,
``external_id`` = the deal id, so a deal reopened and won again makes no second one):
its lines are ``deal.properties["lines"]`` (``[{sku, quantity, unit_price?}]``) when the
deal lists products, else one service line named after the deal for its amount. A SKU
we do not sell fails that order with a task; a deal that cannot become an order at all
gets a task for its owner instead of a retry loop.

Backorder alerts (``orders.backorders``): ``commerce.order.backordered`` raises the
order's alert; stock received or adjusted, and orders taking or giving back stock
(allocated, cancelled, failed), re-check what the waiting orders lack; the order's own
allocation closes its task (cancelled or failed: closed as cancelled).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.errors import NotFound, ProblemError, Unprocessable, field_error
from bizos.modules.commerce.orders import backorders, service
from bizos.modules.commerce.orders.schemas import OrderDraft, OrderLineInput
from bizos.modules.commerce.settings import service as commerce_settings
from bizos.modules.crm.deals import service as deals_service
from bizos.modules.work import service as work_service

log = structlog.get_logger("bizos.commerce.orders")
MAX_QUANTITY = 1_000_000  # as OrderLineInput allows


def _deal_line(index: int, item: object) -> OrderLineInput:
    """One listed product; a line that cannot be ordered is a 422 naming it (the deal
    then gets a task: deal properties are free-form, nothing checked them before)."""

    def refused(why: str) -> Unprocessable:
        message = f"line {index + 1} of the deal's lines {why}"
        return Unprocessable(message, errors=[field_error(["lines", index], message)])

    if not isinstance(item, dict) or not isinstance(item.get("sku"), str) or not item["sku"]:
        raise refused("names no SKU")
    quantity = item.get("quantity", 1)
    if isinstance(quantity, str) and quantity.strip().isdecimal():
        quantity = int(quantity)  # "12" typed into a form
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise refused("has no whole-number quantity")
    if not 0 < quantity <= MAX_QUANTITY:
        raise refused(f"needs a quantity from 1 to {MAX_QUANTITY}")
    price = item.get("unit_price")
    unit_price: Decimal | None = None
    if price not in (None, ""):
        try:
            unit_price = Decimal(str(price))
        except InvalidOperation:
            unit_price = None
        if unit_price is None or not unit_price.is_finite() or unit_price < 0:
            raise refused("has a unit_price that is not an amount")
    return OrderLineInput(sku=item["sku"], quantity=quantity, unit_price=unit_price)


def deal_lines(properties: dict[str, Any], *, name: str, amount: Decimal) -> list[OrderLineInput]:
    """The products a deal lists, else one service line for the deal's amount."""
    listed = properties.get("lines")
    if isinstance(listed, list) and listed:
        return [_deal_line(i, item) for i, item in enumerate(listed)]
    return [OrderLineInput(sku=None, quantity=1, unit_price=amount, name=name)]


async def order_from_won_deal(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    settings = await commerce_settings.load_settings(session, ctx)
    if not settings.orders_from_won_deals:
        return
    deal_id = str(event.data.get("deal_id") or event.aggregate_id)
    try:
        deal = await deals_service.read_deal(session, ctx, deal_id)
    except NotFound:
        return  # deleted since; nothing to sell
    try:
        async with session.begin_nested():
            await service.place_order(
                session,
                ctx,
                OrderDraft(
                    source="deal",
                    external_id=deal.id,
                    deal_id=deal.id,
                    contact_id=deal.contact_id,
                    currency=deal.currency,
                    lines=deal_lines(deal.properties or {}, name=deal.name, amount=deal.amount),
                    properties={"deal_name": deal.name},
                    unknown_sku="fail",
                ),
            )
    except ProblemError as exc:
        log.warning("commerce.deal_order_failed", deal_id=deal.id)
        await work_service.create_task(
            session,
            ctx,
            title=f"Won deal {deal.name[:200]} did not become an order",
            description=f"The won deal could not be turned into a sales order: {exc.detail}",
            assignee_id=await commerce_settings.active_user_id(session, ctx, deal.owner_id)
            or await commerce_settings.operations_assignee(session, ctx),
            priority="high",
            related_type="deal",
            related_id=deal.id,
            contact_id=deal.contact_id,
            origin="commerce.orders",
        )


# The order's own events, and stock moves that change what waiting orders lack.
BACKORDER_EVENTS = (
    "commerce.order.backordered",
    "commerce.order.allocated",
    "commerce.order.cancelled",
    "commerce.order.failed",
    "commerce.stock.received",
    "commerce.stock.adjusted",
)


async def keep_backorder_alerts(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """Raise, update or close backorder alerts after ``event`` (idempotent: a repeated
    event finds the alert as it left it)."""
    if event.type.startswith("commerce.stock."):
        product_id = str(event.data.get("product_id") or event.aggregate_id)
        await backorders.sync_waiting(session, ctx, product_ids=[product_id])
        return
    order_id = str(event.data.get("order_id") or event.aggregate_id)
    await backorders.sync_alert(session, ctx, order_id)
    if event.type != "commerce.order.backordered":
        # The order took stock (or gave it back): others waiting for it lack more (less).
        lines = await service.order_lines(session, ctx, order_id)
        touched = [pid for pid, _ in service.fulfillable_lines(lines)]
        if touched:
            await backorders.sync_waiting(session, ctx, product_ids=touched)


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe("commerce.orders.from_won_deal", "crm.deal.won", order_from_won_deal)
    dispatcher.subscribe(
        "commerce.orders.backorder_alerts", BACKORDER_EVENTS, keep_backorder_alerts
    )
