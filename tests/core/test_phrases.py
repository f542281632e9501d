"""The pieces of spoken answers, and the checker the tools' tests hold them to: every
number a sentence writes is a figure, a date, or part of a record's name."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bizos.core.phrases import between_text, counted, listed, noun, period_of, quoted
from bizos.core.tools import Figure, Said, SourceRef
from tests.modules.said import numbers_in, unbacked_numbers


def test_counts_agree_with_their_noun_and_lists_never_number_their_items() -> None:
    assert counted(1, "deal") == "1 deal" and counted(0, "deal") == "0 deals"
    assert counted(12_500, "company", "companies") == "12,500 companies"
    assert noun(2, "is", "are") == "are"
    assert listed(["Lead 3", "", "Proposal 6"]) == "Lead 3; Proposal 6"
    assert quoted("a  long\ntext", limit=8) == "a long…"


def test_a_range_of_days_reads_as_one_day_or_from_to() -> None:
    one, other = dt.date(2026, 12, 7), dt.date(2026, 12, 9)
    assert between_text(one, one) == "on 7 Dec 2026"
    assert between_text(one, other) == "between 7 Dec and 9 Dec 2026"
    assert period_of({"from": "2026-12-07", "to": "2026-12-09"}) == (one, other)
    assert period_of({"from": "2026-12-07"}) is None


def test_numbers_are_read_as_written_and_dates_are_not_numbers() -> None:
    assert numbers_in("You have 14 open deals worth $182,400.50 since 2026-11-01.") == [
        ("14", Decimal(14)),
        ("$182,400.50", Decimal("182400.50")),
    ]
    assert numbers_in("Forecast for 2026-12: €12.50.") == [("€12.50", Decimal("12.50"))]


def test_a_number_is_backed_by_a_figure_or_a_name_it_is_part_of() -> None:
    said = Said(
        "T-000042 (Order 1042) has 3 messages and costs $1,200.00, not 7.",
        [Figure("messages", 3, unit="messages"), Figure("cost", Decimal("1200.00"), "USD")],
        [SourceRef("ticket", "t1", "T-000042 Order 1042")],
    )
    assert unbacked_numbers(said) == ["7"]
