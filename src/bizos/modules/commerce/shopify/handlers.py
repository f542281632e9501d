"""Processing stored Shopify webhooks (orders/create, orders/cancelled).

Each ``webhooks.inbound.received`` from Shopify is handled once (the dispatcher's
idempotency record commits with the effects). ``orders/create`` makes the order
(``unknown_sku="fail"``: a SKU we do not sell fails the order, it does not fail the
delivery); ``orders/cancelled`` cancels it and compensates — and when the cancellation
arrives before the order, the order is made from the cancellation's payload (it is the
full order) and cancelled at once, so a late ``orders/create`` finds it cancelled.
Other topics are ``ignored``.

The topic header is not signed, so before acting the payload must be what the topic
says (``adapter.topic_contradiction``): a "cancellation" whose order is not cancelled, or
a "new order" that is already cancelled, is a signed body re-sent under another topic.
It is kept byte for byte and ``flagged`` with the reason (``webhooks.inbound.flagged``),
and nothing is done to any order. The receiver answered 200 long before: Shopify
retries any other answer for hours, and a replay's sender learns nothing.

A delivery we cannot map (not JSON, no id, a refused value) is marked ``failed`` with
the reason and a task for operations; its partial work is rolled back. It is never
retried in a loop: retrying would not change the payload.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.errors import ProblemError
from bizos.modules.commerce.orders import service as orders_service
from bizos.modules.commerce.settings import service as commerce_settings
from bizos.modules.commerce.shopify.adapter import (
    ORDERS_CANCELLED,
    ORDERS_CREATE,
    ShopifyOrder,
    ShopifyPayloadError,
    order_draft,
    parse_order,
    topic_contradiction,
)
from bizos.modules.webhooks.inbound.service import (
    INBOUND_RECEIVED,
    finish_inbound,
    flag_inbound,
    get_delivery,
)
from bizos.modules.work import service as work_service

log = structlog.get_logger("bizos.commerce.shopify")

PROVIDER = "shopify"


async def _create(
    session: AsyncSession, ctx: Context, shopify_order: ShopifyOrder, shop: str | None
) -> None:
    await orders_service.place_order(session, ctx, order_draft(shopify_order, shop_domain=shop))


async def _cancel(
    session: AsyncSession, ctx: Context, shopify_order: ShopifyOrder, shop: str | None
) -> None:
    order = await orders_service.find_order(
        session, ctx, source="shopify", external_id=shopify_order.order_id
    )
    if order is None:
        order, _ = await orders_service.place_order(
            session, ctx, order_draft(shopify_order, shop_domain=shop)
        )
    reason = f"cancelled in Shopify ({shopify_order.cancel_reason or 'no reason given'})"
    await orders_service.cancel_order(session, ctx, order.id, reason=reason, after_shipping="task")


async def _unprocessable(
    session: AsyncSession, ctx: Context, inbound_id: str, topic: str, reason: str
) -> None:
    await finish_inbound(session, inbound_id, status="failed", error=reason)
    await work_service.create_task(
        session,
        ctx,
        title=f"Shopify webhook {topic} could not be processed",
        description=(
            f"A Shopify {topic} delivery was stored but could not be processed: {reason}. "
            "Check the order in Shopify and enter it by hand if needed."
        ),
        assignee_id=await commerce_settings.operations_assignee(session, ctx),
        priority="high",
        related_type="inbound_webhook",
        related_id=inbound_id,
        origin="commerce.shopify",
    )


async def process_shopify_webhook(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    if event.data.get("provider") != PROVIDER:
        return
    inbound = await get_delivery(session, str(event.data["inbound_id"]))
    if inbound.status != "received":
        return  # finished already (replayed by an admin, say)
    actions = {ORDERS_CREATE: _create, ORDERS_CANCELLED: _cancel}
    action = actions.get(inbound.topic)
    if action is None:
        await finish_inbound(session, inbound.id, status="ignored")
        return
    shop = inbound.headers.get("x-shopify-shop-domain")
    try:
        shopify_order = parse_order(inbound.body)
        contradiction = topic_contradiction(inbound.topic, shopify_order)
        if contradiction is None:
            # A savepoint: a delivery that fails half-way leaves none of its writes behind.
            async with session.begin_nested():
                await action(session, ctx, shopify_order, shop)
    except ShopifyPayloadError as exc:
        reason = str(exc)
    except ProblemError as exc:
        reason = exc.detail
    else:
        if contradiction is not None:
            await flag_inbound(session, ctx, inbound.id, reason=contradiction)
        else:
            await finish_inbound(session, inbound.id, status="processed")
        return
    log.warning("shopify.webhook_failed", inbound_id=inbound.id, topic=inbound.topic)
    await _unprocessable(session, ctx, inbound.id, inbound.topic, reason)


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe(
        "commerce.shopify.process_webhook", INBOUND_RECEIVED, process_shopify_webhook
    )
