"""Line tax is rounded half-up per line; invoice totals always add up; lines are a
snapshot of what was billed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bizos.core.db import Database
from bizos.core.errors import Unprocessable
from bizos.modules.billing.invoices.amounts import price_line
from tests.conftest import TenantLogin
from tests.modules.billing.invoices.helpers import line, order_invoice


def test_line_tax_rounds_half_up_per_line() -> None:
    # 0.05 * 0.1 = 0.005 -> 0.01 (half-up, not banker's rounding to 0.00).
    priced = price_line(line(quantity="1", unit_price="0.05", tax_rate="0.1"))
    assert priced.tax_amount == Decimal("0.01")
    priced = price_line(line(quantity="3", unit_price="19.99", tax_rate="0.0825"))
    assert priced.amount == Decimal("59.97")
    assert priced.tax_amount == Decimal("4.95")  # 4.947525 → 4.95
    assert priced.total == Decimal("64.92")


def test_a_line_discount_comes_off_before_tax() -> None:
    priced = price_line(line(quantity="2", unit_price="50.00", discount="10.00", tax_rate="0.2"))
    assert (priced.amount, priced.tax_amount, priced.total) == (
        Decimal("90.00"),
        Decimal("18.00"),
        Decimal("108.00"),
    )


def test_a_discount_above_the_line_price_is_refused() -> None:
    with pytest.raises(Unprocessable):
        price_line(line(unit_price="5.00", discount="6.00"))


async def test_totals_add_up(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(
        db,
        tenant,
        lines=[
            line("Mug", quantity="3", unit_price="0.15", tax_rate="0.2"),  # 0.45, tax 0.09
            line("Tee", quantity="1", unit_price="0.05", tax_rate="0.1"),  # 0.05, tax 0.01
            line("Hat", quantity="2", unit_price="12.50", discount="5.00", tax_rate="0.07"),
        ],  # hat: 25.00 - 5.00 = 20.00, tax 1.40
        shipping_total=Decimal("4.90"),
        discount_total=Decimal("1.00"),
    )
    assert invoice.subtotal == Decimal("25.50")
    assert invoice.discount_total == Decimal("6.00")
    assert invoice.tax_total == Decimal("1.50")
    assert invoice.shipping_total == Decimal("4.90")
    assert invoice.total == Decimal("25.90")
    assert (
        invoice.subtotal - invoice.discount_total + invoice.tax_total + invoice.shipping_total
        == invoice.total
    )
    assert sum(Decimal(x["tax_amount"]) for x in invoice.lines) == invoice.tax_total


async def test_lines_are_stored_as_a_snapshot(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(
        db, tenant, lines=[line("Blue mug", quantity="2", unit_price="7.50", sku="MUG-B")]
    )
    assert invoice.lines == [
        {
            "description": "Blue mug",
            "sku": "MUG-B",
            "product_id": None,
            "quantity": "2",
            "unit_price": "7.50",
            "discount": "0.00",
            "tax_rate": "0",
            "amount": "15.00",
            "tax_amount": "0.00",
            "total": "15.00",
        }
    ]


async def test_an_order_gets_one_live_invoice(db: Database, tenant: TenantLogin) -> None:
    first = await order_invoice(db, tenant, order_id="order-1")
    again = await order_invoice(db, tenant, order_id="order-1")
    assert again.id == first.id and again.number == first.number == "INV-000001"
