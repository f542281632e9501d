"""Follow-up chains, date edges (month ends, leap years, quarter bounds, January,
timezones), typo'd products, plans with sequential, parallel and conditional steps, and
answers composed from outcomes: comparison maths to the cent, partial failure, no
invented numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from bizos.core.tools import Figure, Proposal, Said, SourceRef, ToolResult
from bizos.modules.copilot.answer import compose, unfigured_numbers
from bizos.modules.copilot.dates import find_periods
from bizos.modules.copilot.parsing import Parsed, understand
from bizos.modules.copilot.planning import Outcome, Step, plan
from tests.modules.copilot.demo_vocab import DEMO_VOCAB
from tests.modules.copilot.vocab import TODAY, VOCAB


def chain(*questions: str, today: dt.date = TODAY) -> list[Parsed]:
    out: list[Parsed] = []
    for q in questions:
        out.append(understand(q, VOCAB, today=today, previous=out[-1] if out else None))
    return out


def span(p: Parsed, key: str = "period") -> tuple[str, str]:
    return p.entities[key]["from"], p.entities[key]["to"]


# --- follow-ups -------------------------------------------------------------------------


def test_a_conversation_about_revenue_follows_on() -> None:
    first, before, shopify, by_product, biggest = chain(
        "how much did we sell last month",
        "and the month before?",
        "only Shopify",
        "break that down by product",
        "who was the biggest customer then?",
    )
    assert span(first) == ("2026-11-01", "2026-11-30")
    assert (before.topic, span(before), before.followup) == (
        "revenue",
        ("2026-10-01", "2026-10-31"),
        True,
    )
    assert shopify.entities["channel"] == "shopify" and span(shopify) == span(before)
    assert by_product.topic == "revenue" and by_product.entities["group_by"] == "product"
    assert by_product.entities["channel"] == "shopify"
    assert biggest.topic == "top_customers" and biggest.entities["top_n"] == 1
    assert span(biggest) == ("2026-10-01", "2026-10-31")
    assert "group_by" not in biggest.entities
    step = plan(biggest).steps[0]
    assert step.tool == "commerce.top_customers" and step.args == {
        "from": "2026-10-01", "to": "2026-10-31", "limit": 1,
    }  # fmt: skip


def test_what_about_last_year_keeps_the_topic() -> None:
    _, last_year = chain("how many orders this month", "what about last year?")
    assert last_year.topic == "orders" and span(last_year) == ("2025-01-01", "2025-12-31")


def test_compare_with_last_month_runs_the_tool_twice() -> None:
    _, compared = chain("revenue this month", "compare with last month")
    assert span(compared) == ("2026-12-01", "2026-12-07")
    assert span(compared, "compare") == ("2026-11-01", "2026-11-30")
    p = plan(compared)
    assert [s.tool for s in p.steps] == ["commerce.revenue", "commerce.revenue"]
    assert {s.parallel_group for s in p.steps} == {"compare"}
    assert p.compare == ("current", "previous")
    assert isinstance(p.steps[1].args, dict) and p.steps[1].args["from"] == "2026-11-01"


def test_how_does_that_compare_to_last_year_is_the_same_days_a_year_earlier() -> None:
    _, compared = chain("revenue last month", "how does that compare to last year")
    assert span(compared) == ("2026-11-01", "2026-11-30")
    assert span(compared, "compare") == ("2025-11-01", "2025-11-30")


def test_a_new_question_after_small_talk_is_not_a_follow_up() -> None:
    _, revenue = chain("hi", "revenue last month")
    assert not revenue.followup


def test_a_fresh_topic_keeps_the_period_but_not_the_grouping() -> None:
    _, orders = chain("revenue by product in October", "how many orders")
    assert orders.topic == "orders" and span(orders) == ("2026-10-01", "2026-10-31")
    assert "group_by" not in orders.entities


def test_filters_pile_up_until_the_topic_changes() -> None:
    _, wholesale, euros, last_year, orders, by_channel = chain(
        "what's my revenue",
        "what about wholesale?",
        "and in euros?",
        "same for last year",
        "how about orders?",
        "and by channel?",
    )
    assert (wholesale.entities["channel"], euros.entities["currency"]) == ("api", "EUR")
    assert euros.entities["channel"] == "api"
    assert (
        span(last_year) == ("2025-01-01", "2025-12-31") and last_year.entities["currency"] == "EUR"
    )
    assert orders.topic == "orders" and orders.entities["channel"] == "api"
    assert by_channel.topic == "revenue" and by_channel.entities["group_by"] == "channel"
    assert "channel" not in by_channel.entities


def test_a_leads_conversation() -> None:
    _, sources, before = chain("new leads this week", "where did they come from?", "and last week?")
    assert sources.topic == "lead_sources" and sources.followup
    assert before.topic == "lead_sources" and span(before) == ("2026-11-30", "2026-12-06")
    step = plan(before).steps[0]
    assert (
        step.tool == "crm.leads"
        and isinstance(step.args, dict)
        and step.args["group_by"] == "source"
    )


def test_a_product_conversation() -> None:
    grinder, kettle, monthly = chain(
        "revenue for the grinder this year", "and the kettle?", "break it down by month"
    )
    assert kettle.entities["products"] == [{"id": "p-kettle", "name": "Gooseneck Kettle 1 L"}]
    assert span(kettle) == span(grinder)
    assert (
        monthly.entities["interval"] == "month"
        and monthly.entities["products"] == kettle.entities["products"]
    )


def test_tickets_narrowed_then_moved_in_time() -> None:
    _, urgent, last_month = chain("open tickets", "only urgent ones", "what about last month?")
    assert urgent.entities["priority"] == "urgent"
    assert last_month.entities["priority"] == "urgent" and span(last_month) == (
        "2026-11-01",
        "2026-11-30",
    )


def test_a_knowledge_follow_up_keeps_asking_the_documents() -> None:
    _, policy, warranty = chain(
        "revenue last month", "what's our refund policy", "and the warranty?"
    )
    assert (policy.intent, policy.topic, policy.followup) == ("search", "kb", False)
    assert warranty.topic == "kb" and warranty.entities["query"] == "warranty"


def test_a_companys_spend_is_answered_by_the_company_not_all_sales() -> None:
    _, acme = chain("top 5 customers last quarter", "how much did Acme spend then?")
    assert plan(acme).tools() == ["crm.company_lookup"]


def test_an_overview_follows_on_in_time() -> None:
    _, last = chain("how are we doing this month", "and last month?")
    assert last.topic == "overview" and span(last) == ("2026-11-01", "2026-11-30")
    assert len(plan(last).steps) == 4


# --- dates ------------------------------------------------------------------------------


def periods(text: str, today: dt.date) -> list[tuple[str, str]]:
    return [
        (f.period.start.isoformat(), f.period.end.isoformat()) for f in find_periods(text, today)
    ]


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("last month", dt.date(2027, 1, 15), ("2026-12-01", "2026-12-31")),
        ("last month", dt.date(2026, 3, 31), ("2026-02-01", "2026-02-28")),
        ("last month", dt.date(2028, 3, 1), ("2028-02-01", "2028-02-29")),
        ("this month", dt.date(2028, 2, 29), ("2028-02-01", "2028-02-29")),
        ("last quarter", dt.date(2027, 1, 1), ("2026-10-01", "2026-12-31")),
        ("this quarter", dt.date(2026, 4, 1), ("2026-04-01", "2026-04-01")),
        ("this quarter", dt.date(2026, 3, 31), ("2026-01-01", "2026-03-31")),
        ("q4", dt.date(2026, 2, 10), ("2025-10-01", "2025-12-31")),
        ("q1", dt.date(2026, 2, 10), ("2026-01-01", "2026-02-10")),
        ("last year", dt.date(2027, 1, 1), ("2026-01-01", "2026-12-31")),
        ("year to date", dt.date(2027, 1, 1), ("2027-01-01", "2027-01-01")),
        ("yesterday", dt.date(2027, 1, 1), ("2026-12-31", "2026-12-31")),
        ("last 7 days", dt.date(2026, 3, 3), ("2026-02-25", "2026-03-03")),
        ("last week", dt.date(2026, 12, 6), ("2026-11-23", "2026-11-29")),
        ("in december", dt.date(2026, 11, 5), ("2025-12-01", "2025-12-31")),
        ("in february", dt.date(2029, 3, 2), ("2029-02-01", "2029-02-28")),
        ("the month before last", dt.date(2026, 1, 20), ("2025-11-01", "2025-11-30")),
        ("since black friday", dt.date(2026, 11, 2), ("2025-11-28", "2026-11-02")),
        ("between 25 and 31 december", dt.date(2027, 1, 5), ("2026-12-25", "2026-12-31")),
        ("from 2024-02-28 to 2024-03-01", TODAY, ("2024-02-28", "2024-03-01")),
        ("the first half of 2025", TODAY, ("2025-01-01", "2025-06-30")),
        ("since the start of the year", TODAY, ("2026-01-01", "2026-12-07")),
        ("last fiscal year", TODAY, ("2025-01-01", "2025-12-31")),
        ("in the last 24 hours", TODAY, ("2026-12-06", "2026-12-07")),
        ("this time last year", TODAY, ("2025-12-01", "2025-12-07")),
        ("from march to may", TODAY, ("2026-03-01", "2026-05-31")),
        ("between november and february", dt.date(2026, 3, 10), ("2025-11-01", "2026-02-28")),
        ("q3 last year", TODAY, ("2025-07-01", "2025-09-30")),
        ("oct 1-15", TODAY, ("2026-10-01", "2026-10-15")),
        ("the 1st to the 15th of october", TODAY, ("2026-10-01", "2026-10-15")),
        ("next quarter", TODAY, ("2027-01-01", "2027-03-31")),
    ],
)
def test_date_edges(text: str, today: dt.date, expected: tuple[str, str]) -> None:
    assert periods(text, today) == [expected]


def test_same_days_last_year_from_a_leap_day() -> None:
    parsed = understand(
        "revenue on 29 february 2028 vs last year", VOCAB, today=dt.date(2028, 3, 5)
    )
    assert span(parsed) == ("2028-02-29", "2028-02-29")
    assert span(parsed, "compare") == ("2027-02-28", "2027-02-28")


def test_today_is_the_tenants_day() -> None:
    # 03:00 UTC on 1 December is still 30 November in New York
    late = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    parsed = understand("revenue today", VOCAB, today=late)
    assert span(parsed) == ("2026-11-30", "2026-11-30")
    this_month = understand("revenue this month", VOCAB, today=late)
    assert span(this_month) == ("2026-11-01", "2026-11-30")


def test_may_the_verb_is_not_a_month() -> None:
    parsed = understand("may I see sales last week", VOCAB, today=TODAY)
    assert span(parsed) == ("2026-11-30", "2026-12-06")


# --- names forgiving typos ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "ids"),
    [
        ("revenue for yirgachefe", {"p-eth-250", "p-eth-1k"}),
        ("how is the Conical Bur Grinder selling", {"p-grinder"}),
        ("sales of the goosneck kettle", {"p-kettle"}),
        ("revenue of nw-eq-dripper", {"p-dripper"}),
        ("revenue for the ceramic pourover dripper", {"p-dripper"}),
        ("house expresso blend sales", {"p-esp-250"}),
    ],
)
def test_products_with_typos(question: str, ids: set[str]) -> None:
    parsed = understand(question, VOCAB, today=TODAY)
    assert {p["id"] for p in parsed.entities["products"]} == ids


def test_two_variants_of_a_product_are_asked_about_in_parallel() -> None:
    p = plan(understand("revenue for yirgacheffe", VOCAB, today=TODAY))
    assert [s.args["product_id"] for s in p.steps if isinstance(s.args, dict)] == [
        "p-eth-250",
        "p-eth-1k",
    ]
    assert {s.parallel_group for s in p.steps} == {"products"}


def test_names_with_typos() -> None:
    assert (
        understand("tell me about Marko Rossi", VOCAB, today=TODAY).entities["contacts"][0]["id"]
        == "c-marco"
    )
    assert (
        understand("tell me about the daily grnd", VOCAB, today=TODAY).entities["companies"][0][
            "id"
        ]
        == "co-daily"
    )


# --- plans ------------------------------------------------------------------------------


def result(value: Any, records: list[str]) -> ToolResult:
    return ToolResult(value=value, query="q", records=records, records_total=len(records))


def test_an_overview_runs_in_parallel() -> None:
    p = plan(understand("how are we doing this month", VOCAB, today=TODAY))
    assert p.tools() == [
        "commerce.revenue",
        "commerce.orders",
        "support.ticket_counts",
        "billing.overdue_invoices",
    ]
    assert {s.parallel_group for s in p.steps} == {"overview"}


def test_the_top_customers_spend_is_found_in_sequence() -> None:
    p = plan(understand("how much did my top customer spend last month", VOCAB, today=TODAY))
    top, spend = p.steps
    assert top.tool == "commerce.top_customers" and spend.after == ("top",)
    outcome = Outcome(
        top,
        result={"customers": [{"contact_id": "c-dana", "revenue": "1"}]}
        and result({"customers": [{"contact_id": "c-dana"}]}, ["o1"]),
    )
    args = spend.resolve({"top": outcome})
    assert args == {
        "from": "2026-11-01", "to": "2026-11-30", "group_by": "period", "contact_id": "c-dana",
    }  # fmt: skip
    with pytest.raises(LookupError):
        spend.resolve({"top": Outcome(top, result=result({"customers": []}, []))})


def test_reordering_is_conditional_on_low_stock() -> None:
    p = plan(understand("if anything is low on stock, what should I reorder", VOCAB, today=TODAY))
    low, selling = p.steps
    assert selling.when is not None
    assert selling.when({"low": Outcome(low, result=result({"rows": [{"sku": "x"}]}, ["p1"]))})
    assert not selling.when({"low": Outcome(low, result=result({"rows": []}, []))})


def test_overdue_invoices_are_listed_only_if_any() -> None:
    p = plan(understand("are any invoices overdue? if so list them", VOCAB, today=TODAY))
    assert p.tools() == ["billing.receivables", "billing.overdue_invoices"]
    assert p.steps[1].when is not None


def test_moving_a_deal_looks_it_up_first() -> None:
    p = plan(understand("move the Acme deal to negotiation", VOCAB, today=TODAY))
    find, move = p.steps
    assert find.args == {"query": "Acme"}
    assert move.resolve({"deal": Outcome(find, result=result({}, ["d-7"]))}) == {
        "deal_id": "d-7", "stage": "negotiation",
    }  # fmt: skip


def test_an_unknown_contact_is_said_not_guessed() -> None:
    parsed = understand("draft an email to Zed Quux about pricing", VOCAB, today=TODAY)
    assert parsed.intent == "action" and plan(parsed).steps == []
    text = compose(parsed, []).text
    assert "Zed Quux" in text and unfigured_numbers(text, [], []) == []


# --- composing ----------------------------------------------------------------------------

NOV = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
DEC = (dt.date(2026, 12, 1), dt.date(2026, 12, 7))


def said(step: Step, value: str, period: tuple[dt.date, dt.date]) -> Outcome:
    figure = Figure("revenue", Decimal(value), "USD", None, period)
    text = f"Revenue was ${Decimal(value):,.2f} from {period[0]} to {period[1]}."
    return Outcome(step, said=Said(text, [figure]), result=result({}, ["o1"]))


def compared(now: str, then: str) -> tuple[Parsed, list[Outcome]]:
    parsed = understand("revenue this month vs last month", VOCAB, today=TODAY)
    current, previous = plan(parsed).steps
    return parsed, [said(current, now, DEC), said(previous, then, NOV)]


def test_a_comparison_states_the_difference_and_percentage() -> None:
    parsed, outcomes = compared("24580.00", "21873.45")
    answer = compose(parsed, outcomes)
    values = [(f.label, f.value, f.unit) for f, _ in answer.figures]
    assert ("increase in revenue", Decimal("2706.55"), None) in values
    assert ("percentage change in revenue", Decimal("12.4"), "%") in values
    assert "up $2,706.55 (+12.4%)" in answer.text
    labels = [parsed.entities["period"]["label"]]
    assert unfigured_numbers(answer.text, [f for f, _ in answer.figures], labels) == []


def test_a_comparison_of_named_quarters_writes_no_stray_number() -> None:
    parsed = understand("revenue Q3 vs Q2", VOCAB, today=TODAY)
    assert span(parsed, "compare") == ("2026-04-01", "2026-06-30")
    current, previous = plan(parsed).steps
    q3 = (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    q2 = (dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    answer = compose(parsed, [said(current, "1000.00", q3), said(previous, "800.00", q2)])
    assert answer.text.endswith("Q3 2026 was up $200.00 (+25.0%) on Q2 2026.")
    assert answer.unfigured() == []
    assert unfigured_numbers(answer.text, [f for f, _ in answer.figures]) == []


def test_a_bare_year_is_allowed_only_as_the_period_asked_about() -> None:
    parsed = understand("revenue in 2025 vs 2024", VOCAB, today=TODAY)
    current, previous = plan(parsed).steps
    y25 = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    y24 = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    answer = compose(parsed, [said(current, "5000.00", y25), said(previous, "4000.00", y24)])
    assert answer.text.endswith("2025 was up $1,000.00 (+25.0%) on 2024.")
    assert answer.unfigured() == []
    assert unfigured_numbers(answer.text, [f for f, _ in answer.figures]) == [
        Decimal("2025"),
        Decimal("2024"),
    ]


def test_a_fall_is_said_as_down() -> None:
    parsed, outcomes = compared("900.10", "1000.00")
    answer = compose(parsed, outcomes)
    assert "down $99.90 (-10.0%)" in answer.text
    figures = {f.label: f.value for f, _ in answer.figures}
    assert figures["decrease in revenue"] == Decimal("99.90")
    assert figures["percentage change in revenue"] == Decimal("-10.0")
    assert answer.unfigured() == []


def test_counts_compare_exactly() -> None:
    parsed = understand("orders this month vs last month", VOCAB, today=TODAY)
    current, previous = plan(parsed).steps

    def counted(step: Step, n: int) -> Outcome:
        figure = Figure("orders", n, unit="orders")
        return Outcome(step, said=Said(f"{n} orders were placed.", [figure]))

    answer = compose(parsed, [counted(current, 42), counted(previous, 56)])
    assert "down 14 orders (-25.0%) on last month." in answer.text
    assert answer.unfigured() == []


def test_no_percentage_against_nothing() -> None:
    parsed, outcomes = compared("150.00", "0.00")
    answer = compose(parsed, outcomes)
    assert "up $150.00" in answer.text and "%" not in answer.text
    assert [f.unit for f, _ in answer.figures].count("%") == 0


def test_a_partial_failure_is_reported_not_hidden() -> None:
    parsed = understand("how are we doing", VOCAB, today=TODAY)
    steps = plan(parsed).steps
    ok = said(steps[0], "100.00", DEC)
    failed = Outcome(steps[2], error="timed out")
    answer = compose(parsed, [ok, failed])
    assert "I couldn't get open tickets: timed out." in answer.text
    assert "$100.00" in answer.text


def test_out_of_scope_and_no_data_invent_nothing() -> None:
    weather = understand("what's the weather in Paris?", VOCAB, today=TODAY)
    answer = compose(weather, [])
    assert answer.figures == [] and "outside" in answer.text
    assert unfigured_numbers(answer.text, [], []) == []
    revenue = understand("revenue", VOCAB, today=TODAY)
    assert compose(revenue, []).text == "I have no data to answer that."


def test_small_talk() -> None:
    assert compose(understand("hi", VOCAB, today=TODAY), []).text.startswith("Hello")
    help_text = compose(understand("what can you do", VOCAB, today=TODAY), []).text
    assert "revenue" in help_text and unfigured_numbers(help_text, [], []) == []


def test_a_proposal_asks_for_confirmation_and_sources_are_kept() -> None:
    parsed = understand("create a task to call Dana tomorrow", VOCAB, today=TODAY)
    step = plan(parsed).steps[0]
    outcome = Outcome(step, proposal=Proposal("Create task 'Call Dana' due 2026-12-08", None, {}))
    assert compose(parsed, [outcome]).text.endswith("Confirm to go ahead.")
    kb = understand("what's our refund policy", VOCAB, today=TODAY)
    source = SourceRef("document", "d1", "Refund policy", "within 45 days")
    text = "Refunds are accepted within 45 days."
    kb_out = Outcome(
        plan(kb).steps[0], said=Said(text, [Figure("refund window", 45, unit="days")], [source])
    )
    answer = compose(kb, [kb_out])
    assert answer.sources == [source] and answer.text == text


def test_the_checker_catches_an_invented_number() -> None:
    figures = [Figure("revenue", Decimal("24580.00"), "USD")]
    assert unfigured_numbers("Revenue was $24,580.00 on 2026-12-01.", figures, []) == []
    assert unfigured_numbers("Revenue was $24,580.00 from 12 orders.", figures, []) == [Decimal(12)]
    assert (
        unfigured_numbers(
            "Ethiopia Yirgacheffe 250 g sold best.", [], ["Ethiopia Yirgacheffe 250 g"]
        )
        == []
    )
    assert (
        unfigured_numbers("Up 12.4% on last month.", [Figure("p", Decimal("12.4"), unit="%")], [])
        == []
    )
    assert unfigured_numbers(
        "Up 12.5% on last month.", [Figure("p", Decimal("12.4"), unit="%")], []
    ) == [Decimal("12.5")]
    five = [Figure("r", Decimal("5.00"), "USD")]
    assert unfigured_numbers("Down -$5.00.", five, []) == [Decimal("-5.00")]
    assert unfigured_numbers("From 1 Nov \u2013 30 Nov 2026.", [], []) == []


# --- names in a demo-sized vocabulary -------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "topic", "names"),
    [
        ("how are the cold brew kits selling", "revenue", {"Cold Brew Kit"}),
        ("how many french presses did we sell", "revenue", {"French Press 8 Cup"}),
        (
            "decaf revenue last month",
            "revenue",
            {"Decaf Colombia (Swiss Water) 250 g", "Decaf Colombia (Swiss Water) 1 kg"},
        ),
        ("espresso sales this month", "revenue", set()),  # three espressos: none is meant
        ("morning sales", "revenue", set()),  # not Morning Ritual, not a greeting
        ("tell me about Common Ground", "lookup", {"Common Ground Coffee"}),
        ("how is Little Owl doing", "lookup", {"Little Owl Coffee"}),
        ("what's up with daily grind", "lookup", {"The Daily Grind"}),
        ("daily revenue this week", "revenue", set()),
        ("revenue for the second quarter", "revenue", set()),
    ],
)
def test_names_in_the_demos_vocabulary(question: str, topic: str, names: set[str]) -> None:
    parsed = understand(question, DEMO_VOCAB, today=TODAY)
    found = {
        e["name"] for k in ("products", "contacts", "companies") for e in parsed.entities.get(k, [])
    }
    assert (parsed.topic, found) == (topic, names)


def test_a_name_the_vocabulary_lacks_is_searched_for() -> None:
    parsed = understand("what's new with Zephyr Roasting?", DEMO_VOCAB, today=TODAY)
    assert (parsed.intent, parsed.topic) == ("search", "lookup")
    assert plan(parsed).tools() == ["crm.company_lookup", "crm.contact_lookup"]
    assert {s.args["query"] for s in plan(parsed).steps if isinstance(s.args, dict)} == {
        "zephyr roasting"
    }


def test_an_average_order_value_compares_the_averages() -> None:
    parsed = understand("AOV this month vs last month", VOCAB, today=TODAY)
    current, previous = plan(parsed).steps

    def orders(step: Step, n: int, total: str, average: str) -> Outcome:
        figures = [
            Figure("Orders", n, unit="orders"),
            Figure("Order value (USD)", Decimal(total), "USD"),
            Figure("Average order value (USD)", Decimal(average), "USD"),
        ]
        text = f"{n} orders worth ${Decimal(total):,.2f}, averaging ${Decimal(average):,.2f}."
        return Outcome(step, said=Said(text, figures))

    answer = compose(
        parsed, [orders(current, 10, "500.00", "50.00"), orders(previous, 8, "480.00", "60.00")]
    )
    assert "down $10.00 (-16.7%) on last month." in answer.text
    assert answer.unfigured() == []


def test_rankings_of_two_periods_are_shown_not_subtracted() -> None:
    parsed = understand("top customers this month vs last month", VOCAB, today=TODAY)
    p = plan(parsed)
    assert p.compare is None and [s.id for s in p.steps] == ["first", "second"]
    first, second = p.steps
    outcomes = [said(first, "900.00", DEC), said(second, "700.00", NOV)]
    answer = compose(parsed, outcomes)
    assert "up" not in answer.text and len(answer.figures) == 2


def test_a_year_so_far_compares_with_the_same_days_last_year() -> None:
    _, _, compared = chain(
        "how much did the grinder make this year", "what about the kettle", "compare with last year"
    )
    assert compared.entities["products"] == [{"id": "p-kettle", "name": "Gooseneck Kettle 1 L"}]
    assert span(compared) == ("2026-01-01", "2026-12-07")
    assert span(compared, "compare") == ("2025-01-01", "2025-12-07")


def test_a_ranking_follows_on() -> None:
    _, by_units, now = chain("top 5 products last month", "by units", "and this month?")
    assert by_units.topic == "top_products" and by_units.entities["by"] == "quantity"
    assert now.entities["top_n"] == 5 and span(now) == ("2026-12-01", "2026-12-07")
    step = plan(now).steps[0]
    assert isinstance(step.args, dict) and (step.args["limit"], step.args["by"]) == (5, "quantity")


def test_people_follow_on() -> None:
    _, dana, marco = chain("revenue last month", "what about Dana?", "and Marco?")
    assert plan(dana).steps[0].args == {
        "from": "2026-11-01", "to": "2026-11-30", "group_by": "period", "contact_id": "c-dana",
    }  # fmt: skip
    assert marco.entities["contacts"] == [{"id": "c-marco", "name": "Marco Rossi"}]


def test_a_comparison_composed_from_the_revenue_tools_own_words() -> None:
    """With commerce.revenue's real ``speak``: the two periods' words, the change and the
    percentage, and not one number that is no figure."""
    from bizos.modules.commerce.metrics.schemas import RevenueParams, RevenueRow, RevenueValue
    from bizos.modules.commerce.tools import speak_revenue

    parsed = understand("revenue this month vs last month", VOCAB, today=TODAY)
    outcomes = []
    for step, total, orders in zip(
        plan(parsed).steps, ("1234.50", "1000.00"), (12, 10), strict=True
    ):
        assert isinstance(step.args, dict)
        params = RevenueParams.model_validate(step.args)
        row = RevenueRow(
            key=step.args["from"], currency="USD", revenue=Decimal(total), orders=orders
        )
        value = RevenueValue(
            group_by="period", interval="month", rows=[row], totals={"USD": Decimal(total)}
        )
        result = ToolResult(value=value, query="q", records=["o1"])
        outcomes.append(
            Outcome(step, params=params, result=result, said=speak_revenue(params, result))
        )
    answer = compose(parsed, outcomes)
    assert "$1,234.50" in answer.text and "$1,000.00" in answer.text
    assert "up $234.50 (+23.5%) on last month." in answer.text
    assert answer.unfigured() == []


def test_a_stored_turn_continues_the_conversation() -> None:
    """The service stores ``Parsed.to_dict()`` as JSON and rebuilds ``previous`` from it."""
    import json

    first = understand("revenue last month by product", VOCAB, today=TODAY)
    stored = json.loads(json.dumps(first.to_dict()))
    again = understand("and the month before?", VOCAB, today=TODAY, previous=Parsed(**stored))
    assert again.topic == "revenue" and again.entities["group_by"] == "product"
    assert span(again) == ("2026-10-01", "2026-10-31")
