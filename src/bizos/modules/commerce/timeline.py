"""The contact timeline's view of orders: each order when it was placed, and again when
it shipped, was cancelled or failed.

Declared on the timeline port (:mod:`bizos.core.timeline`) by commerce's
manifest: the CRM shows orders without knowing commerce exists.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bizos.core.context import Context
from bizos.core.events import payload
from bizos.core.timeline import TimelineEntry, newest_first
from bizos.modules.commerce.models import Order, Shipment
from bizos.modules.commerce.rows import rows_among

ORDERS = "/api/v1/commerce/orders"


def _name(order: Order) -> str:
    """Ours and the shop's number: ``SO-000123 (#1001)``."""
    return f"{order.number} ({order.external_name})" if order.external_name else order.number


def _data(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.id,
        **payload(order, "number", "external_name", "source", "status", "total", "currency"),
        **payload(order, "invoice_id", "shipment_id", "deal_id"),
    }


async def _newest(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    column: InstrumentedAttribute[Any],
    limit: int,
    before: dt.datetime | None,
) -> list[Order]:
    """The contact's orders newest by ``column`` (a milestone time), at most ``limit``."""
    query = sa.select(Order).where(
        Order.tenant_id == ctx.require_tenant(), Order.contact_id.in_(contact_ids)
    )
    return list(await session.scalars(newest_first(query, column, limit=limit, before=before)))


async def _tracking(session: AsyncSession, ctx: Context, ids: list[str]) -> dict[str, Shipment]:
    return {s.id: s for s in await rows_among(session, ctx, Shipment, Shipment.id, ids)}


async def orders_source(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    email: str | None,
    limit: int,
    *,
    before: dt.datetime | None = None,
) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for order in await _newest(session, ctx, contact_ids, Order.placed_at, limit, before):
        summary = f"{order.total} {order.currency} via {order.source}; now {order.status}"
        entries.append(_entry(order, order.placed_at, "order", "placed", summary))
    shipped = await _newest(session, ctx, contact_ids, Order.shipped_at, limit, before)
    shipments = await _tracking(session, ctx, [o.shipment_id for o in shipped if o.shipment_id])
    for order in shipped:
        assert order.shipped_at is not None
        shipment = shipments.get(order.shipment_id or "")
        carrier = shipment.carrier if shipment else None
        tracking = shipment.tracking_number if shipment else None
        where = f"{carrier} {tracking}" if shipment else None
        extra = {"carrier": carrier, "tracking_number": tracking}
        entries.append(_entry(order, order.shipped_at, "order.shipped", "shipped", where, extra))
    for column, kind, reason in (
        (Order.cancelled_at, "cancelled", "cancel_reason"),
        (Order.failed_at, "failed", "failure_reason"),
    ):
        for order in await _newest(session, ctx, contact_ids, column, limit, before):
            at = getattr(order, column.key)
            assert at is not None
            entries.append(_entry(order, at, f"order.{kind}", kind, getattr(order, reason)))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def _entry(
    order: Order,
    at: dt.datetime,
    kind: str,
    happened: str,
    summary: str | None,
    extra: dict[str, Any] | None = None,
) -> TimelineEntry:
    """The timeline's line for one milestone of the order (``happened``: placed, ...)."""
    return TimelineEntry(
        at=at,
        kind=kind,
        title=f"Order {_name(order)} {happened}",
        summary=summary,
        ref_type="order",
        ref_id=order.id,
        data={**_data(order), **(extra or {})},
        link=f"{ORDERS}/{order.id}",
    )
