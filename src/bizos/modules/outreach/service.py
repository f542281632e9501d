"""Outbound messages: queue them, deliver them, answer what was sent.

Why a queue and not a send inside the request: sending is an outside effect that
cannot be rolled back. ``send_email`` / ``send_sms`` only write the ``messages`` row
(status ``queued``) and an ``outreach.message.queued`` event in the *caller's*
transaction, so a message exists exactly when the business change that caused it
commits: a rolled-back ticket reply sends nothing, and a committed one is never lost.
After commit the delivery loop (``outreach.delivery``; woken at once in this process,
polling across processes) claims the row, sends through the tenant's channel outside
any transaction, and records the outcome with ``outreach.message.sent`` (status
``sent``, or ``sandboxed`` with the sandbox channel) or ``outreach.message.failed``.

Delivery is at-least-once: a claim is a lease, so a process that dies mid-send leaves
the row to be retried once the lease ends. Every email carries a fixed ``Message-ID``
(``<message id@sender domain>``) across retries, so receivers can spot a duplicate and
replies thread back to the row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.utils import formataddr
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.base import (
    DeliveryError,
    OutboundEmail,
    OutboundSms,
    SendResult,
    check_sms,
    render_email,
)
from bizos.connectors.channels import email_channel, email_sender, sms_channel, sms_sender
from bizos.connectors.platform import PlatformMailMisconfigured, platform_mail
from bizos.core import crypto
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Unprocessable, field_error
from bizos.core.events import append_event, append_row_event, payload, wake_after_commit
from bizos.core.fields import from_row
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.core.reads import one_or_404
from bizos.modules.outreach.models import Message
from bizos.modules.outreach.schemas import MessageRead, Related

log = structlog.get_logger("bizos.outreach")

MAX_ATTEMPTS = 6
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 3600.0
# Longer than any channel's own timeout, so a live attempt is never taken over.
DELIVERY_LEASE = dt.timedelta(minutes=10)
# Commits that queue a message wake the delivery loop of this process on this topic.
DELIVERY_TOPIC = "outreach.messages"
# Account emails go out through the operator's platform mail (connectors.platform).
PLATFORM_ROUTE = "platform"
REDACTED = "[redacted]"


def email_headers(row: Message) -> dict[str, str] | None:
    """The addressing and threading headers an email goes out with (as rendered by
    every channel), for readers who check where a reply will go."""
    if row.channel != "email":
        return None
    headers = {
        "From": formataddr((row.sender_name or "", row.sender or "")),
        "To": row.recipient,
        "Reply-To": row.reply_to,
        "Subject": row.subject,
        "Message-ID": row.header_message_id,
        "In-Reply-To": row.in_reply_to,
        "References": " ".join(row.references or ()) or None,
    }
    return {name: value for name, value in headers.items() if value}


def related_of(row: Any) -> dict[str, str] | None:
    """``{"type", "id"}`` of the record a row's ``related_type``/``related_id`` name, or
    None unless both are set: a Read schema's ``related`` and an event's."""
    if row.related_type and row.related_id:
        return {"type": row.related_type, "id": row.related_id}
    return None


def message_read(row: Message) -> MessageRead:
    renamed = {"to": row.recipient, "from_": row.sender, "message_id": row.header_message_id}
    return from_row(
        MessageRead, row, headers=email_headers(row), related=related_of(row), **renamed
    )


async def _queue(session: AsyncSession, ctx: Context, row: Message) -> MessageRead:
    # The event first, so the row is written once with its causation (no audit noise).
    queued = await append_event(
        session,
        ctx,
        "outreach.message.queued",
        aggregate_type="message",
        aggregate_id=row.id,
        data={"channel": row.channel, "related": related_of(row)},
    )
    row.queued_event_id = queued["id"]
    session.add(row)
    await session.flush()
    wake_after_commit(session, DELIVERY_TOPIC)
    log.info("outreach.message.queued", message_id=row.id, channel=row.channel)
    return message_read(row)


def _outbound_email(row: Message) -> OutboundEmail:
    return OutboundEmail(
        sender=row.sender or "",
        sender_name=row.sender_name,
        to=(row.recipient,),
        subject=row.subject or "",
        text=row.body,
        html=row.html,
        message_id=row.header_message_id or f"<{row.id}@bizos.example>",
        reply_to=row.reply_to,
        in_reply_to=row.in_reply_to,
        references=tuple(row.references or ()),
        date=row.created_at,
    )


def _outbound_sms(row: Message) -> OutboundSms:
    return OutboundSms(to=row.recipient, body=row.body, sender=row.sender)


async def send_email(
    session: AsyncSession,
    ctx: Context,
    *,
    to: str,
    subject: str,
    body: str,
    html: str | None = None,
    related: Related | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
    sender: str | None = None,
    sender_name: str | None = None,
    on_behalf_of: str | None = None,
) -> MessageRead:
    """Queue an email in the caller's transaction; it is sent after commit.

    ``sender`` defaults to the tenant's smtp ``from_address``. ``on_behalf_of`` is the
    person the email speaks for (a lead's owner): it comes From them where the channel
    may send as them (an smtp relay whose address is on their domain), and names them
    in Reply-To either way, so a reply reaches them and not a no-reply box. The
    returned ``message_id`` is the email's ``Message-ID``: keep it to thread replies.
    """
    if sender is None:
        sender, default_name = await email_sender(session, ctx)
        sender_name = sender_name or default_name
        if on_behalf_of and _same_domain(on_behalf_of, sender):
            sender = on_behalf_of
    if on_behalf_of and reply_to is None:
        reply_to = on_behalf_of
    row = _email_row(
        ctx,
        to=to,
        subject=subject,
        body=body,
        html=html,
        related=related,
        in_reply_to=in_reply_to,
        references=references,
        reply_to=reply_to,
        sender=sender,
        sender_name=sender_name,
    )
    return await _queue(session, ctx, row)


def _email_row(
    ctx: Context,
    *,
    to: str,
    subject: str,
    body: str,
    sender: str,
    sender_name: str | None,
    html: str | None = None,
    related: Related | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
) -> Message:
    """A queued email's row; 422 for what no channel could send."""
    message_row_id = new_id()
    domain = sender.rpartition("@")[2] or "bizos.example"
    row = _queued_row(
        ctx,
        related,
        id=message_row_id,
        channel="email",
        recipient=to.strip().lower(),
        sender=sender,
        sender_name=sender_name,
        reply_to=reply_to,
        subject=subject,
        body=body,
        html=html,
        header_message_id=f"<{message_row_id}@{domain}>",
        in_reply_to=in_reply_to,
        references=list(references),
    )
    try:
        render_email(_outbound_email(row))  # refuse now what no channel could send
    except DeliveryError as exc:
        raise Unprocessable(exc.detail, errors=[field_error(["body"], exc.detail)]) from exc
    return row


def _queued_row(ctx: Context, related: Related | None, **columns: Any) -> Message:
    """A new message row, queued to go out now, about ``related``."""
    return Message(
        tenant_id=ctx.require_tenant(),
        status="queued",
        related_type=related.type if related else None,
        related_id=related.id if related else None,
        next_attempt_at=utcnow(),
        correlation_id=ctx.correlation_id,
        **columns,
    )


async def send_account_email(
    session: AsyncSession,
    ctx: Context,
    *,
    to: str,
    subject: str,
    body: str,
    secret: str | None = None,
    related: Related | None = None,
) -> MessageRead:
    """Queue an email about the recipient's own account (a verification link, a lockout
    warning) in the caller's transaction.

    With the platform mail configured it goes out through it, whatever the workspace's
    channel, and the workspace keeps a copy that says so, with ``secret`` (the link's
    token) redacted: the body as sent is sealed until it is sent, then dropped, so
    whoever holds the workspace's tokens cannot follow a link meant for the mailbox.
    Without platform mail it is an ordinary email of the workspace (an unverified
    workspace's sandbox shows it whole). 503 if the platform mail setting is unusable.
    """
    email: dict[str, Any] = {"to": to, "subject": subject, "body": body, "related": related}
    mail = platform_mail()
    if mail is None:
        return await send_email(session, ctx, **email)
    row = _email_row(ctx, sender=mail.sender, sender_name=mail.sender_name, **email)
    row.route = PLATFORM_ROUTE
    row.body_ciphertext = crypto.encrypt(body, aad=_sealed_body_aad(row))
    note = "sent by the platform mail"
    if secret:
        if secret not in body:
            raise ValueError("the secret to redact is not in the body as written")
        body = body.replace(secret, REDACTED)
        note += "; the link is only in the recipient's mailbox"
    row.body = f"[{note}]\n\n{body}"
    return await _queue(session, ctx, row)


def _sealed_body_aad(row: Message) -> bytes:
    # Bound to its row: a sealed body copied to another message does not open.
    return crypto.associated_data("messages", row.tenant_id, row.id, "body")


def _same_domain(address: str, other: str) -> bool:
    domain = address.rpartition("@")[2].strip().lower()
    return bool(domain) and domain == other.rpartition("@")[2].strip().lower()


async def send_sms(
    session: AsyncSession,
    ctx: Context,
    *,
    to: str,
    body: str,
    related: Related | None = None,
    sender: str | None = None,
) -> MessageRead:
    """Queue an SMS in the caller's transaction; it is sent after commit."""
    row = _queued_row(
        ctx,
        related,
        id=new_id(),
        channel="sms",
        recipient=to.strip(),
        sender=sender or await sms_sender(session, ctx),
        body=body,
        references=[],
    )
    try:
        check_sms(_outbound_sms(row))
    except DeliveryError as exc:
        raise Unprocessable(exc.detail, errors=[field_error(["body"], exc.detail)]) from exc
    return await _queue(session, ctx, row)


def _message(ctx: Context, message_id: str) -> sa.Select[Message]:
    return sa.select(Message).filter_by(tenant_id=ctx.require_tenant(), id=message_id)


async def get_message(session: AsyncSession, ctx: Context, *, message_id: str) -> MessageRead:
    return message_read(await one_or_404(session, _message(ctx, message_id), "message"))


MESSAGE_ORDER = ListOrder("messages", Message.id, [Message.created_at, Message.updated_at])


async def list_messages(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    channel: str | None = None,
    to: str | None = None,
    status: str | None = None,
    related: Related | None = None,
) -> tuple[list[MessageRead], str | None]:
    """The tenant's messages in ``page``'s order (newest first by default), filtered."""
    query = sa.select(Message).where(Message.tenant_id == ctx.require_tenant())
    if channel:
        query = query.where(Message.channel == channel)
    if to:
        query = query.where(Message.recipient == (to.strip().lower() if "@" in to else to.strip()))
    if status:
        query = query.where(Message.status == status)
    if related:
        query = query.where(Message.related_type == related.type, Message.related_id == related.id)
    return await read_page(session, MESSAGE_ORDER, query, page, message_read)


# --- delivery (called by outreach.delivery in its own units of work) -----------------


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """One claimed attempt: ``send`` performs it. ``send`` is None when the tenant's
    channel could not be set up (``setup_error`` says why); the attempt then fails."""

    message_id: str
    attempt: int
    ctx: Context
    provider: str | None = None
    send: Callable[[], Awaitable[SendResult]] | None = None
    setup_error: DeliveryError | None = None


async def find_sent(
    session: AsyncSession, ctx: Context, *, header_ids: Sequence[str]
) -> list[MessageRead]:
    """Our emails whose ``Message-ID`` is one of ``header_ids`` (what a reply names in
    ``In-Reply-To``/``References``), in the order of ``header_ids``."""
    wanted = [h for h in header_ids if h][:100]
    if not wanted:
        return []
    rows = await session.scalars(
        sa.select(Message).where(
            Message.tenant_id == ctx.require_tenant(),
            Message.channel == "email",
            Message.header_message_id.in_(wanted),
        )
    )
    by_header = {row.header_message_id: row for row in rows}
    return [message_read(by_header[h]) for h in wanted if h in by_header]


def delivery_context(row: Message) -> Context:
    """Events of a delivery continue the correlation of the request that queued it."""
    kwargs: dict[str, Any] = {"correlation_id": row.correlation_id} if row.correlation_id else {}
    return Context(
        tenant_id=row.tenant_id, actor_type="system", causation_id=row.queued_event_id, **kwargs
    )


async def _sender_for(
    session: AsyncSession, ctx: Context, row: Message
) -> tuple[str, Callable[[], Awaitable[SendResult]]]:
    """The provider name and the call that sends ``row`` through the tenant's channel
    (an account email: through the platform mail)."""
    if row.route == PLATFORM_ROUTE:
        return _platform_sender(row)
    try:
        if row.channel == "email":
            email = await email_channel(session, ctx)
            return email.provider, partial(email.send, _outbound_email(row))
        if row.channel == "sms":
            sms = await sms_channel(session, ctx)
            return sms.provider, partial(sms.send, _outbound_sms(row))
    except Exception as exc:  # a broken connector must fail the attempt, not the loop
        log.error("outreach.channel_unusable", channel=row.channel, error=type(exc).__name__)
        raise DeliveryError(
            f"{row.channel} channel is not usable: {type(exc).__name__}", retryable=True
        ) from exc
    raise DeliveryError(f"no outbound channel for {row.channel}", retryable=False)


def _platform_sender(row: Message) -> tuple[str, Callable[[], Awaitable[SendResult]]]:
    """An account email goes out through the platform mail with its sealed body, and
    never through the workspace's channel (which may be the sandbox)."""
    try:
        mail = platform_mail()
    except PlatformMailMisconfigured as exc:
        raise DeliveryError(exc.detail, retryable=True) from exc
    if mail is None:
        raise DeliveryError(
            "account email waits for the platform mail (BIZOS_PLATFORM_SMTP_URL is not set)",
            retryable=True,
        )
    if row.body_ciphertext is None:
        raise DeliveryError("the account email's body is gone", retryable=False)
    try:
        text = crypto.decrypt(row.body_ciphertext, aad=_sealed_body_aad(row))
    except crypto.SecretDecryptionError as exc:
        raise DeliveryError("the account email's body does not unseal", retryable=False) from exc
    message = dataclasses.replace(_outbound_email(row), text=text)
    return mail.channel.provider, partial(mail.channel.send, message)


async def claim_delivery(
    session: AsyncSession, ctx: Context, *, message_id: str, now: dt.datetime | None = None
) -> ClaimedDelivery | None:
    """Take a due queued message for one delivery attempt (a lease), or ``None`` if it
    is not due or another worker holds it. The conditional update is the lock."""
    now = now or utcnow()
    claimed = await session.execute(
        sa.update(Message)
        .where(
            Message.tenant_id == ctx.require_tenant(),
            Message.id == message_id,
            Message.status == "queued",
            Message.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + DELIVERY_LEASE, attempts=Message.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    row = await session.scalar(
        sa.select(Message).where(Message.id == message_id).execution_options(populate_existing=True)
    )
    assert row is not None
    job_ctx = delivery_context(row)
    try:
        provider, send = await _sender_for(session, job_ctx, row)
    except DeliveryError as exc:
        return ClaimedDelivery(row.id, row.attempts, job_ctx, setup_error=exc)
    return ClaimedDelivery(row.id, row.attempts, job_ctx, provider=provider, send=send)


async def _locked(session: AsyncSession, ctx: Context, message_id: str) -> Message:
    query = _message(ctx, message_id).with_for_update()
    return await one_or_404(session, query.execution_options(populate_existing=True), "message")


def _log(level: Callable[..., Any], event: str, row: Message, *fields: str, **more: Any) -> None:
    """Log ``event`` about message ``row`` with ``more`` and its attributes ``fields``."""
    level(event, message_id=row.id, **more, **{name: getattr(row, name) for name in fields})


async def record_sent(
    session: AsyncSession, ctx: Context, *, message_id: str, result: SendResult
) -> MessageRead:
    """The provider took the message: status ``sent`` (or ``sandboxed``)."""
    row = await _locked(session, ctx, message_id)
    row.status = result.status
    row.provider = result.provider
    row.provider_message_id = result.provider_message_id
    row.error = None
    row.sent_at = utcnow()
    data = payload(row, "channel", "status", "provider", "provider_message_id")
    await _settled(session, ctx, row, "outreach.message.sent", {**data, "related": related_of(row)})
    _log(log.info, "outreach.message.sent", row, "channel", "status", "provider")
    return message_read(row)


async def _settled(
    session: AsyncSession, ctx: Context, row: Message, event: str, data: dict[str, Any]
) -> None:
    """``row`` is sent or has failed for good: no further attempt, no sealed body (an
    account email's link now lives in the mailbox only); its next version and ``event``."""
    row.next_attempt_at = None
    row.body_ciphertext = None
    row.version += 1
    await session.flush()
    await append_row_event(session, ctx, event, row, aggregate_type="message", data=data)


def retry_delay(attempt: int) -> dt.timedelta:
    """Exponential backoff with jitter: ~30 s, 1 min, 2 min ... capped at an hour."""
    base = min(RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0), RETRY_CAP_SECONDS)
    return dt.timedelta(seconds=base * random.uniform(0.5, 1.5))


async def record_failure(
    session: AsyncSession,
    ctx: Context,
    *,
    message_id: str,
    error: DeliveryError,
    provider: str | None,
    now: dt.datetime | None = None,
) -> MessageRead:
    """A failed attempt: retried later if it may pass and attempts remain, else ``failed``."""
    now = now or utcnow()
    row = await _locked(session, ctx, message_id)
    row.error = error.detail[:2000]
    row.provider = provider
    if error.retryable and row.attempts < MAX_ATTEMPTS:
        row.next_attempt_at = now + retry_delay(row.attempts)
        await session.flush()
        _log(log.warning, "outreach.message.retry_scheduled", row, "error", attempt=row.attempts)
        return message_read(row)
    row.status = "failed"
    data = payload(row, "channel", "provider", "error", "attempts", retryable=error.retryable)
    await _settled(session, ctx, row, "outreach.message.failed", data)
    _log(log.warning, "outreach.message.failed", row, "channel", "attempts", "error")
    return message_read(row)
