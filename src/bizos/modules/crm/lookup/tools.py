"""What the copilot may look up in the CRM (scope ``crm:read``): a deal, a contact or a
company by what a person calls it (case, accents and small typos forgiven), with the
facts around it: a deal's stage, value, owner and close date; a contact's company,
lifecycle stage, open deals and last activity; a company's contacts and deals. Each
answer carries its query, filters and record ids, and says itself in words."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.money import spoken
from bizos.core.phrases import counted, digit_free, listed, named, noun
from bizos.core.tools import Figure, Said, SourceRef, Tool, ToolResult, tools_for
from bizos.modules.crm.companies import service as companies_service
from bizos.modules.crm.companies.schemas import CompanyRead
from bizos.modules.crm.contacts.lookups import contacts_at, find_contacts
from bizos.modules.crm.contacts.schemas import ContactRead
from bizos.modules.crm.deals import lookups as deal_lookups
from bizos.modules.crm.deals.schemas import OPEN_STAGES, DealMatch, DealRead
from bizos.modules.crm.deals.tools import SCOPE, stage_name
from bizos.modules.crm.lookup.schemas import (
    CONTACTS_NAMED,
    DEALS_NAMED,
    CompanyFound,
    CompanyLookupValue,
    ContactBrief,
    ContactFound,
    ContactLookupValue,
    DealBrief,
    DealFound,
    DealLookupValue,
    LookupParams,
    Money,
)
from bizos.modules.identity import service as identity_service


def briefs(deals: Iterable[DealRead]) -> list[DealBrief]:
    return [DealBrief(**d.model_dump(include=set(DealBrief.model_fields))) for d in deals]


def totals(deals: Iterable[DealRead]) -> list[Money]:
    """The deals' amounts summed per currency (no conversion), by currency code."""
    sums: dict[str, Decimal] = {}
    for deal in deals:
        sums[deal.currency] = sums.get(deal.currency, Decimal("0.00")) + deal.amount
    return [Money(currency=c, amount=a) for c, a in sorted(sums.items())]


def worth(money: list[Money], label: str, figures: list[Figure]) -> str:
    """``"$1,200.00 and €300.00"``, each amount a figure labelled ``label (currency)``."""
    for m in money:
        figures.append(Figure(f"{label} ({m.currency})", m.amount, currency=m.currency))
    return " and ".join(spoken(m.amount, m.currency) for m in money)


def deals_said(
    count: int,
    money: list[Money],
    named: list[DealBrief],
    *,
    kind: str,
    of: str,
    figures: list[Figure],
) -> str:
    """``"2 open deals worth $15,000.00 (Beans in Proposal; Grinder in Lead)"``; the
    figures are labelled ``<kind> deals of <of>``."""
    label = f"{kind} deals of {of}"
    figures.append(Figure(label, count, unit="deals"))
    text = counted(count, f"{kind} deal")
    if money:
        text += f" worth {worth(money, f'value of {label}', figures)}"
    if named:
        stages = any(d.stage not in ("won", "lost") for d in named)
        text += (
            " ("
            + listed(f"{d.name} in {stage_name(d.stage)}" if stages else d.name for d in named)
            + ")"
        )
    return text


# --- crm.deal_lookup ------------------------------------------------------------------


def _deal_found(match: DealMatch, owners: dict[str, str]) -> DealFound:
    deal = match.deal
    return DealFound(
        **deal.model_dump(
            include={"id", "name", "stage", "amount", "currency", "is_closed", "close_date"}
        ),
        owner_id=deal.owner_id,
        owner_name=owners.get(deal.owner_id or ""),
        contact_id=deal.contact_id,
        contact_name=match.contact_name,
        company_id=deal.company_id,
        company_name=match.company_name,
        score=match.score,
    )


async def deal_lookup(session: AsyncSession, ctx: Context, params: LookupParams) -> ToolResult:
    """Deals by name, company or contact (forgiving typos), or by id."""
    matches = await deal_lookups.find_deals(session, ctx, params.query, limit=params.limit)
    owners = await identity_service.user_names(session, ctx, [m.deal.owner_id for m in matches])
    found = [_deal_found(m, owners) for m in matches]
    return ToolResult(
        value=DealLookupValue(matches=found),
        query=(
            "deals whose name, company or contact matches the query (case, accents and "
            "small typos forgiven), best match first; an exact deal id matches itself"
        ),
        filters={"query": params.query, "limit": params.limit},
        records=[d.id for d in found],
    )


def deal_sources(deal: DealFound) -> list[SourceRef]:
    refs = [SourceRef("deal", deal.id, deal.name)]
    if deal.contact_id and deal.contact_name:
        refs.append(SourceRef("contact", deal.contact_id, deal.contact_name))
    if deal.company_id and deal.company_name:
        refs.append(SourceRef("company", deal.company_id, deal.company_name))
    return refs


def _deal_facts(deal: DealFound) -> str:
    money = spoken(deal.amount, deal.currency)
    if deal.is_closed:
        state = f"was {deal.stage}" + (
            f" on {deal.close_date.isoformat()}" if deal.close_date else ""
        )
        facts = [f"{deal.name} {state}, {money}"]
    else:
        facts = [f"{deal.name} is in {stage_name(deal.stage)}, {money}"]
        if deal.close_date:
            facts.append(f"expected to close on {deal.close_date.isoformat()}")
    if deal.owner_name:
        facts.append(f"owned by {deal.owner_name}")
    if deal.contact_name or deal.company_name:
        who = " at ".join(n for n in (deal.contact_name, deal.company_name) if n)
        facts.append(f"with {who}")
    return ", ".join(facts)


def _clear_winner(matches: list[Any]) -> bool:
    return len(matches) == 1 or matches[0].score > matches[1].score


def _matching(
    matches: list[Any], limit: int, singular: str, plural: str, figures: list[Figure]
) -> str:
    """``"3 deals match"``, or ``"The best matches"`` when the list was cut at ``limit``
    (there may be more)."""
    if len(matches) >= limit:
        return "The best matches"
    figures.insert(0, Figure(f"matching {plural}", len(matches), unit=plural))
    return f"{len(matches)} {noun(len(matches), singular, plural)} match"


def speak_deal_lookup(params: LookupParams, result: ToolResult) -> Said:
    matches: list[DealFound] = result.value.matches
    if not matches:
        return Said(f"I found no deal matching {named(params.query)}.")
    figures = [Figure(f"{d.name} amount", d.amount, currency=d.currency) for d in matches]
    sources = [ref for d in matches for ref in deal_sources(d)]
    if _clear_winner(matches):
        text = _deal_facts(matches[0]) + "."
        if len(matches) > 1:
            text += " Other matches: " + listed(d.name for d in matches[1:]) + "."
        return Said(text, figures, sources)
    head = _matching(matches, params.limit, "deal", "deals", figures)
    parts = [f"{d.name} ({stage_name(d.stage)}, {spoken(d.amount, d.currency)})" for d in matches]
    text = f"{head}: {listed(parts)}."
    return Said(text, figures, sources)


# --- crm.contact_lookup ---------------------------------------------------------------


def _contact_found(
    contact: ContactRead, score: float, deals: list[DealRead], owners: dict[str, str]
) -> ContactFound:
    mine = [d for d in deals if d.contact_id == contact.id]
    return ContactFound(
        **contact.model_dump(
            include={
                "id",
                "name",
                "email",
                "phone",
                "company",
                "company_id",
                "title",
                "lifecycle_stage",
                "owner_id",
                "do_not_contact",
                "last_activity_at",
            }
        ),
        owner_name=owners.get(contact.owner_id or ""),
        open_deal_count=len(mine),
        open_deal_value=totals(mine),
        open_deals=briefs(mine[:DEALS_NAMED]),
        score=score,
    )


async def contact_lookup(session: AsyncSession, ctx: Context, params: LookupParams) -> ToolResult:
    """Contacts by name, email, company or phone (forgiving typos), with key facts."""
    found = await find_contacts(session, ctx, params.query, limit=params.limit)
    deals = await deal_lookups.deals_of(session, ctx, contact_ids=[c.id for c, _ in found])
    owners = await identity_service.user_names(session, ctx, [c.owner_id for c, _ in found])
    matches = [_contact_found(c, score, deals, owners) for c, score in found]
    return ToolResult(
        value=ContactLookupValue(matches=matches),
        query=(
            "live contacts whose name, email, company or phone matches the query (case, "
            "accents and small typos forgiven), best match first, each with its open deals "
            "(stage lead to negotiation) counted and summed per currency"
        ),
        filters={"query": params.query, "limit": params.limit},
        records=[m.id for m in matches],
    )


def contact_title(contact: ContactFound) -> str:
    return contact.name or contact.email or "a contact without a name"


def _contact_facts(c: ContactFound, figures: list[Figure]) -> str:
    who = contact_title(c)
    email = digit_free(c.email) if c.name else None
    head = f"{who} ({email})" if email else who
    company = f" at {c.company}" if c.company else ""
    text = f"{head}{company} is a {c.lifecycle_stage.replace('_', ' ')}"
    if c.owner_name:
        text += f" owned by {c.owner_name}"
    if c.open_deal_count:
        deals = deals_said(
            c.open_deal_count,
            c.open_deal_value,
            c.open_deals,
            kind="open",
            of=who,
            figures=figures,
        )
        text += f", with {deals}"
    else:
        text += ", with no open deals"
    if c.last_activity_at:
        text += f"; last activity on {c.last_activity_at.date().isoformat()}"
    text += "."
    if c.do_not_contact:
        text += " They asked not to be contacted."
    return text


def _contact_sources(c: ContactFound) -> list[SourceRef]:
    refs = [SourceRef("contact", c.id, contact_title(c))]
    if c.company_id and c.company:
        refs.append(SourceRef("company", c.company_id, c.company))
    refs.extend(SourceRef("deal", d.id, d.name) for d in c.open_deals)
    return refs


def speak_contact_lookup(params: LookupParams, result: ToolResult) -> Said:
    matches: list[ContactFound] = result.value.matches
    if not matches:
        return Said(f"I found no contact matching {named(params.query)}.")
    figures: list[Figure] = []
    sources = [ref for c in matches for ref in _contact_sources(c)]
    if len(matches) == 1 or matches[0].score > matches[1].score:
        text = _contact_facts(matches[0], figures)
        if len(matches) > 1:
            text += " Other matches: " + listed(contact_title(c) for c in matches[1:]) + "."
        return Said(text, figures, sources)
    head = _matching(matches, params.limit, "contact", "contacts", figures)
    parts = []
    for c in matches:
        about = ", ".join(x for x in (c.company, c.lifecycle_stage.replace("_", " ")) if x)
        parts.append(f"{contact_title(c)} ({about})")
    text = f"{head}: {listed(parts)}."
    return Said(text, figures, sources)


# --- crm.company_lookup ---------------------------------------------------------------


async def _company_found(
    session: AsyncSession, ctx: Context, company: CompanyRead, score: float, owners: dict[str, str]
) -> CompanyFound:
    contacts, contact_count = await contacts_at(session, ctx, company.id, limit=CONTACTS_NAMED)
    deals = await deal_lookups.deals_of(session, ctx, company_ids=[company.id], open_only=False)
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
    found = await companies_service.find_companies(session, ctx, params.query, limit=params.limit)
    owners = await identity_service.user_names(session, ctx, [c.owner_id for c, _ in found])
    matches = [await _company_found(session, ctx, c, score, owners) for c, score in found]
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
    domain = digit_free(c.domain)
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


def _company_sources(c: CompanyFound) -> list[SourceRef]:
    refs = [SourceRef("company", c.id, c.name)]
    refs.extend(SourceRef("contact", p.id, _contact_name(p)) for p in c.contacts)
    refs.extend(SourceRef("deal", d.id, d.name) for d in c.open_deals)
    return refs


def speak_company_lookup(params: LookupParams, result: ToolResult) -> Said:
    matches: list[CompanyFound] = result.value.matches
    if not matches:
        return Said(f"I found no company matching {named(params.query)}.")
    figures: list[Figure] = []
    sources = [ref for c in matches for ref in _company_sources(c)]
    if len(matches) == 1 or matches[0].score > matches[1].score:
        text = _company_facts(matches[0], figures)
        if len(matches) > 1:
            text += " Other matches: " + listed(c.name for c in matches[1:]) + "."
        return Said(text, figures, sources)
    head = _matching(matches, params.limit, "company", "companies", figures)
    text = f"{head}: {listed(c.name for c in matches)}."
    return Said(text, figures, sources)


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "crm.deal_lookup",
        "Find a deal by its name, its company or its contact (typos forgiven): stage, value, "
        "owner, expected close date.",
        LookupParams,
        deal_lookup,
        speak_deal_lookup,
    ),
    (
        "crm.contact_lookup",
        "Find a contact by name, email, company or phone (typos forgiven): their company, "
        "lifecycle stage, owner, open deals and last activity.",
        LookupParams,
        contact_lookup,
        speak_contact_lookup,
    ),
    (
        "crm.company_lookup",
        "Find a company by name or domain (typos forgiven): its contacts, open deals and "
        "won deals.",
        LookupParams,
        company_lookup,
        speak_company_lookup,
    ),
)
