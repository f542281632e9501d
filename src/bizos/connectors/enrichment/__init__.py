"""Company enrichment behind the ``Enricher`` capability: a Clearbit-style HTTP provider
and the sandbox (``connectors/enrichment/sandbox.py``); ``resolver.enricher_for`` picks
a tenant's."""

from bizos.connectors.enrichment.base import (
    CompanyProfile,
    Enricher,
    EnrichmentError,
    EnrichmentRefused,
    EnrichmentUnavailable,
)
from bizos.connectors.enrichment.clearbit import ClearbitEnricher

__all__ = [
    "ClearbitEnricher",
    "CompanyProfile",
    "Enricher",
    "EnrichmentError",
    "EnrichmentRefused",
    "EnrichmentUnavailable",
]
