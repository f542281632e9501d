"""A contact's timeline: one ordered view over everything that happened with them.

Any part of the product adds what it knows through the timeline port
(:mod:`bizos.core.timeline`): its manifest names its sources, the assembly puts them on
:data:`bizos.core.ports.ports`, and this module reads them all. A source without the
``before`` keyword is asked for enough entries to cover the page.

Built in here: the event log (events about the contact, its emails' tracked activity,
and its leads and deals), outbound messages, notes, attachments, deals and leads. The
other modules declare the rest in their manifests (the CRM imports none of them):
commerce its orders, billing invoices, payments, refunds and
credit notes, support tickets and their messages, work its tasks.
Entries are ordered newest first; the cursor is the last entry's position. An entry's
``link`` is the API path of its record, where it has one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Unprocessable, field_error
from bizos.core.events import Event, payload
from bizos.core.pagination import PageParams, decode_cursor, encode_cursor
from bizos.core.ports import ports
from bizos.core.timeline import TimelineEntry, TimelineSourceFn, newest_first
from bizos.modules.crm.models import Attachment, Contact, Deal, Lead, Note
from bizos.modules.crm.records import on_subjects
from bizos.modules.outreach import service as outreach
from bizos.modules.outreach.schemas import MessageRead, Related

MAX_DEPTH = 5000


# --- reading ---------------------------------------------------------------------------


def _encode(entry: TimelineEntry, depth: int) -> str:
    return encode_cursor(
        "|".join((entry.at.isoformat(), entry.ref_type, entry.ref_id, entry.kind, str(depth)))
    )


def _decode(key: str) -> tuple[tuple[dt.datetime, str, str, str], int]:
    parts = key.split("|")
    try:
        at = dt.datetime.fromisoformat(parts[0])
        if at.tzinfo is None or len(parts) != 5:
            raise ValueError
        return (at, parts[1], parts[2], parts[3]), int(parts[4])
    except (ValueError, IndexError) as exc:
        raise Unprocessable(
            "the cursor is not valid", errors=[field_error(["query", "cursor"], "invalid cursor")]
        ) from exc


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


async def read_timeline(
    session: AsyncSession,
    ctx: Context,
    *,
    contact_ids: list[str],
    email: str | None,
    page: PageParams,
    kinds: Sequence[str] | None = None,
) -> tuple[list[TimelineEntry], str | None]:
    """One page of the merged timeline, newest first (``page.after``: the decoded
    cursor of the previous page)."""
    after: tuple[dt.datetime, str, str, str] | None = None
    depth = 0
    if page.after:
        after, depth = _decode(page.after)
    want = page.limit + 1
    entries: list[TimelineEntry] = []
    for registered in ports.sources():
        if registered.takes_before:
            found = await registered.source(
                session, ctx, list(contact_ids), email, want, before=after[0] if after else None
            )
        else:
            found = await registered.source(
                session, ctx, list(contact_ids), email, min(depth + want, MAX_DEPTH)
            )
        entries.extend(
            TimelineEntry(
                _utc(e.at), e.kind, e.title, e.summary, e.ref_type, e.ref_id, e.data, e.link
            )
            for e in found
        )
    unique = {e.key(): e for e in entries}
    ordered = sorted(unique.values(), key=lambda e: e.key(), reverse=True)
    if kinds:
        ordered = [e for e in ordered if any(e.kind.startswith(k) for k in kinds)]
    if after is not None:
        ordered = [e for e in ordered if e.key() < after]
    items = ordered[: page.limit]
    more = len(ordered) > page.limit
    return items, _encode(items[-1], depth + len(items)) if more and items else None


# --- built-in sources -----------------------------------------------------------------

# A reply to the CRM's own email, received through the inbound path (``leads.replies``).
REPLY_EVENT = "crm.contact.replied"
# Event types another source already shows (as a row of its own).
_SHOWN_ELSEWHERE = (
    "crm.deal.created",
    "crm.lead.created",
    "crm.note.",
    "crm.attachment.",
    REPLY_EVENT,
)


async def _emails(session: AsyncSession, contact_ids: list[str], email: str | None) -> list[str]:
    rows = await session.scalars(
        sa.select(Contact.email_normalized).where(
            Contact.id.in_(contact_ids), Contact.email_normalized.is_not(None)
        )
    )
    found = {e for e in rows if e}
    if email:
        found.add(email.strip().lower())
    return sorted(found)


async def _lead_ids(session: AsyncSession, contact_ids: list[str]) -> list[str]:
    return list(await session.scalars(sa.select(Lead.id).where(Lead.contact_id.in_(contact_ids))))


async def _deal_ids(session: AsyncSession, contact_ids: list[str]) -> list[str]:
    return list(await session.scalars(sa.select(Deal.id).where(Deal.contact_id.in_(contact_ids))))


def _event_title(event: Event) -> str:
    """A reader's title: ``crm.deal.stage_changed`` reads "Deal stage changed"."""
    if event.type.startswith("activity."):
        return event.type.removeprefix("activity.").replace("_", " ").capitalize()
    module, _, rest = event.type.partition(".")
    words = (rest if module == "crm" and rest else event.type).replace(".", " ")
    return words.replace("_", " ").capitalize()


def _event_summary(event: Event) -> str | None:
    data = event.data or {}
    if event.type == "crm.deal.stage_changed" and data.get("to_stage"):
        return f"{data.get('from_stage') or 'new'} → {data['to_stage']}"
    return None


async def events_source(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    email: str | None,
    limit: int,
    *,
    before: dt.datetime | None = None,
) -> list[TimelineEntry]:
    """Events whose aggregate is the contact, one of its addresses (tracked activity),
    or one of its leads or deals: every lookup rides ``ix_events_tenant_aggregate``."""
    aggregates = [
        *contact_ids,
        *await _emails(session, contact_ids, email),
        *await _lead_ids(session, contact_ids),
        *await _deal_ids(session, contact_ids),
    ]
    query = sa.select(Event).where(
        Event.tenant_id == ctx.require_tenant(),
        Event.aggregate_id.in_(aggregates),
        *(~Event.type.startswith(prefix) for prefix in _SHOWN_ELSEWHERE),
    )
    rows = await session.scalars(newest_first(query, Event.occurred_at, limit=limit, before=before))
    return [
        TimelineEntry(
            at=e.occurred_at,
            kind=e.type,
            title=_event_title(e),
            summary=_event_summary(e),
            ref_type="event",
            ref_id=e.id,
            data={"aggregate_type": e.aggregate_type, "aggregate_id": e.aggregate_id, **e.data},
        )
        for e in rows
    ]


async def messages_source(
    session: AsyncSession,
    ctx: Context,
    contact_ids: list[str],
    email: str | None,
    limit: int,
    *,
    before: dt.datetime | None = None,
) -> list[TimelineEntry]:
    """Messages sent to the contact's addresses or about the contact or its leads."""
    queries: list[dict[str, Any]] = [{"to": e} for e in await _emails(session, contact_ids, email)]
    queries += [{"related": Related(type="contact", id=c)} for c in contact_ids]
    queries += [
        {"related": Related(type="lead", id=lead)} for lead in await _lead_ids(session, contact_ids)
    ]
    found: dict[str, MessageRead] = {}
    for query in queries:
        cursor: str | None = None
        for _ in range(10):  # at most 2,000 messages per address: a timeline, not an export
            page = PageParams(limit=200, after=decode_cursor(cursor) if cursor else None)
            items, cursor = await outreach.list_messages(session, ctx, page=page, **query)
            found.update((m.id, m) for m in items)
            if cursor is None:
                break
    entries = []
    for m in found.values():
        at = m.sent_at or m.created_at
        if before is not None and _utc(at) > before:
            continue
        title = f"{m.channel.capitalize()} {m.status}" + (f": {m.subject}" if m.subject else "")
        entries.append(
            TimelineEntry(
                at=at,
                kind=f"message.{m.channel}",
                title=title,
                summary=m.body[:280],
                ref_type="message",
                ref_id=m.id,
                data=payload(
                    m,
                    "to",
                    "status",
                    "channel",
                    related=m.related.model_dump() if m.related else None,
                ),
                link=f"/api/v1/messages/{m.id}",
            )
        )
    entries.sort(key=lambda e: _utc(e.at), reverse=True)
    return entries[:limit]


def _reply_entry(e: Event) -> TimelineEntry:
    """An email the contact sent back to us (a reply to the CRM's email), as a message."""
    data = e.data or {}
    who = data.get("from_name") or data.get("from") or "the contact"
    subject = data.get("subject")
    return TimelineEntry(
        at=e.occurred_at,
        kind="message.email.inbound",
        title=f"Email from {who}" + (f": {subject}" if subject else ""),
        summary=str(data.get("text") or "")[:280] or None,
        ref_type="event",
        ref_id=e.id,
        data={
            "from": data.get("from"),
            "subject": subject,
            "lead_id": data.get("lead_id"),
            "in_reply_to": data.get("in_reply_to"),
            "message_id": data.get("message_id"),
        },
        link=f"/api/v1/crm/leads/{data['lead_id']}" if data.get("lead_id") else None,
    )


def _rows_source(
    rows: Callable[[Context, list[str]], sa.Select[Any]],
    at: Any,
    entry: Callable[[Any], TimelineEntry],
) -> TimelineSourceFn:
    """A source over one table: ``rows`` selects the contact's records, ``at`` is the
    column the timeline orders them by, ``entry`` turns one into a timeline entry."""

    async def source(
        session: AsyncSession,
        ctx: Context,
        contact_ids: list[str],
        email: str | None,
        limit: int,
        *,
        before: dt.datetime | None = None,
    ) -> list[TimelineEntry]:
        query = newest_first(rows(ctx, contact_ids), at, limit=limit, before=before)
        return [entry(row) for row in await session.scalars(query)]

    return source


def _record_entry(
    kind: str, row: Any, title: str, summary: str | None, data: dict[str, Any], link: bool = True
) -> TimelineEntry:
    """A CRM record of ``kind`` (also its ``ref_type``) as an entry at its creation, with
    a link to ``/api/v1/crm/<kind>s/<id>`` unless ``link`` is false."""
    path = f"/api/v1/crm/{kind}s/{row.id}" if link else None
    return TimelineEntry(row.created_at, kind, title, summary, kind, row.id, data, path)


def _note_entry(n: Note) -> TimelineEntry:
    return _record_entry("note", n, "Note", n.body[:280], {"author_id": n.author_id}, link=False)


def _attachment_entry(a: Attachment) -> TimelineEntry:
    data = {"content_type": a.content_type, "size": a.size, "uploaded_by": a.uploaded_by}
    return _record_entry("attachment", a, f"File attached: {a.filename}", None, data)


def _deal_entry(d: Deal) -> TimelineEntry:
    summary = f"{d.amount} {d.currency}, stage {d.stage}"
    data = {"stage": d.stage, "amount": str(d.amount), "currency": d.currency}
    return _record_entry("deal", d, f"Deal: {d.name}", summary, data)


def _lead_entry(lead: Lead) -> TimelineEntry:
    summary = lead.message[:280] if lead.message else None
    data = {"status": lead.status, "score": lead.score, "owner_id": lead.owner_id}
    return _record_entry("lead", lead, f"Lead from {lead.source}", summary, data)


replies_source = _rows_source(
    lambda ctx, ids: sa.select(Event).where(
        Event.tenant_id == ctx.require_tenant(),
        Event.aggregate_id.in_(ids),
        Event.type == REPLY_EVENT,
    ),
    Event.occurred_at,
    _reply_entry,
)
notes_source = _rows_source(
    lambda ctx, ids: sa.select(Note).where(on_subjects(ctx, Note, "contact", ids)),
    Note.created_at,
    _note_entry,
)
attachments_source = _rows_source(
    lambda ctx, ids: sa.select(Attachment).where(on_subjects(ctx, Attachment, "contact", ids)),
    Attachment.created_at,
    _attachment_entry,
)
deals_source = _rows_source(
    lambda ctx, ids: sa.select(Deal).where(
        Deal.tenant_id == ctx.require_tenant(), Deal.contact_id.in_(ids)
    ),
    Deal.created_at,
    _deal_entry,
)
leads_source = _rows_source(
    lambda ctx, ids: sa.select(Lead).where(
        Lead.tenant_id == ctx.require_tenant(), Lead.contact_id.in_(ids)
    ),
    Lead.created_at,
    _lead_entry,
)


# The CRM's own sources, declared in its manifest.
CRM_SOURCES: dict[str, TimelineSourceFn] = {
    "crm.events": events_source,
    "outreach.messages": messages_source,
    "crm.replies": replies_source,
    "crm.notes": notes_source,
    "crm.attachments": attachments_source,
    "crm.deals": deals_source,
    "crm.leads": leads_source,
}
