"""Owner phrasings the labelled set does not hold: money coming in is revenue, a stage's
money is the pipeline, actions and questions no tool answers are said plainly (never
with an unrelated figure), two expense categories compared over one period, net revenue
after refunds and a channel's share of revenue."""

from __future__ import annotations

import datetime as dt

import pytest

from bizos.modules.copilot.answer import compose
from bizos.modules.copilot.parsing import understand
from bizos.modules.copilot.planning import plan
from tests.modules.copilot.demo_vocab import DEMO_VOCAB

TODAY = dt.date(2026, 12, 7)


def ask(question: str):  # type: ignore[no-untyped-def]
    parsed = understand(question, DEMO_VOCAB, today=TODAY)
    return parsed, plan(parsed)


@pytest.mark.parametrize(
    "question",
    [
        "How much money came in last week?",
        "how much did we bring in yesterday",
        "how much cash came in this month",
        "what money has come in since Monday",
    ],
)
def test_money_coming_in_is_revenue(question: str) -> None:
    parsed, the_plan = ask(question)
    assert (parsed.intent, parsed.topic) == ("metrics", "revenue")
    assert the_plan.tools() == ["commerce.revenue"]


def test_last_week_money_reads_last_week() -> None:
    _, the_plan = ask("How much money came in last week?")
    args = the_plan.steps[0].args
    assert isinstance(args, dict)
    assert (args["from"], args["to"]) == ("2026-11-30", "2026-12-06")


@pytest.mark.parametrize(
    ("question", "stage"),
    [
        ("how much is stuck in the proposal stage", "proposal"),
        ("what's in negotiation", "negotiation"),
        ("how much money is sitting in negotiation?", "negotiation"),
        ("what's the value of deals at the proposal stage", "proposal"),
    ],
)
def test_a_stage_with_money_words_is_that_stage_of_the_pipeline(question: str, stage: str) -> None:
    parsed, the_plan = ask(question)
    assert (parsed.intent, parsed.topic) == ("metrics", "pipeline")
    assert parsed.entities["stage"] == stage
    assert the_plan.tools() == ["crm.pipeline"]


@pytest.mark.parametrize(
    "question",
    [
        "Can you cancel order 1042?",
        "refund order 1042",
        "delete contact Aisha Chen",
        "please void invoice INV-0042",
        "could you archive the product",
        "remove the customer Blue Heron Café",
    ],
)
def test_an_action_the_copilot_cannot_do_is_said_plainly(question: str) -> None:
    parsed, the_plan = ask(question)
    assert parsed.intent == "action"
    assert the_plan.steps == []
    answer = compose(parsed, [])
    assert "isn't something I can do yet" in answer.text
    assert answer.figures == [] and answer.unfigured() == []


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("What's the cheapest product we sell?", "product prices"),
        ("what is our most expensive coffee", "product prices"),
        ("What's our win rate?", "win rate"),
        ("what's our close rate this quarter", "win rate"),
        ("what's our cash position", "cash position"),
        ("what's our bank balance", "cash position"),
        ("How many new customers did we get this month?", "new customers"),
        ("how many new clients this year", "new customers"),
    ],
)
def test_a_question_no_tool_answers_gets_no_unrelated_figure(question: str, words: str) -> None:
    parsed, the_plan = ask(question)
    assert the_plan.steps == []
    answer = compose(parsed, [])
    assert words in answer.text and "instead" in answer.text
    assert answer.figures == [] and answer.unfigured() == []


@pytest.mark.parametrize(
    "question",
    [
        "How many deals are in negotiation?",
        "how much did shipping cost us last month",
        "What's the lead conversion rate?",
        "mark the Acme deal as won",
        "can I cancel my subscription?",
    ],
)
def test_the_neighbours_keep_their_meaning(question: str) -> None:
    parsed, _ = ask(question)
    assert parsed.topic != "cannot"
