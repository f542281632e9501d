"""What the copilot may ask about contacts (scope ``crm:read``): a contact by name,
email, company or phone, with their company, lifecycle stage, open deals and last
activity. The answer carries its query, filters and the contact ids, and says itself in
words (``speak``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.money import spoken
from bizos.core.phrases import counted, listed, noun
from bizos.core.tools import Figure, Said, SourceRef, Tool, ToolResult, tools_for
from bizos.modules.crm.contacts.lookups import find_contacts
from bizos.modules.crm.contacts.schemas import ContactRead
from bizos.modules.crm.deals import service as deals_service
from bizos.modules.crm.deals.schemas import DealRead, Stage
from bizos.modules.crm.deals.tools import SCOPE, LookupParams, safe_quote, stage_name
from bizos.modules.identity import service as identity_service

# How many of a record's deals an answer names (the count and value cover them all).
DEALS_NAMED = 5


class DealBrief(BaseModel):
    id: str
    name: str
    stage: Stage
    amount: Decimal
    currency: str


class Money(BaseModel):
    currency: str
    amount: Decimal


def briefs(deals: Iterable[DealRead]) -> list[DealBrief]:
    return [DealBrief(**d.model_dump(include=set(DealBrief.model_fields))) for d in deals]


def totals(deals: Iterable[DealRead]) -> list[Money]:
    """The deals' amounts summed per currency (no conversion), by currency code."""
    sums: dict[str, Decimal] = {}
    for deal in deals:
        sums[deal.currency] = sums.get(deal.currency, Decimal("0.00")) + deal.amount
    return [Money(currency=c, amount=a) for c, a in sorted(sums.items())]


def plain(text: str | None) -> str | None:
    """``text`` when it holds no digit (an answer may only write numbers it can back
    with a figure or a record's title), else None."""
    return text if text and not any(c.isdigit() for c in text) else None


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


# --- crm.contact_lookup ---------------------------------------------------------------


class ContactFound(BaseModel):
    id: str
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    company_id: str | None
    title: str | None
    lifecycle_stage: str
    owner_id: str | None
    owner_name: str | None
    do_not_contact: bool
    last_activity_at: dt.datetime | None
    open_deal_count: int
    open_deal_value: list[Money] = Field(description="Per currency.")
    open_deals: list[DealBrief] = Field(description=f"The largest, at most {DEALS_NAMED}.")
    score: float = Field(description="How well the contact matched the query, 0..1.")


class ContactLookupValue(BaseModel):
    matches: list[ContactFound] = Field(description="Best match first.")


def _found(
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
    deals = await deals_service.deals_of(session, ctx, contact_ids=[c.id for c, _ in found])
    owners = await identity_service.user_names(session, ctx, [c.owner_id for c, _ in found])
    matches = [_found(c, score, deals, owners) for c, score in found]
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
    email = plain(c.email) if c.name else None
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


def _sources(c: ContactFound) -> list[SourceRef]:
    refs = [SourceRef("contact", c.id, contact_title(c))]
    if c.company_id and c.company:
        refs.append(SourceRef("company", c.company_id, c.company))
    refs.extend(SourceRef("deal", d.id, d.name) for d in c.open_deals)
    return refs


def speak_contact_lookup(params: LookupParams, result: ToolResult) -> Said:
    matches: list[ContactFound] = result.value.matches
    if not matches:
        return Said(f"I found no contact matching {safe_quote(params.query)}.")
    figures: list[Figure] = []
    sources = [ref for c in matches for ref in _sources(c)]
    if len(matches) == 1 or matches[0].score > matches[1].score:
        text = _contact_facts(matches[0], figures)
        if len(matches) > 1:
            text += " Other matches: " + listed(contact_title(c) for c in matches[1:]) + "."
        return Said(text, figures, sources)
    figures.append(Figure("matching contacts", len(matches), unit="contacts"))
    parts = []
    for c in matches:
        about = ", ".join(x for x in (c.company, c.lifecycle_stage.replace("_", " ")) if x)
        parts.append(f"{contact_title(c)} ({about})")
    text = f"{len(matches)} {noun(len(matches), 'contact')} match: {listed(parts)}."
    return Said(text, figures, sources)


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "crm.contact_lookup",
        "Find a contact by name, email, company or phone (typos forgiven): their company, "
        "lifecycle stage, owner, open deals and last activity.",
        LookupParams,
        contact_lookup,
        speak_contact_lookup,
    ),
)
