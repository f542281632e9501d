"""The ``ShippingProvider`` capability: buy a shipping label for a parcel, void it again.

One small Protocol (DESIGN rule 6). An implementation answers a :class:`Label` or raises
:class:`ShippingError` saying whether trying again could help (``retryable``: timeouts,
429, 5xx) or not (bad credentials, an address the carrier refuses). Errors carry only a
plain message, so they pickle into a workflow's record, and never a secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class ShippingError(Exception):
    """The provider sold no label (or did not void one)."""

    def __init__(self, detail: str, retryable: bool = False) -> None:
        # Both in ``args``, so the error pickles with its flag.
        super().__init__(detail, retryable)
        self.detail = detail
        self.retryable = retryable

    def __str__(self) -> str:
        return self.detail


class ShippingUnavailable(ShippingError):
    """Unreachable, too slow, rate limited or failing on its side: worth trying again."""

    def __init__(self, detail: str, retryable: bool = True) -> None:
        super().__init__(detail, retryable)


class ShippingRefused(ShippingError):
    """Refused for a reason retrying will not change (credentials, request, address)."""

    def __init__(self, detail: str, retryable: bool = False) -> None:
        super().__init__(detail, retryable)


@dataclass(frozen=True, slots=True)
class Parcel:
    """One box: sizes in ``distance_unit`` (cm), weight in ``mass_unit`` (kg)."""

    length: Decimal
    width: Decimal
    height: Decimal
    weight: Decimal
    distance_unit: str = "cm"
    mass_unit: str = "kg"

    def as_json(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """What to ship: from and to addresses as the provider reads them (``name``,
    ``street1``, ``city``, ``zip``, ``country``...), the parcels, and optionally the
    service level to buy (else the cheapest rate). ``reference`` (the order number)
    is printed on the label and makes the sandbox's answer deterministic."""

    reference: str
    address_from: dict[str, Any]
    address_to: dict[str, Any]
    parcels: tuple[Parcel, ...]
    servicelevel: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The request as plain JSON (kept on the shipment: what was, or would be, sent)."""
        data: dict[str, Any] = {
            "reference": self.reference,
            "address_from": dict(self.address_from),
            "address_to": dict(self.address_to),
            "parcels": [parcel.as_json() for parcel in self.parcels],
        }
        if self.servicelevel:
            data["servicelevel"] = self.servicelevel
        return data


@dataclass(frozen=True, slots=True)
class Label:
    """A bought label. ``provider_ref`` is the provider's id for it (to void it)."""

    provider: str
    carrier: str
    service: str | None
    tracking_number: str
    label_url: str
    provider_ref: str
    cost: Decimal | None = None
    currency: str | None = None
    request: dict[str, Any] = field(default_factory=dict)


class ShippingProvider(Protocol):
    provider: str

    async def buy_label(self, request: LabelRequest) -> Label:
        """Buy a label for ``request``; raises :class:`ShippingError`."""
        ...

    async def void_label(self, label_ref: str) -> None:
        """Void (refund) the label ``label_ref``; voiding a voided label is a no-op."""
        ...
