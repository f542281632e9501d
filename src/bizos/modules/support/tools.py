"""What the copilot may ask of the support desk (scope ``support:read``): ticket counts
by status and priority, SLA breaches, one ticket by its number. Every figure is computed
by the database and carries its query in words, the filters and the ticket ids behind it
(DESIGN rule 8).

A date range is ``from``/``to``, both **inclusive** calendar days in UTC; by default the
30 days up to today. Tickets count on the day they were opened (``created_at``); a
breach counts on the day its target was due (``due_at``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound
from bizos.core.reads import read_of
from bizos.core.tools import MAX_RECORDS, Days, Tool, ToolResult, tools_for
from bizos.modules.support.drafts.service import pending_drafts
from bizos.modules.support.tickets import service
from bizos.modules.support.tickets.models import PRIORITIES, TICKET_STATUSES, Ticket
from bizos.modules.support.tickets.schemas import Channel, Priority, TicketRead, TicketStatus

SCOPE = "support:read"
CLOSED = ("resolved", "closed")
BreachKind = Literal["first_response", "resolution"]
_NUMBER = re.compile(r"^\s*\[?\s*(?:T-?)?#?0*(\d{1,12})\s*\]?\s*$", re.IGNORECASE)


class TicketRange(Days):
    """A :class:`Days` range over tickets: they count on the day they were opened, breaches
    on the day their target was due."""


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands datetimes back naive; they are UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- support.ticket_counts ------------------------------------------------------------


class TicketCountsParams(TicketRange):
    status: TicketStatus | None = Field(default=None, description="Only tickets in this status.")
    priority: Priority | None = Field(default=None, description="Only this priority.")
    channel: Channel | None = Field(default=None, description="Only tickets from this channel.")
    assignee_id: str | None = Field(default=None, description="Only tickets assigned to them.")


class Bucket(BaseModel):
    key: str
    count: int
    ticket_ids: list[str] = Field(description=f"Oldest first, at most {MAX_RECORDS}.")


class TicketCountsValue(BaseModel):
    total: int
    by_status: list[Bucket] = Field(description="Every status, in workflow order.")
    by_priority: list[Bucket] = Field(description="Every priority, lowest first.")


def _buckets(keys: tuple[str, ...], rows: list[tuple[str, str, str]], at: int) -> list[Bucket]:
    out = []
    for key in keys:
        ids = [row[0] for row in rows if row[at] == key]
        out.append(Bucket(key=key, count=len(ids), ticket_ids=ids[:MAX_RECORDS]))
    return out


async def ticket_counts(
    session: AsyncSession, ctx: Context, params: TicketCountsParams
) -> ToolResult:
    """Tickets opened in the range, counted by their current status and priority."""
    start, end = params.window()
    where = [
        Ticket.tenant_id == ctx.require_tenant(),
        Ticket.created_at >= start,
        Ticket.created_at < end,
    ]
    for column, wanted in (
        (Ticket.status, params.status),
        (Ticket.priority, params.priority),
        (Ticket.channel, params.channel),
        (Ticket.assignee_id, params.assignee_id),
    ):
        if wanted is not None:
            where.append(column == wanted)
    rows = [
        (str(i), str(s), str(p))
        for i, s, p in await session.execute(
            sa.select(Ticket.id, Ticket.status, Ticket.priority)
            .where(*where)
            .order_by(Ticket.created_at, Ticket.id)
        )
    ]
    return ToolResult(
        value=TicketCountsValue(
            total=len(rows),
            by_status=_buckets(TICKET_STATUSES, rows, 1),
            by_priority=_buckets(PRIORITIES, rows, 2),
        ),
        query=(
            "count of tickets opened (created_at, UTC) within the range, grouped by their "
            "current status and by their current priority"
        ),
        filters={
            **params.described(),
            "status": params.status,
            "priority": params.priority,
            "channel": params.channel,
            "assignee_id": params.assignee_id,
        },
        records=[r[0] for r in rows[:MAX_RECORDS]],
        records_total=len(rows),
    )


# --- support.sla_breaches -------------------------------------------------------------


class SlaBreachesParams(TicketRange):
    kind: BreachKind | None = Field(
        default=None, description="first_response or resolution; both by default."
    )
    priority: Priority | None = Field(default=None, description="Only this priority.")


class Breach(BaseModel):
    ticket_id: str
    number: str
    subject: str
    status: str
    priority: str
    assignee_id: str | None
    kind: BreachKind
    due_at: dt.datetime
    recorded: bool = Field(
        description="False for a target already missed that the breach job has not "
        "recorded yet (it runs every minute)."
    )
    detected_at: dt.datetime | None


class SlaBreachesValue(BaseModel):
    count: int
    by_kind: dict[str, int]
    breaches: list[Breach] = Field(description=f"By due time, at most {MAX_RECORDS}.")


def _breaches_of(ticket: Ticket, now: dt.datetime) -> list[Breach]:
    """The ticket's recorded breaches, and the targets it has missed unrecorded so far
    (the rule of ``sla.service.breaches_due``)."""
    out: list[Breach] = []
    kinds: set[str] = set()
    for entry in ticket.sla_breaches or []:
        kind, due = entry.get("kind"), entry.get("due_at")
        if kind not in ("first_response", "resolution") or not due:
            continue
        kinds.add(kind)
        detected = entry.get("detected_at")
        out.append(
            _breach(
                ticket,
                kind,
                dt.datetime.fromisoformat(due),
                recorded=True,
                detected_at=dt.datetime.fromisoformat(detected) if detected else None,
            )
        )
    if ticket.status in CLOSED:
        return out
    first = ticket.first_response_due_at
    if (
        "first_response" not in kinds
        and first is not None
        and _aware(first) <= now
        and ticket.first_responded_at is None
    ):
        out.append(_breach(ticket, "first_response", first, recorded=False))
    resolution = ticket.resolution_due_at
    if "resolution" not in kinds and resolution is not None and _aware(resolution) <= now:
        out.append(_breach(ticket, "resolution", resolution, recorded=False))
    return out


def _breach(
    ticket: Ticket,
    kind: str,
    due: dt.datetime,
    *,
    recorded: bool,
    detected_at: dt.datetime | None = None,
) -> Breach:
    return read_of(
        Breach,
        ticket,
        ticket_id=ticket.id,
        kind="resolution" if kind == "resolution" else "first_response",
        due_at=_aware(due),
        recorded=recorded,
        detected_at=_aware(detected_at) if detected_at else None,
    )


async def sla_breaches(
    session: AsyncSession, ctx: Context, params: SlaBreachesParams
) -> ToolResult:
    """SLA targets missed with their due time inside the range: those recorded on the
    ticket, and those missed by now that the breach job has yet to record."""
    start, end = params.window()
    now = utcnow()
    # A target falls due after its ticket was opened: tickets opened after the range
    # cannot have one in it. Candidates: a recorded breach, or an open ticket whose
    # target has passed.
    where = [
        Ticket.tenant_id == ctx.require_tenant(),
        Ticket.created_at < end,
        sa.or_(
            Ticket.sla_breached.is_(True),
            sa.and_(
                Ticket.status.not_in(CLOSED),
                sa.or_(
                    sa.and_(
                        Ticket.first_response_due_at <= now, Ticket.first_responded_at.is_(None)
                    ),
                    Ticket.resolution_due_at <= now,
                ),
            ),
        ),
    ]
    if params.priority is not None:
        where.append(Ticket.priority == params.priority)
    tickets = await session.scalars(sa.select(Ticket).where(*where))
    found = [
        b
        for t in tickets
        for b in _breaches_of(t, now)
        if start <= b.due_at < end and (params.kind is None or b.kind == params.kind)
    ]
    found.sort(key=lambda b: (b.due_at, b.number, b.kind))
    ticket_ids = list(dict.fromkeys(b.ticket_id for b in found))
    by_kind = {k: sum(1 for b in found if b.kind == k) for k in ("first_response", "resolution")}
    return ToolResult(
        value=SlaBreachesValue(count=len(found), by_kind=by_kind, breaches=found[:MAX_RECORDS]),
        query=(
            "SLA targets (first response, resolution) missed whose due time (UTC) falls "
            "within the range: breaches recorded on tickets, plus targets of open tickets "
            "already past and not yet recorded; records are the tickets"
        ),
        filters={**params.described(), "kind": params.kind, "priority": params.priority},
        records=ticket_ids[:MAX_RECORDS],
        records_total=len(ticket_ids),
    )


# --- support.ticket_lookup ------------------------------------------------------------


class TicketLookupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(
        min_length=1,
        max_length=40,
        description="The ticket number: T-000042, 42 or [T-000042].",
    )

    @model_validator(mode="after")
    def _a_number(self) -> TicketLookupParams:
        if _NUMBER.match(self.number) is None:
            raise ValueError("not a ticket number (like T-000042)")
        return self

    def canonical(self) -> str:
        match = _NUMBER.match(self.number)
        assert match is not None  # validated
        return f"T-{int(match.group(1)):06d}"


async def ticket_lookup(
    session: AsyncSession, ctx: Context, params: TicketLookupParams
) -> ToolResult:
    """One ticket with its messages, SLA and pending AI draft; 404 if there is none."""
    number = params.canonical()
    ticket = await service.find_ticket_by_number(session, ctx, number)
    if ticket is None:
        raise NotFound(f"no ticket {number}")
    read: TicketRead = await service.ticket_read(session, ctx, ticket, drafts=pending_drafts)
    return ToolResult(
        value=read,
        query="the ticket with this number, its messages oldest first, SLA and pending draft",
        filters={"number": number},
        records=[ticket.id, *(m.id for m in read.messages)][:MAX_RECORDS],
        records_total=1 + len(read.messages),
    )


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "support.ticket_counts",
        "How many tickets were opened in a date range, by current status and priority, "
        "with the ticket ids behind each count.",
        TicketCountsParams,
        ticket_counts,
    ),
    (
        "support.sla_breaches",
        "Tickets that missed their first-response or resolution target, the target "
        "falling due in a date range.",
        SlaBreachesParams,
        sla_breaches,
    ),
    (
        "support.ticket_lookup",
        "One ticket by its number (T-000042): messages, status, SLA, AI draft.",
        TicketLookupParams,
        ticket_lookup,
    ),
)
