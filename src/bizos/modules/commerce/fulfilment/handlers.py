"""Starting order-to-cash: a received order, or a backorder whose stock arrived."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher


def register(dispatcher: Dispatcher) -> None:
    """Subscribe this part's handlers."""
