"""Pricing an order line: the catalogue's price and tax unless the door names them.

A line that cannot be sold (an unknown or retired SKU, a product priced in another
currency, a line with neither SKU nor price) is refused with a 422 naming the line
(``reject``, the API) or carries the problem that fails the order (``fail``, the doors
fed by outside systems, which must not lose an order to a catalogue gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bizos.core.errors import Unprocessable, field_error
from bizos.core.money import cents
from bizos.modules.commerce.models import OrderLine, Product
from bizos.modules.commerce.orders.schemas import OrderLineInput, UnknownSku

# The largest amount a money column (14 digits, 2 after the point) holds.
MAX_AMOUNT = Decimal("999999999999.99")


@dataclass(slots=True)
class PricedLine:
    line: OrderLine
    problem: str | None = None  # why this line makes the order fail (fail mode)


def line_error(index: int, field: str, message: str) -> Unprocessable:
    return Unprocessable(message, errors=[field_error(["body", "lines", index, field], message)])


def price_line(
    index: int,
    given: OrderLineInput,
    product: Product | None,
    *,
    currency: str,
    default_tax_rate: Decimal,
    unknown_sku: UnknownSku,
) -> PricedLine:
    """One stored line from what the door sent and the catalogue; a line that cannot be
    sold raises 422 (``reject``) or carries the problem that fails the order (``fail``)."""
    problem: str | None = None
    sku = given.sku.strip() if given.sku else None
    if sku and product is None:
        problem = f"unknown SKU {sku!r}"
    elif not sku and given.requires_shipping:
        problem = f"line {index + 1} ({given.name or 'unnamed'}) has no SKU but needs shipping"
    elif product is not None and not product.active:
        problem = f"SKU {sku!r} is no longer sold"
    elif product is not None and given.unit_price is None and product.currency != currency:
        problem = f"SKU {sku!r} is priced in {product.currency}, the order is in {currency}"
    elif product is None and given.unit_price is None:
        problem = f"line {index + 1} has neither a SKU nor a price"
    if problem is not None and unknown_sku == "reject":
        raise line_error(index, "sku", problem)
    unit_price = given.unit_price
    if unit_price is None:
        unit_price = product.price if product is not None else Decimal("0")
    if given.tax_rate is not None:
        rate = Decimal(given.tax_rate)
    elif product is not None and Decimal(product.tax_rate) > 0:
        rate = Decimal(product.tax_rate)
    else:
        rate = default_tax_rate
    gross = cents(Decimal(unit_price) * given.quantity)
    if gross > MAX_AMOUNT:
        raise line_error(index, "quantity", f"the line amount exceeds {MAX_AMOUNT}")
    discount = cents(given.discount)
    if discount < 0 or discount > gross:
        raise line_error(index, "discount", "a discount between 0 and the line amount")
    line_total = gross - discount
    tax = cents(given.tax_amount) if given.tax_amount is not None else cents(line_total * rate)
    line = OrderLine(
        position=index + 1,
        product_id=product.id if product is not None else None,
        sku=sku,
        name=(given.name or (product.name if product is not None else None) or sku or "Item")[:200],
        quantity=given.quantity,
        unit_price=cents(unit_price),
        discount=discount,
        tax_rate=rate,
        tax_amount=tax,
        line_total=line_total,
        tracks_stock=product.tracks_stock if product is not None else False,
        external_id=given.external_id,
    )
    return PricedLine(line, problem)
