"""Processing stored Shopify webhooks (orders/create, orders/cancelled)."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher


def register(dispatcher: Dispatcher) -> None:
    """Subscribe this part's handlers."""
