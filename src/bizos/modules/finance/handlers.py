"""Finance reactions."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher


def register(dispatcher: Dispatcher) -> None:
    """Subscribe this part's handlers."""
