"""In-app notifications. The only writer of ``notifications``.

A notification belongs to one user: the API shows a user only their own, and another
user's id answers 404 like a missing one. ``notify(..., email=True)`` also queues a copy
to the user's email address (through ``outreach``), in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Forbidden, NotFound, Unprocessable
from bizos.core.events import append_row_event
from bizos.core.fields import from_row
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.core.reads import one_or_404
from bizos.modules.identity import service as identity
from bizos.modules.notifications.models import Notification
from bizos.modules.notifications.schemas import NotificationFilter, NotificationRead
from bizos.modules.outreach import service as outreach
from bizos.modules.outreach.schemas import Related

log = structlog.get_logger("bizos.notifications")


def notification_read(row: Notification) -> NotificationRead:
    related = outreach.related_of(row)
    return from_row(
        NotificationRead, row, related=related, data=row.data or {}, read=row.read_at is not None
    )


def _email_body(title: str, body: str | None) -> str:
    text = f"{title}\n\n{body}" if body else title
    return f"{text}\n\n-- \nYou receive this because it is also in your bizos notifications."


async def notify(
    session: AsyncSession,
    ctx: Context,
    *,
    user_id: str,
    kind: str,
    title: str,
    body: str | None = None,
    related_type: str | None = None,
    related_id: str | None = None,
    data: dict[str, Any] | None = None,
    email: bool = False,
) -> NotificationRead:
    """Notify a user in the app (``notifications.notification.created``), in the
    caller's transaction; with ``email`` also queue a copy to their address (skipped for
    a user who is missing or deactivated)."""
    row = Notification(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        user_id=user_id,
        kind=kind,
        title=title[:300],
        body=body,
        related_type=related_type,
        related_id=related_id,
        data=data or {},
    )
    if email:
        row.email_message_id = await _email_copy(session, ctx, row)
    session.add(row)
    await session.flush()
    await append_row_event(
        session,
        ctx,
        "notifications.notification.created",
        row,
        aggregate_type="notification",
        data={
            "user_id": user_id,
            "kind": kind,
            "title": row.title,
            "related": {"type": related_type, "id": related_id} if related_type else None,
            "email_message_id": row.email_message_id,
        },
    )
    return notification_read(row)


async def _email_copy(session: AsyncSession, ctx: Context, row: Notification) -> str | None:
    try:
        user = await identity.get_user(session, ctx, user_id=row.user_id)
    except NotFound:
        user = None
    about = log.bind(user_id=row.user_id, kind=row.kind)
    if user is None or not user.is_active:
        about.info("notifications.email_skipped")
        return None
    related = Related(**(outreach.related_of(row) or {"type": "notification", "id": row.id}))
    try:
        message = await outreach.send_email(
            session,
            ctx,
            to=user.email,
            subject=row.title,
            body=_email_body(row.title, row.body),
            related=related,
        )
    except Unprocessable as exc:  # an address no channel could send to: in-app only
        about.warning("notifications.email_undeliverable", error=exc.detail)
        return None
    return message.id


def _owner(ctx: Context) -> str:
    """The calling user: notifications are a person's, an API key has none."""
    if ctx.actor_type != "user" or ctx.actor_id is None:
        raise Forbidden("notifications belong to users; sign in as a user to read them")
    return ctx.actor_id


def _callers(ctx: Context) -> tuple[sa.ColumnElement[bool], ...]:
    """The calling user's own notifications (of the tenant)."""
    return (Notification.tenant_id == ctx.require_tenant(), Notification.user_id == _owner(ctx))


NOTIFICATION_ORDER = ListOrder(
    "notifications", Notification.id, [Notification.created_at], unsorted_descending=True
)


async def list_notifications(
    session: AsyncSession, ctx: Context, *, page: PageParams, filters: NotificationFilter
) -> tuple[list[NotificationRead], str | None]:
    """The calling user's notifications in ``page``'s order (newest first by default)."""
    query = sa.select(Notification).where(*_callers(ctx))
    if filters.unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif filters.unread is False:
        query = query.where(Notification.read_at.is_not(None))
    if filters.kind:
        query = query.where(Notification.kind == filters.kind)
    return await read_page(session, NOTIFICATION_ORDER, query, page, notification_read)


async def unread_count(session: AsyncSession, ctx: Context) -> int:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Notification)
        .where(*_callers(ctx), Notification.read_at.is_(None))
    )
    return int(count or 0)


async def mark_read(
    session: AsyncSession, ctx: Context, notification_id: str, *, now: dt.datetime | None = None
) -> NotificationRead:
    """Mark one of the caller's notifications read (again: no change, same answer)."""
    query = sa.select(Notification).where(*_callers(ctx), Notification.id == notification_id)
    row = await one_or_404(session, query.with_for_update(), "notification")
    if row.read_at is None:
        row.read_at = now or utcnow()
        row.version += 1
        await session.flush()
    return notification_read(row)


async def mark_all_read(
    session: AsyncSession, ctx: Context, *, now: dt.datetime | None = None
) -> int:
    """Mark every unread notification of the caller read; returns how many changed."""
    result = await session.execute(
        sa.update(Notification)
        .where(*_callers(ctx), Notification.read_at.is_(None))
        .values(read_at=now or utcnow(), version=Notification.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
