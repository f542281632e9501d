"""Company enrichment over a Clearbit-style HTTP API.

``GET {base_url}/v2/companies/find?domain=<domain>`` with ``Authorization: Bearer
<api_key>``. 200 answers the company (``name``, ``domain``, ``category.industry``,
``metrics.employees``, ``metrics.annualRevenue``, ``geo.countryCode``, ``geo.city``,
``description``); 404 means no company is known at that domain; 202 means the lookup
is queued on the provider's side (asked again later); 401/403/400 are refused; 429,
5xx, timeouts and connection errors may pass later. ``base_url`` is the tenant's choice:
an endpoint inside the server's network is refused (``connectors.targets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from bizos.connectors.enrichment.base import (
    CompanyProfile,
    EnrichmentRefused,
    EnrichmentUnavailable,
)
from bizos.connectors.targets import TargetRefused
from bizos.connectors.vendor import VendorEndpoint, amount, json_object

log = structlog.get_logger("bizos.connectors.enrichment")
DEFAULT_BASE_URL = "https://company.clearbit.com"


class ClearbitEnricher(VendorEndpoint):
    provider = "clearbit"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 15.0,
        allow_private: bool | None = None,
    ):
        """``allow_private`` (default: ``BIZOS_CONNECTOR_ALLOW_PRIVATE_TARGETS``) lets
        ``base_url`` point inside the server's network."""
        self._api_key = api_key
        self._set_endpoint(base_url, timeout, allow_private)

    @classmethod
    def from_connector(
        cls, config: Mapping[str, Any], secrets: Mapping[str, str]
    ) -> ClearbitEnricher:
        api_key = secrets.get("api_key")
        if not api_key:
            raise EnrichmentRefused("the enrichment connector has no api_key")
        return cls(
            api_key=api_key,
            base_url=str(config.get("base_url") or DEFAULT_BASE_URL),
            timeout=float(config.get("timeout_seconds", 15.0)),
        )

    async def lookup_company(self, domain: str) -> CompanyProfile | None:
        try:
            async with self._client() as client:
                response = await client.get(
                    f"{self.base_url}/v2/companies/find",
                    params={"domain": domain},
                    headers={
                        "Authorization": f"Bearer {self._api_key}",
                        "Accept": "application/json",
                    },
                )
        except TargetRefused as exc:
            log.warning("enrichment.endpoint_refused", provider=self.provider, reason=str(exc))
            raise EnrichmentRefused(f"{self.provider} endpoint refused: {exc}") from exc
        except httpx.HTTPError as exc:
            log.warning("enrichment.unreachable", provider=self.provider, error=type(exc).__name__)
            raise EnrichmentUnavailable(
                f"{self.provider} unreachable: {type(exc).__name__}"
            ) from exc
        status = response.status_code
        if status == 200:
            return _profile(domain, json_object(response))
        if status == 404:
            return None
        detail = f"{self.provider} answered {status}: {_error_text(response)}"
        log.warning("enrichment.lookup_failed", provider=self.provider, status=status)
        if status in (202, 408, 429) or status >= 500:
            raise EnrichmentUnavailable(detail)
        raise EnrichmentRefused(detail)


def _error_text(response: httpx.Response) -> str:
    error = json_object(response).get("error")
    if isinstance(error, dict):
        text = error.get("message") or error.get("type")
        if isinstance(text, str) and text:
            return text[:300]
    return str(response.reason_phrase or "error")[:300]


def _section(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name)
    return value if isinstance(value, Mapping) else {}


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    return str(value).strip()[:limit] or None


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _profile(domain: str, body: dict[str, Any]) -> CompanyProfile | None:
    """The fields we keep from a company resource; ``None`` if it names no company."""
    name = _text(body.get("name"), 200)
    if name is None:
        return None
    category, metrics = _section(body, "category"), _section(body, "metrics")
    geo = _section(body, "geo")
    country = _text(geo.get("countryCode"), 2)
    return CompanyProfile(
        name=name,
        domain=(_text(body.get("domain"), 253) or domain).lower(),
        industry=_text(category.get("industry") or category.get("sector"), 100),
        employees=_int(metrics.get("employees")),
        country=country.upper() if country and len(country) == 2 else None,
        city=_text(geo.get("city"), 100),
        annual_revenue=amount(metrics.get("annualRevenue")),
        description=_text(body.get("description"), 2000),
        raw=body,
    )
