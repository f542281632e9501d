"""What the copilot may ask of the support desk (scope ``support:read``): ticket counts
by status and priority, SLA breaches, first-response times, one ticket by its number.
Every figure is computed by the database and carries its query in words, the filters and
the ticket ids behind it (DESIGN rule 8); each tool also says its answer in words
(``speak``: every number written is a figure).

A date range is ``from``/``to``, both **inclusive** calendar days in UTC; by default the
30 days up to today. Tickets count on the day they were opened (``created_at``); a
breach counts on the day its target was due (``due_at``); a first response counts with
the ticket it answered.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound
from bizos.core.phrases import between_text, counted, listed, noun, period_of
from bizos.core.reads import read_of
from bizos.core.tools import (
    MAX_RECORDS,
    Days,
    Figure,
    Said,
    SourceRef,
    Tool,
    ToolResult,
    tools_for,
)
from bizos.modules.support.drafts.service import pending_drafts
from bizos.modules.support.sla.service import first_responses
from bizos.modules.support.tickets import service
from bizos.modules.support.tickets.models import PRIORITIES, TICKET_STATUSES, Ticket
from bizos.modules.support.tickets.schemas import Channel, Priority, TicketRead, TicketStatus

SCOPE = "support:read"
CLOSED = ("resolved", "closed")
BreachKind = Literal["first_response", "resolution"]
Period = tuple[dt.date, dt.date]
_NUMBER = re.compile(r"^\s*\[?\s*(?:T-?)?#?0*(\d{1,12})\s*\]?\s*$", re.IGNORECASE)


class TicketRange(Days):
    """A :class:`Days` range over tickets: they count on the day they were opened, breaches
    on the day their target was due."""


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands datetimes back naive; they are UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _period(params: Days, result: ToolResult) -> tuple[dt.date, dt.date]:
    return period_of(result.filters) or params.bounds()


def _ticket_source(ticket_id: str, number: str, subject: str) -> SourceRef:
    # The number is part of the title: an answer may write it.
    return SourceRef("ticket", ticket_id, f"{number} {subject}")


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


def _buckets_said(buckets: list[Bucket], what: str, figures: list[Figure], period: Period) -> str:
    parts = []
    for b in buckets:
        if b.count:
            label = f"tickets {what} {b.key}"
            figures.append(Figure(label, b.count, unit="tickets", period=period))
            parts.append(f"{b.key.replace('_', ' ')} {b.count}")
    return listed(parts)


def speak_ticket_counts(params: TicketCountsParams, result: ToolResult) -> Said:
    value: TicketCountsValue = result.value
    period = _period(params, result)
    narrowed = [
        f"{name} {getattr(params, name)}"
        for name in ("status", "priority", "channel")
        if getattr(params, name) is not None
    ]
    which = f" ({', '.join(narrowed)})" if narrowed else ""
    figures = [Figure(f"tickets opened{which}", value.total, unit="tickets", period=period)]
    when = between_text(*period)
    if value.total == 0:
        return Said(f"No tickets{which} were opened {when}.", figures)
    verb = "was" if value.total == 1 else "were"
    text = f"{counted(value.total, 'ticket')}{which} {verb} opened {when}."
    by_status = _buckets_said(value.by_status, "now", figures, period)
    by_priority = _buckets_said(value.by_priority, "of priority", figures, period)
    return Said(f"{text} By status: {by_status}. By priority: {by_priority}.", figures)


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


_KIND_SAID = {"first_response": "first response", "resolution": "resolution"}


def speak_sla_breaches(params: SlaBreachesParams, result: ToolResult) -> Said:
    value: SlaBreachesValue = result.value
    period = _period(params, result)
    when = between_text(*period)
    figures = [Figure("SLA targets missed", value.count, unit="breaches", period=period)]
    if value.count == 0:
        return Said(f"No SLA target was missed {when}.", figures)
    tickets = result.records_total or 0
    figures.append(Figure("tickets that missed an SLA target", tickets, unit="tickets"))
    kinds = []
    for kind, count in value.by_kind.items():
        if count:
            figures.append(
                Figure(f"missed {_KIND_SAID[kind]} targets", count, unit="breaches", period=period)
            )
            kinds.append(f"{count} {_KIND_SAID[kind]}")
    sources: list[SourceRef] = []
    parts = []
    for b in value.breaches:
        sources.append(_ticket_source(b.ticket_id, b.number, b.subject))
        parts.append(f"{b.number} ({_KIND_SAID[b.kind]} due {b.due_at.date().isoformat()})")
    text = (
        f"{counted(value.count, 'SLA target')} {'was' if value.count == 1 else 'were'} missed "
        f"{when} ({', '.join(kinds)}) on {counted(tickets, 'ticket')}: {listed(parts)}."
    )
    return Said(text, figures, list(dict.fromkeys(sources)))


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


def speak_ticket_lookup(params: TicketLookupParams, result: ToolResult) -> Said:
    t: TicketRead = result.value
    figures = [Figure(f"messages on {t.number}", len(t.messages), unit="messages")]
    text = (
        f"{t.number} ({t.subject}) is {t.status} with {t.priority} priority, opened on "
        f"{t.created_at.date().isoformat()}; it has {counted(len(t.messages), 'message')}"
    )
    if t.messages:
        last = t.messages[-1]
        who = {"inbound": "from the customer", "outbound": "from us", "note": "an internal note"}
        text += f", the last {who[last.direction]} on {last.created_at.date().isoformat()}"
    text += "."
    if t.sla.first_responded_at is not None:
        text += f" First answered on {t.sla.first_responded_at.date().isoformat()}."
    elif t.sla.first_response_due_at is not None:
        text += f" A first response is due by {t.sla.first_response_due_at.date().isoformat()}."
    if t.sla.breached:
        text += " It has missed an SLA target."
    if t.ai_draft is not None:
        text += " An AI draft reply is waiting for approval."
    return Said(text, figures, [_ticket_source(t.id, t.number, t.subject)])


# --- support.first_response -----------------------------------------------------------


class FirstResponseParams(TicketRange):
    priority: Priority | None = Field(default=None, description="Only this priority.")


class FirstResponseValue(BaseModel):
    opened: int = Field(description="Tickets opened in the range.")
    responded: int = Field(description="Of those, answered by an agent.")
    awaiting: int = Field(description="Of those, not answered yet.")
    median_hours: Decimal | None = Field(description="Median first-response time, 2 decimals.")
    average_hours: Decimal | None = Field(description="Mean first-response time, 2 decimals.")


def _hours(seconds: float) -> Decimal:
    return (Decimal(str(seconds)) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def first_response(
    session: AsyncSession, ctx: Context, params: FirstResponseParams
) -> ToolResult:
    """How long tickets opened in the range waited for an agent's first answer."""
    start, end = params.window()
    rows = await first_responses(session, ctx, start=start, end=end, priority=params.priority)
    answered = [r for r in rows if r.responded_at is not None]
    waits = [
        max((r.responded_at - r.opened_at).total_seconds(), 0.0)
        for r in answered
        if r.responded_at is not None
    ]
    return ToolResult(
        value=FirstResponseValue(
            opened=len(rows),
            responded=len(answered),
            awaiting=len(rows) - len(answered),
            median_hours=_hours(statistics.median(waits)) if waits else None,
            average_hours=_hours(statistics.fmean(waits)) if waits else None,
        ),
        query=(
            "tickets opened (created_at, UTC) within the range; first-response time is the "
            "wall-clock time from opening to the first agent reply (first_responded_at), in "
            "hours; median and mean over the answered tickets, which are the records"
        ),
        filters={**params.described(), "priority": params.priority},
        records=[r.ticket_id for r in answered[:MAX_RECORDS]],
        records_total=len(answered),
    )


def speak_first_response(params: FirstResponseParams, result: ToolResult) -> Said:
    value: FirstResponseValue = result.value
    period = _period(params, result)
    kind = f"{params.priority}-priority " if params.priority else ""
    figures = [Figure(f"{kind}tickets opened", value.opened, unit="tickets", period=period)]
    when = between_text(*period)
    if value.opened == 0:
        return Said(f"No {kind}tickets were opened {when}.", figures)
    head = f"Of the {counted(value.opened, f'{kind}ticket')} opened {when}"
    if value.median_hours is None or value.average_hours is None:
        return Said(f"{head}, none has had a first response yet.", figures)
    figures += [
        Figure("tickets with a first response", value.responded, unit="tickets", period=period),
        Figure("median first-response time", value.median_hours, unit="hours", period=period),
        Figure("average first-response time", value.average_hours, unit="hours", period=period),
    ]
    text = (
        f"{head}, {value.responded} {noun(value.responded, 'has', 'have')} had a first "
        f"response: median {value.median_hours} hours, average {value.average_hours} hours"
    )
    if value.awaiting:
        waiting = Figure(
            "tickets awaiting a first response", value.awaiting, unit="tickets", period=period
        )
        figures.append(waiting)
        text += f"; {value.awaiting} {noun(value.awaiting, 'is', 'are')} still waiting"
    return Said(text + ".", figures)


TOOLS: list[Tool] = tools_for(
    SCOPE,
    (
        "support.ticket_counts",
        "How many tickets were opened in a date range, by current status and priority, "
        "with the ticket ids behind each count.",
        TicketCountsParams,
        ticket_counts,
        speak_ticket_counts,
    ),
    (
        "support.sla_breaches",
        "Tickets that missed their first-response or resolution target, the target "
        "falling due in a date range.",
        SlaBreachesParams,
        sla_breaches,
        speak_sla_breaches,
    ),
    (
        "support.ticket_lookup",
        "One ticket by its number (T-000042): messages, status, SLA, AI draft.",
        TicketLookupParams,
        ticket_lookup,
        speak_ticket_lookup,
    ),
    (
        "support.first_response",
        "How fast tickets opened in a date range got their first agent reply: median and "
        "average hours, with how many were answered and how many still wait.",
        FirstResponseParams,
        first_response,
        speak_first_response,
    ),
)
