"""Summary and contract subscribers."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher
from bizos.modules.knowledge.summaries import contracts


def register(dispatcher: Dispatcher) -> None:
    """Contracts are extracted when a document tagged ``contract`` is saved."""
    contracts.register(dispatcher)
