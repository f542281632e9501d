"""Offline contract-term extraction: what the built-in provider answers for contracts."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bizos.ai.extract.contract import extract_contract, extract_contract_json, find_amounts
from bizos.ai.extract.dates import add_months, find_dates, find_periods

SUPPLY = """SUPPLY AGREEMENT
This Supply Agreement (the "Agreement") is dated 15 January 2026 and is made between:
(1) Northwind Components Ltd, a company incorporated in England and Wales (company number
04821937), whose registered office is at 12 Dock Road, Bristol (the "Supplier"); and
(2) Harbour Foods Limited, a company incorporated in England and Wales, whose registered
office is at 3 Mill Lane, Leeds (the "Customer").
2. Term
2.1 This Agreement shall commence on 1 March 2026 (the "Effective Date") and shall continue
for an initial term of twenty-four (24) months.
2.2 Thereafter this Agreement shall automatically renew for successive periods of twelve (12)
months unless either party gives the other not less than ninety (90) days' written notice of
termination before the end of the then-current term.
4. Price
4.1 The Customer shall pay the Supplier an annual fee of £48,000.00, payable quarterly.
4.2 A one-off set-up fee of GBP 2,500 is payable on the Effective Date.
"""

US_SERVICES = """MASTER SERVICES AGREEMENT
This Agreement is entered into as of 03/15/2026 by and between Acme Analytics, Inc., a
Delaware corporation ("Provider"), and Blue River LLC ("Client").
Term. The term of this Agreement begins on April 1, 2026 and ends on March 31, 2027. This
Agreement shall not renew automatically.
Fees. Client shall pay Provider USD 12,500 per month and a deposit of $3,000.
Notice. Client must give notice of non-renewal no later than January 15, 2027.
Termination Date: 04/30/2027
"""


def test_a_supply_agreement_gives_parties_amounts_and_computed_dates() -> None:
    terms = extract_contract(SUPPLY)

    assert [(p["name"], p["role"]) for p in terms.parties] == [
        ("Northwind Components Ltd", "Supplier"),
        ("Harbour Foods Limited", "Customer"),
    ]
    assert [(a["amount"], a["currency"]) for a in terms.amounts] == [
        ("48000.00", "GBP"),
        ("2500.00", "GBP"),
    ]
    assert terms.start_date == dt.date(2026, 3, 1)
    # 24 months from 1 March 2026: the last day of the term, and the renewal the day after.
    assert terms.end_date == dt.date(2028, 2, 29)
    assert terms.renewal_date == dt.date(2028, 3, 1)
    assert terms.auto_renews is True
    assert terms.notice_period_days == 90
    assert terms.notice_date == dt.date(2027, 12, 1)  # end of term minus 90 days
    assert set(terms.computed) == {"end_date", "renewal_date", "notice_date"}


def test_every_field_found_has_a_quote_from_the_text() -> None:
    terms = extract_contract(SUPPLY)
    flat = " ".join(SUPPLY.split())
    for name in ("start_date", "auto_renews", "notice_period_days", "amounts"):
        assert terms.evidence[name] in flat, name
    assert "ninety (90) days' written notice" in terms.evidence["notice_date"]


def test_a_stated_notice_date_wins_and_us_dates_are_read_month_first() -> None:
    terms = extract_contract(US_SERVICES)

    assert [(p["name"], p["role"]) for p in terms.parties] == [
        ("Acme Analytics, Inc", "Provider"),
        ("Blue River LLC", "Client"),
    ]
    assert (terms.start_date, terms.end_date) == (dt.date(2026, 4, 1), dt.date(2027, 3, 31))
    assert terms.notice_date == dt.date(2027, 1, 15)
    assert "notice_date" not in terms.computed
    assert terms.termination_date == dt.date(2027, 4, 30)
    assert terms.auto_renews is False
    assert terms.renewal_date is None
    assert {(a["amount"], a["currency"]) for a in terms.amounts} == {
        ("12500.00", "USD"),
        ("3000.00", "USD"),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on 2026-03-01 it starts", dt.date(2026, 3, 1)),
        ("on 1 March 2026 it starts", dt.date(2026, 3, 1)),
        ("on 1st March, 2026 it starts", dt.date(2026, 3, 1)),
        ("on the 1st day of March 2026", dt.date(2026, 3, 1)),
        ("on March 1, 2026 it starts", dt.date(2026, 3, 1)),
        ("on Sept. 30, 2026", dt.date(2026, 9, 30)),
        ("on 1-Mar-2026", dt.date(2026, 3, 1)),
        # Numeric dates are day first by default...
        ("on 01/03/2026 it starts", dt.date(2026, 3, 1)),
        ("on 01.03.2026 it starts", dt.date(2026, 3, 1)),
        # ...and a date that cannot be day first is read month first.
        ("on 03/25/2026 it starts", dt.date(2026, 3, 25)),
    ],
)
def test_dates_in_many_forms(text: str, expected: dt.date) -> None:
    assert [h.value for h in find_dates(text)] == [expected]


def test_a_document_that_writes_month_first_is_read_month_first_throughout() -> None:
    text = "Signed 12/20/2026. Starts 01/02/2027."
    assert [h.value for h in find_dates(text)] == [dt.date(2026, 12, 20), dt.date(2027, 1, 2)]


def test_impossible_dates_are_not_dates() -> None:
    assert find_dates("on 31 February 2026 or 2026-13-01 or 45/45/2026") == []


@pytest.mark.parametrize(
    ("text", "count", "unit"),
    [
        ("ninety (90) days' written notice", 90, "day"),
        ("90 days notice", 90, "day"),
        ("three months' notice", 3, "month"),
        ("3 months notice", 3, "month"),
        ("twelve (12) weeks", 12, "week"),
        ("one year", 1, "year"),
        ("sixty calendar days", 60, "day"),
    ],
)
def test_periods_in_words_and_digits(text: str, count: int, unit: str) -> None:
    [period] = find_periods(text)
    assert (period.count, period.unit) == (count, unit)


def test_a_notice_period_in_months_counts_calendar_months() -> None:
    text = (
        "This Agreement commences on 1 January 2026 and expires on 31 December 2026. "
        "Either party may terminate on three months' notice."
    )
    terms = extract_contract(text)
    assert terms.end_date == dt.date(2026, 12, 31)
    assert terms.notice_date == dt.date(2026, 9, 30)
    assert terms.notice_period_days == 92


def test_notice_before_the_renewal_date_is_counted_from_it() -> None:
    text = (
        "The Renewal Date is 1 July 2027. The licence renews automatically unless the "
        "Licensee gives 60 days' notice before the renewal date."
    )
    terms = extract_contract(text)
    assert terms.renewal_date == dt.date(2027, 7, 1)
    assert terms.notice_date == dt.date(2027, 5, 2)
    assert terms.auto_renews is True


def test_amounts_in_several_notations() -> None:
    found = find_amounts(
        "Fee: EUR 1.200,50 per month. Deposit 2,000 USD. Cap of £1.5 million. Tip $ 30."
    )
    assert [(a["amount"], a["currency"]) for a in found] == [
        ("1200.50", "EUR"),
        ("2000.00", "USD"),
        ("1500000.00", "GBP"),
        ("30.00", "USD"),
    ]


def test_text_without_terms_gives_empty_fields_not_guesses() -> None:
    terms = json.loads(extract_contract_json("Minutes of the team meeting. We discussed lunch."))
    assert terms["parties"] == [] and terms["amounts"] == []
    for name in ("start_date", "end_date", "renewal_date", "notice_date", "termination_date"):
        assert terms[name] is None
    assert terms["notice_period_days"] is None and terms["auto_renews"] is None
    assert terms["evidence"] == {}


def test_the_json_answer_has_the_documented_shape() -> None:
    answer = json.loads(extract_contract_json(SUPPLY))
    assert set(answer) >= {
        "parties",
        "amounts",
        "start_date",
        "end_date",
        "renewal_date",
        "termination_date",
        "notice_date",
        "notice_period_days",
        "auto_renews",
        "evidence",
    }
    assert answer["parties"][0] == {"name": "Northwind Components Ltd", "role": "Supplier"}
    assert answer["amounts"][0] == {
        "amount": "48000.00",
        "currency": "GBP",
        "description": "pay the Supplier an annual fee",
    }
    assert answer["notice_date"] == "2027-12-01"


def test_labelled_parties_are_found() -> None:
    terms = extract_contract("Supplier: Kestrel Parts GmbH\nBuyer: Osprey Retail plc\n")
    assert [(p["name"], p["role"]) for p in terms.parties] == [
        ("Kestrel Parts GmbH", "Supplier"),
        ("Osprey Retail plc", "Buyer"),
    ]


def test_add_months_keeps_to_the_end_of_short_months() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 12, 15), 2) == dt.date(2027, 2, 15)
