"""Shipping labels behind the ``ShippingProvider`` capability: a Shippo-style HTTP
provider and the sandbox (``connectors/shipping/sandbox.py``);
``resolver.shipping_provider_for`` picks a tenant's."""

from bizos.connectors.shipping.base import (
    Label,
    LabelRequest,
    Parcel,
    ShippingError,
    ShippingProvider,
    ShippingRefused,
    ShippingUnavailable,
)
from bizos.connectors.shipping.shippo import ShippoProvider

__all__ = [
    "Label",
    "LabelRequest",
    "Parcel",
    "ShippingError",
    "ShippingProvider",
    "ShippingRefused",
    "ShippingUnavailable",
    "ShippoProvider",
]
