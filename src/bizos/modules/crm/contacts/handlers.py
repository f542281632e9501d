"""Event subscribers of CRM contacts."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher


def register(dispatcher: Dispatcher) -> None:
    pass
