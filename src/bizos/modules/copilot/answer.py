"""TEMPORARY stand-in (not committed): the understand helper's answer.py replaces it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bizos.core.tools import Figure, SourceRef
from bizos.modules.copilot.parsing import Parsed
from bizos.modules.copilot.steps import Outcome


@dataclass(frozen=True, slots=True)
class Composed:
    text: str
    figures: list[tuple[Figure, Outcome]] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)


def compose(parsed: Parsed, outcomes: list[Outcome] | Mapping[str, Outcome]) -> Composed:
    items = list(outcomes.values()) if isinstance(outcomes, Mapping) else list(outcomes)
    if parsed.intent == "out_of_scope":
        return Composed("I can only answer questions about your business's own data.")
    texts, figures, sources = [], [], []
    for o in items:
        if o.said is not None:
            texts.append(o.said.text)
            figures += [(f, o) for f in o.said.figures]
            sources += o.said.sources
        elif o.proposal is not None:
            texts.append(o.proposal.summary)
        elif o.error is not None:
            texts.append(f"{o.step.label}: {o.error}.")
    return Composed(" ".join(texts) or "I found nothing to answer that.", figures, sources)


def unfigured_numbers(text: str, figures: Iterable[Figure], labels: Iterable[str]) -> list[str]:
    values = {str(f.value) for f in figures}
    found = [n.replace(",", "").lstrip("$") for n in re.findall(r"\$?\d[\d,]*(?:\.\d+)?", text)]
    return [n for n in found if n not in values]
