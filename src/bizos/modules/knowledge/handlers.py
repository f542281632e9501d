"""Every knowledge-base subscriber."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher
from bizos.modules.knowledge.documents import handlers as documents_handlers
from bizos.modules.knowledge.summaries import handlers as summaries


def register(dispatcher: Dispatcher) -> None:
    documents_handlers.register(dispatcher)
    summaries.register(dispatcher)
