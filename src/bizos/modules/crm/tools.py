"""What the copilot (and MCP clients) may ask and do in crm: read tools answer with their
query, filters and records; action tools propose a change and make it once confirmed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Unprocessable, field_error
from bizos.core.money import spoken
from bizos.core.tools import (
    Figure,
    Proposal,
    Said,
    Tool,
    ToolResult,
    actions_for,
    unfigured_numbers,
)
from bizos.modules.crm.companies import service as companies
from bizos.modules.crm.contacts import notes
from bizos.modules.crm.contacts import service as contacts
from bizos.modules.crm.contacts.schemas import ContactRead
from bizos.modules.crm.deals import service as deals

# --- read tools -----------------------------------------------------------------------
# Each part keeps its read tools in its own tools room (scope crm:read); they are listed
# here in the order a planner reads them.
from bizos.modules.crm.deals import tools as deals_tools
from bizos.modules.crm.deals.schemas import DealRead, Reason, Stage
from bizos.modules.crm.forecast import tools as forecast_tools
from bizos.modules.crm.leads import tools as leads_tools
from bizos.modules.crm.lookup import tools as lookup_tools
from bizos.modules.crm.next_best_action import tools as next_best_action_tools
from bizos.modules.work import service as work

_BY_NAME = {
    tool.name: tool
    for tool in (
        *deals_tools.TOOLS,
        *forecast_tools.TOOLS,
        *leads_tools.TOOLS,
        *lookup_tools.TOOLS,
        *next_best_action_tools.TOOLS,
    )
}
READ_TOOLS: list[Tool] = [
    _BY_NAME[name]
    for name in (
        "crm.pipeline",
        "crm.forecast",
        "crm.leads",
        "crm.hot_leads",
        "crm.deal_lookup",
        "crm.contact_lookup",
        "crm.company_lookup",
        "crm.next_best_actions",
    )
]

# --- action tools ---------------------------------------------------------------------

WRITE_SCOPE = "crm:write"
RecordId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]
NoteBody = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
# What a deal proposal shows, before and after: the fields a move changes, and its name.
_DEAL_FIELDS = (
    "id",
    "name",
    "stage",
    "amount",
    "currency",
    "close_date",
    "close_reason",
    "is_closed",
    "contact_id",
    "owner_id",
)


class AddNoteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_type: Literal["contact", "deal", "company"]
    record_id: RecordId
    body: NoteBody


class MoveDealParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deal_id: RecordId
    stage: Stage
    close_reason: Reason | None = Field(
        default=None, description="Why it was won or lost (a lost deal needs one by default)."
    )


class DraftEmailParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: RecordId
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


async def _record_title(
    session: AsyncSession, ctx: Context, record_type: str, record_id: str
) -> tuple[str, str]:
    """The id a note would hang on (a merged contact's survivor) and the record's name;
    404 when the tenant has no such record, as the API answers."""
    if record_type == "contact":
        contact = await contacts.read_contact(session, ctx, record_id)
        return contact.id, contact.name or contact.email or "contact"
    if record_type == "company":
        company = await companies.get_company(session, ctx, record_id)
        return company.id, company.name
    deal = await deals.read_deal(session, ctx, record_id)
    return deal.id, deal.name


async def propose_note(session: AsyncSession, ctx: Context, params: AddNoteParams) -> Proposal:
    """The note that would be added (``before`` is None)."""
    subject_id, title = await _record_title(session, ctx, params.record_type, params.record_id)
    after = {
        "subject_type": params.record_type,
        "subject_id": subject_id,
        "body": params.body,
        "author_id": ctx.actor_id,
    }
    record = f'{params.record_type} "{title}"' if _plain(title) else f"the {params.record_type}"
    excerpt = _excerpt(params.body)
    said = f": {excerpt}" if _plain(excerpt) else " (its text as shown)"
    return Proposal(summary=f"Add a note to {record}{said}", before=None, after=after)


async def add_note(session: AsyncSession, ctx: Context, params: AddNoteParams) -> ToolResult:
    """Add the note through the notes service (``crm.note.created``, audited)."""
    row = await notes.create_note(
        session,
        ctx,
        subject_type=params.record_type,
        subject_id=params.record_id,
        body=params.body,
    )
    note = notes.note_read(row)
    return ToolResult(
        value=note,
        query=f"added a note to {note.subject_type} {note.subject_id}",
        filters={"record_type": note.subject_type, "record_id": note.subject_id},
        records=[note.id],
    )


def _deal_view(deal: DealRead) -> dict[str, Any]:
    return deal.model_dump(mode="json", include=set(_DEAL_FIELDS))


async def _move_preview(
    session: AsyncSession, ctx: Context, params: MoveDealParams
) -> tuple[DealRead, DealRead]:
    """The deal before and after the move, refused as the API refuses it (404, 409 for a
    closed deal, 422 naming the stage rules it breaks), and 422 when it is already there."""
    before, after = await deals.preview_move(
        session, ctx, params.deal_id, stage=params.stage, close_reason=params.close_reason
    )
    if before.stage == params.stage:
        raise Unprocessable(
            f"the deal is already in {params.stage}",
            errors=[field_error(["params", "stage"], f"already {params.stage}")],
        )
    return before, after


async def propose_move(session: AsyncSession, ctx: Context, params: MoveDealParams) -> Proposal:
    """The deal before and after the move; the summary names it, its stages and its
    amount (a figure, whose label carries the deal's name)."""
    before, after = await _move_preview(session, ctx, params)
    amount = Figure(f'amount of deal "{before.name}"', before.amount, currency=before.currency)
    summary = (
        f'Move deal "{before.name}" ({spoken(before.amount, before.currency)}) '
        f"from {before.stage} to {after.stage}"
    )
    if params.close_reason:
        summary += (
            f" ({params.close_reason})" if _plain(params.close_reason) else " (reason as shown)"
        )
    return Proposal(
        summary=summary, before=_deal_view(before), after=_deal_view(after), figures=[amount]
    )


async def move_deal(session: AsyncSession, ctx: Context, params: MoveDealParams) -> ToolResult:
    """Move the deal through the deals service: stage history, ``crm.deal.stage_changed``
    (and won/lost), the stage's template tasks, audited."""
    await _move_preview(session, ctx, params)
    changes: dict[str, Any] = {"stage": params.stage}
    if params.close_reason:
        changes["close_reason"] = params.close_reason
    row = await deals.update_deal(session, ctx, params.deal_id, changes=changes)
    deal = deals.deal_read(row)
    return ToolResult(
        value=deal,
        query=f'moved deal "{deal.name}" to {deal.stage}',
        filters={"deal_id": deal.id, "stage": deal.stage},
        records=[deal.id],
    )


# An email draft is a task for a person to review and send: outreach only sends, and the
# task puts the draft in the right hands (the caller's list, the contact's timeline).
DRAFT_ORIGIN = "crm.email_draft"


def _recipient(contact: ContactRead) -> str:
    """The contact's address, or 422 when there is none or they asked not to be
    contacted (a draft nobody may send is no help)."""
    if contact.do_not_contact:
        raise Unprocessable(
            "the contact asked not to be contacted",
            errors=[field_error(["params", "contact_id"], "do not contact")],
        )
    if not contact.email:
        raise Unprocessable(
            "the contact has no email address",
            errors=[field_error(["params", "contact_id"], "no email address")],
        )
    return contact.email


def _draft_task(ctx: Context, contact: ContactRead, params: DraftEmailParams) -> dict[str, Any]:
    """The task holding the draft: the caller's (an API key's goes to the contact's
    owner), about the contact, its description the email as it would be sent."""
    to = _recipient(contact)
    name = contact.name or to
    assignee = ctx.actor_id if ctx.actor_type == "user" else contact.owner_id
    draft = f"To: {name} <{to}>\nSubject: {params.subject}\n\n{params.body}"
    return {
        "title": _excerpt(f"Review and send email to {name}: {params.subject}", 300),
        "description": draft,
        "assignee_id": assignee,
        "related_type": "contact",
        "related_id": contact.id,
        "contact_id": contact.id,
    }


async def propose_draft(session: AsyncSession, ctx: Context, params: DraftEmailParams) -> Proposal:
    """The draft and the task it would wait in (``before`` is None); nothing is sent."""
    contact = await contacts.read_contact(session, ctx, params.contact_id)
    task = _draft_task(ctx, contact, params)
    await work.check_new_task(session, ctx, title=task["title"], assignee_id=task["assignee_id"])
    after = {
        **task,
        "status": "open",
        "email": {"to": contact.email, "subject": params.subject, "body": params.body},
    }
    named = [contact.name] if contact.name and _plain(contact.name) else []
    address = f"<{contact.email}>"
    to = " ".join([*named, address] if _plain(address) else named) or "the contact"
    subject = f': "{params.subject}"' if _plain(params.subject) else " (subject as shown)"
    summary = (
        f"Draft an email to {to}{subject} (kept as a task to review and send; nothing is sent)"
    )
    return Proposal(summary=summary, before=None, after=after)


async def draft_email(session: AsyncSession, ctx: Context, params: DraftEmailParams) -> ToolResult:
    """Keep the draft as a task through the tasks service (``work.task.created``,
    audited); the email is not sent."""
    contact = await contacts.read_contact(session, ctx, params.contact_id)
    task = await work.create_task(
        session, ctx, **_draft_task(ctx, contact, params), origin=DRAFT_ORIGIN, reminder=False
    )
    return ToolResult(
        value=task,
        query=f"drafted an email to contact {contact.id} as task {task.id} (not sent)",
        filters={"contact_id": contact.id},
        records=[task.id],
    )


def _plain(text: str) -> bool:
    """Whether ``text`` (a name, an address, the user's words) may be written in a
    summary with no figure for it: it holds no number but dates. Else the summary points
    to ``after`` instead, keeping the rule that every number written is a figure."""
    return not unfigured_numbers(Said(text))


def _excerpt(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


ACTION_TOOLS: list[Tool] = actions_for(
    WRITE_SCOPE,
    (
        "crm.add_note",
        "Add a note to a contact, deal or company.",
        AddNoteParams,
        propose_note,
        add_note,
    ),
    (
        "crm.move_deal",
        "Move a deal to another stage (lead, qualified, proposal, negotiation, won, lost), "
        "within the workspace's stage rules; won or lost may give a close reason.",
        MoveDealParams,
        propose_move,
        move_deal,
    ),
    (
        "crm.draft_email",
        "Draft an email to a contact for a person to review and send: kept as a task "
        "with the draft, about the contact; nothing is sent.",
        DraftEmailParams,
        propose_draft,
        draft_email,
    ),
)

TOOLS: list[Tool] = [*READ_TOOLS, *ACTION_TOOLS]
