"""Reply and draft endpoints: /api/v1/support/tickets/{id}/replies, .../draft, .../drafts.

A reply goes to the customer by email, threaded; with ``draft_id`` it approves that AI
draft (edited or not). ``POST .../draft`` asks for a new AI draft and answers 201 with
it when it is written within ``wait_seconds`` (the local provider takes well under a
second), else 202 with where it stands; the draft then appears as the ticket's
``ai_draft``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import SupportRead, SupportWrite
from bizos.modules.support.drafts import replies
from bizos.modules.support.drafts import service as drafts
from bizos.modules.support.drafts.schemas import (
    DraftList,
    DraftRead,
    DraftRequested,
    ReplyCreate,
    ReplyRead,
)
from bizos.modules.support.drafts.workflows import redraft

router = APIRouter(tags=["support"])

TicketId = Annotated[str, Path(max_length=36)]
DraftId = Annotated[str, Path(max_length=36)]
BASE = "/api/v1/support/tickets/{ticket_id}"


@router.post(f"{BASE}/replies", status_code=201, response_model=ReplyRead)
async def reply_to_ticket(
    ticket_id: TicketId, body: ReplyCreate, _: SupportWrite, session: DbSession, ctx: Ctx
) -> ReplyRead:
    """Email the customer, threaded to their last message; the ticket becomes
    ``pending``. A draft of another ticket → 404; a draft already sent, discarded or
    superseded → 409; an empty body or no customer address → 422."""
    return await replies.send_reply(session, ctx, ticket_id, body=body.body, draft_id=body.draft_id)


@router.post(
    f"{BASE}/draft",
    status_code=201,
    response_model=DraftRead | DraftRequested,
    responses={202: {"model": DraftRequested, "description": "Still being written."}},
)
async def regenerate_draft(
    ticket_id: TicketId,
    _: SupportWrite,
    ctx: Ctx,
    response: Response,
    wait_seconds: Annotated[float, Query(ge=0, le=30)] = 25,
) -> DraftRead | DraftRequested:
    """Draft the answer to the ticket's latest customer message again (older pending
    drafts are superseded). No customer message → 409."""
    outcome = await redraft(ctx, ticket_id, wait_seconds=wait_seconds)
    if isinstance(outcome, DraftRequested):
        response.status_code = 202
    return outcome


@router.get(f"{BASE}/drafts", response_model=DraftList)
async def list_drafts(
    ticket_id: TicketId, _: SupportRead, session: DbSession, ctx: Ctx
) -> DraftList:
    """Every AI draft of the ticket, newest first (failed, sent and discarded ones too)."""
    rows = await drafts.list_drafts(session, ctx, ticket_id)
    return DraftList(items=[drafts.draft_read(r) for r in rows])


@router.get(f"{BASE}/drafts/{{draft_id}}", response_model=DraftRead)
async def get_draft(
    ticket_id: TicketId, draft_id: DraftId, _: SupportRead, session: DbSession, ctx: Ctx
) -> DraftRead:
    return drafts.draft_read(await drafts.get_draft(session, ctx, ticket_id, draft_id))


@router.post(f"{BASE}/drafts/{{draft_id}}/discard", response_model=DraftRead)
async def discard_draft(
    ticket_id: TicketId, draft_id: DraftId, _: SupportWrite, session: DbSession, ctx: Ctx
) -> DraftRead:
    """Throw a pending (or failed) draft away; one already sent or superseded → 409."""
    return drafts.draft_read(await drafts.discard_draft(session, ctx, ticket_id, draft_id))
