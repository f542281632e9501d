"""Reading the tenant's event log, recording outside activity, and dead letters."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.dispatcher import DEAD, REPLAYED, RESOLVED, DispatchFailure
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import Event, NewEvent, append_events, wake_after_commit
from bizos.core.pagination import ListOrder, PageParams, read_page, take_page
from bizos.modules.events.schemas import DeadLetterRead, EventRead, TrackedActivity

ACTIVITY_PREFIX = "activity."


def _event_read(e: Event) -> EventRead:
    return EventRead.model_validate(e, from_attributes=True)


def _type_filter(type_: str) -> sa.ColumnElement[bool] | None:
    """``crm.lead.created`` exactly, or ``crm.lead.*`` (any type starting ``crm.lead.``)."""
    if type_ == "*":
        return None
    if "*" in type_[:-1]:
        raise Unprocessable(
            "only a trailing * is supported in type",
            errors=[field_error(["query", "type"], "'*' may only end the pattern")],
        )
    if type_.endswith("*"):
        return Event.type.startswith(type_[:-1], autoescape=True)
    return Event.type == type_


def sequence_from_cursor(page: PageParams, after: int | None) -> int | None:
    """The sequence to read after: the page cursor if given, else ``after``."""
    if page.after is None:
        return after
    if not page.after.isdigit():
        raise Unprocessable(
            "the cursor is not valid", errors=[field_error(["query", "cursor"], "invalid cursor")]
        )
    return int(page.after)


async def list_events(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    after: int | None = None,
    type_: str | None = None,
    aggregate_id: str | None = None,
) -> tuple[list[EventRead], str | None]:
    """The tenant's log in commit order (its ``sequence``), after a sequence number.

    Within a tenant sequence order is commit order: appends take the tenant's counter row
    lock, so a higher sequence cannot commit before a lower one.
    """
    tenant_id = ctx.require_tenant()
    query = sa.select(Event).where(Event.tenant_id == tenant_id)
    start = sequence_from_cursor(page, after)
    if start is not None:
        query = query.where(Event.sequence > start)
    if type_:
        condition = _type_filter(type_)
        if condition is not None:
            query = query.where(condition)
    if aggregate_id is not None:
        query = query.where(Event.aggregate_id == aggregate_id)
    rows = (await session.scalars(query.order_by(Event.sequence).limit(page.limit + 1))).all()
    items, cursor = take_page(rows, page, key=lambda e: str(e.sequence))
    return [_event_read(e) for e in items], cursor


def _activity_event(activity: TrackedActivity) -> NewEvent:
    data: dict[str, Any] = {"properties": activity.properties}
    if activity.contact_id is not None:
        data["contact_id"] = activity.contact_id
    if activity.email is not None:
        data["email"] = activity.email
    kind = activity.type.removeprefix(ACTIVITY_PREFIX)
    return NewEvent(
        type=ACTIVITY_PREFIX + kind,
        aggregate_type="contact",
        aggregate_id=activity.contact_id or activity.email or "",
        data=data,
        occurred_at=activity.occurred_at,
    )


async def track_activities(
    session: AsyncSession, ctx: Context, *, activities: list[TrackedActivity]
) -> int:
    """Append outside activity to the log in one bulk insert; returns how many.

    Types are namespaced under ``activity.`` so an API caller can record engagement but
    can never forge a domain event (``billing.invoice.paid``) that other contexts act on.
    """
    ctx.require_tenant()
    await append_events(session, ctx, [_activity_event(a) for a in activities])
    return len(activities)


def _dead_letter_read(f: DispatchFailure) -> DeadLetterRead:
    return DeadLetterRead.model_validate(f, from_attributes=True)


DEAD_LETTER_ORDER = ListOrder(
    "dead_letters",
    DispatchFailure.id,
    [DispatchFailure.created_at, DispatchFailure.updated_at],
    unsorted_descending=True,
)


async def list_dead_letters(
    session: AsyncSession, ctx: Context, *, page: PageParams, status: str = DEAD
) -> tuple[list[DeadLetterRead], str | None]:
    """The tenant's handler failures in ``status``, in ``page``'s order (newest first by
    default)."""
    ctx.require_tenant()
    query = sa.select(DispatchFailure).where(DispatchFailure.status == status)
    return await read_page(session, DEAD_LETTER_ORDER, query, page, _dead_letter_read)


async def replay_dead_letter(
    session: AsyncSession, ctx: Context, *, failure_id: str
) -> DeadLetterRead:
    """Run a failed event's handler again as soon as the dispatcher polls.

    A dead letter gets one more attempt (failing again makes it dead again); a failure
    still being retried is simply made due now. A resolved one has nothing to replay.
    """
    ctx.require_tenant()
    failure = await session.scalar(
        sa.select(DispatchFailure).where(DispatchFailure.id == failure_id)
    )
    if failure is None:
        raise NotFound("dead letter not found")
    if failure.status == RESOLVED:
        raise Conflict("this event has since been handled; there is nothing to replay")
    now = utcnow()
    if failure.status == DEAD:
        failure.status = REPLAYED
    failure.next_attempt_at = now
    failure.updated_at = now
    await session.flush()
    wake_after_commit(session, "events")
    return _dead_letter_read(failure)
