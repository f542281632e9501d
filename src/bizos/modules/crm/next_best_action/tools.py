"""What the copilot may ask about next best actions (scope ``crm:read``): the ranked,
explained suggestions of ``next_best_action.service`` for a contact, for a deal's
contact, or, when neither is named, across the contacts behind the caller's open deals
and leads. Says itself in words (``speak``)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.phrases import listed
from bizos.core.tools import Said, SourceRef, Tool, ToolResult, tools_for
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.crm.deals import service as deals_service
from bizos.modules.crm.deals.tools import SCOPE
from bizos.modules.crm.next_best_action import service
from bizos.modules.crm.next_best_action.schemas import Action

# How many contacts are looked at when no contact or deal is named.
CONTACTS_SCANNED = 25


class NextActionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: str | None = Field(default=None, max_length=36, description="For this contact.")
    deal_id: str | None = Field(
        default=None, max_length=36, description="For this deal's contact (its actions first)."
    )
    limit: int = Field(default=5, ge=1, le=20, description="Suggestions to return at most.")

    @model_validator(mode="after")
    def _one_subject(self) -> Self:
        if self.contact_id and self.deal_id:
            raise ValueError("give contact_id or deal_id, not both")
        return self


class ActionItem(BaseModel):
    contact_id: str
    contact_name: str
    action: Action
    title: str
    reason: str
    priority: int = Field(description="0-100, highest first.")
    related_type: str
    related_id: str


class NextActionsValue(BaseModel):
    subject: Literal["contact", "deal", "mine", "everyone"]
    contact_id: str | None
    contact_name: str | None
    deal_id: str | None
    deal_name: str | None
    items: list[ActionItem] = Field(description="Highest priority first.")
    suppressed: int = Field(
        description="Suggestions withheld: the contact asked not to be contacted."
    )


async def _for_contact(
    session: AsyncSession, ctx: Context, contact_id: str
) -> tuple[str, str, list[ActionItem], int]:
    """The contact's id (its survivor's, if merged), name, suggestions and how many
    were withheld."""
    contact = await contacts_service.read_contact(session, ctx, contact_id)
    name = contact.name or contact.email or "the contact"
    found = await service.next_actions(session, ctx, contact.id)
    items = [
        ActionItem(
            contact_id=contact.id,
            contact_name=name,
            related_type=a.related.type,
            related_id=a.related.id,
            **a.model_dump(include={"action", "title", "reason", "priority"}),
        )
        for a in found.items
    ]
    return contact.id, name, items, len(found.suppressed)


async def next_best_actions(
    session: AsyncSession, ctx: Context, params: NextActionsParams
) -> ToolResult:
    """Ranked next actions for a contact, a deal's contact, or the caller's pipeline."""
    deal_name = contact_name = contact_id = None
    subject: Literal["contact", "deal", "mine", "everyone"]
    if params.deal_id is not None:
        deal = await deals_service.read_deal(session, ctx, params.deal_id)
        subject, deal_name, contact_id = "deal", deal.name, deal.contact_id
        contacts = [deal.contact_id] if deal.contact_id else []
    elif params.contact_id is not None:
        subject, contact_id, contacts = "contact", params.contact_id, [params.contact_id]
    else:
        mine = ctx.actor_type == "user" and ctx.actor_id is not None
        subject = "mine" if mine else "everyone"
        contacts = await service.contacts_to_act_on(
            session, ctx, owner_id=ctx.actor_id if mine else None, limit=CONTACTS_SCANNED
        )
    items: list[ActionItem] = []
    suppressed = 0
    for one in contacts:
        live_id, name, found, withheld = await _for_contact(session, ctx, one)
        items.extend(found)
        suppressed += withheld
        if subject in ("contact", "deal"):
            contact_id, contact_name = live_id, name
    # The deal's own suggestions first, then by priority (the sort is stable).
    items.sort(key=lambda i: (-(i.related_id == params.deal_id), -i.priority))
    items = items[: params.limit]
    return ToolResult(
        value=NextActionsValue(
            subject=subject,
            contact_id=contact_id,
            contact_name=contact_name,
            deal_id=params.deal_id,
            deal_name=deal_name,
            items=items,
            suppressed=suppressed,
        ),
        query=(
            "next best actions derived from the current state by the tenant's rules "
            "(follow-up, stalled deal, hot lead, overdue task, customer check-in), highest "
            "priority first; records are the records each action is about"
        ),
        filters={
            "contact_id": params.contact_id,
            "deal_id": params.deal_id,
            "limit": params.limit,
            "contacts": subject,
        },
        records=list(dict.fromkeys(i.related_id for i in items)),
    )


def _whom(value: NextActionsValue) -> str:
    if value.subject == "deal":
        return f"the deal {value.deal_name}"
    if value.subject == "contact":
        return value.contact_name or "that contact"
    return "your open deals and leads" if value.subject == "mine" else "the open deals and leads"


def speak_next_best_actions(params: NextActionsParams, result: ToolResult) -> Said:
    value: NextActionsValue = result.value
    sources: list[SourceRef] = []  # duplicates dropped at the end
    if value.deal_id and value.deal_name:
        sources.append(SourceRef("deal", value.deal_id, value.deal_name))
    if value.contact_id and value.contact_name:
        sources.append(SourceRef("contact", value.contact_id, value.contact_name))
    if not value.items:
        text = f"Nothing needs doing for {_whom(value)} right now."
        if value.subject == "deal" and not value.contact_id:
            text = f"The deal {value.deal_name} has no contact, so I have no suggestions for it."
        return Said(text, [], sources)
    named_contact = value.subject in ("contact", "deal")
    parts = []
    for item in value.items:
        sources.append(SourceRef(item.related_type, item.related_id, item.title, item.reason))
        if not named_contact:
            sources.append(SourceRef("contact", item.contact_id, item.contact_name))
        known = named_contact or item.contact_name in item.title
        parts.append(item.title if known else f"{item.title} ({item.contact_name})")
    text = f"Next for {_whom(value)}: {listed(parts)}."
    if value.suppressed:
        text += " Some suggestions are held back: the contact asked not to be contacted."
    return Said(text, [], list(dict.fromkeys(sources)))


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "crm.next_best_actions",
        "What to do next, ranked and explained: for a contact, for a deal (its contact), or "
        "by default across the caller's open deals and leads.",
        NextActionsParams,
        next_best_actions,
        speak_next_best_actions,
    ),
)
