"""A sandbox label as a PDF: what the carrier's label would say (sender, recipient,
carrier, service, tracking number, order reference), marked as a sandbox document."""

from __future__ import annotations

from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bizos.modules.commerce.models import Shipment

ADDRESS_FIELDS = ("name", "company", "street1", "street2", "city", "state", "zip", "country")


def _address_lines(address: dict[str, Any]) -> list[str]:
    city_line = " ".join(str(address[k]) for k in ("city", "state", "zip") if address.get(k))
    lines = [str(address[k]) for k in ("name", "company", "street1", "street2") if address.get(k)]
    if city_line:
        lines.append(city_line)
    if address.get("country"):
        lines.append(str(address["country"]))
    return lines or ["(no address)"]


def _latin1(text: str) -> str:
    # The core PDF fonts speak Latin-1; anything else is shown as "?".
    return text.encode("latin-1", "replace").decode("latin-1")


def render_sandbox_label(shipment: Shipment) -> bytes:
    request = shipment.request or {}
    pdf = FPDF(format=(288, 432), unit="pt")  # 4 x 6 inches, the usual label size
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_margins(18, 18, 18)
    pdf.set_xy(18, 18)

    def line(text: str, size: int = 10, style: str = "") -> None:
        pdf.set_font("Helvetica", style=style, size=size)
        pdf.multi_cell(0, size + 3, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line("SANDBOX LABEL - NOT FOR SHIPPING", 9, "B")
    line(f"{shipment.carrier} {shipment.service or ''}".strip(), 14, "B")
    pdf.ln(6)
    line("FROM", 8, "B")
    for text in _address_lines(dict(request.get("address_from") or {})):
        line(text, 9)
    pdf.ln(6)
    line("SHIP TO", 8, "B")
    for text in _address_lines(dict(request.get("address_to") or {})):
        line(text, 12, "B")
    pdf.ln(10)
    line("TRACKING #", 8, "B")
    line(shipment.tracking_number, 14, "B")
    if request.get("reference"):
        pdf.ln(4)
        line(f"Ref: {request['reference']}", 9)
    return bytes(pdf.output())
