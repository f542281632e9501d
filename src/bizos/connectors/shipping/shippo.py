"""Shipping labels over a Shippo-style HTTP API.

Buying a label is two calls, both synchronous (``"async": false``) and authenticated
with ``Authorization: ShippoToken <api_key>``:

1. ``POST {base_url}/shipments/`` with ``address_from``, ``address_to`` and ``parcels``
   answers the shipment with its ``rates`` (``object_id``, ``amount``, ``currency``,
   ``provider`` (the carrier), ``servicelevel.token``);
2. ``POST {base_url}/transactions/`` with the chosen ``rate`` (the configured service
   level, else the cheapest) and ``label_file_type: "PDF"`` answers the transaction:
   ``status`` ``SUCCESS`` with ``tracking_number`` and ``label_url``, or ``ERROR`` with
   ``messages`` saying why.

A label is voided by ``POST {base_url}/refunds/`` ``{transaction}``. 401/403/400/404
and an ``ERROR`` transaction are refused for good; 408, 429, 5xx, timeouts and connection
errors may pass later. ``base_url`` is the tenant's choice: an endpoint inside the
server's network is refused (``connectors.targets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
import structlog

from bizos.connectors.shipping.base import (
    Label,
    LabelRequest,
    ShippingError,
    ShippingRefused,
    ShippingUnavailable,
)
from bizos.connectors.targets import TargetRefused
from bizos.connectors.vendor import VendorEndpoint, amount, json_object

log = structlog.get_logger("bizos.connectors.shipping")
DEFAULT_BASE_URL = "https://api.goshippo.com"
LABEL_FILE_TYPE = "PDF"


class ShippoProvider(VendorEndpoint):
    provider = "shippo"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        servicelevel: str | None = None,
        allow_private: bool | None = None,
    ) -> None:
        """``allow_private`` (default: ``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS``) lets
        ``base_url`` point inside the server's network."""
        self._api_key = api_key
        self._set_endpoint(base_url, timeout, allow_private)
        self.servicelevel = servicelevel

    @classmethod
    def from_connector(
        cls, config: Mapping[str, Any], secrets: Mapping[str, str]
    ) -> ShippoProvider:
        api_key = secrets.get("api_key")
        if not api_key:
            raise ShippingRefused("the shipping connector has no api_key")
        servicelevel = config.get("servicelevel")
        return cls(
            api_key=api_key,
            base_url=str(config.get("base_url") or DEFAULT_BASE_URL),
            timeout=float(config.get("timeout_seconds", 30.0)),
            servicelevel=str(servicelevel) if servicelevel else None,
        )

    async def buy_label(self, request: LabelRequest) -> Label:
        _check(request)
        async with self._client() as client:
            shipment = await self._post(
                client,
                "/shipments/",
                {
                    "address_from": request.address_from,
                    "address_to": request.address_to,
                    "parcels": [parcel.as_json() for parcel in request.parcels],
                    "metadata": request.reference,
                    "async": False,
                },
            )
            rate = self._choose_rate(shipment, request.servicelevel or self.servicelevel)
            transaction = await self._post(
                client,
                "/transactions/",
                {
                    "rate": rate["object_id"],
                    "label_file_type": LABEL_FILE_TYPE,
                    "metadata": request.reference,
                    "async": False,
                },
            )
        if transaction.get("status") != "SUCCESS":
            raise ShippingRefused(f"{self.provider} sold no label: {_messages(transaction)}")
        tracking, label_url = transaction.get("tracking_number"), transaction.get("label_url")
        if not tracking or not label_url or not transaction.get("object_id"):
            raise ShippingUnavailable(f"{self.provider} answered a label without tracking")
        servicelevel = _section(rate, "servicelevel")
        return Label(
            provider=self.provider,
            carrier=str(rate.get("provider") or "unknown")[:60],
            service=_text(servicelevel.get("token") or servicelevel.get("name"), 100),
            tracking_number=str(tracking)[:100],
            label_url=str(label_url)[:1000],
            provider_ref=str(transaction["object_id"])[:100],
            cost=amount(rate.get("amount")),
            currency=_text(rate.get("currency"), 3),
            request=request.as_json(),
        )

    async def void_label(self, label_ref: str) -> None:
        async with self._client() as client:
            refund = await self._post(
                client, "/refunds/", {"transaction": label_ref, "async": False}
            )
        if refund.get("status") == "ERROR":
            raise ShippingRefused(f"{self.provider} did not void the label: {_messages(refund)}")

    async def _post(
        self, client: httpx.AsyncClient, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            response = await client.post(
                f"{self.base_url}{path}",
                json=body,
                headers={
                    "Authorization": f"ShippoToken {self._api_key}",
                    "Accept": "application/json",
                },
            )
        except TargetRefused as exc:
            log.warning("shipping.endpoint_refused", provider=self.provider, reason=str(exc))
            raise ShippingRefused(f"{self.provider} endpoint refused: {exc}") from exc
        except httpx.HTTPError as exc:
            log.warning("shipping.unreachable", provider=self.provider, error=type(exc).__name__)
            raise ShippingUnavailable(f"{self.provider} unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if status in (200, 201):
            return json_object(response)
        detail = f"{self.provider} answered {status} to {path}: {_error_text(response)}"
        log.warning("shipping.request_failed", provider=self.provider, path=path, status=status)
        if status in (408, 409, 425, 429) or status >= 500:
            raise ShippingUnavailable(detail)
        raise ShippingRefused(detail)

    def _choose_rate(self, shipment: dict[str, Any], servicelevel: str | None) -> dict[str, Any]:
        rates = [
            r
            for r in shipment.get("rates") or []
            if isinstance(r, dict) and r.get("object_id") and amount(r.get("amount")) is not None
        ]
        if servicelevel:
            rates = [r for r in rates if _servicelevel_token(r) == servicelevel]
        if not rates:
            wanted = f" for service level {servicelevel}" if servicelevel else ""
            raise ShippingRefused(f"{self.provider} offered no rate{wanted}: {_messages(shipment)}")
        return min(rates, key=lambda r: amount(r.get("amount")) or Decimal(0))


def _check(request: LabelRequest) -> None:
    for name, address in (("from", request.address_from), ("to", request.address_to)):
        if not address or not (address.get("street1") or address.get("city")):
            raise ShippingRefused(f"the ship-{name} address is missing")
    if not request.parcels:
        raise ShippingRefused("nothing to ship: no parcels")


def _error_text(response: httpx.Response) -> str:
    body = json_object(response)
    detail = body.get("detail")
    text = detail if isinstance(detail, str) and detail else _messages(body)
    return str(text or response.reason_phrase or "error")[:300]


def _messages(body: Mapping[str, Any]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "no reason given"
    texts = [str(m.get("text")) for m in messages if isinstance(m, dict) and m.get("text")]
    return "; ".join(texts)[:300] or "no reason given"


def _section(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name)
    return value if isinstance(value, Mapping) else {}


def _servicelevel_token(rate: Mapping[str, Any]) -> str | None:
    return _text(_section(rate, "servicelevel").get("token"), 100)


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    return str(value).strip()[:limit] or None


__all__ = ["DEFAULT_BASE_URL", "ShippingError", "ShippoProvider"]
