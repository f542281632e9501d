"""Fulfilment: the only writer of ``commerce_shipments``, and the work order-to-cash
hands it: invoicing an order, the label request, recording and voiding labels, and the
customer's email.

A label is bought from the provider outside any transaction (the workflow does that);
this module records what was bought, at once, and finds a label already bought so a
step that runs again buys nothing twice. A sandbox label exists nowhere but here: its
``label_url`` is our own path (:func:`label_path`), where the API renders it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.shipping.base import Label, LabelRequest, Parcel, ShippingProvider
from bizos.connectors.shipping.resolver import shipping_provider_for
from bizos.connectors.shipping.sandbox import sandbox_shipping
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.invoices.schemas import InvoiceLineInput
from bizos.modules.commerce.fulfilment.schemas import ShipmentRead
from bizos.modules.commerce.models import Order, Product, Shipment
from bizos.modules.commerce.orders import service as orders
from bizos.modules.commerce.orders.reads import customer_order_name
from bizos.modules.commerce.orders.service import OrderCancelled
from bizos.modules.commerce.rows import emit, pick, where_equal
from bizos.modules.commerce.settings.schemas import DEFAULT_PARCEL_WEIGHT_KG
from bizos.modules.commerce.settings.service import load_settings, parcel_for_labels
from bizos.modules.outreach import service as outreach
from bizos.modules.outreach.schemas import Related

log = structlog.get_logger("bizos.commerce.fulfilment")

GRAMS_PER_KG = Decimal("1000")
# An order line's fields its invoice line bills as they are.
_BILLED_LINE_FIELDS = ("unit_price", "discount", "tax_rate", "tax_amount", "sku", "product_id")


def label_path(order_id: str) -> str:
    """Where the API serves an order's label (the sandbox's ``label_url``)."""
    return f"/api/v1/commerce/orders/{order_id}/shipment/label"


async def live_order(session: AsyncSession, ctx: Context, order_id: str) -> Order:
    """The order, unless it was cancelled (:class:`OrderCancelled` stops order-to-cash)."""
    order = await orders.get_order(session, ctx, order_id)
    if order.status == "cancelled":
        raise OrderCancelled(order_id)
    return order


# --- invoicing ----------------------------------------------------------------------------


async def invoice_order(session: AsyncSession, ctx: Context, order_id: str) -> str:
    """The order's invoice (billing returns the live one when it already issued it):
    its lines, tax, shipping and discounts exactly as the order has them."""
    order = await live_order(session, ctx, order_id)
    lines = await orders.order_lines(session, ctx, order.id)
    settings = await load_settings(session, ctx)
    line_discounts = sum((line.discount for line in lines), Decimal("0"))
    invoice_id = await invoices.issue_order_invoice(
        session,
        ctx,
        order_id=order.id,
        currency=order.currency,
        lines=[
            # The order's own tax (Shopify's, or the one it computed) is billed.
            InvoiceLineInput(
                description=line.name,
                quantity=Decimal(line.quantity),
                **pick(line, *_BILLED_LINE_FIELDS),
            )
            for line in lines
        ],
        contact_id=order.contact_id,
        customer_email=order.email,
        customer_name=order.customer_name,
        shipping_total=order.shipping_total,
        shipping_tax=orders.shipping_tax(order, lines),
        prices_include_tax=orders.prices_include_tax(order),
        # The order's discount total includes its lines' discounts; the rest is an
        # order-level discount.
        discount_total=max(order.discount_total - line_discounts, Decimal("0")),
        billing_address=order.billing_address or order.shipping_address,
        due_days=settings.payment_terms_days,
    )
    return invoice_id


async def void_order_invoice(
    session: AsyncSession, ctx: Context, invoice_id: str, *, reason: str
) -> None:
    await invoices.void_order_invoice(session, ctx, invoice_id, reason=reason)


# --- labels -------------------------------------------------------------------------------


async def latest_shipment(session: AsyncSession, ctx: Context, order_id: str) -> Shipment:
    """The order's most recent label (404 for another tenant's order or none yet)."""
    order = await orders.get_order(session, ctx, order_id)
    shipment = await session.scalar(
        sa.select(Shipment)
        .where(Shipment.tenant_id == order.tenant_id, Shipment.order_id == order.id)
        .order_by(Shipment.created_at.desc())
        .limit(1)
    )
    if shipment is None:
        raise NotFound(f"order {order.number} has no shipping label")
    return shipment


async def order_shipments(
    session: AsyncSession, ctx: Context, order_ids: list[str]
) -> list[ShipmentRead]:
    """Every label bought for these orders (voided ones too), oldest first."""
    if not order_ids:
        return []
    rows = await session.scalars(
        sa.select(Shipment)
        .where(Shipment.tenant_id == ctx.require_tenant(), Shipment.order_id.in_(order_ids))
        .order_by(Shipment.created_at, Shipment.id)
    )
    return [ShipmentRead.model_validate(row) for row in rows]


async def purchased_shipment(session: AsyncSession, ctx: Context, order_id: str) -> Shipment | None:
    """The order's label bought and not voided, if any (the first one)."""
    bought = {"tenant_id": ctx.require_tenant(), "order_id": order_id, "status": "purchased"}
    query = where_equal(sa.select(Shipment), Shipment, bought)
    result: Shipment | None = await session.scalar(query.order_by(Shipment.created_at).limit(1))
    return result


async def label_request(session: AsyncSession, ctx: Context, order: Order) -> LabelRequest:
    """What to ask the provider for: from the tenant's warehouse to the customer, one
    parcel of the tenant's box weighing what the products weigh (else the box's weight)."""
    settings = await load_settings(session, ctx)
    lines = [line for line in await orders.order_lines(session, ctx, order.id) if line.tracks_stock]
    product_ids = {line.product_id for line in lines if line.product_id}
    weights: dict[str, int | None] = {}
    if product_ids:
        rows = await session.execute(
            sa.select(Product.id, Product.weight_grams).where(Product.id.in_(product_ids))
        )
        weights = {product_id: grams for product_id, grams in rows.all()}
    grams = sum((weights.get(line.product_id or "") or 0) * line.quantity for line in lines)
    box = parcel_for_labels(settings)
    weight = (
        (Decimal(grams) / GRAMS_PER_KG).quantize(Decimal("0.001"))
        if grams
        else box.weight_kg or DEFAULT_PARCEL_WEIGHT_KG
    )
    parcel = Parcel(
        length=box.length_cm,
        width=box.width_cm,
        height=box.height_cm,
        weight=weight,
        distance_unit="cm",
        mass_unit="kg",
    )
    return LabelRequest(
        reference=order.number,
        address_from=carrier_address(settings.ship_from or {}),
        address_to=carrier_address(
            order.shipping_address or {}, name=order.customer_name, email=order.email
        ),
        parcels=(parcel,),
    )


async def label_to_buy(
    session: AsyncSession, ctx: Context, order_id: str
) -> str | tuple[LabelRequest, ShippingProvider]:
    """The id of the label the order has already, else what to buy and from whom."""
    order = await live_order(session, ctx, order_id)
    bought = await purchased_shipment(session, ctx, order_id)
    if bought is not None:
        return bought.id
    return await label_request(session, ctx, order), await shipping_provider_for(session, ctx)


async def record_label(
    session: AsyncSession, ctx: Context, order_id: str, label: Label
) -> tuple[str, bool]:
    """Record a label just bought: ``(shipment id, True)``, or ``(the id of the one a
    concurrent run recorded first, False)``: the caller voids its duplicate then."""
    bought = await purchased_shipment(session, ctx, order_id)
    if bought is not None:
        return bought.id, False
    shipment = Shipment(
        tenant_id=ctx.require_tenant(),
        order_id=order_id,
        provider=label.provider,
        carrier=label.carrier,
        service=label.service,
        tracking_number=label.tracking_number,
        # A sandbox label exists nowhere but here: the API renders it.
        label_url=label_path(order_id) if label.provider == "sandbox" else label.label_url,
        cost=label.cost,
        currency=label.currency,
        provider_ref=label.provider_ref,
        request=label.request,
    )
    session.add(shipment)
    await session.flush()
    await _shipment_event(session, ctx, shipment, "commerce.shipment.label_purchased")
    log.info(
        "commerce.label_bought",
        order_id=order_id,
        provider=label.provider,
        carrier=label.carrier,
        tracking_number=label.tracking_number,
    )
    return shipment.id, True


async def label_to_void(
    session: AsyncSession, ctx: Context, shipment_id: str
) -> tuple[ShippingProvider, str] | None:
    """Who sold the label and its reference there, or None when there is nothing to
    void (gone, another tenant's, voided already)."""
    shipment = await session.get(Shipment, shipment_id)
    if shipment is None or shipment.tenant_id != ctx.tenant_id or shipment.status == "voided":
        return None
    provider: ShippingProvider = (
        sandbox_shipping
        if shipment.provider == sandbox_shipping.provider
        else await shipping_provider_for(session, ctx)
    )
    return provider, shipment.provider_ref or shipment.tracking_number


async def mark_label_voided(session: AsyncSession, ctx: Context, shipment_id: str) -> None:
    shipment = await session.get(Shipment, shipment_id)
    if shipment is not None and shipment.status != "voided":
        shipment.status = "voided"
        shipment.voided_at = utcnow()
        shipment.version += 1
        await session.flush()
        await _shipment_event(session, ctx, shipment, "commerce.shipment.label_voided")


def carrier_address(
    address: dict[str, Any], *, name: str | None = None, email: str | None = None
) -> dict[str, Any]:
    """An address as carriers read it, from ours or Shopify's spelling of the fields."""

    def first(*keys: str) -> str | None:
        for key in keys:
            value = address.get(key)
            if value not in (None, ""):
                return str(value).strip()
        return None

    full_name = first("name") or " ".join(
        part for part in (first("first_name"), first("last_name")) if part
    )
    fields = {
        "name": full_name or name,
        "company": first("company"),
        "street1": first("street1", "address1", "line1"),
        "street2": first("street2", "address2", "line2"),
        "city": first("city"),
        "state": first("state", "province_code", "province", "region"),
        "zip": first("zip", "postal_code", "postcode"),
        "country": first("country_code", "country"),
        "phone": first("phone"),
        "email": first("email") or email,
    }
    return {key: value for key, value in fields.items() if value}


async def _shipment_event(
    session: AsyncSession, ctx: Context, shipment: Shipment, type_: str
) -> None:
    cost = None if shipment.cost is None else str(shipment.cost)
    data = {
        "shipment_id": shipment.id,
        **pick(shipment, "order_id", "provider", "carrier", "service", "tracking_number"),
        "cost": cost,
        **pick(shipment, "currency", "status"),
    }
    await emit(session, ctx, type_, shipment, "shipment", data)


# --- the customer's email -------------------------------------------------------------------


async def notify_customer(session: AsyncSession, ctx: Context, order_id: str) -> str | None:
    """Email the customer once (tracking and invoice number); the message id, or None
    when the tenant turned customer emails off or the order has no address."""
    order = await orders.get_order(session, ctx, order_id)
    already = orders.customer_notified(order)
    if already:
        return already
    settings = await load_settings(session, ctx)
    if not settings.notify_customer or not order.email:
        return None
    shipment = await purchased_shipment(session, ctx, order_id)
    invoice_number = None
    if order.invoice_id:
        invoice_number = await invoices.invoice_number(session, ctx, order.invoice_id)
    subject, body = customer_email(order, shipment, invoice_number)
    message = await outreach.send_email(
        session,
        ctx,
        to=order.email,
        subject=subject,
        body=body,
        related=Related(type="order", id=order_id),
    )
    await orders.record_customer_notified(session, ctx, order, message.id)
    return message.id


def customer_email(
    order: Order, shipment: Shipment | None, invoice_number: str | None
) -> tuple[str, str]:
    """Subject and body of the customer's email: the order by the name they know it by
    (Shopify's ``#9001``, else our number), tracking, and the invoice or total."""
    greeting = f"Hello {order.customer_name}," if order.customer_name else "Hello,"
    total = f"{order.total:.2f} {order.currency}"
    name = customer_order_name(order)
    lines = [greeting, ""]
    if shipment is not None:
        subject = f"Your order {name} is on its way"
        lines += [
            f"Your order {name} has shipped with {shipment.carrier}.",
            f"Tracking number: {shipment.tracking_number}",
        ]
    else:
        subject = f"Your order {name} is confirmed"
        lines.append(f"Your order {name} is confirmed.")
    if invoice_number:
        lines.append(f"Invoice: {invoice_number} ({total})")
    else:
        lines.append(f"Total: {total}")
    lines += ["", "Thank you for your order."]
    return subject, "\n".join(lines)
