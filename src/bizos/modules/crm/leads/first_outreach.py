"""The lead flow's first outreach email, sent from the lead's owner.

It goes out on the owner's behalf: From the owner where the tenant's relay sends for
the owner's domain, else From the workspace address under the owner's name, and in
both cases with the owner in Reply-To, so "just reply to this email" reaches them. A
reply that comes back through the inbound email path (threaded to this email) is filed
on the contact's timeline by ``leads.replies``.

The tenant sets it in ``CrmSettings.lead_flow`` (``enabled``, ``subject``, ``body``;
the defaults below until changed). Templates name values as ``{{first_name}}``; only
the names in :data:`PLACEHOLDERS` exist, so a typo is refused when the template is
saved rather than mailed to a customer.

Sending is idempotent per lead: the message is queued and its id recorded on the lead
in one transaction under the lead's row lock, so running the step again (after a crash)
finds ``first_outreach_message_id`` and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.modules.crm.leads.schemas import LeadFlowSettings, LeadFlowUpdate
from bizos.modules.crm.leads.service import get_lead
from bizos.modules.crm.models import Contact, Lead
from bizos.modules.crm.records import record_event
from bizos.modules.crm.settings import merge_section, settings_section
from bizos.modules.identity import service as identity_service
from bizos.modules.identity.schemas import UserRead
from bizos.modules.outreach import service as outreach_service
from bizos.modules.outreach.schemas import Related

log = structlog.get_logger("bizos.crm.leads")

PLACEHOLDERS = (
    "first_name",
    "name",
    "email",
    "company",
    "owner_name",
    "owner_first_name",
    "owner_email",
)
DEFAULT_SUBJECT = "Thanks for getting in touch, {{first_name}}"
DEFAULT_BODY = """Hi {{first_name}},

thank you for reaching out. I'm {{owner_name}}, and I'll be your contact from here on.

Could you tell me a little more about what you are looking for? Just reply to this
email - it comes straight to me - and we can find a time for a short call.

Best regards,
{{owner_name}}
"""
# Another lead of the same person within this window has already had its email.
RECONTACT_AFTER = dt.timedelta(days=14)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _check_template(text: str, field: str) -> None:
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(PLACEHOLDERS))
    if unknown:
        raise Unprocessable(
            f"unknown placeholders: {', '.join(unknown)}",
            errors=[
                field_error(
                    ["body", field],
                    f"unknown placeholder {{{{{name}}}}}; known: {', '.join(PLACEHOLDERS)}",
                )
                for name in unknown
            ],
        )


def _settings_read(section: dict[str, Any]) -> LeadFlowSettings:
    return LeadFlowSettings(
        enabled=bool(section.get("enabled", True)),
        subject=str(section.get("subject") or DEFAULT_SUBJECT),
        body=str(section.get("body") or DEFAULT_BODY),
        placeholders=list(PLACEHOLDERS),
    )


async def get_lead_flow_settings(session: AsyncSession, ctx: Context) -> LeadFlowSettings:
    return _settings_read(await settings_section(session, ctx, "lead_flow"))


async def update_lead_flow_settings(
    session: AsyncSession, ctx: Context, *, changes: LeadFlowUpdate
) -> LeadFlowSettings:
    """Change the first outreach email; ``crm.lead_flow.updated`` names what changed."""
    given = changes.model_dump(exclude_unset=True)
    for field in ("subject", "body"):
        if given.get(field):
            _check_template(given[field], field)
    if given.get("enabled") is None:
        given.pop("enabled", None)
    return _settings_read(await merge_section(session, ctx, "lead_flow", given))


@dataclass(frozen=True, slots=True)
class OutreachOutcome:
    message_id: str | None
    skipped: str | None = None


async def send_first_outreach(session: AsyncSession, ctx: Context, lead_id: str) -> OutreachOutcome:
    """Queue the first email to the lead from its owner, once; or say why not
    (``crm.lead.outreach_skipped``): turned off, no owner, do-not-contact, lead closed,
    or the same person was emailed for another lead recently."""
    lead = await get_lead(session, ctx, lead_id, for_update=True)
    if lead.first_outreach_message_id is not None:
        return OutreachOutcome(lead.first_outreach_message_id)
    template = await get_lead_flow_settings(session, ctx)
    contact = await _contact(session, ctx, lead.contact_id)
    owner = await _owner(session, ctx, lead.owner_id)
    reason = await _reason_to_skip(session, ctx, lead, template, contact, owner)
    if reason is not None:
        await _skipped(session, ctx, lead, reason)
        return OutreachOutcome(None, reason)
    assert owner is not None and contact is not None
    values = _values(lead, contact, owner)
    try:
        message = await outreach_service.send_email(
            session,
            ctx,
            to=contact.email or lead.email,
            subject=render(template.subject, values),
            body=render(template.body, values),
            related=Related(type="lead", id=lead.id),
            sender_name=owner.name,
            # The body asks for a reply: it must reach the owner, not a no-reply box.
            on_behalf_of=owner.email,
        )
    except Unprocessable as exc:
        # No channel could send it (e.g. an owner address that is not deliverable):
        # retrying cannot help, so the lead keeps its place in the flow and says why.
        reason = f"undeliverable: {exc.detail}"
        await _skipped(session, ctx, lead, reason)
        return OutreachOutcome(None, reason)
    lead.first_outreach_message_id = message.id
    lead.version += 1
    await session.flush()
    log.info("crm.lead.first_outreach_queued", lead_id=lead.id, message_id=message.id)
    return OutreachOutcome(message.id)


async def _reason_to_skip(
    session: AsyncSession,
    ctx: Context,
    lead: Lead,
    template: LeadFlowSettings,
    contact: Contact | None,
    owner: UserRead | None,
) -> str | None:
    if not template.enabled:
        return "disabled"
    if lead.status in ("disqualified", "converted"):
        return f"lead_{lead.status}"
    if contact is None:
        return "no_contact"
    if contact.do_not_contact:
        return "do_not_contact"
    if owner is None:
        return "no_active_owner"
    recent = await session.scalar(
        sa.select(Lead.id)
        .where(
            Lead.tenant_id == ctx.require_tenant(),
            Lead.contact_id == lead.contact_id,
            Lead.id != lead.id,
            Lead.first_outreach_message_id.is_not(None),
            Lead.created_at >= utcnow() - RECONTACT_AFTER,
        )
        .limit(1)
    )
    if recent is not None:
        return "recently_contacted"
    return None


async def _contact(session: AsyncSession, ctx: Context, contact_id: str) -> Contact | None:
    """The contact, followed through merges to the one that survived."""
    seen: set[str] = set()
    current: str | None = contact_id
    while current is not None and current not in seen:
        seen.add(current)
        contact = await session.scalar(
            sa.select(Contact).where(
                Contact.tenant_id == ctx.require_tenant(), Contact.id == current
            )
        )
        if contact is None or contact.merged_into_id is None:
            return contact
        current = contact.merged_into_id
    return None


async def _owner(session: AsyncSession, ctx: Context, owner_id: str | None) -> UserRead | None:
    if owner_id is None:
        return None
    try:
        owner = await identity_service.get_user(session, ctx, user_id=owner_id)
    except NotFound:
        return None
    return owner if owner.is_active else None


def _values(lead: Lead, contact: Contact, owner: UserRead) -> dict[str, str]:
    name = (lead.name or contact.name or "").strip()
    return {
        "first_name": name.split()[0] if name else "there",
        "name": name or "there",
        "email": lead.email,
        "company": lead.company or contact.company_name or "",
        "owner_name": owner.name,
        "owner_first_name": owner.name.split()[0] if owner.name.strip() else owner.name,
        "owner_email": owner.email,
    }


async def _skipped(session: AsyncSession, ctx: Context, lead: Lead, reason: str) -> None:
    await record_event(session, ctx, "crm.lead.outreach_skipped", lead, "lead", {"reason": reason})
    log.info("crm.lead.outreach_skipped", lead_id=lead.id, reason=reason)
