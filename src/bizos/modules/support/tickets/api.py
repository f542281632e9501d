"""Ticket endpoints: /api/v1/support/tickets. Reading needs ``support:read``, changing
``support:write``. Another workspace's ticket or attachment is 404.

A ticket comes back whole: its messages (in and out, oldest first) with attachment
metadata, the pending AI draft (``ai_draft``, null when there is none) and the SLA.
``PATCH`` takes ``If-Match: <version>`` (409 when someone changed the ticket since).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import SupportRead, SupportWrite
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import version_etag
from bizos.modules.support.tickets import service
from bizos.modules.support.tickets.schemas import (
    Priority,
    TicketCreate,
    TicketRead,
    TicketStatus,
    TicketUpdate,
)

router = APIRouter(tags=["support"])

BASE = service.BASE
IdQuery = Annotated[str | None, Query(max_length=36)]
IfMatch = Annotated[str | None, Header(description="The `version` you read (409 if stale).")]


def _etag(response: Response, ticket: TicketRead) -> TicketRead:
    response.headers["ETag"] = version_etag(ticket.version)
    return ticket


@router.get(BASE, response_model=Page[TicketRead])
async def list_tickets(
    _: SupportRead,
    session: DbSession,
    ctx: Ctx,
    page: Annotated[PageParams, Depends(service.TICKET_ORDER.dependency)],
    status: TicketStatus | None = None,
    priority: Priority | None = None,
    assignee_id: IdQuery = None,
    contact_id: IdQuery = None,
) -> Page[TicketRead]:
    """Tickets, newest first (see `sort`), filtered; ``next_cursor`` pages on."""
    items, cursor = await service.list_tickets(
        session,
        ctx,
        page=page,
        status=status,
        priority=priority,
        assignee_id=assignee_id,
        contact_id=contact_id,
    )
    return Page[TicketRead](items=items, next_cursor=cursor)


@router.post(BASE, status_code=201, response_model=TicketRead)
async def create_ticket(
    body: TicketCreate, _: SupportWrite, session: DbSession, ctx: Ctx, response: Response
) -> TicketRead:
    """Open a ticket by hand (channel ``api``): the customer by ``contact_id`` or
    ``email``, their words as the first message. Triage, SLA and the AI draft follow as
    for email."""
    ticket = await service.create_ticket(session, ctx, body)
    response.headers["Location"] = f"{BASE}/{ticket.id}"
    return _etag(response, await service.ticket_read(session, ctx, ticket))


@router.get(f"{BASE}/{{ticket_id}}", response_model=TicketRead)
async def get_ticket(
    ticket_id: str, _: SupportRead, session: DbSession, ctx: Ctx, response: Response
) -> TicketRead:
    ticket = await service.get_ticket(session, ctx, ticket_id)
    return _etag(response, await service.ticket_read(session, ctx, ticket))


@router.patch(f"{BASE}/{{ticket_id}}", response_model=TicketRead)
async def update_ticket(
    ticket_id: str,
    body: TicketUpdate,
    _: SupportWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> TicketRead:
    """Change status, priority, assignee or tags (the fields sent)."""
    ticket = await service.update_ticket(
        session, ctx, ticket_id, body.model_dump(exclude_unset=True), if_match=if_match
    )
    return _etag(response, await service.ticket_read(session, ctx, ticket))


def _disposition(filename: str) -> str:
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    f"{BASE}/{{ticket_id}}/attachments/{{attachment_id}}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_attachment(
    ticket_id: str, attachment_id: str, _: SupportRead, session: DbSession, ctx: Ctx
) -> Response:
    """The attachment's bytes as received (always as a download, never rendered)."""
    row = await service.get_attachment(session, ctx, ticket_id, attachment_id)
    return Response(
        content=row.content,
        media_type=row.content_type or "application/octet-stream",
        headers={
            "Content-Disposition": _disposition(row.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Digest": f"sha-256={row.sha256}",
        },
    )
