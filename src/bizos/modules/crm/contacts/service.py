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

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.versions import check_version
from bizos.modules.crm import search
from bizos.modules.crm.companies import service as companies
from bizos.modules.crm.contacts import attachments, notes
from bizos.modules.crm.contacts.lifecycle import mark_customer as mark_customer
from bizos.modules.crm.contacts.lifecycle import record_activity as record_activity
from bizos.modules.crm.contacts.lookups import (
    MergedContact as MergedContact,
)
from bizos.modules.crm.contacts.lookups import (
    contact_read as contact_read,
)
from bizos.modules.crm.contacts.lookups import (
    find_contact_by_email as find_contact_by_email,
)
from bizos.modules.crm.contacts.lookups import (
    get_contact as get_contact,
)
from bizos.modules.crm.contacts.lookups import (
    locked_contact,
)
from bizos.modules.crm.contacts.lookups import (
    merged_ids as merged_ids,
)
from bizos.modules.crm.contacts.schemas import (
    ContactCreate,
    ContactRead,
    ContactSettings,
    ContactUpdate,
)
from bizos.modules.crm.models import Company, Contact, CrmSettings, Deal, Lead
from bizos.modules.crm.normalize import (
    InvalidEmail,
    InvalidPhone,
    email_domain,
    is_free_mail,
    normalize_email,
    normalize_phone,
)
from bizos.modules.crm.records import (
    live,
    normalized,
    read_page,
    record_event,
    record_new_event,
    where_equal,
)
from bizos.modules.crm.settings import load_settings
from bizos.modules.identity.service import require_active_user


class DuplicateContact(Conflict):
    """409 naming the live contact that already has the email."""

    def __init__(self, existing_id: str, detail: str | None = None) -> None:
        super().__init__(detail or f"a contact with this email already exists: {existing_id}")
        self.existing_id = existing_id

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        return {**super().to_problem(instance), "existing_id": self.existing_id}


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
    await record_event(
        session,
        ctx,
        "crm.settings.updated",
        settings,
        "crm_settings",
        {"section": "contacts", "default_region": body.default_region},
    )
    return body


def _check_region(region: str, loc: list[str | int]) -> None:
    import phonenumbers

    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise Unprocessable(
            f"{region} is not an ISO 3166 country code",
            errors=[field_error(loc, "unknown country")],
        )


# --- find or create (used by leads and imports) ----------------------------------------


async def _announce_created(session: AsyncSession, ctx: Context, row: Contact) -> None:
    data = payload(row, "email", "name", "source")
    await record_new_event(session, ctx, "crm.contact.created", "contact", row.id, data)


# --- for other modules: the contact as its Read, never the row ----------------------------


async def read_contact(session: AsyncSession, ctx: Context, contact_id: str) -> ContactRead:
    """The tenant's contact ``contact_id`` (404 ``contact not found`` otherwise)."""
    return contact_read(await get_contact(session, ctx, contact_id))


async def given_contact(session: AsyncSession, ctx: Context, contact_id: str) -> ContactRead:
    """The contact a request body names as ``contact_id``: 422 ``no such contact`` at
    ``body.contact_id`` when the tenant has none by that id."""
    try:
        return await read_contact(session, ctx, contact_id)
    except NotFound:
        raise Unprocessable(
            "no such contact", errors=[field_error(["body", "contact_id"], "no such contact")]
        ) from None


async def contact_for_email(
    session: AsyncSession,
    ctx: Context,
    *,
    email: str,
    name: str | None = None,
    phone: str | None = None,
    source: str | None = None,
) -> ContactRead:
    """:func:`find_or_create_contact` for another module (raises :class:`InvalidEmail`,
    a ``ValueError``, for a malformed email)."""
    contact, _ = await find_or_create_contact(
        session, ctx, email=email, name=name, phone=phone, source=source
    )
    return contact_read(contact)


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
    await _announce_created(session, ctx, contact)
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
        .where(live(ctx, Company), sa.func.lower(Company.name) == name.strip().lower())
        .order_by(Company.id)
        .limit(1)
    )


async def _live_with_email(session: AsyncSession, ctx: Context, normalized: str) -> Contact | None:
    query = sa.select(Contact).where(live(ctx, Contact), Contact.email_normalized == normalized)
    return await session.scalar(query)


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
    if body.owner_id is not None:
        await require_active_user(session, ctx, body.owner_id)
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
        **body.model_dump(include={"name", "title", "owner_id", "country", "city"}),
        lifecycle_stage=body.lifecycle_stage or "lead",
        source=body.source or "api",
        tags=body.tags or [],
        properties=body.properties or {},
        do_not_contact=bool(body.do_not_contact),
    )
    row.email, row.email_normalized = email, email_normalized
    row.phone, row.phone_normalized = phone, phone_normalized
    row.company_id, row.company_name = company_id, company_name
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = await _live_with_email(session, ctx, email_normalized or "")
        if existing is None:
            raise
        raise DuplicateContact(existing.id) from None
    await _link_company_by_email_domain(session, ctx, row)
    await _announce_created(session, ctx, row)
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
    row = await locked_contact(session, ctx, contact_id)
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
    if changed.get("owner_id") is not None:
        await require_active_user(session, ctx, changed["owner_id"])
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
    await record_event(session, ctx, "crm.contact.updated", row, "contact", {"changes": changed})
    return row


async def set_company(
    session: AsyncSession, ctx: Context, contact_id: str, company_id: str
) -> Contact:
    """Link the contact (the survivor, if merged) to the company; 404 for either."""
    contact = await get_contact(session, ctx, contact_id)
    contact = await locked_contact(session, ctx, contact.id)
    company = await companies.get_company(session, ctx, company_id)
    if contact.company_id == company.id and contact.company_name == company.name:
        return contact
    contact.company_id, contact.company_name = company.id, company.name
    contact.version += 1
    await session.flush()
    await record_event(
        session,
        ctx,
        "crm.contact.updated",
        contact,
        "contact",
        {"changes": {"company_id": company.id, "company": company.name}},
    )
    return contact


async def delete_contact(
    session: AsyncSession, ctx: Context, contact_id: str, *, if_match: str | None = None
) -> None:
    row = await locked_contact(session, ctx, contact_id)
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
    await notes.delete_for_subjects(session, ctx, "contact", ids)
    await attachments.delete_for_subjects(session, ctx, "contact", ids)
    await session.execute(
        sa.delete(Contact).where(Contact.id.in_(ids)).execution_options(synchronize_session="fetch")
    )
    data = {"merged_ids": ids[1:]}
    await record_new_event(
        session, ctx, "crm.contact.deleted", "contact", row.id, data, version=row.version + 1
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
    query = sa.select(Contact).where(live(ctx, Contact))
    if q and q.strip():
        clause = search.contact_filter(
            dialect, q, default_region=await default_region(session, ctx)
        )
        if clause is not None:
            query = query.where(clause)
    if email:
        clean = normalized(normalize_email, email, InvalidEmail, ["query", "email"])
        query = query.where(Contact.email_normalized == clean)
    query = where_equal(
        query,
        [
            (Contact.company_id, company_id or None),
            (Contact.owner_id, owner_id or None),
            (Contact.lifecycle_stage, lifecycle_stage or None),
        ],
    )
    if tag:
        query = query.where(_has_tag(dialect, tag))
    return await read_page(session, CONTACT_ORDER, query, page)
