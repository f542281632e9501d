"""Processing stored Stripe webhooks (payment_intent.succeeded, charge.succeeded,
charge.refunded)."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher


def register(dispatcher: Dispatcher) -> None:
    """Subscribe this part's handlers."""
