"""Contacts: the people a business deals with. The only writer of ``crm_contacts``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.events import append_event
from bizos.core.ids import new_id
from bizos.modules.crm.models import Contact
from bizos.modules.crm.normalize import InvalidPhone, normalize_email, normalize_phone


async def find_contact_by_email(session: AsyncSession, ctx: Context, email: str) -> Contact | None:
    """The live contact with this email (normalised), if any."""
    return await session.scalar(
        sa.select(Contact).where(
            Contact.tenant_id == ctx.require_tenant(),
            Contact.email_normalized == normalize_email(email),
            Contact.merged_into_id.is_(None),
        )
    )


async def find_or_create_contact(
    session: AsyncSession,
    ctx: Context,
    *,
    email: str,
    name: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    source: str | None = None,
) -> tuple[Contact, bool]:
    """The contact with this email, or a new one (``crm.contact.created``); the bool says
    whether it was created. Blank fields of an existing contact are filled in, nothing
    else is overwritten. Raises :class:`InvalidEmail` for a malformed email."""
    normalized = normalize_email(email)
    existing = await find_contact_by_email(session, ctx, normalized)
    if existing is not None:
        existing.name = existing.name or name
        existing.company_name = existing.company_name or company
        if phone and not existing.phone:
            existing.phone = phone
            existing.phone_normalized = _phone_or_none(phone)
        await session.flush()
        return existing, False
    contact = Contact(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        name=name,
        email=email.strip(),
        email_normalized=normalized,
        phone=phone,
        phone_normalized=_phone_or_none(phone) if phone else None,
        company_name=company,
        source=source,
        lifecycle_stage="lead",
        tags=[],
        properties={},
    )
    try:
        async with session.begin_nested():
            session.add(contact)
    except IntegrityError:  # the same email arrived concurrently: take that contact
        found = await find_contact_by_email(session, ctx, normalized)
        if found is None:
            raise
        return found, False
    await append_event(
        session,
        ctx,
        "crm.contact.created",
        aggregate_type="contact",
        aggregate_id=contact.id,
        data={"email": contact.email, "name": contact.name, "source": source},
    )
    return contact, True


def _phone_or_none(phone: str) -> str | None:
    try:
        return normalize_phone(phone)
    except InvalidPhone:
        return None
