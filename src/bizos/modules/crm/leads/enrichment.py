"""What enrichment found out about a lead's company, recorded on the lead.

The lead flow looks the company up by the lead's email domain outside any transaction
(:func:`plan_lookup` says whether and where), then records the outcome here in one unit
of work: ``enriched`` (the company is upserted by domain and the contact linked to it),
``not_found``, ``skipped`` (a free-mail address says nothing about a company) or
``failed`` (the provider kept failing; the flow carries on without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.enrichment import CompanyProfile, Enricher
from bizos.connectors.enrichment.resolver import enricher_for
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.modules.crm.companies import service as companies
from bizos.modules.crm.contacts import service as contacts
from bizos.modules.crm.leads.service import get_lead
from bizos.modules.crm.models import Contact, Lead
from bizos.modules.crm.normalize import email_domain, is_free_mail
from bizos.modules.crm.records import record_event

log = structlog.get_logger("bizos.crm.leads")

LookupStatus = Literal["enriched", "not_found", "skipped", "failed", "recorded"]


@dataclass(frozen=True, slots=True)
class LookupOutcome:
    """The result of a company lookup; plain data, so a workflow can record it."""

    status: LookupStatus
    domain: str | None = None
    provider: str | None = None
    profile: CompanyProfile | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LookupPlan:
    """Where to look: ``enricher`` is ``None`` when there is nothing to look up, and
    ``outcome`` then says why."""

    domain: str | None
    enricher: Enricher | None
    outcome: LookupOutcome | None


async def plan_lookup(session: AsyncSession, ctx: Context, lead_id: str) -> LookupPlan:
    lead = await get_lead(session, ctx, lead_id)
    if lead.enrichment_status != "pending":
        return LookupPlan(None, None, LookupOutcome("recorded"))
    domain = email_domain(lead.email)
    if is_free_mail(domain):
        return LookupPlan(domain, None, LookupOutcome("skipped", domain=domain))
    return LookupPlan(domain, await enricher_for(session, ctx), None)


async def record_enrichment(
    session: AsyncSession, ctx: Context, lead_id: str, *, outcome: LookupOutcome
) -> Lead:
    """Record a lookup's outcome once (a lead already past ``pending`` is left alone):
    ``crm.lead.enriched`` for enriched, not found and skipped, or
    ``crm.lead.enrichment_failed``."""
    lead = await get_lead(session, ctx, lead_id, for_update=True)
    if lead.enrichment_status != "pending" or outcome.status == "recorded":
        return lead
    if outcome.status == "enriched" and outcome.profile is not None:
        await _link_company(session, ctx, lead, outcome.profile, outcome.provider)
    elif outcome.status in ("not_found", "failed") and outcome.domain and lead.company:
        # The provider could not say more, but the person named their company and its
        # domain is theirs: keep that much.
        company = await companies.upsert_company_by_domain(
            session, ctx, domain=outcome.domain, name=lead.company
        )
        await _link(session, ctx, lead, company.id)
    lead.enrichment_status = outcome.status
    lead.version += 1
    await session.flush()
    data: dict[str, Any] = {
        "status": outcome.status,
        "domain": outcome.domain,
        "provider": outcome.provider,
        "company_id": lead.company_id,
    }
    if outcome.status == "failed":
        data["error"] = outcome.error
    event = "crm.lead.enrichment_failed" if outcome.status == "failed" else "crm.lead.enriched"
    await record_event(session, ctx, event, lead, "lead", data)
    log.info(event, lead_id=lead.id, status=outcome.status, provider=outcome.provider)
    return lead


# What a provider's company profile fills in on the company (blank fields only).
_PROFILE_FIELDS = ("name", "industry", "employees", "country", "city", "annual_revenue")


async def _link_company(
    session: AsyncSession,
    ctx: Context,
    lead: Lead,
    profile: CompanyProfile,
    provider: str | None,
) -> None:
    fetched_at = utcnow().isoformat()
    known = {name: getattr(profile, name) for name in _PROFILE_FIELDS}
    enrichment = {**profile.raw, "provider": provider, "fetched_at": fetched_at}
    company = await companies.upsert_company_by_domain(
        session, ctx, domain=profile.domain, **known, enrichment=enrichment
    )
    await _link(session, ctx, lead, company.id)
    lead.enrichment = {
        **profile.summary(),
        "company": profile.name,
        "company_id": company.id,
        "provider": provider,
        "fetched_at": fetched_at,
    }


async def _link(session: AsyncSession, ctx: Context, lead: Lead, company_id: str) -> None:
    """The lead is at this company; so is its contact, unless someone already said the
    contact works elsewhere (a person's choice beats a domain's guess)."""
    current = await session.scalar(
        sa.select(Contact.company_id).where(
            Contact.tenant_id == ctx.require_tenant(), Contact.id == lead.contact_id
        )
    )
    if current is None:
        await contacts.set_company(session, ctx, lead.contact_id, company_id)
    lead.company_id = company_id
