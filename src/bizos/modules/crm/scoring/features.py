"""What a lead's score is computed from: firmographics, the person's seniority, a stated
budget, source, engagement, contact quality and age, gathered for a batch of leads in a
handful of queries.

Engagement is the tenant's tracked activity (``POST /api/v1/track`` → ``activity.*``
events) keyed by the lead's contact id or its normalised email, including contacts that
were merged into it. Every feature is measured *as of* a moment: now for an open lead,
the moment of the qualification decision for a lead in the training history, so the
model learns from what was known when the lead was still open.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.events import Event
from bizos.modules.crm.models import Company, Contact, Lead
from bizos.modules.crm.normalize import is_free_mail

ACTIVITY_WINDOW = dt.timedelta(days=30)
_KEY_CHUNK = 500

# Bands of company size, smallest first: (label, inclusive upper bound).
EMPLOYEE_BANDS: tuple[tuple[str, int], ...] = (
    ("1-10", 10),
    ("11-50", 50),
    ("51-200", 200),
    ("201-1000", 1000),
    ("1001+", 10**12),
)


def employee_band(employees: int | None) -> str:
    if employees is None or employees <= 0:
        return "unknown"
    return next(label for label, top in EMPLOYEE_BANDS if employees <= top)


@dataclass(frozen=True, slots=True)
class LeadFeatures:
    employees: int | None
    industry: str | None
    country: str | None  # ISO 3166-1 alpha-2, upper case
    source: str
    activities_30d: int
    activities_total: int
    days_since_activity: float | None  # None: no tracked activity at all
    free_mail: bool
    has_phone: bool
    message_length: int
    lead_age_days: float
    # 0 no title known · 1 another title · 2 manager or buyer · 3 decision maker
    title_seniority: int = 0
    has_budget: bool = False  # the lead states a budget (``properties.budget``)
    enriched: bool = False  # the enrichment provider found the lead's company

    @property
    def employee_band(self) -> str:
        return employee_band(self.employees)


def _parse_employees(value: Any) -> int | None:
    """Employees as a provider says it: 250, "250", "51-200", "1K+", "1,000"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if value > 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower().replace(",", "").replace("+", "")
    if "-" in text:  # a range: its lower bound puts it in the right band
        text = text.split("-", 1)[0]
    factor = 1
    if text.endswith("k"):
        factor, text = 1000, text[:-1]
    try:
        number = int(float(text) * factor)
    except ValueError:
        return None
    return number if number > 0 else None


# Words of a job title, most senior first. A title is read by its most senior word:
# "Chef-Owner" is an owner, "Purchasing Manager" a manager.
_DECISION_MAKERS = re.compile(
    r"\b(owner|co-?owner|founder|co-?founder|ceo|cfo|coo|cto|chief|president|director|"
    r"vp|vice president|partner|principal|proprietor|general manager|managing|head of)\b",
    re.IGNORECASE,
)
_MANAGERS = re.compile(
    r"\b(manager|head|buyer|purchasing|procurement|supervisor|lead|chef)\b", re.IGNORECASE
)


def title_seniority(title: str | None) -> int:
    """How senior a job title reads: 3 decides (owner, founder, director, head of,
    C-level), 2 runs something or buys (manager, buyer, purchasing), 1 any other
    title, 0 none known."""
    if not title or not title.strip():
        return 0
    if _DECISION_MAKERS.search(title):
        return 3
    if _MANAGERS.search(title):
        return 2
    return 1


_NO_BUDGET = frozenset({"", "0", "none", "no", "n/a", "na", "unknown", "-", "tbd"})


def states_budget(properties: Mapping[str, Any] | None) -> bool:
    """Whether the lead names a budget: a positive number or words other than "none"."""
    value = (properties or {}).get("budget")
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return value > 0
    return isinstance(value, str) and value.strip().lower() not in _NO_BUDGET


def _title(lead: Lead, contact: Contact | None) -> str | None:
    props = lead.properties or {}
    for key in ("title", "job_title"):
        if isinstance(props.get(key), str) and props[key].strip():
            return str(props[key])
    return contact.title if contact else None


def _text(value: Any, *, max_length: int = 100) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:max_length]


def _country(*candidates: Any) -> str | None:
    for value in candidates:
        if isinstance(value, str) and len(value.strip()) == 2 and value.strip().isalpha():
            return value.strip().upper()
    return None


def _enrichment_value(enrichment: Mapping[str, Any] | None, *keys: str) -> Any:
    """The first of ``keys`` the enrichment answer carries, at the top or under
    ``company`` / ``geo`` (providers nest firmographics differently)."""
    if not enrichment:
        return None
    scopes: list[Mapping[str, Any]] = [enrichment]
    for nested in ("company", "geo", "metrics"):
        inner = enrichment.get(nested)
        if isinstance(inner, Mapping):
            scopes.append(inner)
    for scope in scopes:
        for key in keys:
            if scope.get(key) not in (None, ""):
                return scope[key]
    return None


def lead_country(lead: Lead, contact: Contact | None, company: Company | None) -> str | None:
    """The lead's territory: what enrichment found, else its company, else its contact."""
    return _country(
        _enrichment_value(lead.enrichment, "country", "country_code", "countryCode"),
        company.country if company else None,
        contact.country if contact else None,
    )


@dataclass(frozen=True, slots=True)
class _Related:
    contacts: dict[str, Contact]
    companies: dict[str, Company]
    # lead contact id -> every event key of that person (ids, normalised emails)
    keys: dict[str, set[str]]


async def _related(session: AsyncSession, leads: Sequence[Lead]) -> _Related:
    contact_ids = {lead.contact_id for lead in leads}
    contacts: dict[str, Contact] = {}
    keys: dict[str, set[str]] = defaultdict(set)
    if contact_ids:
        rows = await session.scalars(
            sa.select(Contact).where(
                sa.or_(Contact.id.in_(contact_ids), Contact.merged_into_id.in_(contact_ids))
            )
        )
        for contact in rows:
            owner = contact.id if contact.id in contact_ids else contact.merged_into_id
            assert owner is not None
            if contact.id in contact_ids:
                contacts[contact.id] = contact
            keys[owner].add(contact.id)
            if contact.email_normalized:
                keys[owner].add(contact.email_normalized)
    for lead in leads:
        keys[lead.contact_id].add(lead.contact_id)
        keys[lead.contact_id].add(lead.email.strip().lower())
    company_ids = {lead.company_id for lead in leads if lead.company_id} | {
        c.company_id for c in contacts.values() if c.company_id
    }
    companies: dict[str, Company] = {}
    if company_ids:
        rows_c = await session.scalars(sa.select(Company).where(Company.id.in_(company_ids)))
        companies = {c.id: c for c in rows_c}
    return _Related(contacts=contacts, companies=companies, keys=dict(keys))


async def _activity_times(
    session: AsyncSession, keys: Iterable[str]
) -> dict[str, list[dt.datetime]]:
    """Every tracked activity time per event key."""
    out: dict[str, list[dt.datetime]] = defaultdict(list)
    key_list = sorted(set(keys))
    for start in range(0, len(key_list), _KEY_CHUNK):
        chunk = key_list[start : start + _KEY_CHUNK]
        rows = await session.execute(
            sa.select(Event.aggregate_id, Event.occurred_at).where(
                Event.aggregate_id.in_(chunk), Event.type.startswith("activity.")
            )
        )
        for key, at in rows:
            out[key].append(at)
    return out


def _days(delta: dt.timedelta) -> float:
    return max(0.0, delta.total_seconds() / 86400.0)


async def gather_features(
    session: AsyncSession, leads: Sequence[Lead], *, as_of: Mapping[str, dt.datetime]
) -> dict[str, LeadFeatures]:
    """Features of each lead (by id) as of ``as_of[lead.id]``."""
    related = await _related(session, leads)
    times = await _activity_times(
        session, (k for lead in leads for k in related.keys.get(lead.contact_id, ()))
    )
    out: dict[str, LeadFeatures] = {}
    for lead in leads:
        moment = as_of[lead.id]
        contact = related.contacts.get(lead.contact_id)
        company_id = lead.company_id or (contact.company_id if contact else None)
        company = related.companies.get(company_id) if company_id else None
        seen = sorted(
            at
            for key in related.keys.get(lead.contact_id, ())
            for at in times.get(key, ())
            if at <= moment
        )
        recent = sum(1 for at in seen if at >= moment - ACTIVITY_WINDOW)
        employees = _parse_employees(
            _enrichment_value(lead.enrichment, "employees", "employee_count", "employeesRange")
        )
        if employees is None and company is not None:
            employees = company.employees
        industry = _text(_enrichment_value(lead.enrichment, "industry", "sector")) or (
            _text(company.industry) if company else None
        )
        out[lead.id] = LeadFeatures(
            employees=employees,
            industry=industry,
            country=lead_country(lead, contact, company),
            source=(lead.source or "unknown").strip().lower()[:40] or "unknown",
            activities_30d=recent,
            activities_total=len(seen),
            days_since_activity=_days(moment - seen[-1]) if seen else None,
            free_mail=is_free_mail(lead.email),
            has_phone=bool(lead.phone and lead.phone.strip()),
            message_length=len(lead.message.strip()) if lead.message else 0,
            lead_age_days=_days(moment - lead.created_at),
            title_seniority=title_seniority(_title(lead, contact)),
            has_budget=states_budget(lead.properties),
            enriched=lead.enrichment_status == "enriched",
        )
    return out


# --- how each feature reads in an explanation ------------------------------------------

FEATURE_GROUPS = (
    "employees",
    "industry",
    "country",
    "source",
    "engagement",
    "activity_recency",
    "email_domain",
    "phone",
    "message",
    "title",
    "budget",
    "enrichment",
    "lead_recency",
)

SENIORITY_LABELS = {
    0: "No job title known",
    1: "Job title given",
    2: "Manager or buyer",
    3: "Decision maker",
}


def describe(group: str, f: LeadFeatures) -> tuple[str, Any]:
    """``(label, value)`` of a feature group for ``f``, as a person would read it."""
    if group == "employees":
        band = f.employee_band
        return (
            ("Company size unknown", None)
            if band == "unknown"
            else (f"Company size {band} employees", band)
        )
    if group == "industry":
        return (f"Industry: {f.industry}", f.industry) if f.industry else ("Industry unknown", None)
    if group == "country":
        return (f"Country: {f.country}", f.country) if f.country else ("Country unknown", None)
    if group == "source":
        return f"Source: {f.source}", f.source
    if group == "engagement":
        n = f.activities_30d
        return f"{n} tracked {'activity' if n == 1 else 'activities'} in the last 30 days", n
    if group == "activity_recency":
        if f.days_since_activity is None:
            return "No tracked activity yet", None
        days = round(f.days_since_activity, 1)
        return f"Last activity {days:g} days ago", days
    if group == "email_domain":
        return (
            ("Free-mail address", "free_mail")
            if f.free_mail
            else ("Business email address", "business")
        )
    if group == "phone":
        return ("Phone number given", True) if f.has_phone else ("No phone number", False)
    if group == "message":
        n = f.message_length
        return (f"Message of {n} characters", n) if n else ("No message", 0)
    if group == "title":
        return SENIORITY_LABELS[f.title_seniority], f.title_seniority
    if group == "budget":
        return ("Budget stated", True) if f.has_budget else ("No budget stated", False)
    if group == "enrichment":
        return (
            ("Company found by enrichment", True)
            if f.enriched
            else ("Company not found by enrichment", False)
        )
    if group == "lead_recency":
        days = round(f.lead_age_days, 1)
        return f"Lead is {days:g} days old", days
    raise ValueError(f"unknown feature group {group!r}")


def log1p(value: float) -> float:
    return math.log1p(max(0.0, value))
