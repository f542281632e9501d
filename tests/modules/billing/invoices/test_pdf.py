"""An invoice renders as a real PDF with the tenant, number, dates, customer, lines, tax,
totals and balance on it."""

from __future__ import annotations

import re
import zlib
from decimal import Decimal

import httpx

from bizos.core.db import Database
from bizos.modules.billing.credit_notes import service as credit_notes
from bizos.modules.billing.invoices import service
from bizos.modules.billing.invoices.pdf import render_invoice_pdf
from tests.conftest import TenantLogin
from tests.modules.billing.invoices.helpers import INVOICES, line, order_invoice, owner_ctx


def page_text(pdf: bytes) -> str:
    """The text drawn on the pages, from the (Flate-compressed) content streams."""
    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            chunks.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            chunks.append(stream.decode("latin-1"))
    # PDF strings escape their parentheses: "(ESP-1)" is drawn from "\\(ESP-1\\)".
    return "\n".join(chunks).replace("\\(", "(").replace("\\)", ")")


async def test_the_pdf_endpoint_returns_the_invoice_as_pdf(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(
        db,
        tenant,
        lines=[
            line("Espresso machine", quantity="2", unit_price="199.99", tax_rate="0.2", sku="ESP-1")
        ],
        shipping_total=Decimal("9.90"),
        customer_name="Zoë Müller",
    )
    r = await client.get(f"{INVOICES}/{invoice.id}/pdf", headers=tenant.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert 'filename="INV-000001.pdf"' in r.headers["content-disposition"]
    assert r.content.startswith(b"%PDF-") and r.content.rstrip().endswith(b"%%EOF")
    text = page_text(r.content)
    for expected in (
        "Acme Ltd",
        "Invoice INV-000001",
        "Zo\xeb M\xfcller",
        "buyer@example.com",
        "Espresso machine (ESP-1)",
        "399.98",  # line amount
        "80.00 (20%)",  # line tax
        "489.88 EUR",  # total = 399.98 + 80.00 + 9.90
        "Balance due",
        f"Due date: {invoice.due_date:%Y-%m-%d}",
    ):
        assert expected in text, expected


async def test_an_uncompressed_pdf_shows_what_was_paid_and_credited(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(db, tenant, customer_name="Ivan \u0418\u0432\u0430\u043d")
    ctx = owner_ctx(tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.apply_payment(
            session, ctx, invoice.id, amount=Decimal("50.00"), currency="EUR"
        )
        await credit_notes.issue_credit_note(
            session, ctx, invoice.id, amount=Decimal("10.00"), reason="scratched"
        )
        current = await service.get_invoice(session, ctx, invoice.id)
        read = await service.invoice_read(session, ctx, current)
    pdf = render_invoice_pdf(read, "Acme Ltd", compress=False)
    assert pdf.startswith(b"%PDF-")
    text = page_text(pdf)
    for expected in (
        "INV-000001",
        "PARTIALLY PAID",
        "-50.00 EUR",
        "-10.00 EUR",
        "60.00 EUR",
        "CN-000001",
        "Ivan ????",
    ):
        assert expected in text, expected


async def test_prices_including_tax_show_the_tax_as_included(
    db: Database, tenant: TenantLogin
) -> None:
    invoice = await order_invoice(
        db,
        tenant,
        lines=[line("Grinder", unit_price="120.00", tax_rate="0.2")],
        shipping_total=Decimal("5.00"),
        prices_include_tax=True,
    )
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        ctx = owner_ctx(tenant)
        read = await service.invoice_read(
            session, ctx, await service.get_invoice(session, ctx, invoice.id)
        )
    assert read.lines[0].tax_included and read.total == Decimal("125.00")
    text = page_text(render_invoice_pdf(read, "Acme Ltd", compress=False))
    assert "Tax (included)" in text
    assert "125.00 EUR" in text  # 120.00 (tax inside) + 5.00 shipping: the tax is not added
    assert "149.00" not in text and "145.00" not in text


async def test_prices_without_tax_show_a_plain_tax_row(db: Database, tenant: TenantLogin) -> None:
    invoice = await order_invoice(db, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        ctx = owner_ctx(tenant)
        read = await service.invoice_read(
            session, ctx, await service.get_invoice(session, ctx, invoice.id)
        )
    text = page_text(render_invoice_pdf(read, "Acme Ltd", compress=False))
    assert "(included)" not in text and "Tax" in text and "120.00 EUR" in text
