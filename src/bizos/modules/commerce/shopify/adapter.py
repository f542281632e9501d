"""Anti-corruption layer: Shopify's order JSON in our terms.

Shopify's words stay here. ``parse_order`` reads the documented ``orders/create`` /
``orders/cancelled`` payload into a :class:`ShopifyOrder` (or raises
:class:`ShopifyPayloadError` saying what is wrong), and ``order_draft`` turns it into the
:class:`OrderDraft` that ``orders.service.place_order`` takes.

How Shopify's amounts map to ours:

* a line's ``price`` is the unit price before discounts; its discount is the sum of its
  ``discount_allocations`` (older payloads: ``total_discount``); its tax is the sum of its
  ``tax_lines[].price`` (Shopify computed it, we keep it) and its rate their ``rate``;
* shipping is the sum of ``shipping_lines[].discounted_price`` (else ``price``), its tax
  the sum of their ``tax_lines``;
* ``total_discounts`` beyond what the lines and shipping carry becomes an order-level
  discount; ``taxes_included`` means prices already hold the tax;
* the customer is ``customer`` (else the order's ``email``/``phone``); addresses are kept
  as Shopify sent them, minus nothing.

Our total is compared with Shopify's ``total_price``; a difference is recorded on the
order (``properties.shopify_total_mismatch``) rather than trusted silently.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from bizos.core.money import ZERO, cents
from bizos.modules.commerce.orders.schemas import OrderDraft, OrderLineInput
from bizos.modules.commerce.rows import pick

MAX_LINES = 500
MAX_QUANTITY = 1_000_000  # per line, as orders take it
MAX_AMOUNT = Decimal("999999999999.99")  # the largest amount we store


class ShopifyPayloadError(ValueError):
    """The payload is not an order we can read; the message says why (no personal data)."""


@dataclass(frozen=True, slots=True)
class ShopifyLine:
    line_id: str | None
    sku: str | None
    title: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    tax_amount: Decimal
    tax_rate: Decimal
    requires_shipping: bool


@dataclass(frozen=True, slots=True)
class ShopifyOrder:
    order_id: str
    name: str | None
    currency: str
    email: str | None
    phone: str | None
    customer_name: str | None
    lines: list[ShopifyLine]
    shipping_total: Decimal
    shipping_tax: Decimal
    order_discount: Decimal
    taxes_included: bool
    total_price: Decimal | None
    placed_at: dt.datetime | None
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    discount_codes: list[str] = field(default_factory=list)
    cancel_reason: str | None = None
    cancelled_at: dt.datetime | None = None
    financial_status: str | None = None


def _money(value: Any, where: str) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ShopifyPayloadError(f"{where} is not an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ShopifyPayloadError(f"{where} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise ShopifyPayloadError(f"{where} is not a non-negative amount")
    if amount > MAX_AMOUNT:
        raise ShopifyPayloadError(f"{where} is more than {MAX_AMOUNT}")
    return amount


def _rate(value: Any) -> Decimal:
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        return Decimal("0")
    return rate if rate.is_finite() and 0 <= rate < 1 else Decimal("0")


def _text(value: Any, limit: int = 200) -> str | None:
    if value is None:
        return None
    # PostgreSQL text cannot hold NUL; Shopify text never needs it.
    text = str(value).replace("\x00", "").strip()
    return text[:limit] or None


def _when(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _objects(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ShopifyPayloadError(f"{where} is not a list of objects")
    return value


def _address(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) and value else None


def _line(index: int, item: dict[str, Any]) -> ShopifyLine:
    where = f"line_items[{index}]"
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ShopifyPayloadError(f"{where}.quantity is not a positive whole number")
    if quantity > MAX_QUANTITY:
        raise ShopifyPayloadError(f"{where}.quantity is more than {MAX_QUANTITY}")
    taxable = item.get("taxable", True) is not False
    tax_lines = _objects(item.get("tax_lines"), f"{where}.tax_lines") if taxable else []
    allocations = _objects(item.get("discount_allocations"), f"{where}.discount_allocations")
    discount = (
        sum(
            (_money(a.get("amount"), f"{where}.discount_allocations") for a in allocations),
            Decimal("0"),
        )
        if allocations
        else _money(item.get("total_discount"), f"{where}.total_discount")
    )
    return ShopifyLine(
        line_id=_text(item.get("id"), 100),
        sku=_text(item.get("sku"), 64),
        title=_text(item.get("name") or item.get("title")) or f"Item {index + 1}",
        quantity=quantity,
        unit_price=_money(item.get("price"), f"{where}.price"),
        discount=discount,
        tax_amount=sum(
            (_money(t.get("price"), f"{where}.tax_lines") for t in tax_lines), Decimal("0")
        ),
        tax_rate=sum((_rate(t.get("rate")) for t in tax_lines), Decimal("0")),
        requires_shipping=item.get("requires_shipping", True) is not False,
    )


def _customer(data: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    customer = data.get("customer") if isinstance(data.get("customer"), dict) else {}
    assert isinstance(customer, dict)
    email = _text(data.get("email") or data.get("contact_email") or customer.get("email"), 320)
    phone = _text(data.get("phone") or customer.get("phone"), 40)
    names = [_text(customer.get("first_name")), _text(customer.get("last_name"))]
    name = " ".join(n for n in names if n) or None
    if name is None:
        billing = data.get("billing_address")
        if isinstance(billing, dict):
            name = _text(billing.get("name"))
    return email, phone, name


def parse_order(body: bytes) -> ShopifyOrder:
    """Read a Shopify order payload; :class:`ShopifyPayloadError` when it is not one."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ShopifyPayloadError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ShopifyPayloadError("the body is not a JSON object")
    order_id = data.get("id")
    if isinstance(order_id, bool) or not isinstance(order_id, (int, str)) or not str(order_id):
        raise ShopifyPayloadError("the order has no id")
    currency = data.get("currency")
    if not isinstance(currency, str) or len(currency.strip()) != 3:
        raise ShopifyPayloadError("the order has no currency")
    items = _objects(data.get("line_items"), "line_items")
    if not items:
        raise ShopifyPayloadError("the order has no line items")
    if len(items) > MAX_LINES:
        raise ShopifyPayloadError(f"the order has more than {MAX_LINES} line items")
    lines = [_line(i, item) for i, item in enumerate(items)]
    shipping = _objects(data.get("shipping_lines"), "shipping_lines")
    shipping_total = Decimal("0")
    shipping_discount = Decimal("0")
    shipping_tax = Decimal("0")
    for i, ship in enumerate(shipping):
        price = _money(ship.get("price"), f"shipping_lines[{i}].price")
        paid = (
            _money(ship.get("discounted_price"), f"shipping_lines[{i}].discounted_price")
            if ship.get("discounted_price") not in (None, "")
            else price
        )
        shipping_total += paid
        shipping_discount += max(price - paid, Decimal("0"))
        shipping_tax += sum(
            (
                _money(t.get("price"), f"shipping_lines[{i}].tax_lines")
                for t in _objects(ship.get("tax_lines"), f"shipping_lines[{i}].tax_lines")
            ),
            Decimal("0"),
        )
    line_discounts = sum((ln.discount for ln in lines), Decimal("0"))
    total_discounts = _money(data.get("total_discounts"), "total_discounts")
    email, phone, name = _customer(data)
    codes = [
        str(c.get("code"))[:100]
        for c in _objects(data.get("discount_codes"), "discount_codes")
        if c.get("code")
    ]
    total = data.get("total_price")
    return ShopifyOrder(
        order_id=str(order_id),
        name=_text(data.get("name"), 100),
        currency=currency.strip().upper(),
        email=email,
        phone=phone,
        customer_name=name,
        lines=lines,
        shipping_total=shipping_total,
        shipping_tax=shipping_tax,
        order_discount=max(total_discounts - line_discounts - shipping_discount, Decimal("0")),
        taxes_included=data.get("taxes_included") is True,
        total_price=_money(total, "total_price") if total not in (None, "") else None,
        placed_at=_when(data.get("processed_at")) or _when(data.get("created_at")),
        shipping_address=_address(data.get("shipping_address")),
        billing_address=_address(data.get("billing_address")),
        discount_codes=codes,
        cancel_reason=_text(data.get("cancel_reason"), 100),
        cancelled_at=_when(data.get("cancelled_at")),
        financial_status=_text(data.get("financial_status"), 40),
    )


ORDERS_CREATE, ORDERS_CANCELLED = "orders/create", "orders/cancelled"


def topic_contradiction(topic: str, order: ShopifyOrder) -> str | None:
    """Why ``order`` is not what ``topic`` says it is, or ``None`` when it is.

    Shopify's HMAC covers the body only, never the ``X-Shopify-Topic`` header, so the
    topic is a claim the payload must bear out before we act on it: a cancellation is an
    order with ``cancelled_at`` set, and an order is created before it can be cancelled
    (a create whose payload is already cancelled is a cancellation re-sent).
    """
    if topic == ORDERS_CANCELLED and order.cancelled_at is None:
        return (
            f"the {ORDERS_CANCELLED} topic does not match the payload: order "
            f"{order.order_id} is not cancelled (cancelled_at is not set)"
        )
    if topic == ORDERS_CREATE and order.cancelled_at is not None:
        return (
            f"the {ORDERS_CREATE} topic does not match the payload: order "
            f"{order.order_id} is already cancelled (cancelled_at is set)"
        )
    return None


# What Shopify's order and lines already call as we do.
_SAME_ORDER_FIELDS = (
    "currency",
    "email",
    "phone",
    "customer_name",
    "shipping_address",
    "billing_address",
    "shipping_total",
    "shipping_tax",
)
_SAME_LINE_FIELDS = (
    "sku",
    "quantity",
    "unit_price",
    "discount",
    "tax_rate",
    "tax_amount",
    "requires_shipping",
)


def order_lines(order: ShopifyOrder) -> list[OrderLineInput]:
    return [
        OrderLineInput(name=ln.title, external_id=ln.line_id, **pick(ln, *_SAME_LINE_FIELDS))
        for ln in order.lines
    ]


def our_total(order: ShopifyOrder) -> Decimal:
    """The total ``create_order`` will compute for this order (see its docstring)."""

    lines = sum(
        (cents(ln.unit_price * ln.quantity) - cents(ln.discount) for ln in order.lines), ZERO
    )
    tax = sum((cents(ln.tax_amount) for ln in order.lines), ZERO) + cents(order.shipping_tax)
    total = lines - cents(order.order_discount) + cents(order.shipping_total)
    return total if order.taxes_included else total + tax


def order_draft(order: ShopifyOrder, *, shop_domain: str | None = None) -> OrderDraft:
    """The order ``place_order`` makes of this Shopify order."""
    properties: dict[str, Any] = {"shopify": {"order_name": order.name}}
    if shop_domain:
        properties["shopify"]["shop_domain"] = shop_domain
    if order.discount_codes:
        properties["shopify"]["discount_codes"] = order.discount_codes
    if order.financial_status:
        properties["shopify"]["financial_status"] = order.financial_status
    if order.total_price is not None:
        properties["shopify"]["total_price"] = str(order.total_price)
        ours = our_total(order)
        if ours != cents(order.total_price):
            properties["shopify_total_mismatch"] = {
                "shopify": str(order.total_price),
                "computed": str(ours),
            }
    return OrderDraft(
        source="shopify",
        external_id=order.order_id,
        external_name=order.name,
        lines=order_lines(order),
        **pick(order, *_SAME_ORDER_FIELDS),
        discount_total=order.order_discount,
        prices_include_tax=order.taxes_included,
        placed_at=order.placed_at,
        properties=properties,
        unknown_sku="fail",
    )
