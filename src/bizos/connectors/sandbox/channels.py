"""Sandbox email and SMS channels.

They validate and render exactly what a real channel would (so a message the sandbox
accepts is one SMTP or Twilio would take) and keep the rendered result in a bounded
in-memory outbox; the durable record is the outreach ``messages`` row, whose status
ends ``sandboxed``.
"""

from __future__ import annotations

from collections import deque
from email.message import EmailMessage

from bizos.connectors.base import (
    OutboundEmail,
    OutboundSms,
    SendResult,
    check_sms,
    render_email,
)
from bizos.core.ids import new_id

OUTBOX_LIMIT = 1000


class SandboxEmailChannel:
    provider = "sandbox"

    def __init__(self) -> None:
        self.outbox: deque[EmailMessage] = deque(maxlen=OUTBOX_LIMIT)

    async def send(self, message: OutboundEmail) -> SendResult:
        self.outbox.append(render_email(message))
        return SendResult("sandboxed", self.provider, message.message_id)


class SandboxSmsChannel:
    provider = "sandbox"

    def __init__(self) -> None:
        self.outbox: deque[OutboundSms] = deque(maxlen=OUTBOX_LIMIT)

    async def send(self, message: OutboundSms) -> SendResult:
        check_sms(message)
        self.outbox.append(message)
        return SendResult("sandboxed", self.provider, f"sandbox-{new_id()}")
