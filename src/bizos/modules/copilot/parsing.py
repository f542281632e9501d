"""Understanding a question without a model: intent, topic and entities."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from bizos.modules.copilot.vocabulary import Vocabulary

Intent = Literal["metrics", "search", "action", "conversation", "out_of_scope"]


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a question asks: its ``intent``, the ``topic`` (which tool family answers it)
    and the ``entities`` it names (JSON-able). ``followup`` says it continued from the
    previous question."""

    question: str
    intent: Intent
    topic: str
    entities: dict[str, Any] = field(default_factory=dict)
    followup: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "intent": self.intent,
            "topic": self.topic,
            "entities": self.entities,
            "followup": self.followup,
        }


def understand(
    question: str,
    vocab: Vocabulary,
    *,
    today: dt.date | dt.datetime,
    previous: Parsed | None = None,
) -> Parsed:
    """``question`` understood against the tenant's ``vocab`` on ``today``."""
    raise NotImplementedError  # filled in on this branch shortly
