"""The ``Enricher`` capability: firmographics for a company, looked up by its domain.

One small Protocol (DESIGN rule 6). An implementation answers a
:class:`CompanyProfile`, ``None`` when the provider knows no company at that domain, or
raises :class:`EnrichmentUnavailable` (may pass later: timeouts, 429, 5xx) or
:class:`EnrichmentRefused` (will not pass by retrying: bad credentials, a malformed
request). Both carry only a plain message, so they pickle into a workflow's record, and
never a secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class EnrichmentError(Exception):
    """The provider gave no answer about the company."""

    retryable = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class EnrichmentUnavailable(EnrichmentError):
    """Unreachable, too slow, rate limited or failing on its side: worth trying again."""

    retryable = True


class EnrichmentRefused(EnrichmentError):
    """Refused for a reason retrying will not change (credentials, request)."""


@dataclass(frozen=True, slots=True)
class CompanyProfile:
    """What a provider knows about a company. ``raw`` is its answer as it gave it."""

    name: str
    domain: str
    industry: str | None = None
    employees: int | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    city: str | None = None
    annual_revenue: Decimal | None = None
    description: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The profile as plain JSON without the provider's raw answer."""
        data = asdict(self)
        data.pop("raw")
        if self.annual_revenue is not None:
            data["annual_revenue"] = str(self.annual_revenue)
        return data


class Enricher(Protocol):
    provider: str

    async def lookup_company(self, domain: str) -> CompanyProfile | None:
        """The company at ``domain`` (lower case, no ``www.``), or ``None`` if unknown."""
        ...
