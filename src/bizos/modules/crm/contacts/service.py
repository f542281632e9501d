"""Contacts: the people a business deals with. The only writer of ``crm_contacts``.

Dedupe keys are the normalised email (one live contact per address, held by a partial
unique index) and the E.164 phone. Duplicates that slipped in (same phone, an address
with a ``+tag``, same name at the same company) are suggested by :func:`find_duplicates`
and joined by :func:`merge_contacts`.

A merged contact keeps its row with ``merged_into_id`` set: reads of it (and
:func:`get_contact`) answer the survivor, so old links keep working; writes to it are
refused with 409 naming the survivor. A merge re-points the CRM's rows (leads, deals,
notes, attachments) and emits ``crm.contact.merged`` per duplicate so other modules
re-point theirs.

``DELETE`` really deletes (the right answer to an erasure request): the contact, its
notes and attachments, and the contacts merged into it. It is refused (409) while leads
or deals point at the contact, so sales history is never silently orphaned; merge the
contact into another instead. The event log keeps ``crm.contact.deleted``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import NewEvent, append_event, append_events
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams, take_page
from bizos.core.versions import check_version
from bizos.modules.crm import search
from bizos.modules.crm.contacts import companies
from bizos.modules.crm.contacts.schemas import (
    LIFECYCLE_ORDER,
    ContactCreate,
    ContactRead,
    ContactSettings,
    ContactUpdate,
    DuplicatePair,
    DuplicateReason,
)
from bizos.modules.crm.models import Attachment, Company, Contact, CrmSettings, Deal, Lead, Note
from bizos.modules.crm.normalize import (
    InvalidEmail,
    InvalidPhone,
    email_domain,
    is_free_mail,
    normalize_email,
    normalize_phone,
)
from bizos.modules.crm.settings import load_settings

MAX_MERGE_HOPS = 8


class DuplicateContact(Conflict):
    """409 naming the live contact that already has the email."""

    def __init__(self, existing_id: str, detail: str | None = None) -> None:
        super().__init__(detail or f"a contact with this email already exists: {existing_id}")
        self.existing_id = existing_id

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        return {**super().to_problem(instance), "existing_id": self.existing_id}


class MergedContact(Conflict):
    """409 for a write addressed to a contact that was merged into another."""

    def __init__(self, contact_id: str, survivor_id: str) -> None:
        super().__init__(
            f"contact {contact_id} was merged into {survivor_id}; address the survivor"
        )
        self.merged_into_id = survivor_id

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        return {**super().to_problem(instance), "merged_into_id": self.merged_into_id}


def contact_read(row: Contact) -> ContactRead:
    return ContactRead(
        id=row.id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        phone_e164=row.phone_normalized,
        company=row.company_name,
        company_id=row.company_id,
        title=row.title,
        lifecycle_stage=row.lifecycle_stage,
        owner_id=row.owner_id,
        source=row.source,
        country=row.country,
        city=row.city,
        tags=list(row.tags or []),
        properties=dict(row.properties or {}),
        do_not_contact=row.do_not_contact,
        last_activity_at=row.last_activity_at,
        last_contacted_at=row.last_contacted_at,
        last_replied_at=row.last_replied_at,
        became_customer_at=row.became_customer_at,
        merged_into_id=row.merged_into_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


# --- settings ------------------------------------------------------------------------


async def default_region(session: AsyncSession, ctx: Context) -> str | None:
    """The tenant's region for national phone numbers (read only: no settings row is
    made by reading)."""
    section = await session.scalar(
        sa.select(CrmSettings.contacts).where(CrmSettings.tenant_id == ctx.require_tenant())
    )
    region = (section or {}).get("default_region")
    return region if isinstance(region, str) else None


async def get_contact_settings(session: AsyncSession, ctx: Context) -> ContactSettings:
    return ContactSettings(default_region=await default_region(session, ctx))


async def update_contact_settings(
    session: AsyncSession, ctx: Context, body: ContactSettings
) -> ContactSettings:
    if body.default_region is not None:
        _check_region(body.default_region, ["body", "default_region"])
    settings = await load_settings(session, ctx, for_update=True)
    settings.contacts = {**(settings.contacts or {}), "default_region": body.default_region}
    settings.version += 1
    await session.flush()
    await append_event(
        session,
        ctx,
        "crm.settings.updated",
        aggregate_type="crm_settings",
        aggregate_id=settings.id,
        version=settings.version,
        data={"section": "contacts", "default_region": body.default_region},
    )
    return body


def _check_region(region: str, loc: list[str | int]) -> None:
    import phonenumbers

    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise Unprocessable(
            f"{region} is not an ISO 3166 country code",
            errors=[field_error(loc, "unknown country")],
        )


# --- lookups -------------------------------------------------------------------------


async def _follow(session: AsyncSession, ctx: Context, row: Contact | None) -> Contact | None:
    for _ in range(MAX_MERGE_HOPS):
        if row is None or row.merged_into_id is None:
            return row
        row = await session.scalar(
            sa.select(Contact).where(
                Contact.tenant_id == ctx.require_tenant(), Contact.id == row.merged_into_id
            )
        )
    return None


async def find_contact_by_email(session: AsyncSession, ctx: Context, email: str) -> Contact | None:
    """The live contact with this email (normalised), if any; an address that only a
    merged contact had answers that contact's survivor."""
    normalized = normalize_email(email)
    live = await session.scalar(
        sa.select(Contact).where(
            Contact.tenant_id == ctx.require_tenant(),
            Contact.email_normalized == normalized,
            Contact.merged_into_id.is_(None),
        )
    )
    if live is not None:
        return live
    merged = await session.scalar(
        sa.select(Contact)
        .where(
            Contact.tenant_id == ctx.require_tenant(),
            Contact.email_normalized == normalized,
            Contact.merged_into_id.is_not(None),
        )
        .order_by(Contact.updated_at.desc())
        .limit(1)
    )
    return await _follow(session, ctx, merged)


async def get_contact(session: AsyncSession, ctx: Context, contact_id: str) -> Contact:
    """The contact, or the survivor it was merged into; 404 if the tenant has none."""
    row = await session.scalar(
        sa.select(Contact).where(
            Contact.tenant_id == ctx.require_tenant(), Contact.id == contact_id
        )
    )
    found = await _follow(session, ctx, row)
    if found is None:
        raise NotFound("contact not found")
    return found


async def _locked(session: AsyncSession, ctx: Context, contact_id: str) -> Contact:
    """The contact itself, row-locked, for a write; 409 if it was merged away."""
    row = await session.scalar(
        sa.select(Contact)
        .where(Contact.tenant_id == ctx.require_tenant(), Contact.id == contact_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("contact not found")
    if row.merged_into_id is not None:
        survivor = await _follow(session, ctx, row)
        raise MergedContact(contact_id, survivor.id if survivor else row.merged_into_id)
    return row


async def merged_ids(session: AsyncSession, ctx: Context, contact_id: str) -> list[str]:
    """Ids of the contacts merged into ``contact_id`` (chains are flattened on merge)."""
    rows = await session.scalars(
        sa.select(Contact.id).where(
            Contact.tenant_id == ctx.require_tenant(), Contact.merged_into_id == contact_id
        )
    )
    return list(rows)


# --- find or create (used by leads and imports) ----------------------------------------


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
    region = await default_region(session, ctx) if phone else None
    existing = await find_contact_by_email(session, ctx, normalized)
    if existing is not None:
        changed = False
        if name and not existing.name:
            existing.name, changed = name, True
        if company and not existing.company_name and not existing.company_id:
            existing.company_name, changed = company, True
        if phone and not existing.phone:
            existing.phone = phone
            existing.phone_normalized = _phone_or_none(phone, region)
            changed = True
        if changed:
            existing.version += 1
            await session.flush()
        return existing, False
    contact = Contact(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        name=name,
        email=email.strip(),
        email_normalized=normalized,
        phone=phone,
        phone_normalized=_phone_or_none(phone, region) if phone else None,
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
    await _link_company_by_email_domain(session, ctx, contact)
    await append_event(
        session,
        ctx,
        "crm.contact.created",
        aggregate_type="contact",
        aggregate_id=contact.id,
        data={"email": contact.email, "name": contact.name, "source": source},
    )
    return contact, True


def _phone_or_none(phone: str, region: str | None = None) -> str | None:
    try:
        return normalize_phone(phone, region)
    except InvalidPhone:
        return None


async def _link_company_by_email_domain(
    session: AsyncSession, ctx: Context, contact: Contact
) -> None:
    """A new contact at a known company's domain works there (free-mail says nothing)."""
    if contact.company_id or not contact.email_normalized:
        return
    if is_free_mail(contact.email_normalized):
        return
    company = await companies.company_by_domain(
        session, ctx, email_domain(contact.email_normalized)
    )
    if company is not None:
        contact.company_id = company.id
        contact.company_name = company.name
        await session.flush()


# --- create / update / delete ----------------------------------------------------------


def _email_field(value: str | None) -> tuple[str | None, str | None]:
    if value is None or not value:
        return None, None
    try:
        return value, normalize_email(value)
    except InvalidEmail as exc:
        raise Unprocessable(
            f"email: {exc}", errors=[field_error(["body", "email"], str(exc))]
        ) from exc


def _phone_field(value: str | None, region: str | None) -> tuple[str | None, str | None]:
    if value is None or not value:
        return None, None
    try:
        return value, normalize_phone(value, region)
    except InvalidPhone as exc:
        hint = "" if region or value.startswith("+") else " (give +country code or a country)"
        raise Unprocessable(
            f"phone: {exc}{hint}", errors=[field_error(["body", "phone"], f"{exc}{hint}")]
        ) from exc


async def _check_owner(session: AsyncSession, ctx: Context, owner_id: str | None) -> None:
    if owner_id is None:
        return
    from bizos.modules.identity import service as identity

    try:
        await identity.get_user(session, ctx, user_id=owner_id)
    except NotFound as exc:
        raise Unprocessable(
            "owner_id is not a user of this workspace",
            errors=[field_error(["body", "owner_id"], "no such user")],
        ) from exc


async def _company_for(session: AsyncSession, ctx: Context, company_id: str) -> Company:
    try:
        return await companies.get_company(session, ctx, company_id)
    except NotFound as exc:
        raise Unprocessable(
            "company_id names no company of this workspace",
            errors=[field_error(["body", "company_id"], "no such company")],
        ) from exc


async def _company_by_name(session: AsyncSession, ctx: Context, name: str) -> Company | None:
    return await session.scalar(
        sa.select(Company)
        .where(
            Company.tenant_id == ctx.require_tenant(),
            Company.merged_into_id.is_(None),
            sa.func.lower(Company.name) == name.strip().lower(),
        )
        .order_by(Company.id)
        .limit(1)
    )


async def _live_with_email(session: AsyncSession, ctx: Context, normalized: str) -> Contact | None:
    return await session.scalar(
        sa.select(Contact).where(
            Contact.tenant_id == ctx.require_tenant(),
            Contact.email_normalized == normalized,
            Contact.merged_into_id.is_(None),
        )
    )


async def create_contact(session: AsyncSession, ctx: Context, body: ContactCreate) -> Contact:
    """A new contact (``crm.contact.created``); 409 with ``existing_id`` if a live
    contact already has the email, 422 with field paths for invalid fields."""
    if not (body.name or body.email or body.phone):
        raise Unprocessable(
            "a contact needs a name, an email or a phone",
            errors=[field_error(["body", f], "give name, email or phone") for f in ("name",)],
        )
    if body.country:
        _check_region(body.country, ["body", "country"])
    email, email_normalized = _email_field(body.email)
    region = body.country or await default_region(session, ctx)
    phone, phone_normalized = _phone_field(body.phone, region)
    if email_normalized:
        # A merged contact's address belongs to its survivor: that is the duplicate.
        existing = await find_contact_by_email(session, ctx, email_normalized)
        if existing is not None:
            raise DuplicateContact(existing.id)
    await _check_owner(session, ctx, body.owner_id)
    company_id, company_name = body.company_id, body.company
    if company_id:
        company = await _company_for(session, ctx, company_id)
        company_id, company_name = company.id, company.name
    elif company_name:
        by_name = await _company_by_name(session, ctx, company_name)
        if by_name is not None:
            company_id, company_name = by_name.id, by_name.name
    row = Contact(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        name=body.name,
        email=email,
        email_normalized=email_normalized,
        phone=phone,
        phone_normalized=phone_normalized,
        company_id=company_id,
        company_name=company_name,
        title=body.title,
        lifecycle_stage=body.lifecycle_stage or "lead",
        owner_id=body.owner_id,
        source=body.source or "api",
        country=body.country,
        city=body.city,
        tags=body.tags or [],
        properties=body.properties or {},
        do_not_contact=bool(body.do_not_contact),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = await _live_with_email(session, ctx, email_normalized or "")
        if existing is None:
            raise
        raise DuplicateContact(existing.id) from None
    await _link_company_by_email_domain(session, ctx, row)
    await append_event(
        session,
        ctx,
        "crm.contact.created",
        aggregate_type="contact",
        aggregate_id=row.id,
        data={"email": row.email, "name": row.name, "source": row.source},
    )
    return row


_PLAIN_FIELDS = (
    "name",
    "title",
    "lifecycle_stage",
    "owner_id",
    "source",
    "country",
    "city",
    "tags",
    "properties",
    "do_not_contact",
)


async def update_contact(
    session: AsyncSession,
    ctx: Context,
    contact_id: str,
    body: ContactUpdate,
    *,
    if_match: str | None = None,
) -> Contact:
    """Apply the fields sent. ``If-Match`` guards against lost updates (409 when stale);
    an email that another live contact has is 409 with ``existing_id``."""
    row = await _locked(session, ctx, contact_id)
    check_version(if_match, row.version)
    given = body.model_dump(exclude_unset=True)
    changed: dict[str, Any] = {}
    for field in ("lifecycle_stage", "tags", "properties", "do_not_contact"):
        if field in given and given[field] is None:
            raise Unprocessable(
                f"{field} may not be null", errors=[field_error(["body", field], "may not be null")]
            )
    if given.get("country"):
        _check_region(given["country"], ["body", "country"])
    for field in _PLAIN_FIELDS:
        if field in given and getattr(row, field) != given[field]:
            changed[field] = given[field]
    if "owner_id" in changed:
        await _check_owner(session, ctx, changed["owner_id"])
    if "email" in given:
        email, normalized = _email_field(given["email"])
        if email != row.email:
            if normalized and normalized != row.email_normalized:
                other = await find_contact_by_email(session, ctx, normalized)
                if other is not None and other.id != row.id:
                    raise DuplicateContact(other.id)
            changed["email"] = email
            row.email_normalized = normalized
    if "phone" in given or ("country" in changed and row.phone):
        region = given.get("country") or row.country or await default_region(session, ctx)
        phone, normalized_phone = _phone_field(given.get("phone", row.phone), region)
        if phone != row.phone or normalized_phone != row.phone_normalized:
            changed["phone"] = phone
            row.phone_normalized = normalized_phone
    if "company_id" in given and given["company_id"] != row.company_id:
        if given["company_id"] is None:
            changed["company_id"] = None
            changed["company"] = given.get("company")
        else:
            company = await _company_for(session, ctx, given["company_id"])
            changed["company_id"], changed["company"] = company.id, company.name
    elif "company" in given and given["company"] != row.company_name:
        changed["company"] = given["company"]
        if row.company_id is not None:
            changed["company_id"] = None  # a company named by hand replaces the link
    if not changed:
        return row
    if not ((changed.get("name", row.name)) or row.email or row.phone):
        raise Unprocessable(
            "a contact needs a name, an email or a phone",
            errors=[field_error(["body", "name"], "give name, email or phone")],
        )
    for field, value in changed.items():
        setattr(row, "company_name" if field == "company" else field, value)
    if not (row.name or row.email or row.phone):
        raise Unprocessable(
            "a contact needs a name, an email or a phone",
            errors=[field_error(["body", "name"], "give name, email or phone")],
        )
    row.version += 1
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        other = await _live_with_email(session, ctx, row.email_normalized or "")
        raise DuplicateContact(other.id if other else "") from None
    await append_event(
        session,
        ctx,
        "crm.contact.updated",
        aggregate_type="contact",
        aggregate_id=row.id,
        version=row.version,
        data={"changes": changed},
    )
    return row


async def set_company(
    session: AsyncSession, ctx: Context, contact_id: str, company_id: str
) -> Contact:
    """Link the contact (the survivor, if merged) to the company; 404 for either."""
    contact = await get_contact(session, ctx, contact_id)
    contact = await _locked(session, ctx, contact.id)
    company = await companies.get_company(session, ctx, company_id)
    if contact.company_id == company.id and contact.company_name == company.name:
        return contact
    contact.company_id, contact.company_name = company.id, company.name
    contact.version += 1
    await session.flush()
    await append_event(
        session,
        ctx,
        "crm.contact.updated",
        aggregate_type="contact",
        aggregate_id=contact.id,
        version=contact.version,
        data={"changes": {"company_id": company.id, "company": company.name}},
    )
    return contact


async def delete_contact(
    session: AsyncSession, ctx: Context, contact_id: str, *, if_match: str | None = None
) -> None:
    row = await _locked(session, ctx, contact_id)
    check_version(if_match, row.version)
    ids = [row.id, *await merged_ids(session, ctx, row.id)]
    leads = await session.scalar(
        sa.select(sa.func.count()).select_from(Lead).where(Lead.contact_id.in_(ids))
    )
    deals = await session.scalar(
        sa.select(sa.func.count()).select_from(Deal).where(Deal.contact_id.in_(ids))
    )
    if leads or deals:
        raise Conflict(
            f"the contact has {leads or 0} lead(s) and {deals or 0} deal(s); merge it into "
            "another contact or remove those first"
        )
    from bizos.modules.crm.contacts import attachments, notes

    await notes.delete_for_subjects(session, ctx, "contact", ids)
    await attachments.delete_for_subjects(session, ctx, "contact", ids)
    await session.execute(
        sa.delete(Contact).where(Contact.id.in_(ids)).execution_options(synchronize_session="fetch")
    )
    await append_event(
        session,
        ctx,
        "crm.contact.deleted",
        aggregate_type="contact",
        aggregate_id=row.id,
        version=row.version + 1,
        data={"merged_ids": ids[1:]},
    )


# --- list and search -----------------------------------------------------------------


def _has_tag(dialect: str, tag: str) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return sa.cast(Contact.tags, JSONB).contains(sa.cast(sa.literal([tag], JSONB), JSONB))
    return sa.exists(
        sa.select(sa.literal(1))
        .select_from(sa.func.json_each(Contact.tags).table_valued("value"))
        .where(sa.column("value") == tag)
    )


CONTACT_ORDER = ListOrder(
    "contacts",
    Contact.id,
    [Contact.created_at, Contact.updated_at, Contact.name, Contact.last_activity_at],
)


async def list_contacts(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    q: str | None = None,
    company_id: str | None = None,
    owner_id: str | None = None,
    lifecycle_stage: str | None = None,
    tag: str | None = None,
    email: str | None = None,
) -> tuple[list[Contact], str | None]:
    """Live contacts in ``page``'s order (newest first by default), filtered; ``q``
    searches name, email, phone and company (every word as a prefix; a phone number by
    its digits)."""
    dialect = _dialect(session)
    query = sa.select(Contact).where(
        Contact.tenant_id == ctx.require_tenant(), Contact.merged_into_id.is_(None)
    )
    if q and q.strip():
        clause = search.contact_filter(
            dialect, q, default_region=await default_region(session, ctx)
        )
        if clause is not None:
            query = query.where(clause)
    if email:
        try:
            query = query.where(Contact.email_normalized == normalize_email(email))
        except InvalidEmail as exc:
            raise Unprocessable(
                str(exc), errors=[field_error(["query", "email"], str(exc))]
            ) from exc
    if company_id:
        query = query.where(Contact.company_id == company_id)
    if owner_id:
        query = query.where(Contact.owner_id == owner_id)
    if lifecycle_stage:
        query = query.where(Contact.lifecycle_stage == lifecycle_stage)
    if tag:
        query = query.where(_has_tag(dialect, tag))
    rows = list(await session.scalars(CONTACT_ORDER.apply(query, page)))
    return CONTACT_ORDER.take_page(rows, page)


# --- duplicates and merge --------------------------------------------------------------

_GMAIL = ("gmail.com", "googlemail.com")
MAX_DUPLICATE_GROUPS = 1000


def email_dedupe_key(normalized: str) -> str:
    """``a.lice+news@googlemail.com`` and ``alice@gmail.com`` share a key: sub-addresses
    (``+tag``) reach the same mailbox, and Gmail ignores dots."""
    local, _, domain = normalized.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


async def _group(session: AsyncSession, ctx: Context, keys: Sequence[Any]) -> list[list[str]]:
    """Ids of live contacts grouped by equal ``keys`` (groups of two or more)."""
    live = sa.and_(
        Contact.tenant_id == ctx.require_tenant(),
        Contact.merged_into_id.is_(None),
        *(k.is_not(None) for k in keys),
        *(k != "" for k in keys),
    )
    dupes = (
        sa.select(*keys)
        .where(live)
        .group_by(*keys)
        .having(sa.func.count() > 1)
        .limit(MAX_DUPLICATE_GROUPS)
        .subquery()
    )
    rows = await session.execute(
        sa.select(Contact.id, *keys)
        .where(live, sa.tuple_(*keys).in_(sa.select(*dupes.c)))
        .order_by(Contact.id)
    )
    groups: dict[tuple[Any, ...], list[str]] = {}
    for row in rows:
        groups.setdefault(tuple(row[1:]), []).append(row[0])
    return [ids for ids in groups.values() if len(ids) > 1]


async def _email_groups(session: AsyncSession, ctx: Context) -> list[list[str]]:
    live = sa.and_(
        Contact.tenant_id == ctx.require_tenant(),
        Contact.merged_into_id.is_(None),
        Contact.email_normalized.is_not(None),
    )
    tagged = await session.execute(
        sa.select(Contact.id, Contact.email_normalized)
        .where(
            live,
            sa.or_(
                Contact.email_normalized.like("%+%@%"),
                *(Contact.email_normalized.like(f"%@{d}") for d in _GMAIL),
            ),
        )
        .order_by(Contact.id)
        .limit(MAX_DUPLICATE_GROUPS * 10)
    )
    by_key: dict[str, set[str]] = {}
    for contact_id, email in tagged:
        by_key.setdefault(email_dedupe_key(str(email)), set()).add(contact_id)
    if not by_key:
        return []
    plain = await session.execute(
        sa.select(Contact.id, Contact.email_normalized).where(
            live, Contact.email_normalized.in_(list(by_key))
        )
    )
    for contact_id, email in plain:
        by_key[str(email)].add(contact_id)
    return [sorted(ids) for ids in by_key.values() if len(ids) > 1]


async def find_duplicates(
    session: AsyncSession, ctx: Context, *, page: PageParams
) -> tuple[list[DuplicatePair], str | None]:
    """Pairs of live contacts sharing a phone, a mailbox, or a name at one company."""
    reasons: dict[tuple[str, str], set[str]] = {}

    def add(groups: Iterable[list[str]], reason: str) -> None:
        for ids in groups:
            first, *others = sorted(ids)
            for other in others:
                reasons.setdefault((first, other), set()).add(reason)

    add(await _group(session, ctx, [Contact.phone_normalized]), "phone")
    add(await _email_groups(session, ctx), "email")
    add(
        await _group(
            session, ctx, [sa.func.lower(Contact.name), sa.func.lower(Contact.company_name)]
        ),
        "name_company",
    )
    pairs = sorted(reasons)
    if page.after:
        pairs = [p for p in pairs if f"{p[0]}|{p[1]}" > page.after]
    chosen, cursor = take_page(pairs, page, key=lambda p: f"{p[0]}|{p[1]}")
    ids = {i for pair in chosen for i in pair}
    rows = {r.id: r for r in await session.scalars(sa.select(Contact).where(Contact.id.in_(ids)))}
    order: tuple[DuplicateReason, ...] = ("email", "phone", "name_company")
    items = [
        DuplicatePair(
            contact_ids=[a, b],
            reasons=[r for r in order if r in reasons[(a, b)]],
            contacts=[contact_read(rows[a]), contact_read(rows[b])],
        )
        for a, b in chosen
    ]
    return items, cursor


# field name in a merge's ``prefer`` -> the columns that move together
MERGE_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "email": ("email", "email_normalized"),
    "phone": ("phone", "phone_normalized"),
    "company": ("company_id", "company_name"),
    "company_id": ("company_id", "company_name"),
    "title": ("title",),
    "owner_id": ("owner_id",),
    "source": ("source",),
    "country": ("country",),
    "city": ("city",),
    "lifecycle_stage": ("lifecycle_stage",),
}


def _blank(row: Contact, columns: tuple[str, ...]) -> bool:
    return all(getattr(row, c) in (None, "") for c in columns)


async def merge_contacts(
    session: AsyncSession,
    ctx: Context,
    survivor_id: str,
    *,
    duplicate_ids: Sequence[str],
    prefer: dict[str, str] | None = None,
) -> tuple[Contact, list[str]]:
    """Join ``duplicate_ids`` into the survivor.

    The survivor keeps its values; its blank fields are filled from the duplicates (in
    the order given) unless ``prefer`` names the contact whose value wins for a field.
    Tags are united, properties combined (the survivor's win), the furthest lifecycle
    stage is kept (unless preferred), ``do_not_contact`` from any of them holds, activity
    times take the latest. Leads, deals, notes and attachments move to the survivor;
    each duplicate keeps its row with ``merged_into_id`` and gets ``crm.contact.merged``.
    """
    prefer = dict(prefer or {})
    dupes = list(dict.fromkeys(duplicate_ids))
    if survivor_id in dupes:
        raise Unprocessable(
            "a contact cannot be merged into itself",
            errors=[field_error(["body", "duplicate_ids"], "contains the survivor")],
        )
    everyone = [survivor_id, *dupes]
    for field, chosen in prefer.items():
        if field not in MERGE_FIELDS:
            raise Unprocessable(
                f"cannot prefer {field}",
                errors=[field_error(["body", "prefer", field], "not a mergeable field")],
            )
        if chosen not in everyone:
            raise Unprocessable(
                "prefer must name the survivor or one of the duplicates",
                errors=[field_error(["body", "prefer", field], "not one of the merged contacts")],
            )
    # Lock in id order: concurrent merges over the same contacts queue up, never deadlock.
    locked = await session.scalars(
        sa.select(Contact)
        .where(Contact.tenant_id == ctx.require_tenant(), Contact.id.in_(everyone))
        .order_by(Contact.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    by_id = {r.id: r for r in locked}
    for contact_id in everyone:
        if contact_id not in by_id:
            raise NotFound(f"contact {contact_id} not found")
    for contact_id in everyone:
        row = by_id[contact_id]
        if row.merged_into_id is not None:
            survivor = await _follow(session, ctx, row)
            raise MergedContact(contact_id, survivor.id if survivor else row.merged_into_id)
    survivor = by_id[survivor_id]
    others = [by_id[i] for i in dupes]

    # Values the survivor takes, decided before anything moves.
    take: dict[str, Any] = {}
    for field, columns in MERGE_FIELDS.items():
        if field in ("company_id", "lifecycle_stage"):
            continue
        source_row: Contact | None = None
        preferred = prefer.get(field) or (prefer.get("company_id") if field == "company" else None)
        if preferred is not None:
            source_row = by_id[preferred]
        elif _blank(survivor, columns):
            source_row = next((o for o in others if not _blank(o, columns)), None)
        if source_row is not None and source_row is not survivor:
            for column in columns:
                take[column] = getattr(source_row, column)
    stages = [r.lifecycle_stage for r in (survivor, *others)]
    if "lifecycle_stage" in prefer:
        take["lifecycle_stage"] = by_id[prefer["lifecycle_stage"]].lifecycle_stage
    else:
        take["lifecycle_stage"] = max(
            stages, key=lambda s: LIFECYCLE_ORDER.index(s) if s in LIFECYCLE_ORDER else 0
        )
    tags = list(dict.fromkeys([*(survivor.tags or []), *(t for o in others for t in o.tags or [])]))
    properties: dict[str, Any] = {}
    for other in reversed(others):
        properties.update(other.properties or {})
    properties.update(survivor.properties or {})
    take["tags"], take["properties"] = tags, properties
    take["do_not_contact"] = any(r.do_not_contact for r in (survivor, *others))
    for column in ("last_activity_at", "last_contacted_at", "last_replied_at"):
        times = [t for t in (getattr(r, column) for r in (survivor, *others)) if t]
        take[column] = max(times) if times else None
    became = [r.became_customer_at for r in (survivor, *others) if r.became_customer_at]
    take["became_customer_at"] = min(became) if became else None

    # Duplicates step aside first: the survivor may take over one of their emails.
    now = utcnow()
    for other in others:
        other.merged_into_id = survivor.id
        other.version += 1
        other.updated_at = now
    await session.flush()
    changes = {k: v for k, v in take.items() if getattr(survivor, k) != v}
    for column, value in changes.items():
        setattr(survivor, column, value)
    survivor.version += 1
    await session.flush()

    # Re-point what referenced the duplicates (and contacts merged into them earlier).
    await session.execute(
        sa.update(Contact)
        .where(Contact.merged_into_id.in_(dupes))
        .values(merged_into_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        sa.update(Lead)
        .where(Lead.contact_id.in_(dupes))
        .values(contact_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        sa.update(Deal)
        .where(Deal.contact_id.in_(dupes))
        .values(contact_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    for subject_model in (Note, Attachment):
        await session.execute(
            sa.update(subject_model)
            .where(subject_model.subject_type == "contact", subject_model.subject_id.in_(dupes))
            .values(subject_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
    await append_events(
        session,
        ctx,
        [
            NewEvent(
                "crm.contact.merged",
                "contact",
                other.id,
                {"survivor_id": survivor.id, "merged_id": other.id},
                version=other.version,
            )
            for other in others
        ]
        + [
            NewEvent(
                "crm.contact.updated",
                "contact",
                survivor.id,
                {"changes": _jsonable(changes), "merged_ids": dupes},
                version=survivor.version,
            )
        ],
    )
    return survivor, dupes


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, dt.datetime) else v
        for k, v in changes.items()
        if k != "email_normalized" and k != "phone_normalized"
    }


# --- lifecycle and activity (called by other parts and handlers) -----------------------


async def mark_customer(
    session: AsyncSession,
    ctx: Context,
    contact_id: str,
    *,
    deal_id: str | None = None,
    order_id: str | None = None,
    invoice_id: str | None = None,
    at: dt.datetime | None = None,
) -> bool:
    """The contact (or the one it was merged into) bought: lifecycle ``customer`` from
    the first won deal or paid invoice, with ``crm.contact.became_customer``.

    Idempotent and never a step back: a contact already a customer stays one and gets
    no second event; ``became_customer_at`` keeps the earliest purchase (a purchase
    handled late moves it back, never forward). A churned contact buying again is a
    customer again. Returns whether the contact became a customer now."""
    contact = await get_contact(session, ctx, contact_id)
    contact = await _locked(session, ctx, contact.id)
    at = at or utcnow()
    first = contact.became_customer_at
    if contact.lifecycle_stage == "customer" and first is not None:
        if at < first:  # an earlier purchase handled after a later one
            contact.became_customer_at = at
            await session.flush()
        return False
    previous = contact.lifecycle_stage
    contact.lifecycle_stage = "customer"
    contact.became_customer_at = min(first, at) if first else at
    contact.version += 1
    await session.flush()
    await append_events(
        session,
        ctx,
        [
            NewEvent(
                type="crm.contact.became_customer",
                aggregate_type="contact",
                aggregate_id=contact.id,
                version=contact.version,
                data={
                    "deal_id": deal_id,
                    "order_id": order_id,
                    "invoice_id": invoice_id,
                    "previous_stage": previous,
                    "became_customer_at": contact.became_customer_at.isoformat(),
                },
                occurred_at=at,
            )
        ],
    )
    return True


ACTIVITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "contacted": ("last_activity_at", "last_contacted_at"),
    "replied": ("last_activity_at", "last_replied_at"),
}


async def record_activity(
    session: AsyncSession,
    ctx: Context,
    contact_id: str,
    *,
    at: dt.datetime,
    kind: str = "activity",
) -> None:
    """Move ``last_activity_at`` (and ``last_contacted_at`` for ``kind="contacted"``,
    ``last_replied_at`` for ``"replied"``) forward to ``at``; never backwards, so events
    handled out of order leave the latest time. Not a user edit: ``version`` stays."""
    contact = await get_contact(session, ctx, contact_id)
    row = await session.scalar(
        sa.select(Contact)
        .where(Contact.id == contact.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    moved = False
    for column in ACTIVITY_COLUMNS.get(kind, ("last_activity_at",)):
        current = getattr(row, column)
        if current is None or current < at:
            setattr(row, column, at)
            moved = True
    if moved:
        await session.flush()
