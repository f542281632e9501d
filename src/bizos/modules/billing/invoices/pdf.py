"""An invoice as a PDF document (fpdf2): who bills whom, the lines with their tax, the
totals and what is still due.

The built-in PDF fonts cover Latin-1 only; characters outside it are shown as ``?``
rather than failing the whole document (a customer named in another script still gets
an invoice with the right numbers).
"""

from __future__ import annotations

from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bizos.modules.billing.invoices.schemas import InvoiceRead

_STATUS_LABELS = {
    "draft": "DRAFT",
    "open": "OPEN",
    "paid": "PAID",
    "partially_paid": "PARTIALLY PAID",
    "void": "VOID",
    "discrepancy": "UNDER REVIEW",
}
# Column widths (mm) of the line table: description, qty, unit price, tax, amount.
_WIDTHS = (80.0, 18.0, 30.0, 27.0, 35.0)


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _rate(rate: Decimal) -> str:
    percent = (rate * 100).normalize()
    return f"{percent:f}%"


def _qty(quantity: Decimal) -> str:
    return f"{quantity.normalize():f}"


class _InvoicePdf(FPDF):
    def __init__(self, *, compress: bool) -> None:
        super().__init__(format="A4")
        self.set_compression(compress)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(15, 15, 15)

    def text_line(self, text: str, *, size: float = 10, bold: bool = False, h: float = 5) -> None:
        self.set_font("Helvetica", "B" if bold else "", size)
        self.cell(0, h, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def row(self, cells: tuple[str, ...], *, bold: bool = False, border: str = "") -> None:
        self.set_font("Helvetica", "B" if bold else "", 9)
        for i, (width, text) in enumerate(zip(_WIDTHS, cells, strict=True)):
            align = "L" if i == 0 else "R"
            self.cell(width, 6, _latin1(text), border=border, align=align)
        self.ln(6)

    def total_row(self, label: str, value: str, *, bold: bool = False) -> None:
        self.set_font("Helvetica", "B" if bold else "", 10)
        self.cell(sum(_WIDTHS[:-1]), 6, _latin1(label), align="R")
        self.cell(_WIDTHS[-1], 6, _latin1(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render_invoice_pdf(invoice: InvoiceRead, tenant_name: str, *, compress: bool = True) -> bytes:
    """The invoice as PDF bytes. ``compress=False`` leaves the page text readable in
    the file (tests read it without a PDF parser)."""
    pdf = _InvoicePdf(compress=compress)
    pdf.set_title(f"Invoice {invoice.number or 'draft'}")
    pdf.set_author(_latin1(tenant_name))
    pdf.add_page()
    currency = invoice.currency

    pdf.text_line(tenant_name, size=16, bold=True, h=8)
    pdf.text_line(f"Invoice {invoice.number or '(draft)'}", size=13, bold=True, h=7)
    pdf.text_line(f"Status: {_STATUS_LABELS.get(invoice.status, invoice.status)}")
    if invoice.issued_at is not None:
        pdf.text_line(f"Issue date: {invoice.issued_at:%Y-%m-%d}")
    if invoice.due_date is not None:
        pdf.text_line(f"Due date: {invoice.due_date:%Y-%m-%d}")
    pdf.ln(4)

    pdf.text_line("Bill to", bold=True)
    for part in (invoice.customer_name, invoice.customer_email):
        if part:
            pdf.text_line(part)
    for value in (invoice.billing_address or {}).values():
        if isinstance(value, str) and value.strip():
            pdf.text_line(value.strip())
    pdf.ln(4)

    pdf.row(("Description", "Qty", "Unit price", "Tax", "Amount"), bold=True, border="B")
    for line in invoice.lines:
        description = line.description if not line.sku else f"{line.description} ({line.sku})"
        pdf.row(
            (
                description[:60],
                _qty(line.quantity),
                f"{line.unit_price}",
                f"{line.tax_amount} ({_rate(line.tax_rate)})",
                f"{line.amount}",
            )
        )
    pdf.ln(2)

    pdf.total_row("Subtotal", f"{invoice.subtotal} {currency}")
    if invoice.discount_total:
        pdf.total_row("Discount", f"-{invoice.discount_total} {currency}")
    # Prices that include tax: the tax is inside the amounts, not added to the total.
    included = any(line.tax_included for line in invoice.lines)
    pdf.total_row("Tax (included)" if included else "Tax", f"{invoice.tax_total} {currency}")
    if invoice.shipping_total:
        pdf.total_row("Shipping", f"{invoice.shipping_total} {currency}")
    pdf.total_row("Total", f"{invoice.total} {currency}", bold=True)
    if invoice.amount_paid:
        pdf.total_row("Paid", f"-{invoice.amount_paid} {currency}")
    if invoice.amount_refunded:
        pdf.total_row("Refunded", f"{invoice.amount_refunded} {currency}")
    if invoice.amount_credited:
        pdf.total_row("Credited", f"-{invoice.amount_credited} {currency}")
    pdf.total_row("Balance due", f"{invoice.balance_due} {currency}", bold=True)

    for note in invoice.credit_notes:
        pdf.text_line(f"Credit note {note.number}: {note.amount} {currency} - {note.reason}")
    if invoice.notes:
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _latin1(invoice.notes))
    return bytes(pdf.output())
