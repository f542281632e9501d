"""Which channel a tenant's messages go out through.

A configured ``smtp`` connector means real email (once an owner of the workspace has
verified their address), a configured ``twilio`` connector means real SMS; otherwise
the sandbox records the message and sends nothing, so the product works offline and in
tests. Account emails (verification links, lockout warnings) skip all this when the
operator has set up the platform mail (``connectors.platform``).
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.connectors.base import EmailChannel, SmsChannel
from bizos.connectors.sandbox import SandboxEmailChannel, SandboxSmsChannel
from bizos.connectors.service import connector_config, connector_settings
from bizos.connectors.smtp import SmtpEmailChannel
from bizos.connectors.twilio import TwilioSmsChannel
from bizos.core.context import Context
from bizos.core.sending import email_sending

log = structlog.get_logger("bizos.connectors")

# The sandbox sends nothing; its From is a reserved example domain (RFC 2606).
SANDBOX_SENDER = "no-reply@bizos.example"


async def email_channel(session: AsyncSession, ctx: Context) -> EmailChannel:
    smtp = await connector_settings(session, ctx, "smtp")
    if smtp is None:
        return SandboxEmailChannel()
    # Anyone can sign up with anyone's address: until an owner of the workspace has
    # verified theirs, its email is recorded in the sandbox and not sent (identity
    # answers through the ``core.sending`` port).
    if not await email_sending.allowed(session, tenant_id=ctx.require_tenant()):
        log.info("connectors.email.held_until_verified")
        return SandboxEmailChannel()
    return SmtpEmailChannel.from_connector(smtp.config, smtp.secrets)


async def sms_channel(session: AsyncSession, ctx: Context) -> SmsChannel:
    twilio = await connector_settings(session, ctx, "twilio")
    if twilio is None:
        return SandboxSmsChannel()
    return TwilioSmsChannel.from_connector(twilio.config, twilio.secrets)


async def email_sender(session: AsyncSession, ctx: Context) -> tuple[str, str | None]:
    """The tenant's sending address and display name (from the smtp connector config)."""
    config = await connector_config(session, ctx, "smtp")
    if config is None:
        return SANDBOX_SENDER, None
    address = config.get("from_address")
    if not address and "@" in str(config.get("username") or ""):
        address = config["username"]
    return str(address or SANDBOX_SENDER), config.get("from_name")


async def sms_sender(session: AsyncSession, ctx: Context) -> str | None:
    config = await connector_config(session, ctx, "twilio")
    if config is None:
        return None
    number = config.get("from_number")
    return str(number) if number else None
