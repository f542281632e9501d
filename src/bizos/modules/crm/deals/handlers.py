"""Event subscribers of CRM deals."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher


def register(dispatcher: Dispatcher) -> None:
    pass
