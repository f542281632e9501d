"""The external-model path: a tenant's model writes the words, the tools keep the numbers.

When the tenant has an external provider (OpenAI or Anthropic connector) in its AI
chain, the answer's words may come from that model: the question goes through the AI
gateway (privacy proxy, budget, metering) followed by the tool exchange the copilot ran,
in the vendors' tool-calling form (an assistant message calling each tool, a ``tool``
message with each result). The model's text is checked: a number in it that is not the
value of one of the answer's figures (or part of a date or of a name the answer shows)
means the model invented or altered a figure, and the templated answer is used instead.
Without an external model, or when the call fails, the templated answer stands.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from bizos.ai import gateway
from bizos.ai.types import ChatMessage, ToolCall, ToolSpec
from bizos.core.context import Context
from bizos.core.errors import ProblemError
from bizos.core.tools import Figure
from bizos.modules.copilot.answer import Composed, unfigured_numbers
from bizos.modules.copilot.parsing import Parsed
from bizos.modules.copilot.schemas import Provenance
from bizos.modules.copilot.steps import Outcome

log = structlog.get_logger("bizos.copilot.words")

TEMPLATE = Provenance(provider="local", model="templates")
# Intents whose answer rests on tool results (the others are said by the templates).
WRITTEN_INTENTS = frozenset({"metrics", "search"})


def vendor_name(tool: str) -> str:
    """A catalogue name as the vendors accept one (``commerce.revenue`` ->
    ``commerce__revenue``: letters, digits, ``_`` and ``-`` only)."""
    return tool.replace(".", "__")


def exchange_of(outcomes: list[Outcome]) -> tuple[list[ChatMessage], list[ToolSpec]]:
    """The tool calls the copilot made, as an assistant message and its tool results."""
    calls: list[ToolCall] = []
    results: list[ChatMessage] = []
    specs: dict[str, ToolSpec] = {}
    for i, outcome in enumerate(outcomes):
        if outcome.skipped or outcome.proposal is not None:
            continue
        name = vendor_name(outcome.step.tool)
        call_id = f"call_{i + 1}"
        args = outcome.params.model_dump(mode="json", by_alias=True) if outcome.params else {}
        calls.append(ToolCall(id=call_id, name=name, arguments=json.dumps(args)))
        results.append(
            ChatMessage("tool", json.dumps(result_of(outcome), default=str), tool_call_id=call_id)
        )
        schema = type(outcome.params).model_json_schema() if outcome.params else {"type": "object"}
        specs[name] = ToolSpec(name=name, description=outcome.step.label, parameters=schema)
    if not calls:
        return [], []
    return [ChatMessage("assistant", "", tool_calls=tuple(calls)), *results], list(specs.values())


def result_of(outcome: Outcome) -> dict[str, Any]:
    if outcome.error is not None:
        return {"error": outcome.error}
    said = outcome.said
    return {
        "answer": said.text if said else None,
        "figures": [
            {
                "label": f.label,
                "value": str(f.value),
                "currency": f.currency,
                "unit": f.unit,
                "period": [d.isoformat() for d in f.period] if f.period else None,
            }
            for f in (said.figures if said else [])
        ],
        "sources": [
            {"title": s.title, "excerpt": s.excerpt} for s in (said.sources if said else [])
        ],
    }


DATE_FORMATS = (
    "%B %d, %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d",
    "%b %d",
    "%d %B",
    "%d %b",
    "%B %Y",
    "%b %Y",
    "%Y",
)


def period_words(figures: Iterable[Figure], entities: Mapping[str, Any]) -> list[str]:
    """The ways a text may write the figures' days ("December 1, 2026", "1 Dec", "2026")
    and the question's period labels, longest first: numbers in them are dates."""
    days = {day for f in figures if f.period for day in f.period}
    for key in ("period", "compare"):
        entity = entities.get(key)
        if isinstance(entity, dict):
            for end in ("from", "to"):
                with contextlib.suppress(TypeError, ValueError):
                    days.add(dt.date.fromisoformat(str(entity.get(end))))
    words = {
        day.strftime(fmt).replace(" 0", " ").lstrip("0") for day in days for fmt in DATE_FORMATS
    }
    for key in ("period", "compare"):
        entity = entities.get(key)
        if isinstance(entity, dict) and isinstance(entity.get("label"), str):
            words.add(entity["label"])
    return sorted(words, key=len, reverse=True)


OUT_OF_SCOPE = "OUT_OF_SCOPE"


async def rephrased(ctx: Context, question: str) -> tuple[str | None, str | None]:
    """The question in plain words the parser knows, from the tenant's external model
    (through the gateway: privacy proxy, budget, metering), and the AI call's id; None
    when there is no external model, it fails, or it says the question is not about the
    business. The parser stays the judge: it understands the rewrite or nothing."""
    if not await gateway.external_model_configured(ctx):
        return None, None
    try:
        result = await gateway.generate(
            ctx,
            feature="copilot.understand",
            task="classify",
            template="copilot.rephrase",
            variables={"question": question},
            max_tokens=120,
        )
    except ProblemError as exc:
        log.info("copilot.words.model_unavailable", status=exc.status)
        return None, None
    text = result.text.strip().strip('"').strip()
    if result.provider == "local" or not text or OUT_OF_SCOPE in text or len(text) > 500:
        return None, result.call_id
    return text, result.call_id


async def written(
    ctx: Context, parsed: Parsed, composed: Composed, outcomes: dict[str, Outcome]
) -> tuple[str, Provenance]:
    """The answer's words and who wrote them: the tenant's external model when it has
    one and it kept to the figures, else the template."""
    if parsed.intent not in WRITTEN_INTENTS or not composed.figures:
        return composed.text, TEMPLATE
    if not await gateway.external_model_configured(ctx):
        return composed.text, TEMPLATE
    exchange, tools = exchange_of(list(outcomes.values()))
    if not exchange:
        return composed.text, TEMPLATE
    try:
        result = await gateway.generate(
            ctx,
            feature="copilot.answer",
            task="answer",
            template="copilot.answer",
            variables={"question": parsed.question},
            exchange=exchange,
            tools=tools,
            max_tokens=400,
        )
    except ProblemError as exc:  # unavailable, budget spent: the template still answers
        log.info("copilot.words.model_unavailable", status=exc.status)
        return composed.text, TEMPLATE
    if result.provider == "local" or not result.text.strip():
        return composed.text, TEMPLATE.model_copy(update={"ai_call_ids": [result.call_id]})
    figures = [figure for figure, _ in composed.figures]
    labels = [f.label for f in figures] + [s.title for s in composed.sources]
    labels = sorted(labels, key=len, reverse=True) + period_words(figures, parsed.entities)
    invented = unfigured_numbers(result.text, figures, labels)
    if invented:
        log.warning("copilot.words.number_not_in_figures", count=len(invented))
        return composed.text, Provenance(
            provider="local",
            model="templates",
            ai_call_ids=[result.call_id],
            rejected={"provider": result.provider, "model": result.model, "numbers": invented},
        )
    return result.text.strip(), Provenance(
        provider=result.provider, model=result.model, ai_call_ids=[result.call_id]
    )
