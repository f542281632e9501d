"""Which enricher a tenant's lookups go to.

A configured ``enrichment`` connector with provider (or vendor) ``clearbit`` means the
real HTTP provider; provider ``sandbox`` or no connector at all means the sandbox, which
answers from its bundled demo companies.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.enrichment.base import Enricher
from bizos.connectors.enrichment.clearbit import ClearbitEnricher
from bizos.connectors.enrichment.sandbox import sandbox_enricher
from bizos.connectors.service import connector_settings
from bizos.core.context import Context


def enrichment_provider(config: dict[str, object]) -> str:
    """The provider a connector config names (``provider``, else the older ``vendor``)."""
    return str(config.get("provider") or config.get("vendor") or "clearbit").lower()


async def enricher_for(session: AsyncSession, ctx: Context) -> Enricher:
    """The tenant's enricher, with its secrets, ready to call (outside any transaction)."""
    connector = await connector_settings(session, ctx, "enrichment")
    if connector is None or enrichment_provider(connector.config) == "sandbox":
        return sandbox_enricher
    return ClearbitEnricher.from_connector(connector.config, connector.secrets)
