"""Reading a model's contract answer, and when the contract's task falls due."""

from __future__ import annotations

import datetime as dt

import pytest

from bizos.modules.knowledge.contracts.service import (
    ContractUnreadable,
    is_contract,
    parse_terms,
    reminder_for,
)

TODAY = dt.date(2026, 6, 1)


def test_a_fenced_answer_with_prose_around_it_is_read() -> None:
    answer = (
        "Here are the terms:\n```json\n"
        '{"parties": [{"name": "Acme Ltd", "role": "Supplier"}], '
        '"amounts": [{"amount": 1200, "currency": "EUR", "description": "fee"}], '
        '"start_date": "2026-01-01", "end_date": "31 December 2026", '
        '"notice_date": null, "notice_period_days": 60, "auto_renews": true, '
        '"evidence": {"end_date": "expires on 31 December 2026", "x": null}}\n```'
    )
    terms = parse_terms(answer)
    assert terms.parties[0].name == "Acme Ltd"
    assert terms.amounts[0].amount == "1200"
    assert terms.end_date == dt.date(2026, 12, 31)
    # Not stated, so worked out: the end date minus the notice period.
    assert terms.notice_date == dt.date(2026, 11, 1)
    assert terms.computed == ["notice_date"]
    assert terms.evidence == {"end_date": "expires on 31 December 2026"}


@pytest.mark.parametrize(
    "answer",
    ["I could not find any terms.", "{not json}", '{"parties": "Acme"}', ""],
)
def test_an_answer_that_is_not_contract_json_is_unreadable(answer: str) -> None:
    with pytest.raises(ContractUnreadable):
        parse_terms(answer)


def test_a_silly_notice_period_is_dropped() -> None:
    terms = parse_terms('{"end_date": "2027-01-01", "notice_period_days": -5}')
    assert terms.notice_period_days is None and terms.notice_date is None


def test_the_task_is_due_ninety_days_before_the_earliest_notice_or_renewal_date() -> None:
    terms = parse_terms('{"notice_date": "2027-03-01", "renewal_date": "2027-06-01"}')
    reminder = reminder_for("Lease", terms, TODAY)
    assert reminder.due == dt.date(2026, 12, 1)
    assert "2027-03-01" in reminder.title and reminder.priority == "normal"


def test_a_renewal_date_earlier_than_the_notice_date_wins() -> None:
    terms = parse_terms('{"notice_date": "2027-08-01", "renewal_date": "2027-06-01"}')
    assert reminder_for("Lease", terms, TODAY).due == dt.date(2027, 3, 3)


def test_a_reminder_day_already_past_is_today_with_the_days_left() -> None:
    terms = parse_terms('{"notice_date": "2026-07-01"}')
    reminder = reminder_for("Lease", terms, TODAY)
    assert reminder.due == TODAY and reminder.priority == "high"
    assert "2026-04-02, which has already passed; 30 days remain" in reminder.description


def test_a_notice_date_already_past_is_today_saying_so() -> None:
    terms = parse_terms('{"notice_date": "2026-05-01"}')
    reminder = reminder_for("Lease", terms, TODAY)
    assert reminder.due == TODAY
    assert "notice date (2026-05-01) has already passed" in reminder.description


def test_only_an_end_date_still_gets_a_reminder_and_no_date_asks_for_a_review() -> None:
    ends = reminder_for("Lease", parse_terms('{"end_date": "2027-06-01"}'), TODAY)
    assert ends.due == dt.date(2027, 3, 3) and "End date" in ends.description
    nothing = reminder_for("Lease", parse_terms("{}"), TODAY)
    assert nothing.due == TODAY and nothing.title == "Review contract: Lease"


def test_the_contract_tag_is_matched_whatever_its_case() -> None:
    assert is_contract(["Suppliers", " Contract "])
    assert not is_contract(["contracts"]) and not is_contract(None)


def test_the_notice_period_is_the_one_next_to_the_word_notice() -> None:
    from bizos.ai.extract.contract import extract_contract_json

    text = (
        'Supply Agreement between Initech LLC ("Supplier") and Umbrella Corp ("Buyer"). '
        "The term is 24 months from 1 February 2027 and ends on 31 January 2029. The "
        "agreement renews automatically for one year unless terminated by written notice "
        "of ninety (90) days."
    )
    terms = parse_terms(extract_contract_json(text))
    # "one year" (the renewal term) sits nearer the sentence start; the notice is 90 days.
    assert terms.notice_period_days == 90
    assert terms.renewal_date == dt.date(2029, 2, 1)
    assert terms.notice_date == dt.date(2028, 11, 2)  # 90 days before the end
