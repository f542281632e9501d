"""The year's orders as order-to-cash handled them: each plan becomes an order with its
lines, its stock allocated, its invoice issued, its parcel shipped (or it is cancelled,
backordered on missing stock, or fails on a SKU the catalogue no longer knows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bizos.connectors.shipping.sandbox import CARRIER, LABEL_BASE_URL, RATE, SERVICE
from bizos.core.events import payload
from bizos.core.money import cents, text
from bizos.core.sequences import format_number
from bizos.demo.billing import Billing
from bizos.demo.commerce.customers import Customer
from bizos.demo.commerce.stock import Stock
from bizos.demo.story import CURRENCY, Story, historical_id, stamped
from bizos.modules.commerce.models import Order, OrderLine, Product, Shipment
from bizos.modules.commerce.orders import backorders
from bizos.modules.crm.deals.schemas import DealRead

SHOPIFY_FIRST_ORDER = 1001
SHOPIFY_SHIP = Decimal("6.95")  # under the free-shipping threshold
FREE_SHIPPING_FROM = Decimal("50")
WHOLESALE_SHIP = Decimal("15.00")
WHOLESALE_FREE_FROM = Decimal("300")
WHOLESALE_DISCOUNT = Decimal("0.15")
WELCOME_DISCOUNT = Decimal("0.10")
# A seasonal blend the shop still listed after it left the catalogue: its orders fail.
RETIRED_SKU = ("NW-PUMPKIN-SPICE-250", "Pumpkin Spice Blend 250 g", Decimal("16.00"))


def _listed(product: Product) -> dict[str, Any]:
    """What an order line takes from the catalogue's product."""
    return {
        "product_id": product.id,
        "sku": product.sku,
        "name": product.name,
        "tax_rate": Decimal(product.tax_rate),
        "tracks_stock": product.tracks_stock,
    }


def _unlisted(sku: str | None, name: str) -> dict[str, Any]:
    """A line for something the catalogue does not list: untaxed, with no stock."""
    return {
        "product_id": None,
        "sku": sku,
        "name": name,
        "tax_rate": Decimal("0"),
        "tracks_stock": False,
    }


@dataclass(slots=True)
class Plan:
    """An order before it happens: when, through which door, for whom, what."""

    at: dt.datetime
    source: str
    customer: Customer
    lines: list[tuple[Product | None, int]]
    deal: DealRead | None = None
    fate: str = "fulfilled"  # fulfilled | cancelled | failed | backordered
    discount_code: bool = False
    low_stock: tuple[str, str] | None = None  # ("take" | "backorder", sku): sized late


class Orders:
    """Turns plans into orders with their lines, ledger moves, invoice and shipment."""

    def __init__(self, story: Story, products: dict[str, Product], stock: dict[str, Stock]) -> None:
        self.story = story
        self.products = products
        self.stock = stock
        self.billing = Billing(story)
        self.numbers = 0
        self.shopify_numbers = SHOPIFY_FIRST_ORDER - 1
        self.shopify_id = 5_480_000_000_000 + story.rng.randint(0, 9_999_999)
        self.orders: list[Order] = []
        self.products_by_id = {p.id: p for p in products.values()}

    def _lines(self, order: Order, plan: Plan) -> list[OrderLine]:
        out = []
        for position, (product, quantity) in enumerate(plan.lines, start=1):
            if plan.deal is not None:  # the deal door: one service line for the deal
                price, item = Decimal(plan.deal.amount), _unlisted(None, plan.deal.name)
            elif product is None:  # the retired blend: unknown to the catalogue
                price, item = RETIRED_SKU[2], _unlisted(*RETIRED_SKU[:2])
            else:
                price, item = Decimal(product.price), _listed(product)
            gross = cents(price * quantity)
            discount = cents(gross * WHOLESALE_DISCOUNT) if plan.source == "api" else Decimal(0)
            line_total = gross - discount
            out.append(
                OrderLine(
                    id=historical_id(plan.at),
                    order_id=order.id,
                    position=position,
                    quantity=quantity,
                    unit_price=cents(price),
                    **item,
                    discount=discount,
                    tax_amount=cents(line_total * item["tax_rate"]),
                    line_total=line_total,
                    external_id=(
                        str(self.shopify_id * 10 + position) if plan.source == "shopify" else None
                    ),
                )
            )
        return out

    def _event(self, order: Order, type_: str, at: dt.datetime, **data: Any) -> None:
        self.story.event(
            type_,
            "order",
            order.id,
            at,
            actor_id=order.properties.get("placed_by") if type_.endswith("received") else None,
            version=order.version,
            order_id=order.id,
            **payload(order, "number", "status"),
            **data,
        )

    def _step(self, order: Order, status: str, at: dt.datetime) -> None:
        order.status, order.updated_at = status, at
        order.version += 1

    def _size(self, plan: Plan) -> bool:
        """Lines of a LOW_STOCK plan from the stock at its moment; False: not needed."""
        assert plan.low_stock is not None
        action, sku = plan.low_stock
        counter = next(s for s in self.stock.values() if s.product.sku == sku)
        counter.advance(plan.at)
        if action == "backorder":
            plan.lines, plan.fate = [(counter.product, counter.available + 12)], "backordered"
            return True
        point = counter.product.reorder_point or 0
        if counter.below or counter.available < point:
            return False
        quantity = counter.available - point + self.story.rng.randint(2, 4)
        plan.lines = [(counter.product, quantity)]
        return True

    def _open(self, plan: Plan) -> Order:
        """The order as received through the plan's door, numbered in placing order."""
        self.numbers += 1
        customer = plan.customer
        order = Order(
            id=historical_id(plan.at),
            number=format_number("SO", self.numbers),
            source=plan.source,
            status="received",
            **customer.on_order(),
            currency=CURRENCY,
            deal_id=plan.deal.id if plan.deal else None,
            shipping_address=customer.address if plan.deal is None else None,
            placed_at=plan.at,
            fulfilment_attempts=1,
            properties={},
            **stamped(plan.at),
        )
        if plan.source == "shopify":
            self.shopify_numbers += 1
            self.shopify_id += self.story.rng.randint(40_000, 9_000_000)
            order.external_id = str(self.shopify_id)
            order.external_name = f"#{self.shopify_numbers}"
            order.properties = {"shop_domain": "northwind-coffee.myshopify.com"}
        elif plan.source == "deal" and plan.deal is not None:
            order.external_id = plan.deal.id
        else:
            order.properties = {"placed_by": self.story.assignee("sales")}
        return order

    def place(self, plan: Plan) -> Order | None:
        """The plan's order with its lines, taken through order-to-cash; None when a
        LOW_STOCK plan turned out not to be needed."""
        if plan.low_stock is not None and not self._size(plan):
            return None
        story = self.story
        order = self._open(plan)
        lines = self._lines(order, plan)
        _price(order, lines, plan)
        story.rows.append(order)
        story.rows.extend(lines)
        self.orders.append(order)
        if plan.fate == "failed":
            self._fail(order, plan)
            return order
        self._event(
            order,
            "commerce.order.received",
            plan.at,
            **_sale(order),
            email=order.email,
            external_id=order.external_id,
        )
        self._fulfil(order, lines, plan)
        return order

    def _fail(self, order: Order, plan: Plan) -> None:
        story = self.story
        sku = RETIRED_SKU[0]
        order.status = "failed"
        order.failure_reason = f"unknown SKU {sku!r}"
        order.failed_at = plan.at
        title = f"Order {order.external_name or order.number} failed"
        description = (
            f"Order {order.number} ({order.source} {order.external_name}) could not be "
            f"fulfilled: {order.failure_reason}."
        )
        story.escalate(
            "operations",
            title=title,
            body=description,
            at=plan.at + dt.timedelta(seconds=2),
            related=("order", order.id),
            origin="commerce.order.failed",
            kind="commerce.order.failed",
            contact_id=order.contact_id,
            done_at=plan.at + dt.timedelta(hours=story.rng.uniform(2, 30)),
        )
        self._event(
            order, "commerce.order.failed", plan.at, reason=order.failure_reason, source="shopify"
        )

    def _fulfil(self, order: Order, lines: list[OrderLine], plan: Plan) -> None:
        rng = self.story.rng
        at = plan.at + dt.timedelta(seconds=rng.randint(2, 40))
        stock_lines = [ln for ln in lines if ln.tracks_stock and ln.product_id]
        if plan.fate == "backordered" or not all(
            self.stock[ln.product_id].make_room(at, ln.quantity)
            for ln in stock_lines
            if ln.product_id
        ):
            self._backorder(order, stock_lines, at)
            return
        for line in stock_lines:
            assert line.product_id is not None
            self.stock[line.product_id].move(
                "allocation", at, allocated=line.quantity, order_id=order.id
            )
        self._step(order, "allocated", at)
        order.allocated_at = at
        self._event(order, "commerce.order.allocated", at, lines=len(stock_lines))
        at += dt.timedelta(seconds=rng.randint(1, 5))
        invoice = self.billing.issue(order, lines, at)
        self._step(order, "invoiced", at)
        order.invoice_id, order.invoiced_at = invoice.id, at
        self._event(order, "commerce.order.invoiced", at, invoice_id=invoice.id)
        if plan.fate == "cancelled":
            self._cancel(order, stock_lines, plan)
            return
        if stock_lines:
            at += dt.timedelta(seconds=rng.randint(2, 20))
            shipment = self._ship(order, stock_lines, at)
            self._step(order, "shipped", at)
            order.shipment_id, order.shipped_at = shipment.id, at
            self._event(order, "commerce.order.shipped", at, shipment_id=shipment.id)
        at += dt.timedelta(seconds=rng.randint(1, 6))
        self._step(order, "fulfilled", at)
        order.fulfilled_at = at
        self._event(
            order,
            "commerce.order.fulfilled",
            at,
            **_sale(order),
            invoice_id=order.invoice_id,
            shipment_id=order.shipment_id,
        )

    def _backorder(self, order: Order, lines: list[OrderLine], at: dt.datetime) -> None:
        """Backordered, with the alert the live handler raises: a task for purchasing
        and a notification naming what is missing (still open: the stock is due)."""
        self._step(order, "backordered", at)
        missing = backorders.shortage_of(
            [(ln.product_id, ln.quantity) for ln in lines if ln.product_id],
            {
                pid: backorders.Stocked(pid, c.product.sku, c.product.name, c.available)
                for pid, c in self.stock.items()
            },
        )
        self._event(
            order,
            "commerce.order.backordered",
            at,
            lines=len(lines),
            missing=[m.as_json() for m in missing],
        )
        if not missing:
            return
        title, description = backorders.alert_text(order, missing)
        self.story.escalate(
            "purchasing",
            title=title,
            body=description,
            at=at + dt.timedelta(seconds=1),
            related=("order", order.id),
            origin=backorders.ORIGIN,
            kind=backorders.NOTIFICATION_KIND,
            contact_id=order.contact_id,
            data={"missing": [m.as_json() for m in missing]},
            names_task=True,
        )

    def _ship(self, order: Order, lines: list[OrderLine], at: dt.datetime) -> Shipment:
        rng = self.story.rng
        tracking = "SBX" + "".join(rng.choice("0123456789ABCDEF") for _ in range(18))
        grams = sum(
            (self.products_by_id[ln.product_id].weight_grams or 0) * ln.quantity
            for ln in lines
            if ln.product_id
        )
        shipment = Shipment(
            id=historical_id(at),
            order_id=order.id,
            provider="sandbox",
            carrier=CARRIER,
            service=SERVICE,
            tracking_number=tracking,
            label_url=f"{LABEL_BASE_URL}/{tracking}.pdf",
            status="purchased",
            cost=RATE,
            currency=CURRENCY,
            provider_ref=f"sandbox-{tracking}",
            request={
                "reference": order.number,
                "to": order.shipping_address,
                "parcel": {"weight_grams": grams + 150},
            },
            **stamped(at),
        )
        self.story.rows.append(shipment)
        for line in lines:
            assert line.product_id is not None
            self.stock[line.product_id].move(
                "shipment",
                at,
                on_hand=-line.quantity,
                allocated=-line.quantity,
                order_id=order.id,
            )
        return shipment

    def _cancel(self, order: Order, lines: list[OrderLine], plan: Plan) -> None:
        at = order.invoiced_at or plan.at
        at += dt.timedelta(minutes=self.story.rng.randint(3, 50))
        for line in lines:
            assert line.product_id is not None
            self.stock[line.product_id].move(
                "release", at, allocated=-line.quantity, order_id=order.id
            )
        reason = (
            "customer cancelled in Shopify"
            if order.source == "shopify"
            else "customer changed the order by phone"
        )
        self.billing.void(order, at, f"order {order.number} cancelled")
        self._step(order, "cancelled", at)
        order.cancelled_at, order.cancel_reason = at, reason
        self._event(
            order,
            "commerce.order.cancelled",
            at,
            reason=reason,
            previous_status="invoiced",
            invoice_id=order.invoice_id,
            source=order.source,
        )


def _price(order: Order, lines: list[OrderLine], plan: Plan) -> None:
    """The order's totals: its lines less discounts (a welcome code on the web shop),
    plus tax and shipping (free over a threshold at each door; deals ship nothing)."""
    subtotal = sum((cents(ln.unit_price * ln.quantity) for ln in lines), Decimal(0))
    discounts = sum((ln.discount for ln in lines), Decimal(0))
    if plan.discount_code:
        discounts += cents(subtotal * WELCOME_DISCOUNT)
        order.properties["discount_codes"] = ["WELCOME10"]
    tax = sum((ln.tax_amount for ln in lines), Decimal(0))
    shipping = Decimal(0)
    if plan.source == "shopify" and any(ln.tracks_stock for ln in lines):
        shipping = SHOPIFY_SHIP if subtotal - discounts < FREE_SHIPPING_FROM else Decimal(0)
    elif plan.source == "api" and subtotal - discounts < WHOLESALE_FREE_FROM:
        shipping = WHOLESALE_SHIP
    order.subtotal, order.discount_total, order.tax_total = subtotal, discounts, tax
    order.shipping_total = shipping
    order.total = subtotal - discounts + tax + shipping


def _sale(order: Order) -> dict[str, Any]:
    """What the received and fulfilled events say about the sale."""
    return {
        "source": order.source,
        "total": text(order.total),
        "currency": CURRENCY,
        "contact_id": order.contact_id,
    }
