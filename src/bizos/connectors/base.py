"""Capability interfaces for outbound channels (DESIGN rule 6).

One small Protocol per capability. Every implementation (the sandbox that only records,
and the real ones that speak a vendor's protocol) passes the same contract suite in
``tests/connectors``. A channel either returns a ``SendResult`` (the provider accepted
the message) or raises ``DeliveryError`` saying whether trying again could help.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Literal, Protocol

from email_validator import EmailNotValidError, validate_email

SendStatus = Literal["sent", "sandboxed"]
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class DeliveryError(Exception):
    """The provider did not take the message.

    ``retryable`` is True for failures that may pass later (connection refused, timeouts,
    4xx SMTP replies, HTTP 429/5xx) and False for ones that will not (bad address,
    authentication refused, 5xx SMTP replies). ``detail`` never carries a secret.
    """

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class OutboundEmail:
    """An email to send. ``message_id`` is the RFC 5322 ``Message-ID`` (with brackets);
    replies thread by ``in_reply_to`` and ``references``."""

    sender: str
    to: tuple[str, ...]
    subject: str
    text: str
    message_id: str
    html: str | None = None
    sender_name: str | None = None
    reply_to: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    date: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboundSms:
    to: str
    body: str
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    provider: str
    provider_message_id: str | None = None
    detail: dict[str, str] = field(default_factory=dict)


class EmailChannel(Protocol):
    provider: str

    async def send(self, message: OutboundEmail) -> SendResult: ...


class SmsChannel(Protocol):
    provider: str

    async def send(self, message: OutboundSms) -> SendResult: ...


def _address(value: str, *, display_name: str | None = None) -> Address:
    try:
        valid = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise DeliveryError(f"invalid email address: {exc}", retryable=False) from exc
    return Address(display_name=display_name or "", addr_spec=valid.normalized)


def render_email(message: OutboundEmail) -> EmailMessage:
    """The MIME message every email channel sends (text, plus an HTML alternative).

    Raises ``DeliveryError`` (not retryable) for an address or header that cannot be
    sent, so every channel refuses the same messages.
    """
    if not message.to:
        raise DeliveryError("a message needs at least one recipient", retryable=False)
    mime = EmailMessage(policy=SMTP_POLICY)
    try:
        mime["From"] = _address(message.sender, display_name=message.sender_name)
        mime["To"] = [_address(addr) for addr in message.to]
        if message.reply_to:
            mime["Reply-To"] = _address(message.reply_to)
        mime["Subject"] = message.subject
        mime["Date"] = format_datetime(message.date or dt.datetime.now(dt.UTC))
        mime["Message-ID"] = message.message_id
        if message.in_reply_to:
            mime["In-Reply-To"] = message.in_reply_to
        if message.references:
            mime["References"] = " ".join(message.references)
    except ValueError as exc:  # CR/LF in a header value
        raise DeliveryError(f"invalid header: {exc}", retryable=False) from exc
    mime.set_content(message.text, charset="utf-8")
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime


def envelope_recipients(message: OutboundEmail) -> list[str]:
    return [_address(addr).addr_spec for addr in message.to]


SMS_MAX_CHARS = 1600  # Twilio's limit for one (concatenated) message


def check_sms(message: OutboundSms) -> None:
    """Refuse what no SMS provider would take: a non-E.164 recipient, an empty or huge body.

    The sender is not checked: it may be a number, a short code or an alphanumeric id.
    """
    if not E164.match(message.to):
        raise DeliveryError("phone number must be E.164, e.g. +15551234567", retryable=False)
    if not message.body or len(message.body) > SMS_MAX_CHARS:
        raise DeliveryError(f"an SMS body needs 1 to {SMS_MAX_CHARS} characters", retryable=False)
