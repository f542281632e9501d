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

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.shipping.base import (
    LabelRequest,
    Parcel,
    ShippingError,
    ShippingProvider,
    ShippingRefused,
)
from bizos.connectors.shipping.resolver import shipping_provider_for
from bizos.connectors.shipping.sandbox import sandbox_shipping
from bizos.core.context import Context
from bizos.core.db import get_database, utcnow
from bizos.core.errors import Conflict, NotFound, Unprocessable
from bizos.core.events import append_event
from bizos.core.sagas import Saga
from bizos.core.workflows import RetryPolicy, SagaFailed, step, workflow
from bizos.modules.billing.invoices import service as invoices
from bizos.modules.billing.invoices.schemas import InvoiceLineInput
from bizos.modules.commerce.models import Order, OrderLine, Product, Shipment
from bizos.modules.commerce.orders import service as orders
from bizos.modules.commerce.orders.reads import customer_order_name
from bizos.modules.commerce.orders.service import OrderCancelled
from bizos.modules.commerce.settings import (
    DEFAULT_PARCEL_WEIGHT_KG,
    load_settings,
    parcel_for_labels,
)
from bizos.modules.outreach import service as outreach
from bizos.modules.outreach.schemas import Related

log = structlog.get_logger("bizos.commerce.fulfilment")

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
NOTIFIED_KEY = "customer_notified_message_id"
GRAMS_PER_KG = Decimal("1000")


def label_path(order_id: str) -> str:
    """Where the API serves an order's label (the sandbox's ``label_url``)."""
    return f"/api/v1/commerce/orders/{order_id}/shipment/label"


def _ctx(tenant_id: str, order_id: str) -> Context:
    # Every event of an order's fulfilment shares the order id as its correlation id.
    return Context(tenant_id=tenant_id, actor_type="system", correlation_id=order_id)


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the order stands when a run starts, and whether it ships goods at all."""

    status: str
    ships: bool


# --- steps ------------------------------------------------------------------------------


@step("commerce.order_to_cash.plan", retry=STEP_RETRY)
async def plan(tenant_id: str, order_id: str) -> Plan:
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        order = await orders.get_order(session, _ctx(tenant_id, order_id), order_id)
        lines = await _lines(session, order)
        return Plan(order.status, ships=bool(orders.fulfillable_lines(lines)))


@step("commerce.order_to_cash.allocate", retry=STEP_RETRY)
async def allocate(tenant_id: str, order_id: str) -> str:
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        return await orders.allocate_order(session, _ctx(tenant_id, order_id), order_id)


@step("commerce.order_to_cash.release_stock", retry=COMPENSATION_RETRY)
async def release_stock(tenant_id: str, order_id: str) -> None:
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        await orders.release_order_stock(session, _ctx(tenant_id, order_id), order_id)


@step("commerce.order_to_cash.create_invoice", retry=STEP_RETRY)
async def create_invoice(tenant_id: str, order_id: str) -> str:
    ctx = _ctx(tenant_id, order_id)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        order = await _live_order(session, ctx, order_id)
        lines = await _lines(session, order)
        settings = await load_settings(session, ctx)
        line_discounts = sum((line.discount for line in lines), Decimal("0"))
        invoice = await invoices.create_invoice_for_order(
            session,
            ctx,
            order_id=order.id,
            currency=order.currency,
            lines=[
                InvoiceLineInput(
                    description=line.name,
                    quantity=Decimal(line.quantity),
                    unit_price=line.unit_price,
                    discount=line.discount,
                    tax_rate=line.tax_rate,
                    # The order's own tax (Shopify's, or the one it computed) is billed.
                    tax_amount=line.tax_amount,
                    sku=line.sku,
                    product_id=line.product_id,
                )
                for line in lines
            ],
            contact_id=order.contact_id,
            customer_email=order.email,
            customer_name=order.customer_name,
            shipping_total=order.shipping_total,
            shipping_tax=orders.shipping_tax(order, lines),
            prices_include_tax=orders.prices_include_tax(order),
            # The order's discount total includes its lines' discounts; the rest is
            # an order-level discount.
            discount_total=max(order.discount_total - line_discounts, Decimal("0")),
            billing_address=order.billing_address or order.shipping_address,
            due_days=settings.payment_terms_days,
        )
        return invoice.id


@step("commerce.order_to_cash.void_invoice", retry=COMPENSATION_RETRY)
async def void_invoice(tenant_id: str, order_id: str, invoice_id: str) -> None:
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        await invoices.void_invoice(
            session,
            _ctx(tenant_id, order_id),
            invoice_id,
            reason="the order could not be fulfilled",
        )


@step("commerce.order_to_cash.mark_invoiced", retry=STEP_RETRY)
async def mark_invoiced(tenant_id: str, order_id: str, invoice_id: str) -> None:
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        await orders.mark_invoiced(
            session, _ctx(tenant_id, order_id), order_id, invoice_id=invoice_id
        )


@step("commerce.order_to_cash.buy_label", retry=LABEL_RETRY)
async def buy_label(tenant_id: str, order_id: str) -> str:
    """Buy the order's label (or find the one already bought); returns the shipment id."""
    ctx = _ctx(tenant_id, order_id)
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        order = await _live_order(session, ctx, order_id)
        bought = await _purchased_shipment(session, tenant_id, order_id)
        if bought is not None:
            return bought.id
        request = await _label_request(session, ctx, order)
        provider = await shipping_provider_for(session, ctx)
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
        bought = await _purchased_shipment(session, tenant_id, order_id)
        if bought is not None:  # a concurrent run recorded one first
            await _void_quietly(provider, label.provider_ref)
            return bought.id
        shipment = Shipment(
            tenant_id=tenant_id,
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
        return shipment.id


@step("commerce.order_to_cash.void_label", retry=COMPENSATION_RETRY)
async def void_label(tenant_id: str, order_id: str, shipment_id: str) -> None:
    ctx = _ctx(tenant_id, order_id)
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        shipment = await session.get(Shipment, shipment_id)
        if shipment is None or shipment.tenant_id != tenant_id or shipment.status == "voided":
            return
        provider: ShippingProvider = (
            sandbox_shipping
            if shipment.provider == sandbox_shipping.provider
            else await shipping_provider_for(session, ctx)
        )
        label_ref = shipment.provider_ref or shipment.tracking_number
    await provider.void_label(label_ref)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        shipment = await session.get(Shipment, shipment_id)
        if shipment is not None and shipment.status != "voided":
            shipment.status = "voided"
            shipment.voided_at = utcnow()
            shipment.version += 1
            await session.flush()
            await _shipment_event(session, ctx, shipment, "commerce.shipment.label_voided")
    log.info("commerce.label_voided", order_id=order_id, shipment_id=shipment_id)


@step("commerce.order_to_cash.mark_shipped", retry=STEP_RETRY)
async def mark_shipped(tenant_id: str, order_id: str, shipment_id: str) -> None:
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        await orders.mark_shipped(
            session, _ctx(tenant_id, order_id), order_id, shipment_id=shipment_id
        )


@step("commerce.order_to_cash.notify_customer", retry=STEP_RETRY)
async def notify_customer(tenant_id: str, order_id: str) -> str | None:
    """Email the customer once (tracking and invoice number); the message id, or None
    when the tenant turned customer emails off or the order has no address."""
    ctx = _ctx(tenant_id, order_id)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        order = await orders.get_order(session, ctx, order_id)
        already = (order.properties or {}).get(NOTIFIED_KEY)
        if already:
            return str(already)
        settings = await load_settings(session, ctx)
        if not settings.notify_customer or not order.email:
            return None
        shipment = await _purchased_shipment(session, tenant_id, order_id)
        invoice_number = None
        if order.invoice_id:
            invoice_number = (await invoices.get_invoice(session, ctx, order.invoice_id)).number
        subject, body = customer_email(order, shipment, invoice_number)
        message = await outreach.send_email(
            session,
            ctx,
            to=order.email,
            subject=subject,
            body=body,
            related=Related(type="order", id=order_id),
        )
        order.properties = {**(order.properties or {}), NOTIFIED_KEY: message.id}
        await session.flush()
        return message.id


@step("commerce.order_to_cash.mark_fulfilled", retry=STEP_RETRY)
async def mark_fulfilled(tenant_id: str, order_id: str) -> None:
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        await orders.mark_fulfilled(session, _ctx(tenant_id, order_id), order_id)


@step("commerce.order_to_cash.fail_order", retry=STEP_RETRY)
async def fail_order(tenant_id: str, order_id: str, reason: str) -> None:
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        await orders.fail_order(session, _ctx(tenant_id, order_id), order_id, reason=reason)


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


async def _live_order(session: AsyncSession, ctx: Context, order_id: str) -> Order:
    order = await orders.get_order(session, ctx, order_id)
    if order.status == "cancelled":
        raise OrderCancelled(order_id)
    return order


async def _lines(session: AsyncSession, order: Order) -> list[OrderLine]:
    rows = await session.scalars(
        sa.select(OrderLine)
        .where(OrderLine.tenant_id == order.tenant_id, OrderLine.order_id == order.id)
        .order_by(OrderLine.position)
    )
    return list(rows)


async def _purchased_shipment(
    session: AsyncSession, tenant_id: str, order_id: str
) -> Shipment | None:
    result: Shipment | None = await session.scalar(
        sa.select(Shipment)
        .where(
            Shipment.tenant_id == tenant_id,
            Shipment.order_id == order_id,
            Shipment.status == "purchased",
        )
        .order_by(Shipment.created_at)
        .limit(1)
    )
    return result


async def _label_request(session: AsyncSession, ctx: Context, order: Order) -> LabelRequest:
    settings = await load_settings(session, ctx)
    lines = [line for line in await _lines(session, order) if line.tracks_stock]
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


async def _shipment_event(
    session: AsyncSession, ctx: Context, shipment: Shipment, type_: str
) -> None:
    await append_event(
        session,
        ctx,
        type_,
        aggregate_type="shipment",
        aggregate_id=shipment.id,
        version=shipment.version,
        data={
            "shipment_id": shipment.id,
            "order_id": shipment.order_id,
            "provider": shipment.provider,
            "carrier": shipment.carrier,
            "service": shipment.service,
            "tracking_number": shipment.tracking_number,
            "cost": None if shipment.cost is None else str(shipment.cost),
            "currency": shipment.currency,
            "status": shipment.status,
        },
    )


async def _void_quietly(provider: ShippingProvider, label_ref: str) -> None:
    try:
        await provider.void_label(label_ref)
    except ShippingError as exc:
        log.error("commerce.duplicate_label_not_voided", label_ref=label_ref, error=exc.detail)
