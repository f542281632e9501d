"""Document subscribers: none. A document is chunked, embedded and indexed in the
transaction that writes it, so search never lags behind an upload; its events
(``kb.document.*``) are for others (contracts, summaries, automation)."""

from __future__ import annotations

from bizos.core.dispatcher import Dispatcher


def register(dispatcher: Dispatcher) -> None:
    """Nothing to subscribe (see the module docstring)."""
