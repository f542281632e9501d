"""Order reactions: a won deal becomes a sales order when the tenant enables it."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher


def register(dispatcher: Dispatcher) -> None:
    """Subscribe this part's handlers."""
