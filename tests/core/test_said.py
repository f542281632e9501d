"""A result in words keeps one rule: every number it writes is one of its figures, or part
of a date, a period or a name. These are the pieces every tool's ``speak`` and the
copilot's answer check themselves with."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bizos.core.money import spoken
from bizos.core.tools import (
    Figure,
    Said,
    SourceRef,
    between_text,
    counted,
    numbers_in,
    period_text,
    unfigured_numbers,
)

D = Decimal


def test_periods_read_as_an_owner_writes_them() -> None:
    nov = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert period_text(*nov) == "1 Nov \u2013 30 Nov 2026"
    assert period_text(dt.date(2025, 12, 15), dt.date(2026, 1, 14)) == (
        "15 Dec 2025 \u2013 14 Jan 2026"
    )
    assert period_text(dt.date(2026, 3, 3), dt.date(2026, 3, 3)) == "3 Mar 2026"
    assert between_text(*nov) == "between 1 Nov and 30 Nov 2026"
    assert between_text(dt.date(2026, 3, 3), dt.date(2026, 3, 3)) == "on 3 Mar 2026"
    assert (counted(1, "order"), counted(1200, "order")) == ("1 order", "1,200 orders")


def test_numbers_are_read_with_their_sign_and_without_separators() -> None:
    assert numbers_in("-$1,200.50 from 3 orders.") == [D("-1200.50"), D("3")]
    assert numbers_in("€3.10 (-€3.10), 12.5% and 1,200.00 SEK") == [
        D("3.10"),
        D("-3.10"),
        D("12.5"),
        D("1200.00"),
    ]
    # A hyphen inside a name or a range is no minus sign.
    assert numbers_in("SO-12 is 1-30 days late") == [D("12"), D("1"), D("30")]


def test_dates_and_periods_are_not_numbers() -> None:
    text = (
        "Revenue for 1 Nov \u2013 30 Nov 2026 was $24,580.00; on 2026-11-05, in Nov 2026, "
        "Nov 5, 2026 and Q4 2026 too."
    )
    assert numbers_in(text) == [D("24580.00")]
    assert numbers_in("1 January 2026, 2 Sept. 2026") == []
    # A count before a word that merely starts like a month is still a number.
    assert numbers_in("3 Marketing budgets, 2 Decoys") == [D("3"), D("2")]


def test_a_text_keeps_the_rule_when_every_number_is_a_figure() -> None:
    period = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    said = Said(
        f"Revenue for {period_text(*period)} was {spoken(D('24580'), 'USD')} from 212 orders.",
        [
            Figure("Revenue", D("24580.00"), "USD", period=period),
            Figure("Orders", 212, unit="orders", period=period),
        ],
    )
    assert unfigured_numbers(said) == []


def test_a_number_no_figure_holds_is_reported() -> None:
    said = Said(
        "Revenue was $24,580.00 from 213 orders, up 12.5%.",
        [Figure("Revenue", D("24580.00"), "USD"), Figure("Orders", 212, unit="orders")],
    )
    assert unfigured_numbers(said) == [D("213"), D("12.5")]
    # A figure must be exact: a rounded amount is not the figure.
    rounded = Said("Revenue was about $24,600.", [Figure("Revenue", D("24580.00"), "USD")])
    assert unfigured_numbers(rounded) == [D("24600")]


def test_numbers_inside_labels_and_source_titles_are_names() -> None:
    said = Said(
        "INV-000123 (Lamp 2000 Ltd) owes €10.00, 31-60 days overdue.",
        [Figure("Outstanding 31-60 days overdue", D("10.00"), "EUR")],
        [SourceRef("invoice", "i-1", "INV-000123 (Lamp 2000 Ltd)")],
    )
    assert unfigured_numbers(said) == []
    assert unfigured_numbers(Said("INV-000124 owes €10.00.", said.figures)) == [D("124")]


def test_a_negative_figure_is_written_with_its_sign() -> None:
    loss = [Figure("Gross profit", D("-20.00"), "EUR")]
    assert unfigured_numbers(Said(f"Gross profit was {spoken(D('-20'), 'EUR')}.", loss)) == []
    assert unfigured_numbers(Said("Gross profit was €20.00.", loss)) == [D("20.00")]
