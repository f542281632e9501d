"""Which shipping provider a tenant's labels are bought from.

The tenant's ``shipping`` connector names it in ``vendor`` (``provider`` is accepted as
well): ``shippo`` means the Shippo-style HTTP API at ``base_url`` with the connector's
``api_key``; ``sandbox``, or no connector at all, means the sandbox.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.service import connector_settings
from bizos.connectors.shipping.base import ShippingProvider, ShippingRefused
from bizos.connectors.shipping.sandbox import sandbox_shipping
from bizos.connectors.shipping.shippo import ShippoProvider
from bizos.core.context import Context

SHIPPING_VENDORS = ("shippo", "sandbox")


def shipping_vendor(config: dict[str, object]) -> str:
    return str(config.get("vendor") or config.get("provider") or "sandbox").lower()


async def shipping_provider_for(session: AsyncSession, ctx: Context) -> ShippingProvider:
    """The tenant's provider, with its secrets, ready to call (outside any transaction)."""
    connector = await connector_settings(session, ctx, "shipping")
    if connector is None:
        return sandbox_shipping
    vendor = shipping_vendor(connector.config)
    if vendor == "sandbox":
        return sandbox_shipping
    if vendor == "shippo":
        return ShippoProvider.from_connector(connector.config, connector.secrets)
    raise ShippingRefused(
        f"unknown shipping vendor {vendor!r}; known: {', '.join(SHIPPING_VENDORS)}"
    )
