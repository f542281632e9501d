"""PDF headings: a PDF's sections come from its typography — lines set larger or in
bold head the text below them, across pages — so its chunks know where they are, as
Markdown and HTML chunks do. A PDF without font sizes falls back to numbered or
capitalised heading lines."""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bizos.modules.knowledge.documents.chunking import chunk_document, lay_out
from bizos.modules.knowledge.documents.parsing import _Line, _pdf_sections, parse_pdf


def handbook_pdf() -> bytes:
    """Two pages: a 16 pt title, 13 pt bold section headings, 11 pt body text."""
    pdf = FPDF(format="A4")
    pages = [
        [
            ("title", "Employee handbook"),
            ("h", "Holidays"),
            ("p", "Full-time staff get 28 days of paid holiday a year."),
            ("h", "Expenses"),
            ("p", "Claims are filed in the expense tool within 30 days of the trip."),
        ],
        [
            ("p", "Managers approve claims every Monday."),
            ("h", "Equipment"),
            ("p", "Lost or broken equipment is reported to IT the same day."),
        ],
    ]
    for lines in pages:
        pdf.add_page()
        for kind, text in lines:
            font = {"title": ("B", 16), "h": ("B", 13), "p": ("", 11)}[kind]
            pdf.set_font("Helvetica", *font)
            pdf.multi_cell(0, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def test_pdf_sections_follow_its_headings_across_pages() -> None:
    parsed = parse_pdf(handbook_pdf())

    assert [(s.heading, s.page) for s in parsed.sections] == [
        (("Employee handbook", "Holidays"), 1),
        (("Employee handbook", "Expenses"), 1),
        (("Employee handbook", "Expenses"), 2),  # the section goes on over the page
        (("Employee handbook", "Equipment"), 2),
    ]
    assert parsed.sections[2].text == "Managers approve claims every Monday."


def test_pdf_chunks_carry_their_heading_path() -> None:
    chunks = chunk_document(lay_out(parse_pdf(handbook_pdf()).sections))

    by_heading = {c.heading: c.text for c in chunks}
    assert "28 days of paid holiday" in by_heading["Employee handbook > Holidays"]
    assert "reported to IT" in by_heading["Employee handbook > Equipment"]


def test_without_font_sizes_numbered_and_capitalised_lines_are_headings() -> None:
    lines = [
        _Line("SUPPLY AGREEMENT", 0.0, False),
        _Line("The parties agree as follows.", 0.0, False),
        _Line("4. Renewal", 0.0, False),
        _Line("This agreement renews for twelve months.", 0.0, False),
        _Line("Signed in Berlin", 0.0, False),  # short, but neither numbered nor capitals
    ]

    sections = _pdf_sections([(1, lines)])

    assert [(s.heading, s.text) for s in sections] == [
        (("SUPPLY AGREEMENT",), "The parties agree as follows."),
        (("4. Renewal",), "This agreement renews for twelve months.\nSigned in Berlin"),
    ]
