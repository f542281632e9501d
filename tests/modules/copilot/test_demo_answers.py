"""Questions an owner asks of the demo business: every number an answer writes is one of
its figures, and a question outside the business states none."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bizos.core.config import Settings
from bizos.core.tools import Figure
from bizos.modules.copilot.answer import unfigured_numbers
from bizos.modules.copilot.words import period_words
from tests.demo.test_knowledge import demo_login
from tests.modules.copilot.helpers import ask

QUESTIONS = [
    "What's my revenue?",
    "What's my revenue this month?",
    "How much did we sell last month?",
    "Revenue this month vs last month",
    "How many orders did we get in the last 7 days?",
    "What is our average order value this year?",
    "Who were our top 5 customers last quarter?",
    "What are my best selling products this year?",
    "Which products are low on stock?",
    "What's the value of our stock?",
    "Revenue by channel this year",
    "How much came from Shopify last month?",
    "How much do customers owe us?",
    "Which invoices are overdue?",
    "How much did we refund this year?",
    "What did we spend on marketing last month?",
    "Are we on budget?",
    "What's our gross profit this month?",
    "What's in the pipeline?",
    "How many open tickets do we have?",
    "Any SLA breaches this week?",
    "How fast do we answer tickets?",
    "Show me my tasks",
    "What's our refund policy?",
    "How's business?",
]
OUT_OF_SCOPE = ["What's the weather in Paris?", "Who won the world cup?", "Tell me a joke"]


def figures_of(answer: dict[str, Any]) -> list[Figure]:
    return [
        Figure(
            f["label"],
            Decimal(str(f["value"])),
            f["currency"],
            f["unit"],
            (
                (
                    dt.date.fromisoformat(f["period"]["from"]),
                    dt.date.fromisoformat(f["period"]["to"]),
                )
                if f["period"]
                else None
            ),
        )
        for f in answer["figures"]
    ]


def labels_of(answer: dict[str, Any]) -> list[str]:
    """Names and dates an answer may write numbers in (figure labels, source titles, the
    figures' periods and the question's), and what it quotes from a cited source's
    excerpt ("within 5 business days": the document's number, not ours)."""
    labels = [f["label"] for f in answer["figures"]] + [
        f"{s['title']} {s.get('excerpt', '')}" for s in answer["sources"]
    ]
    ordered = sorted((label for label in labels if label), key=len, reverse=True)
    return ordered + period_words(figures_of(answer), answer["entities"])


@pytest.mark.demo
async def test_every_number_an_answer_writes_is_one_of_its_figures(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await demo_login(client, settings)
    unfigured = {}
    for question in QUESTIONS:
        answer = await ask(client, headers, question)
        assert answer["answer"], question
        stray = unfigured_numbers(answer["answer"], figures_of(answer), labels_of(answer))
        if stray:
            unfigured[question] = (answer["answer"], stray)
    assert unfigured == {}


@pytest.mark.demo
async def test_questions_outside_the_business_state_no_figure(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await demo_login(client, settings)
    for question in OUT_OF_SCOPE:
        answer = await ask(client, headers, question)
        assert answer["intent"] == "out_of_scope", question
        assert answer["figures"] == [] and answer["plan"] == []
