"""The event log (read), activity tracking (write) and dead letters (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin, AutomationRead, CrmWrite
from bizos.core.fields import Position
from bizos.core.pagination import Page, PageParams, fixed_order
from bizos.modules.events import service
from bizos.modules.events.schemas import (
    DeadLetterRead,
    EventRead,
    TrackAccepted,
    TrackRequest,
)

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get("/events", response_model=Page[EventRead])
async def list_events(
    _reader: AutomationRead,
    ctx: Ctx,
    session: DbSession,
    page: Annotated[
        PageParams, Depends(fixed_order("sequence", "commit order: the log is read forward"))
    ],
    type: Annotated[
        str | None,
        Query(max_length=120, description='An event type, or a prefix ending in "*".'),
    ] = None,
    aggregate_id: Annotated[str | None, Query(max_length=255)] = None,
    after: Annotated[
        Position | None, Query(description="Only events with a higher sequence number.")
    ] = None,
) -> Page[EventRead]:
    """The workspace's event log in commit order. Scope `automation:read`: the log is the
    feed integrations and automations consume."""
    return Page[EventRead].of(
        await service.list_events(
            session, ctx, page=page, after=after, type_=type, aggregate_id=aggregate_id
        )
    )


@router.post("/track", status_code=202, response_model=TrackAccepted)
async def track(
    body: TrackRequest, _writer: CrmWrite, ctx: Ctx, session: DbSession
) -> TrackAccepted:
    """Record up to 1,000 activity events (email opened, page viewed, call answered) about
    contacts, as `activity.<type>` events in the log. Scope `crm:write`."""
    accepted = await service.track_activities(session, ctx, activities=body.events)
    return TrackAccepted(accepted=accepted)


@router.get("/admin/dead-letters", response_model=Page[DeadLetterRead])
async def list_dead_letters(
    _admin: Admin,
    ctx: Ctx,
    session: DbSession,
    page: Annotated[PageParams, Depends(service.DEAD_LETTER_ORDER.dependency)],
    status: Literal["dead", "retrying", "replayed", "resolved"] = "dead",
) -> Page[DeadLetterRead]:
    """Events a subscriber failed to handle, newest first (default: given up on)."""
    return Page[DeadLetterRead].of(
        await service.list_dead_letters(session, ctx, page=page, status=status)
    )


@router.post(
    "/admin/dead-letters/{failure_id}/replay", status_code=202, response_model=DeadLetterRead
)
async def replay_dead_letter(
    failure_id: str, _admin: Admin, ctx: Ctx, session: DbSession
) -> DeadLetterRead:
    """Run the failed handler again on its event, at the dispatcher's next poll."""
    return await service.replay_dead_letter(session, ctx, failure_id=failure_id)
