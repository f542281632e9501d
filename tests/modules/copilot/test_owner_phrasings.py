"""How other owners say the same things: revenue in everyday words ("what did we turn
over", "takings", "top line"), questions about the business's terms and rules (which the
documents answer, not the metrics), a named contract, "search the knowledge base for
…", comparisons of two named periods and of this year with the last, and proposed
actions whose numbers are figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from bizos.core.tools import Figure, Proposal, Said
from bizos.modules.copilot.answer import compose
from bizos.modules.copilot.parsing import Parsed, kb_query, understand
from bizos.modules.copilot.planning import Outcome, Step, plan
from bizos.modules.copilot.runner import figure_read, result_event
from tests.modules.copilot.demo_vocab import DEMO_VOCAB
from tests.modules.copilot.vocab import TODAY, VOCAB


def asked(question: str, previous: Parsed | None = None) -> Parsed:
    return understand(question, VOCAB, today=TODAY, previous=previous)


def span(parsed: Parsed, key: str = "period") -> tuple[str, str]:
    return parsed.entities[key]["from"], parsed.entities[key]["to"]


# --- revenue in everyday words ----------------------------------------------------------

REVENUE = [
    ("What did we turn over in October?", ("2026-10-01", "2026-10-31")),
    ("how much did we turn over last month", ("2026-11-01", "2026-11-30")),
    ("what was turnover like in october", ("2026-10-01", "2026-10-31")),
    ("turnover for Q3", ("2026-07-01", "2026-09-30")),
    ("what were our takings in November", ("2026-11-01", "2026-11-30")),
    ("takings yesterday", ("2026-12-06", "2026-12-06")),
    ("gross sales this year", ("2026-01-01", "2026-12-07")),
    ("how much did we gross last month", ("2026-11-01", "2026-11-30")),
    ("top line last quarter", ("2026-07-01", "2026-09-30")),
    ("what's our top-line this year", ("2026-01-01", "2026-12-07")),
    ("What did we bring in in October?", ("2026-10-01", "2026-10-31")),
    ("what did we take last week", ("2026-11-30", "2026-12-06")),
    ("how much business did we do in October", ("2026-10-01", "2026-10-31")),
    ("what did the shop make yesterday", ("2026-12-06", "2026-12-06")),
]


@pytest.mark.parametrize(("question", "days"), REVENUE)
def test_turnover_takings_and_top_line_are_revenue(question: str, days: tuple[str, str]) -> None:
    parsed = asked(question)
    assert (parsed.intent, parsed.topic) == ("metrics", "revenue")
    step = plan(parsed).steps[0]
    assert step.tool == "commerce.revenue"
    assert isinstance(step.args, dict) and (step.args["from"], step.args["to"]) == days


def test_top_product_lines_are_still_products() -> None:
    assert asked("top 3 product lines").topic == "top_products"


# --- the business's terms and rules are the documents' ----------------------------------

RULES = [
    "what's the minimum wholesale order",
    "What is the minimum order for wholesale?",
    "what's the minimum order quantity",
    "Is there a minimum order?",
    "what's our MOQ for cafés",
    "what's our returns policy",
    "what's the return policy for opened bags",
    "What's our refund policy?",
    "what are the rules for refunds",
    "what are our payment terms",
    "What are the wholesale payment terms?",
    "what's the lead time on wholesale orders",
    "do we offer free shipping",
    "Do we ship internationally?",
    "do we do wholesale discounts",
    "do we have a loyalty program",
    "how do I cancel an order",
    "How do I pause my subscription?",
    "can customers cancel orders",
    "Can customers return opened coffee?",
    "can wholesale customers pay by invoice",
    "How much does shipping cost?",
    "what happens if a delivery is late",
    "is there a restocking fee on returns",
]


@pytest.mark.parametrize("question", RULES)
def test_terms_policies_and_rules_are_knowledge_questions(question: str) -> None:
    for vocab in (VOCAB, DEMO_VOCAB):
        parsed = understand(question, vocab, today=TODAY)
        assert (parsed.intent, parsed.topic) == ("search", "kb"), vocab
        assert plan(parsed).tools() == ["kb.answer"]


STILL_METRICS = [
    ("how many wholesale orders this month", "orders"),
    ("what's the average wholesale order", "aov"),
    ("how many orders did we get over the minimum", "orders"),
    ("how much did shipping cost us last month", "expenses"),
    ("do we have any overdue invoices", "overdue_invoices"),
    ("do we have any unpaid invoices", "receivables"),
    ("Can I see revenue by product?", "revenue"),
    ("can you show me sales last month", "revenue"),
    ("how many refunds did we process last month", "refunds"),
    ("How do I follow up with Marco Rossi?", "next_actions"),
    ("How many open tickets are there?", "tickets"),
    ("How fast do we respond to customers?", "first_response"),
]


@pytest.mark.parametrize(("question", "topic"), STILL_METRICS)
def test_metric_questions_near_those_words_stay_metrics(question: str, topic: str) -> None:
    parsed = asked(question)
    assert (parsed.intent, parsed.topic) == ("metrics", topic)


# --- contracts ---------------------------------------------------------------------------

ONE_CONTRACT = [
    "When does the Finca La Esperanza agreement renew?",
    "when does the supply agreement with Finca La Esperanza end",
    "what's the notice period on the Finca La Esperanza contract",
    "when does our lease expire",
    "is the roastery lease up for renewal",
    "how much notice do we need to give on the lease",
    "what are the terms of the supply agreement",
    "when is the Finca contract up",
]


@pytest.mark.parametrize("question", ONE_CONTRACT)
def test_one_named_contract_is_read_in_its_document(question: str) -> None:
    parsed = asked(question)
    assert (parsed.intent, parsed.topic) == ("search", "kb")
    step = plan(parsed).steps[0]
    assert step.tool == "kb.answer" and step.args == {"question": question, "limit": 5}


@pytest.mark.parametrize(
    "question",
    [
        "Which contracts are up for renewal?",
        "any agreements expiring soon?",
        "which leases end this year",
        "contracts due next month",
        "renewals this quarter",
    ],
)
def test_contracts_in_general_are_listed_by_their_dates(question: str) -> None:
    parsed = asked(question)
    assert parsed.topic == "contracts_due"
    assert plan(parsed).tools() == ["kb.contracts_due"]


# --- "search the knowledge base for …" ----------------------------------------------------


@pytest.mark.parametrize(
    ("question", "query"),
    [
        ("search the knowledge base for shipping times", "Shipping times"),
        ("Search the docs for our refund policy", "Our refund policy"),
        ("look up the warranty in the handbook", "The warranty"),
        ("What does the knowledge base say about returns?", "Returns?"),
        ("can you search our policies for international shipping?", "International shipping?"),
        ("check the wiki for opening hours", "Opening hours"),
        ("according to our docs, do we ship internationally?", "Do we ship internationally?"),
        ("search kb: shipping", "Shipping"),
        (
            "How long is the warranty on the grinder according to the handbook?",
            "How long is the warranty on the grinder?",
        ),
        ("What is our refund policy?", "What is our refund policy?"),
        ("look up the knowledge base", "look up the knowledge base"),
    ],
)
def test_the_words_that_say_where_to_look_are_not_the_question(question: str, query: str) -> None:
    assert kb_query(question) == query


def test_a_search_command_plans_the_question_it_carries() -> None:
    parsed = asked("search the knowledge base for shipping times")
    assert (parsed.intent, parsed.topic) == ("search", "kb")
    assert plan(parsed).steps[0].args == {"question": "Shipping times", "limit": 5}


# --- comparisons ---------------------------------------------------------------------------

LATER_FIRST = [
    (
        "Compare sales in October and November",
        ("2026-11-01", "2026-11-30"),
        ("2026-10-01", "2026-10-31"),
    ),
    (
        "compare October with November revenue",
        ("2026-11-01", "2026-11-30"),
        ("2026-10-01", "2026-10-31"),
    ),
    (
        "how did november compare to october",
        ("2026-11-01", "2026-11-30"),
        ("2026-10-01", "2026-10-31"),
    ),
    ("How did Q3 compare with Q2?", ("2026-07-01", "2026-09-30"), ("2026-04-01", "2026-06-30")),
    (
        "last month vs this month revenue",
        ("2026-12-01", "2026-12-07"),
        ("2026-11-01", "2026-11-30"),
    ),
    (
        "Revenue this month vs last month",
        ("2026-12-01", "2026-12-07"),
        ("2026-11-01", "2026-11-30"),
    ),
    ("orders in Q2 versus Q3", ("2026-07-01", "2026-09-30"), ("2026-04-01", "2026-06-30")),
]


@pytest.mark.parametrize(("question", "later", "earlier"), LATER_FIRST)
def test_two_named_periods_compare_the_later_with_the_earlier(
    question: str, later: tuple[str, str], earlier: tuple[str, str]
) -> None:
    parsed = asked(question)
    assert (span(parsed), span(parsed, "compare")) == (later, earlier)
    current, previous = plan(parsed).steps
    assert (current.id, previous.id) == ("current", "previous")


@pytest.mark.parametrize(
    "question",
    [
        "Is revenue up on last year?",
        "are sales up on last year?",
        "how do sales compare with last year",
        "revenue vs last year",
        "revenue year over year",
        "orders vs last year",
    ],
)
def test_up_on_last_year_is_the_year_so_far_against_the_same_days(question: str) -> None:
    parsed = asked(question)
    assert span(parsed) == ("2026-01-01", "2026-12-07")
    assert span(parsed, "compare") == ("2025-01-01", "2025-12-07")
    assert parsed.entities["compare"]["label"] == "the same days last year"


@pytest.mark.parametrize(
    ("first", "label", "days"),
    [
        ("Revenue in October", "October 2025", ("2025-10-01", "2025-10-31")),
        ("revenue last month", "November 2025", ("2025-11-01", "2025-11-30")),
        ("sales in Q3", "Q3 2025", ("2025-07-01", "2025-09-30")),
        ("revenue this month", "the same days last year", ("2025-12-01", "2025-12-07")),
        (
            "revenue between 1 and 15 October",
            "2025-10-01 to 2025-10-15",
            ("2025-10-01", "2025-10-15"),
        ),
    ],
)
def test_a_year_earlier_is_named_by_its_own_year(
    first: str, label: str, days: tuple[str, str]
) -> None:
    compared = asked("how does that compare to last year?", asked(first))
    assert compared.entities["compare"]["label"] == label
    assert span(compared, "compare") == days


def _spoken(step: Step, figures: list[Figure], text: str) -> Outcome:
    return Outcome(step, said=Said(text, figures))


OCT = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
NOV = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def test_the_later_period_is_said_up_or_down_on_the_earlier() -> None:
    parsed = asked("Compare sales in October and November")
    current, previous = plan(parsed).steps
    answer = compose(
        parsed,
        [
            _spoken(
                current, [Figure("Revenue (USD)", Decimal("86117.22"), "USD", period=NOV)], "Nov."
            ),
            _spoken(
                previous, [Figure("Revenue (USD)", Decimal("46493.86"), "USD", period=OCT)], "Oct."
            ),
        ],
    )
    assert answer.text.endswith("November 2026 was up $39,623.36 (+85.2%) on October 2026.")
    values = {f.label: f.value for f, _ in answer.figures}
    assert values["increase in Revenue (USD)"] == Decimal("39623.36")
    assert values["percentage change in Revenue (USD)"] == Decimal("85.2")
    assert answer.unfigured() == []


def test_against_a_period_with_no_sales_the_change_is_in_revenue_with_no_percentage() -> None:
    compared = asked("how does that compare to last year?", asked("Revenue in October"))
    current, previous = plan(compared).steps
    now = [
        Figure("Revenue (USD)", Decimal("46495.27"), "USD", period=OCT),
        Figure("Orders (USD)", 74, unit="orders", period=OCT),
    ]
    then = [Figure("Orders", 0, unit="orders")]  # "No orders were placed …, so no revenue."
    answer = compose(
        compared, [_spoken(current, now, "Revenue was …"), _spoken(previous, then, "No orders.")]
    )
    assert answer.text.endswith(
        "October 2026 was up $46,495.27 on October 2025; there was no revenue in October 2025."
    )
    assert "%" not in answer.text and "orders on" not in answer.text
    values = {f.label: f.value for f, _ in answer.figures}
    assert values["increase in Revenue (USD)"] == Decimal("46495.27")
    assert answer.unfigured() == []


def test_a_period_with_nothing_after_one_with_sales_is_down_by_all_of_it() -> None:
    parsed = asked("revenue this month vs last month")
    current, previous = plan(parsed).steps
    answer = compose(
        parsed,
        [
            _spoken(current, [Figure("Orders", 0, unit="orders")], "No orders."),
            _spoken(previous, [Figure("Revenue (USD)", Decimal("120.50"), "USD")], "Some."),
        ],
    )
    assert answer.text.endswith("This month is down $120.50 (-100.0%) on last month.")
    assert answer.unfigured() == []


def test_counts_against_none_say_there_were_none() -> None:
    parsed = asked("leads this month versus last month")
    current, previous = plan(parsed).steps
    answer = compose(
        parsed,
        [
            _spoken(current, [Figure("new leads", 7, unit="leads")], "7 leads."),
            _spoken(previous, [Figure("new leads", 0, unit="leads")], "No leads."),
        ],
    )
    assert answer.text.endswith(
        "This month is up 7 leads on last month; there were no leads last month."
    )
    assert answer.unfigured() == []


# --- proposed actions ----------------------------------------------------------------------


class _Params(BaseModel):
    invoice_id: str


def _proposed() -> Outcome:
    parsed = understand("chase INV-0042", VOCAB, today=TODAY)
    step = plan(parsed).steps[0]
    figures = [
        Figure("reminder level for invoice INV-0042", 2, unit="reminder"),
        Figure("reminder levels", 3, unit="reminders"),
        Figure("balance due on invoice INV-0042", Decimal("1796.60"), "USD"),
        Figure("days invoice INV-0042 is overdue", 29, unit="days"),
    ]
    proposal = Proposal(
        summary="Send reminder 2 of 3 for invoice INV-0042 ($1,796.60 due, 29 days overdue)",
        before={"id": "inv-uuid-42", "number": "INV-0042"},
        after={"id": "inv-uuid-42", "reminders_sent": 2},
        figures=figures,
    )
    return Outcome(step, params=_Params(invoice_id="INV-0042"), proposal=proposal)


def test_a_proposals_numbers_are_the_answers_figures() -> None:
    outcome = _proposed()
    parsed = understand("chase INV-0042", VOCAB, today=TODAY)
    answer = compose(parsed, [outcome])
    assert answer.text.endswith("Confirm to go ahead.")
    assert [f.value for f, _ in answer.figures] == [2, 3, Decimal("1796.60"), 29]
    assert answer.unfigured() == []


def test_a_proposals_figures_name_the_record_the_action_touches() -> None:
    outcome = _proposed()
    read = figure_read(outcome.proposal.figures[2], outcome)  # type: ignore[union-attr]
    assert read.tool == "billing.send_dunning_reminder"
    assert read.records == ["inv-uuid-42"] and read.records_total == 1
    assert read.filters == {"invoice_id": "INV-0042"}
    assert "nothing changed until confirmed" in read.query
    assert result_event(outcome)["text"] == outcome.proposal.summary  # type: ignore[union-attr]


def test_a_new_tasks_figures_name_the_record_it_is_about() -> None:
    class TaskParams(BaseModel):
        title: str
        related_type: str
        related_id: str

    step = Step("action", "work.create_task", {}, "create a task")
    outcome = Outcome(
        step,
        params=TaskParams(title="Call", related_type="contact", related_id="c-1"),
        proposal=Proposal("Create task", None, {"title": "Call"}, [Figure("n", 1)]),
    )
    read: Any = figure_read(Figure("n", 1), outcome)
    assert read.records == ["c-1"]


# --- one stage of the pipeline ---------------------------------------------------------------


def _pipeline(question: str, stages: list[dict[str, Any]]) -> Any:
    from bizos.core.tools import ToolResult

    parsed = asked(question)
    step = plan(parsed).steps[0]
    value = {"count": 5, "by_currency": [{"currency": "USD", "count": 5, "stages": stages}]}
    figures = [Figure("open deals", 5, unit="deals"), Figure("value", Decimal("9.00"), "USD")]
    said = Said("You have 5 open deals worth $9.00.", figures)
    outcome = Outcome(step, result=ToolResult(value, "q"), said=said)
    return parsed, compose(parsed, [outcome])


@pytest.mark.parametrize(
    "question",
    [
        "How many deals are in negotiation?",
        "deals in negotiation",
        "how many deals in the negotiation stage",
    ],
)
def test_a_stage_with_no_deals_is_said_to_have_none(question: str) -> None:
    parsed, answer = _pipeline(question, [{"stage": "lead", "count": 5, "amount": Decimal("9.00")}])
    assert parsed.entities["stage"] == "negotiation"
    assert answer.text.startswith("No open deal is in negotiation.")
    assert (answer.figures[0][0].label, answer.figures[0][0].value) == (
        "open deals in negotiation",
        0,
    )
    assert answer.unfigured() == []


def test_a_stage_with_deals_leads_with_its_count_and_value() -> None:
    _, answer = _pipeline(
        "How many deals are in proposal?",
        [
            {"stage": "lead", "count": 3, "amount": Decimal("5.00")},
            {"stage": "proposal", "count": 2, "amount": Decimal("4.00")},
        ],
    )
    assert answer.text.startswith("2 open deals are in proposal, worth $4.00.")
    assert answer.unfigured() == []


@pytest.mark.parametrize(
    "question",
    [
        "What's our policy on returns?",
        "Do customers pay for return shipping?",
        "Who pays for return postage?",
        "are returns free",
        "is shipping free",
        "do we price match",
        "what are the terms for wholesale customers",
    ],
)
def test_more_ways_of_asking_the_rules(question: str) -> None:
    parsed = asked(question)
    assert (parsed.intent, parsed.topic) == ("search", "kb")


@pytest.mark.parametrize(
    ("question", "topic"),
    [("who pays the most", "top_customers"), ("how many returns this month", "refunds")],
)
def test_and_the_metric_questions_beside_them(question: str, topic: str) -> None:
    assert asked(question).topic == topic


def test_an_action_that_cannot_be_proposed_says_what_could_not_be_done() -> None:
    parsed = understand("chase INV-0042", VOCAB, today=TODAY)
    step = plan(parsed).steps[0]
    answer = compose(parsed, [Outcome(step, error="the invoice is paid")])
    assert answer.text == "I couldn't send a payment reminder: the invoice is paid."
