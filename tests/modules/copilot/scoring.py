"""Asking the labelled set through the API and scoring the answers: what
``test_labelled_set.py`` asserts and ``bench/copilot.py`` prints.

Every number written in an answer must be the value of one of its figures (or a date,
or part of a name the figures or sources carry); this checker is written here, apart
from the copilot's own, so the two can disagree.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from bizos.core.db import Database
from tests.modules.copilot.labelled import CASES, Case
from tests.modules.copilot.oracles import cents, records

Json = dict[str, Any]
MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|"
    "july|august|september|october|november|december"
)
_DATES = [
    re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{MONTHS})\b\.?(?:\s+\d{{4}})?", re.I),
    re.compile(rf"\b(?:{MONTHS})\b\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?", re.I),
    re.compile(rf"\b(?:{MONTHS})\b\.?\s+\d{{4}}", re.I),
    re.compile(r"\bQ[1-4]\s+\d{4}\b|\bQ[1-4]\b"),
    re.compile(r"\b[A-Z]{1,4}(?:-[A-Z0-9]+)*-\d+\b"),  # numbers of records: INV-000620, T-000017
    re.compile(r"\b(?:19|20)\d{2}\b"),  # a year
]
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def numbers_in(text: str) -> list[Decimal]:
    """The numbers written in ``text``, dates and record numbers left out."""
    for pattern in _DATES:
        text = pattern.sub(" ", text)
    found = []
    for token in _NUMBER.findall(text):
        try:
            found.append(Decimal(token.replace(",", "")))
        except InvalidOperation:
            continue
    return found


def unfigured(body: Json, question: str) -> list[Decimal]:
    """Numbers in the answer that no figure, label, source or the question accounts for."""
    allowed: set[Decimal] = set()
    for figure in body.get("figures", []):
        try:
            value = Decimal(str(figure["value"]))
        except (InvalidOperation, KeyError):
            continue
        allowed |= {
            value,
            abs(value),
            cents(value),
            abs(cents(value)),
            value.quantize(Decimal("0.1")),
        }
        allowed |= set(numbers_in(str(figure.get("label", ""))))
    for source in body.get("sources", []):
        allowed |= set(numbers_in(str(source.get("title", ""))))
    allowed |= set(numbers_in(question))
    return [
        n for n in numbers_in(body.get("answer", "")) if n not in allowed and abs(n) not in allowed
    ]


@dataclass
class Outcome:
    case: Case
    question: str
    body: Json
    seconds: float
    expected: Decimal | int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def intent_ok(self) -> bool:
        return self.body.get("intent") == self.case.intent

    @property
    def figure_ok(self) -> bool | None:
        """None when the case asks for no checked figure."""
        if self.case.figure is None or self.expected is None:
            return None
        return any(_same(f.get("value"), self.expected) for f in self.body.get("figures", []))

    @property
    def tool_ok(self) -> bool | None:
        if self.case.tool is None:
            return None
        return any(step.get("tool") == self.case.tool for step in self.body.get("plan", []))


def _same(value: Any, expected: Decimal | int) -> bool:
    try:
        got = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return False
    if isinstance(expected, int):
        return got == expected
    return cents(got) == expected


async def ask_all(
    client: httpx.AsyncClient, headers: dict[str, str], db: Database, tenant_id: str
) -> list[Outcome]:
    """Every case through ``POST /api/v1/copilot/ask``, with its expected figure."""
    today = dt.datetime.now(dt.UTC).date()
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        names = await records(s, tenant_id, today)
    outcomes: list[Outcome] = []
    conversation: str | None = None
    for case in CASES:
        question = case.asked(names)
        payload: Json = {"question": question}
        if case.follows and conversation:
            payload["conversation_id"] = conversation
        started = time.perf_counter()
        r = await client.post("/api/v1/copilot/ask", json=payload, headers=headers)
        seconds = time.perf_counter() - started
        body: Json = r.json() if r.headers.get("content-type", "").endswith("json") else {}
        outcome = Outcome(case, question, body, seconds)
        if r.status_code != 200:
            outcome.problems.append(f"HTTP {r.status_code}: {r.text[:200]}")
        conversation = body.get("conversation_id")
        if case.figure is not None:
            async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
                outcome.expected = await case.figure(s, tenant_id, today)
        _judge(outcome)
        outcomes.append(outcome)
    return outcomes


def _judge(outcome: Outcome) -> None:
    case, body = outcome.case, outcome.body
    if not outcome.intent_ok:
        outcome.problems.append(f"intent {body.get('intent')!r}, expected {case.intent!r}")
    if outcome.tool_ok is False:
        tools = [s.get("tool") for s in body.get("plan", [])]
        outcome.problems.append(f"plan {tools}, expected {case.tool}")
    if outcome.figure_ok is False:
        values = [f.get("value") for f in body.get("figures", [])]
        outcome.problems.append(f"figures {values}, expected {outcome.expected}")
    loose = unfigured(body, outcome.question)
    if loose:
        outcome.problems.append(f"numbers not in figures: {loose}")
    if case.intent in ("out_of_scope", "conversation") and body.get("figures"):
        outcome.problems.append("figures on a question the data does not answer")
    if case.source is not None:
        titles = [s.get("title") for s in body.get("sources", [])]
        if case.source not in titles:
            outcome.problems.append(f"sources {titles}, expected {case.source!r}")
    if case.span is not None and case.span.lower() not in body.get("answer", "").lower():
        outcome.problems.append(f"answer lacks {case.span!r}")
    if case.action is not None:
        proposed = [a.get("tool") for a in body.get("actions", [])]
        if case.action not in proposed or any(
            a.get("status") != "proposed" for a in body.get("actions", [])
        ):
            outcome.problems.append(f"actions {proposed}, expected {case.action} proposed")


@dataclass
class Scores:
    intent: float
    tools: float
    figures: float
    unfigured_answers: int
    kb_cited: float
    actions: float
    metric_p50_ms: float
    metric_p95_ms: float
    failures: list[Outcome]


def _rate(values: list[bool]) -> float:
    return sum(values) / len(values) if values else 1.0


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def score(outcomes: list[Outcome]) -> Scores:
    metric_times = [o.seconds for o in outcomes if o.case.intent == "metrics"]
    return Scores(
        intent=_rate([o.intent_ok for o in outcomes]),
        tools=_rate([o.tool_ok for o in outcomes if o.tool_ok is not None]),
        figures=_rate([o.figure_ok for o in outcomes if o.figure_ok is not None]),
        unfigured_answers=sum(1 for o in outcomes if unfigured(o.body, o.question)),
        kb_cited=_rate(
            [
                o.case.source in [s.get("title") for s in o.body.get("sources", [])]
                for o in outcomes
                if o.case.source is not None
            ]
        ),
        actions=_rate(
            [
                o.case.action in [a.get("tool") for a in o.body.get("actions", [])]
                for o in outcomes
                if o.case.action is not None
            ]
        ),
        metric_p50_ms=_pct(metric_times, 0.5),
        metric_p95_ms=_pct(metric_times, 0.95),
        failures=[o for o in outcomes if o.problems],
    )
