"""What the copilot may ask about companies (scope ``crm:read``): a company by name or
domain, with its contacts and deals. The answer carries its query, filters and the
company ids, and says itself in words (``speak``)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.phrases import counted, listed, noun
from bizos.core.tools import Figure, Said, SourceRef, Tool, ToolResult, tools_for
from bizos.modules.crm.companies import service
from bizos.modules.crm.companies.schemas import CompanyRead
from bizos.modules.crm.contacts.lookups import contacts_at
from bizos.modules.crm.contacts.tools import (
    DEALS_NAMED,
    DealBrief,
    Money,
    briefs,
    deals_said,
    plain,
    totals,
)
from bizos.modules.crm.deals import service as deals_service
from bizos.modules.crm.deals.schemas import OPEN_STAGES
from bizos.modules.crm.deals.tools import SCOPE, LookupParams, safe_quote
from bizos.modules.identity import service as identity_service

CONTACTS_NAMED = 5


class ContactBrief(BaseModel):
    id: str
    name: str | None
    email: str | None
    title: str | None


class CompanyFound(BaseModel):
    id: str
    name: str
    domain: str | None
    industry: str | None
    city: str | None
    country: str | None
    owner_id: str | None
    owner_name: str | None
    contact_count: int
    contacts: list[ContactBrief] = Field(description=f"Most recently active, {CONTACTS_NAMED}.")
    open_deal_count: int
    open_deal_value: list[Money] = Field(description="Per currency.")
    open_deals: list[DealBrief] = Field(description=f"The largest, at most {DEALS_NAMED}.")
    won_deal_count: int
    won_deal_value: list[Money] = Field(description="Per currency.")
    score: float = Field(description="How well the company matched the query, 0..1.")


class CompanyLookupValue(BaseModel):
    matches: list[CompanyFound] = Field(description="Best match first.")


async def _found(
    session: AsyncSession, ctx: Context, company: CompanyRead, score: float, owners: dict[str, str]
) -> CompanyFound:
    contacts, contact_count = await contacts_at(session, ctx, company.id, limit=CONTACTS_NAMED)
    deals = await deals_service.deals_of(session, ctx, company_ids=[company.id], open_only=False)
    open_deals = [d for d in deals if d.stage in OPEN_STAGES]
    won = [d for d in deals if d.stage == "won"]
    return CompanyFound(
        **company.model_dump(
            include={"id", "name", "domain", "industry", "city", "country", "owner_id"}
        ),
        owner_name=owners.get(company.owner_id or ""),
        contact_count=contact_count,
        contacts=[
            ContactBrief(**c.model_dump(include={"id", "name", "email", "title"})) for c in contacts
        ],
        open_deal_count=len(open_deals),
        open_deal_value=totals(open_deals),
        open_deals=briefs(open_deals[:DEALS_NAMED]),
        won_deal_count=len(won),
        won_deal_value=totals(won),
        score=score,
    )


async def company_lookup(session: AsyncSession, ctx: Context, params: LookupParams) -> ToolResult:
    """Companies by name or domain (forgiving typos), with their contacts and deals."""
    found = await service.find_companies(session, ctx, params.query, limit=params.limit)
    owners = await identity_service.user_names(session, ctx, [c.owner_id for c, _ in found])
    matches = [await _found(session, ctx, c, score, owners) for c, score in found]
    return ToolResult(
        value=CompanyLookupValue(matches=matches),
        query=(
            "live companies whose name or domain matches the query (case, accents and small "
            "typos forgiven), best match first, each with its live contacts counted and its "
            "open (lead to negotiation) and won deals counted and summed per currency"
        ),
        filters={"query": params.query, "limit": params.limit},
        records=[m.id for m in matches],
    )


def _contact_name(c: ContactBrief) -> str:
    return c.name or c.email or "a contact without a name"


def _company_facts(c: CompanyFound, figures: list[Figure]) -> str:
    domain = plain(c.domain)
    head = f"{c.name} ({domain})" if domain else c.name
    figures.append(Figure(f"contacts at {c.name}", c.contact_count, unit="contacts"))
    people = counted(c.contact_count, "contact")
    if c.contacts:
        people += " (" + listed(_contact_name(p) for p in c.contacts) + ")"
    facts = [f"{head} has {people}"]
    facts.append(
        deals_said(
            c.open_deal_count,
            c.open_deal_value,
            c.open_deals,
            kind="open",
            of=c.name,
            figures=figures,
        )
    )
    if c.won_deal_count:
        facts.append(
            deals_said(
                c.won_deal_count, c.won_deal_value, [], kind="won", of=c.name, figures=figures
            )
        )
    text = ", ".join(facts[:-1]) + " and " + facts[-1]
    if c.owner_name:
        text += f"; its owner is {c.owner_name}"
    return text + "."


def _sources(c: CompanyFound) -> list[SourceRef]:
    refs = [SourceRef("company", c.id, c.name)]
    refs.extend(SourceRef("contact", p.id, _contact_name(p)) for p in c.contacts)
    refs.extend(SourceRef("deal", d.id, d.name) for d in c.open_deals)
    return refs


def speak_company_lookup(params: LookupParams, result: ToolResult) -> Said:
    matches: list[CompanyFound] = result.value.matches
    if not matches:
        return Said(f"I found no company matching {safe_quote(params.query)}.")
    figures: list[Figure] = []
    sources = [ref for c in matches for ref in _sources(c)]
    if len(matches) == 1 or matches[0].score > matches[1].score:
        text = _company_facts(matches[0], figures)
        if len(matches) > 1:
            text += " Other matches: " + listed(c.name for c in matches[1:]) + "."
        return Said(text, figures, sources)
    figures.append(Figure("matching companies", len(matches), unit="companies"))
    text = (
        f"{len(matches)} {noun(len(matches), 'company', 'companies')} match: "
        + listed(c.name for c in matches)
        + "."
    )
    return Said(text, figures, sources)


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "crm.company_lookup",
        "Find a company by name or domain (typos forgiven): its contacts, open deals and "
        "won deals.",
        LookupParams,
        company_lookup,
        speak_company_lookup,
    ),
)
