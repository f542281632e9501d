"""The supply-agreement PDF the contract tests upload, and the proof that it reads back.

``tests/fixtures/kb/supply_agreement.pdf`` is made by :func:`build_supply_agreement`
(fpdf2); regenerate it with ``.venv/bin/python -m tests.modules.knowledge.test_contracts_pdf``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fpdf import FPDF

from bizos.ai.extract.contract import extract_contract
from bizos.modules.knowledge.documents.service import prepare

FIXTURE = Path(__file__).parents[2] / "fixtures" / "kb" / "supply_agreement.pdf"

TITLE = "SUPPLY AGREEMENT"
PREAMBLE = [
    'This Supply Agreement (the "Agreement") is dated 15 January 2026 and is made between:',
    "(1) Northwind Components Ltd, a company incorporated in England and Wales (company "
    "number 04821937), whose registered office is at 12 Dock Road, Bristol BS1 4RT "
    '(the "Supplier"); and',
    "(2) Harbour Foods Limited, a company incorporated in England and Wales (company number "
    "07733120), whose registered office is at 3 Mill Lane, Leeds LS2 7HX "
    '(the "Customer").',
    "BACKGROUND: The Supplier manufactures stainless steel food-processing components. The "
    "Customer wishes to buy, and the Supplier wishes to supply, such components on the terms "
    "of this Agreement.",
]
CLAUSES: list[tuple[str, list[str]]] = [
    (
        "1. Definitions",
        [
            '1.1 "Products" means the components listed in Schedule 1, as updated by the '
            "parties in writing from time to time.",
            '1.2 "Order" means a purchase order for Products placed by the Customer under '
            "clause 3.",
            '1.3 "Business Day" means a day other than a Saturday, Sunday or public holiday '
            "in England.",
        ],
    ),
    (
        "2. Term",
        [
            '2.1 This Agreement shall commence on 1 March 2026 (the "Effective Date") and '
            "shall continue for an initial term of twenty-four (24) months.",
            "2.2 Thereafter this Agreement shall automatically renew for successive periods of "
            "twelve (12) months unless either party gives the other not less than ninety (90) "
            "days' written notice of termination before the end of the then-current term.",
        ],
    ),
    (
        "3. Orders and Delivery",
        [
            "3.1 The Customer shall place Orders in writing at least ten (10) Business Days "
            "before the requested delivery date.",
            "3.2 The Supplier shall deliver the Products DAP to the Customer's site at 3 Mill "
            "Lane, Leeds. Risk passes on delivery; title passes on payment in full.",
            "3.3 If the Supplier fails to deliver within five (5) Business Days of the agreed "
            "date, the Customer may cancel the Order without liability.",
        ],
    ),
    (
        "4. Price and Payment",
        [
            "4.1 The Customer shall pay the Supplier an annual fee of £48,000.00 (forty-eight "
            "thousand pounds), payable quarterly in advance.",
            "4.2 A one-off set-up fee of GBP 2,500 is payable on the Effective Date.",
            "4.3 Invoices are payable within thirty (30) days of the invoice date. Late "
            "payments bear interest at 4% a year above the Bank of England base rate.",
        ],
    ),
    (
        "5. Quality and Warranty",
        [
            "5.1 The Supplier warrants that the Products conform to the specification in "
            "Schedule 1 and are free from defects in material and workmanship for twelve (12) "
            "months from delivery.",
            "5.2 The Customer shall inspect the Products within seven (7) days of delivery and "
            "notify the Supplier of any defect.",
        ],
    ),
    (
        "6. Liability",
        [
            "6.1 Neither party excludes liability for death or personal injury caused by its "
            "negligence, or for fraud.",
            "6.2 Subject to clause 6.1, each party's total liability in any contract year shall "
            "not exceed £100,000.",
        ],
    ),
    (
        "7. Termination",
        [
            "7.1 Either party may terminate this Agreement immediately by written notice if "
            "the other party commits a material breach that it fails to remedy within thirty "
            "(30) days of being asked to do so.",
            "7.2 On termination the Customer shall pay for all Products delivered before the "
            "termination takes effect.",
        ],
    ),
    (
        "8. General",
        [
            "8.1 Notices shall be in writing and delivered by hand or by recorded delivery to "
            "the registered office of the party concerned.",
            "8.2 This Agreement is governed by the law of England and Wales.",
        ],
    ),
]


def build_supply_agreement() -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(dt.datetime(2026, 1, 15, tzinfo=dt.UTC))
    pdf.set_title("Supply Agreement - Northwind Components Ltd and Harbour Foods Limited")
    pdf.set_author("Northwind Components Ltd")
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, TITLE, new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=10.5)
    for paragraph in PREAMBLE:
        pdf.multi_cell(0, 5.5, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    for heading, paragraphs in CLAUSES:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10.5)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 5.5, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
    pdf.ln(8)
    pdf.multi_cell(
        0,
        5.5,
        "Signed for and on behalf of Northwind Components Ltd: ____________  Date: 15/01/2026\n"
        "Signed for and on behalf of Harbour Foods Limited: ____________  Date: 15/01/2026",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def pdf_text() -> str:
    """The text the knowledge base keeps of the fixture (as an upload would)."""
    return prepare(FIXTURE.read_bytes(), content_type="application/pdf").text


def test_the_supply_agreement_pdf_reads_back_as_its_clauses() -> None:
    prepared = pdf_text()
    text = " ".join(prepared.split())
    assert "Northwind Components Ltd" in text
    assert "ninety (90) days' written notice" in text
    assert "£48,000.00" in text


def test_the_fixture_is_what_the_builder_makes() -> None:
    assert FIXTURE.read_bytes() == build_supply_agreement()


def test_the_terms_of_the_pdf_are_extracted_offline() -> None:
    prepared = pdf_text()
    terms = extract_contract(prepared)
    assert [(p["name"], p["role"]) for p in terms.parties] == [
        ("Northwind Components Ltd", "Supplier"),
        ("Harbour Foods Limited", "Customer"),
    ]
    assert (terms.start_date, terms.end_date) == (dt.date(2026, 3, 1), dt.date(2028, 2, 29))
    assert terms.renewal_date == dt.date(2028, 3, 1)
    assert terms.notice_date == dt.date(2027, 12, 1)


if __name__ == "__main__":
    FIXTURE.write_bytes(build_supply_agreement())
    print(f"wrote {FIXTURE}")
