"""The sandbox enricher: answers from a bundled table of demo companies, calls no one.

The companies (``demo_companies.csv``) are the fictional ones software vendors use in
their samples (Contoso, Fabrikam, Northwind...), so demo data and tests can enrich
realistic-looking leads offline. Every lookup is recorded in a bounded in-memory list
(domain, whether it was found, when): what a real provider would have been asked.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from bizos.connectors.enrichment.base import CompanyProfile

LOOKUP_LIMIT = 1000
DEMO_TABLE = "demo_companies.csv"


def _profile(row: dict[str, str]) -> CompanyProfile:
    employees, revenue = int(row["employees"]), Decimal(row["annual_revenue"])
    raw = {
        "name": row["name"],
        "domain": row["domain"],
        "category": {"industry": row["industry"]},
        "metrics": {"employees": employees, "annualRevenue": int(revenue)},
        "geo": {"countryCode": row["country"], "city": row["city"]},
        "description": row["description"],
        "source": "sandbox",
    }
    return CompanyProfile(
        name=row["name"],
        domain=row["domain"],
        industry=row["industry"],
        employees=employees,
        country=row["country"],
        city=row["city"],
        annual_revenue=revenue,
        description=row["description"],
        raw=raw,
    )


def load_demo_companies() -> dict[str, CompanyProfile]:
    """The bundled table (``demo_companies.csv`` next to this module), by domain."""
    text = resources.files(__package__).joinpath(DEMO_TABLE).read_text(encoding="utf-8")
    return {row["domain"]: _profile(row) for row in csv.DictReader(io.StringIO(text))}


DEMO_COMPANIES = load_demo_companies()


@dataclass(frozen=True, slots=True)
class SandboxLookup:
    domain: str
    found: bool
    at: dt.datetime


class SandboxEnricher:
    provider = "sandbox"

    def __init__(self, companies: dict[str, CompanyProfile] | None = None) -> None:
        self.companies = DEMO_COMPANIES if companies is None else companies
        self.lookups: deque[SandboxLookup] = deque(maxlen=LOOKUP_LIMIT)

    async def lookup_company(self, domain: str) -> CompanyProfile | None:
        profile = self.companies.get(domain.strip().lower())
        self.lookups.append(SandboxLookup(domain, profile is not None, dt.datetime.now(dt.UTC)))
        return profile


# One per process, so what it was asked can be read back (the sandbox's "sent" log).
sandbox_enricher = SandboxEnricher()
