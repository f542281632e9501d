"""Ticket endpoints: /api/v1/support/tickets. Reading needs ``support:read``, changing
``support:write``. Another workspace's ticket or attachment is 404.

A ticket comes back whole: its messages (in and out, oldest first) with attachment
metadata, the pending AI draft (``ai_draft``, null when there is none) and the SLA.
``PATCH`` takes ``If-Match: <version>`` (409 when someone changed the ticket since).

The endpoints are built around the desk's rules (triage and SLA for what they write) and
its pending drafts (for what they show): ``support/api.py`` hands both in, so tickets
imports neither support.sla nor support.drafts.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import SupportRead, SupportWrite
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import tagged
from bizos.modules.support.tickets import service
from bizos.modules.support.tickets.models import Ticket
from bizos.modules.support.tickets.schemas import (
    Priority,
    TicketCreate,
    TicketRead,
    TicketStatus,
    TicketUpdate,
)
from bizos.modules.support.tickets.service import PendingDrafts, TicketRules

BASE = service.BASE
IdQuery = Annotated[str | None, Query(max_length=36)]
IfMatch = Annotated[str | None, Header(description="The `version` you read (409 if stale).")]


class TicketEndpoints:
    """The ticket routes, bound to the rules every write goes through and to where a
    ticket's pending draft comes from (``support/api.py`` builds the one instance)."""

    def __init__(self, rules: TicketRules, drafts: PendingDrafts) -> None:
        self.rules = rules
        self.drafts = drafts

    def router(self) -> APIRouter:
        router = APIRouter(tags=["support"])
        one = f"{BASE}/{{ticket_id}}"
        router.add_api_route(BASE, self.list_tickets, response_model=Page[TicketRead])
        router.add_api_route(
            BASE, self.create_ticket, methods=["POST"], status_code=201, response_model=TicketRead
        )
        router.add_api_route(one, self.get_ticket, response_model=TicketRead)
        router.add_api_route(one, self.update_ticket, methods=["PATCH"], response_model=TicketRead)
        router.add_api_route(
            f"{one}/attachments/{{attachment_id}}",
            download_attachment,
            response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}},
        )
        return router

    async def _read(
        self, session: DbSession, ctx: Ctx, response: Response, ticket: Ticket
    ) -> TicketRead:
        return tagged(response, await service.ticket_read(session, ctx, ticket, drafts=self.drafts))

    async def list_tickets(
        self,
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
        filters = service.TicketFilters(status, priority, assignee_id, contact_id)
        items, cursor = await service.list_tickets(session, ctx, page, filters, drafts=self.drafts)
        return Page[TicketRead](items=items, next_cursor=cursor)

    async def create_ticket(
        self, body: TicketCreate, _: SupportWrite, session: DbSession, ctx: Ctx, response: Response
    ) -> TicketRead:
        """Open a ticket by hand (channel ``api``): the customer by ``contact_id`` or
        ``email``, their words as the first message. Triage, SLA and the AI draft follow as
        for email."""
        ticket = await service.create_ticket(session, ctx, body, self.rules)
        response.headers["Location"] = f"{BASE}/{ticket.id}"
        return await self._read(session, ctx, response, ticket)

    async def get_ticket(
        self, ticket_id: str, _: SupportRead, session: DbSession, ctx: Ctx, response: Response
    ) -> TicketRead:
        ticket = await service.get_ticket(session, ctx, ticket_id)
        return await self._read(session, ctx, response, ticket)

    async def update_ticket(
        self,
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
            session,
            ctx,
            ticket_id,
            body.model_dump(exclude_unset=True),
            self.rules,
            if_match=if_match,
        )
        return await self._read(session, ctx, response, ticket)


def _disposition(filename: str) -> str:
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


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
