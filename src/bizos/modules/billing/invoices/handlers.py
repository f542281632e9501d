"""Invoice reactions; importing it also registers the dunning job."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher
from bizos.modules.billing.invoices import dunning as _dunning  # noqa: F401  (registers the job)


def register(dispatcher: Dispatcher) -> None:
    """Subscribe this part's handlers (invoices react to no events today: orders call
    ``create_invoice_for_order`` from their workflow step)."""
