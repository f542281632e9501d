"""Notifications API: a signed-in user's own in-app notifications.

Any authenticated user may read theirs; nobody sees another user's (404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Authenticated
from bizos.core.pagination import Page, PageParams
from bizos.modules.notifications import service
from bizos.modules.notifications.schemas import (
    NotificationFilter,
    NotificationRead,
    ReadAllResult,
    UnreadCount,
)

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


NotificationPages = Annotated[PageParams, Depends(service.NOTIFICATION_ORDER.dependency)]
NotificationFilters = Annotated[NotificationFilter, Query()]


@router.get("", response_model=Page[NotificationRead])
async def list_notifications(
    _: Authenticated,
    session: DbSession,
    ctx: Ctx,
    page: NotificationPages,
    filters: NotificationFilters,
) -> Page[NotificationRead]:
    """The caller's notifications, newest first."""
    found = await service.list_notifications(session, ctx, page=page, filters=filters)
    return Page[NotificationRead].of(found)


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(_: Authenticated, session: DbSession, ctx: Ctx) -> UnreadCount:
    return UnreadCount(unread=await service.unread_count(session, ctx))


@router.post("/read-all", response_model=ReadAllResult)
async def read_all(_: Authenticated, session: DbSession, ctx: Ctx) -> ReadAllResult:
    """Mark every unread notification of the caller read."""
    return ReadAllResult(updated=await service.mark_all_read(session, ctx))


@router.post("/{notification_id}/read", response_model=NotificationRead)
async def read_one(
    notification_id: str, _: Authenticated, session: DbSession, ctx: Ctx
) -> NotificationRead:
    return await service.mark_read(session, ctx, notification_id)
