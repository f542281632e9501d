"""Ingest a parsed message: thread, link contact, open or update a ticket.

Threading, in order:
1. ``In-Reply-To``, then ``References`` from the newest, against the ``Message-ID`` of
   every message of every ticket — inbound and our outbound replies alike;
2. failing that, a ticket number in the subject (``[T-000042]``), but only when the
   sender is that ticket's customer (a guessed number must not let a stranger post
   into someone's ticket).
Otherwise, a reply to an email the CRM sent (its thread names a lead's first outreach
email, say) is the CRM's: filed on the contact's timeline (``crm.leads.replies``), no
ticket. Anything else opens a new ticket.

Automatic mail (out-of-office, bounces: :attr:`ParsedEmail.auto_reply`) is kept on the
ticket it answers without reopening it or raising ``support.message.received`` (so no
draft answers a robot), and it never opens a ticket: robots answering robots cannot
loop through us. Mail from the tenant's own support or sending address is ignored too.

Ingesting is idempotent: a ``Message-ID`` already stored inbound returns what it made.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors import service as connectors_service
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import ProblemError
from bizos.core.events import payload
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.crm.leads import service as crm_leads
from bizos.modules.crm.leads.schemas import InboundReply
from bizos.modules.support.inbound.mime import Address, ParsedEmail, message_ids, parse_message
from bizos.modules.support.sla.triage import TICKET_RULES
from bizos.modules.support.tickets import service as tickets
from bizos.modules.support.tickets.models import Ticket, TicketAttachment, TicketMessage
from bizos.modules.support.tickets.service import TicketRules
from bizos.modules.webhooks.inbound.service import Stored, store_inbound

log = structlog.get_logger("bizos.support.inbound")

_TICKET_NUMBER = re.compile(r"\[(T-\d{6,12})\]")
MAX_THREAD_IDS = 100
PROVIDER = "email"
TOPIC = "message/rfc822"


@dataclass(frozen=True, slots=True)
class Ingested:
    ticket_id: str | None
    message_id: str | None
    created: bool
    reopened: bool
    # Why nothing was stored (an automatic message answering no ticket, our own mail).
    ignored: str | None = None
    # A reply to the CRM's email, filed on this contact's timeline instead of a ticket.
    contact_id: str | None = None

    def log_fields(self) -> dict[str, object]:
        """What a log line says of the outcome (ids and flags; never the reason's text)."""
        names = ("ticket_id", "contact_id", "created", "reopened")
        return payload(self, *names, ignored=self.ignored is not None)


def delivery_id(raw: bytes) -> str:
    """The id a stored message is deduplicated by: its ``Message-ID`` (hashed when longer
    than the column), else the SHA-256 of its bytes."""
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        ids = message_ids(str(headers.get("Message-ID") or ""))
    except Exception:  # not a message at all: its bytes are its identity
        ids = []
    if ids and len(ids[0]) <= 200:
        return ids[0]
    digest = hashlib.sha256(ids[0].encode() if ids else raw).hexdigest()
    return f"sha256:{digest}"


async def store_email(
    session: AsyncSession, ctx: Context, raw: bytes, *, headers: dict[str, str]
) -> Stored:
    """Store one raw message for processing (``webhooks.inbound.received``), once per
    :func:`delivery_id`; the webhook and the SMTP receiver both come through here."""
    return await store_inbound(
        session,
        ctx,
        provider=PROVIDER,
        external_id=delivery_id(raw),
        topic=TOPIC,
        body=raw,
        headers=headers,
    )


async def ingest_email(
    session: AsyncSession,
    ctx: Context,
    raw: bytes,
    *,
    inbound_id: str | None,
    rules: TicketRules = TICKET_RULES,
) -> Ingested:
    """Parse ``raw`` (raises ``UnparseableEmail``) and file it as a ticket message; every
    customer message goes through ``rules`` (triage, and the SLA for a new ticket)."""
    return await ingest_parsed(session, ctx, parse_message(raw), inbound_id=inbound_id, rules=rules)


async def ingest_parsed(
    session: AsyncSession,
    ctx: Context,
    parsed: ParsedEmail,
    *,
    inbound_id: str | None,
    rules: TicketRules = TICKET_RULES,
) -> Ingested:
    already = await _already_stored(session, ctx, parsed)
    if already is not None:
        return Ingested(already.ticket_id, already.id, created=False, reopened=False)
    if await _from_ourselves(session, ctx, parsed):
        return Ingested(None, None, False, False, ignored="sent from this workspace's address")
    ticket = await _thread(session, ctx, parsed)
    if parsed.auto_reply:
        if ticket is None:
            log.info("support.auto_reply_ignored", reason=parsed.auto_reason)
            return Ingested(
                None, None, False, False, ignored=f"automatic message ({parsed.auto_reason})"
            )
        message = await _store_message(session, ctx, ticket, parsed, inbound_id)
        await tickets.ticket_event(
            session,
            ctx,
            ticket,
            "support.message.auto_reply_received",
            message_id=message.id,
            reason=parsed.auto_reason,
        )
        return Ingested(ticket.id, message.id, created=False, reopened=False)
    if ticket is None:
        answered = await _answers_crm_email(session, ctx, parsed, inbound_id)
        if answered is not None:
            return answered
    contact_id = await _contact_id(session, ctx, parsed)
    if ticket is None:
        return await _new_ticket(session, ctx, parsed, contact_id, inbound_id, rules)
    return await _reply(session, ctx, ticket, parsed, inbound_id, rules)


async def _answers_crm_email(
    session: AsyncSession, ctx: Context, parsed: ParsedEmail, inbound_id: str | None
) -> Ingested | None:
    """A reply to an email the CRM sent (not to a ticket): the CRM files it."""
    candidates = parsed.thread_ids[:MAX_THREAD_IDS]
    if not candidates:
        return None
    customer = customer_address(parsed)
    filed = await crm_leads.file_reply(
        session,
        ctx,
        thread_ids=candidates,
        reply=InboundReply(
            sender=customer.email,
            sender_name=customer.name,
            subject=parsed.subject,
            text=parsed.reply_text or parsed.text,
            message_id=parsed.message_id,
            received_at=utcnow(),
            inbound_id=inbound_id,
        ),
    )
    if filed is None:
        return None
    return Ingested(None, None, False, False, ignored=filed.ignored, contact_id=filed.contact_id)


async def _already_stored(
    session: AsyncSession, ctx: Context, parsed: ParsedEmail
) -> TicketMessage | None:
    if parsed.message_id is None:
        return None
    row: TicketMessage | None = await session.scalar(
        sa.select(TicketMessage)
        .where(
            TicketMessage.tenant_id == ctx.require_tenant(),
            TicketMessage.header_message_id == parsed.message_id,
            TicketMessage.direction == "inbound",
        )
        .limit(1)
    )
    return row


async def _from_ourselves(session: AsyncSession, ctx: Context, parsed: ParsedEmail) -> bool:
    """Whether the sender is the tenant's own support or sending address (a copy of our
    own mail coming back must not become a ticket)."""
    assert parsed.sender is not None
    sender = parsed.sender.email.lower()
    for provider, key in (("email", "inbound_address"), ("smtp", "from_address")):
        settings = await connectors_service.connector_settings(session, ctx, provider)
        address = settings.config.get(key) if settings is not None else None
        if address and str(address).strip().lower() == sender:
            return True
    return False


async def _thread(session: AsyncSession, ctx: Context, parsed: ParsedEmail) -> Ticket | None:
    """The ticket this message continues, locked, or None."""
    candidates = parsed.thread_ids[:MAX_THREAD_IDS]
    if candidates:
        rows = (
            await session.execute(
                sa.select(TicketMessage.header_message_id, TicketMessage.ticket_id).where(
                    TicketMessage.tenant_id == ctx.require_tenant(),
                    TicketMessage.header_message_id.in_(candidates),
                )
            )
        ).all()
        ticket_of = {str(mid): str(tid) for mid, tid in rows}
        for candidate in candidates:
            if candidate in ticket_of:
                return await tickets.locked_ticket(session, ctx, ticket_of[candidate])
    match = _TICKET_NUMBER.search(parsed.subject)
    if match is None or parsed.sender is None:
        return None
    found = await tickets.find_ticket_by_number(session, ctx, match.group(1))
    customer = customer_address(parsed).email.lower()
    if found is None or (found.customer_email or "").lower() != customer:
        return None
    return await tickets.locked_ticket(session, ctx, found.id)


_NO_REPLY = re.compile(
    r"^(no-?reply|do-?not-?reply|donotreply|notifications?|mailer)([+.-].*)?$", re.I
)


def is_no_reply(address: str) -> bool:
    """A relay's address nobody reads (noreply@, do-not-reply@, notifications@ ...)."""
    return bool(_NO_REPLY.match(address.partition("@")[0]))


def customer_address(parsed: ParsedEmail) -> Address:
    """Who wrote in: the sender, unless the sender is a no-reply relay (a web form, a
    marketplace) that names the customer in Reply-To."""
    assert parsed.sender is not None
    if parsed.reply_to is not None and is_no_reply(parsed.sender.email):
        name = parsed.reply_to.name
        return Address(parsed.reply_to.email, name)
    return parsed.sender


async def _contact_id(session: AsyncSession, ctx: Context, parsed: ParsedEmail) -> str | None:
    customer = customer_address(parsed)
    try:
        contact = await contacts_service.contact_for_email(
            session, ctx, email=customer.email, name=customer.name, source="support"
        )
    except ProblemError:  # an address the CRM refuses: the ticket stands without a contact
        log.info("support.inbound_contact_refused")
        return None
    await contacts_service.record_activity(session, ctx, contact.id, at=utcnow())
    return contact.id


def _skipped_note(parsed: ParsedEmail) -> str:
    lines = [
        f'[Attachment "{s.filename}" ({s.size:,} bytes) was not stored: {s.reason}.]'
        for s in parsed.skipped
    ]
    return ("\n\n" + "\n".join(lines)) if lines else ""


async def _store_message(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    parsed: ParsedEmail,
    inbound_id: str | None,
) -> TicketMessage:
    assert parsed.sender is not None
    note = _skipped_note(parsed)
    trimmed = parsed.reply_text != parsed.text.strip()
    message = await tickets.add_message(
        session,
        ctx,
        ticket,
        direction="inbound",
        from_address=parsed.sender.email,
        from_name=parsed.sender.name,
        to_addresses=[a.email for a in parsed.to],
        cc_addresses=[a.email for a in parsed.cc],
        subject=parsed.subject,
        body=(parsed.reply_text if trimmed else parsed.text) + note,
        full_body=(parsed.text + note) if trimmed else None,
        html=parsed.html,
        header_message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=list(parsed.references),
        sent_at=parsed.date,
        auto_reply=parsed.auto_reply,
        inbound_id=inbound_id,
        created_at=utcnow(),
    )
    for attachment in parsed.attachments:
        session.add(
            TicketAttachment(
                tenant_id=ctx.require_tenant(),
                ticket_id=ticket.id,
                message_id=message.id,
                filename=attachment.filename,
                content_type=attachment.content_type[:200],
                size_bytes=attachment.size,
                sha256=attachment.sha256,
                content=attachment.content,
            )
        )
    await session.flush()
    return message


async def _new_ticket(
    session: AsyncSession,
    ctx: Context,
    parsed: ParsedEmail,
    contact_id: str | None,
    inbound_id: str | None,
    rules: TicketRules,
) -> Ingested:
    assert parsed.sender is not None
    ticket = await tickets.open_ticket(
        session,
        ctx,
        subject=parsed.subject,
        channel="email",
        contact_id=contact_id,
        customer_email=customer_address(parsed).email,
    )
    message = await _store_message(session, ctx, ticket, parsed, inbound_id)
    ticket.last_inbound_at = message.created_at
    await tickets.announce_ticket(session, ctx, ticket, message, rules)
    return Ingested(ticket.id, message.id, created=True, reopened=False)


async def _reply(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    parsed: ParsedEmail,
    inbound_id: str | None,
    rules: TicketRules,
) -> Ingested:
    message = await _store_message(session, ctx, ticket, parsed, inbound_id)
    ticket.last_inbound_at = message.created_at
    reopened = await tickets.reopen_for_reply(session, ctx, ticket, message)
    priority = ticket.priority
    await rules.triage(session, ctx, ticket, message)
    if ticket.priority != priority and not reopened:
        # Triage raised the priority: an agent's PATCH read before this is stale now.
        tickets.touch(ticket, utcnow())
    await session.flush()
    await tickets.message_received(session, ctx, ticket, message, created=False, reopened=reopened)
    return Ingested(ticket.id, message.id, created=False, reopened=reopened)
