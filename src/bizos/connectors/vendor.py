"""What the HTTP vendor clients (Clearbit-style enrichment, Shippo-style shipping, Twilio)
share: where the vendor is and how to reach it, and how to read its answers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from bizos.connectors.targets import allow_private_targets, http_client


class VendorEndpoint:
    """A vendor's base URL and timeout, and whether the URL may point inside the server's
    network (``allow_private``; default ``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS``)."""

    base_url: str
    timeout: float
    allow_private: bool

    def _set_endpoint(self, base_url: str, timeout: float, allow_private: bool | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.allow_private = allow_private_targets() if allow_private is None else allow_private

    def __repr__(self) -> str:  # the endpoint only: never a key kept on the instance
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _client(self) -> httpx.AsyncClient:
        """A client that connects only to the targets this endpoint may reach."""
        return http_client(timeout=self.timeout, allow_private=self.allow_private)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object; ``{}`` for anything else (no body, not JSON, a list)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def amount(value: Any) -> Decimal | None:
    """A vendor's amount to the cent (the decimal context's rounding, as vendors state
    cents anyway); ``None`` for a missing, negative or unreadable one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number.quantize(Decimal("0.01")) if number.is_finite() and number >= 0 else None
