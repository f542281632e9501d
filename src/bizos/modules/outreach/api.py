"""Outbound messages API.

Reading the log needs ``crm:read`` or ``support:read``: messages go out from both sales
(sequences, lead follow-ups) and support (ticket replies), and either team must see
what the business sent. Sending one by hand needs ``crm:write`` or ``support:write``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from bizos.api.deps import Ctx, DbSession, require_any
from bizos.core.auth import Principal
from bizos.core.errors import Unprocessable, field_error
from bizos.core.pagination import Page, PageParams
from bizos.modules.outreach import service
from bizos.modules.outreach.schemas import (
    Channel,
    EmailSend,
    MessageRead,
    MessageSend,
    MessageStatus,
    Related,
)

router = APIRouter(prefix="/api/v1/messages", tags=["outreach"])


MessagePages = Annotated[PageParams, Depends(service.MESSAGE_ORDER.dependency)]
MessagesRead = Annotated[Principal, require_any("crm:read", "support:read")]
MessagesWrite = Annotated[Principal, require_any("crm:write", "support:write")]


@router.get("", response_model=Page[MessageRead])
async def list_messages(
    _: MessagesRead,
    session: DbSession,
    ctx: Ctx,
    page: MessagePages,
    channel: Channel | None = None,
    to: Annotated[str | None, Query(max_length=320)] = None,
    status: MessageStatus | None = None,
    related_type: Annotated[str | None, Query(max_length=40)] = None,
    related_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[MessageRead]:
    """Outbound messages, newest first (see `sort`). ``related_type`` and ``related_id``
    filter together: a message is related to a record of a type."""
    if (related_type is None) != (related_id is None):
        missing = "related_type" if related_type is None else "related_id"
        raise Unprocessable(
            "related_type and related_id filter together: give both, or neither",
            errors=[field_error(["query", missing], "needed with the other related_ parameter")],
        )
    related = Related(type=related_type, id=related_id) if related_type and related_id else None
    return Page[MessageRead].of(
        await service.list_messages(
            session, ctx, page=page, channel=channel, to=to, status=status, related=related
        )
    )


@router.get("/{message_id}", response_model=MessageRead)
async def get_message(
    message_id: str, _: MessagesRead, session: DbSession, ctx: Ctx
) -> MessageRead:
    return await service.get_message(session, ctx, message_id=message_id)


@router.post("", status_code=202, response_model=MessageRead)
async def send_message(
    body: Annotated[MessageSend, Body()], _: MessagesWrite, session: DbSession, ctx: Ctx
) -> MessageRead:
    """Queue an email or SMS; it goes out through the tenant's channel after commit."""
    if isinstance(body, EmailSend):
        return await service.send_email(
            session,
            ctx,
            to=str(body.to),
            subject=body.subject,
            body=body.body,
            html=body.html,
            reply_to=str(body.reply_to) if body.reply_to else None,
            in_reply_to=body.in_reply_to,
            references=body.references,
            related=body.related,
        )
    return await service.send_sms(session, ctx, to=body.to, body=body.body, related=body.related)
