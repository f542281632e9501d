"""Every billing subscriber (and, by importing them, its workflows and jobs), and
its contact timeline source."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher
from bizos.modules.billing.invoices import handlers as invoices
from bizos.modules.billing.payments import handlers as payments
from bizos.modules.billing.stripe import handlers as stripe


def register(dispatcher: Dispatcher) -> None:
    invoices.register(dispatcher)
    payments.register(dispatcher)
    stripe.register(dispatcher)
