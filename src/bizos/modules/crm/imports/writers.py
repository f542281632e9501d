"""Writing one batch of imported rows: contacts in bulk, leads through the leads service.

Contacts are written here directly (the CRM is one bounded context) because an import
of 100,000 rows cannot afford the one-contact-at-a-time path: per batch there is one
lookup of existing contacts (by normalised email or phone, ``IN`` lists), one lookup of
companies, one bulk insert, one bulk update, one bulk insert of row errors and one
append of events.

Duplicates: a row matches the live contact with its normalised email; failing that, the
contact with its normalised phone, unless both carry different emails (two people may
share an office line). Rows earlier in the same file count as existing contacts, so a
file that names one person twice creates one contact.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import ProblemError
from bizos.core.events import NewEvent, append_events
from bizos.core.ids import new_id
from bizos.core.pagination import PageParams
from bizos.modules.crm.imports.mapping import RowPlan, RowValues, parse_row
from bizos.modules.crm.leads import service as leads_service
from bizos.modules.crm.models import Company, Contact, ImportRowError, Lead
from bizos.modules.crm.normalize import email_domain, is_free_mail
from bizos.modules.identity import service as identity_service
from bizos.modules.identity.schemas import UserRead

CONTACTS = cast(sa.Table, Contact.__table__)
COMPANIES = cast(sa.Table, Company.__table__)
ROW_ERRORS = cast(sa.Table, ImportRowError.__table__)
LEADS = cast(sa.Table, Lead.__table__)

OnDuplicate = Literal["skip", "update", "merge"]

# Contact columns an import may set, in the order change lists report them.
_SCALARS = ("name", "email", "phone", "company_name", "title", "country", "city", "source")
_UPDATED = (*_SCALARS, "email_normalized", "phone_normalized", "company_id", "owner_id")
# A lead row's values that a new lead takes as they are.
_LEAD_FIELDS = ("email", "name", "phone", "company", "message")


@dataclass(slots=True)
class BatchOutcome:
    created: int = 0
    updated: int = 0
    merged: int = 0
    skipped: int = 0
    unchanged: int = 0
    errors: int = 0


@dataclass(slots=True)
class _Target:
    """A contact as this batch sees it: its row values and what the batch changed."""

    row: dict[str, Any]
    new: bool
    changed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class BatchInput:
    import_id: str
    plan: RowPlan
    on_duplicate: OnDuplicate
    rows: list[tuple[int, list[str]]]  # (row number, record)


def _error_row(
    ctx: Context, import_id: str, number: int, errors: list[dict[str, Any]], raw: dict[str, str]
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "tenant_id": ctx.require_tenant(),
        "import_id": import_id,
        "row_number": number,
        "errors": errors,
        "raw": raw,
    }


async def tenant_users(session: AsyncSession, ctx: Context) -> list[UserRead]:
    """Every user of the tenant (a tenant has tens of users, not thousands), in id order."""
    users: list[UserRead] = []
    after: str | None = None
    while True:
        page = await identity_service.list_users(
            session, ctx, page=PageParams(limit=200, after=after)
        )
        users += page.items
        if page.next_cursor is None or not page.items:
            return users
        after = page.items[-1].id


async def tenant_users_by_email(session: AsyncSession, ctx: Context) -> dict[str, str]:
    """Every user's normalised email -> id."""
    return {u.email.strip().lower(): u.id for u in await tenant_users(session, ctx)}


def _validate(
    ctx: Context, batch: BatchInput, owners: dict[str, str] | None
) -> tuple[list[tuple[int, RowValues]], list[dict[str, Any]]]:
    valid: list[tuple[int, RowValues]] = []
    errors: list[dict[str, Any]] = []
    owner_column = next((c for _, c, f in batch.plan.columns if f == "owner_email"), None)
    for number, record in batch.rows:
        result = parse_row(record, batch.plan)
        if (
            isinstance(result, RowValues)
            and result.owner_email
            and owners is not None
            and result.owner_email not in owners
        ):
            result = [
                {
                    "column": owner_column,
                    "field": "owner_email",
                    "msg": "no user with this email in this workspace",
                }
            ]
        if isinstance(result, list):
            errors.append(_error_row(ctx, batch.import_id, number, result, batch.plan.raw(record)))
        else:
            valid.append((number, result))
    return valid, errors


# --- contacts -----------------------------------------------------------------------


async def write_contacts(session: AsyncSession, ctx: Context, batch: BatchInput) -> BatchOutcome:
    """Validate, dedupe and write one batch of contact rows in the caller's transaction."""
    wants_owner = any(f == "owner_email" for _, _, f in batch.plan.columns)
    owners = await tenant_users_by_email(session, ctx) if wants_owner else None
    # CPU-bound (email and phone parsing): off the event loop, which serves requests too.
    valid, errors = await asyncio.to_thread(_validate, ctx, batch, owners)
    outcome = BatchOutcome(errors=len(errors))
    tenant_id = ctx.require_tenant()
    now = utcnow()

    existing = await _existing_contacts(session, tenant_id, valid)
    touched = _match(batch, valid, existing, owners, (tenant_id, now), outcome)
    events: list[NewEvent] = []
    await _link_companies(
        session,
        ctx,
        [t for t in touched if t.new or "company_name" in t.changed],
        now,
        events,
    )
    inserts = [t.row for t in touched if t.new]
    updates = [t for t in touched if not t.new and t.changed]
    if inserts:
        await session.execute(sa.insert(CONTACTS), inserts)
    if updates:
        await _update_contacts(session, tenant_id, updates, now)
    if errors:
        await session.execute(sa.insert(ROW_ERRORS), errors)
    events.extend(_contact_events(batch, inserts, updates))
    await append_events(session, ctx, events)
    return outcome


def _match(
    batch: BatchInput,
    valid: list[tuple[int, RowValues]],
    existing: tuple[dict[str, _Target], dict[str, _Target]],
    owners: dict[str, str] | None,
    stamp: tuple[str, dt.datetime],
    outcome: BatchOutcome,
) -> list[_Target]:
    """Each valid row matched to the contact it is (by email, else by phone when neither
    has an email), or to a new one; counts what happened to each in ``outcome``."""
    by_email, by_phone = existing
    tenant_id, now = stamp
    touched: dict[str, _Target] = {}
    for _, values in valid:
        target = by_email.get(values.email_normalized) if values.email_normalized else None
        if target is None and values.phone_normalized:
            candidate = by_phone.get(values.phone_normalized)
            if candidate is not None and not (
                values.email_normalized and candidate.row["email_normalized"]
            ):
                target = candidate
        owner_id = owners.get(values.owner_email) if owners and values.owner_email else None
        if target is None:
            target = _Target(_new_contact(tenant_id, values, owner_id, now), new=True)
            outcome.created += 1
        elif batch.on_duplicate == "skip":
            outcome.skipped += 1
            continue
        else:
            _count_changes(
                target,
                _apply(target.row, values, owner_id, batch.on_duplicate),
                batch.on_duplicate,
                outcome,
            )
        touched[target.row["id"]] = target
        if target.row["email_normalized"]:
            by_email[target.row["email_normalized"]] = target
        if target.row["phone_normalized"]:
            by_phone.setdefault(target.row["phone_normalized"], target)
    return list(touched.values())


def _count_changes(
    target: _Target, changes: list[str], on_duplicate: OnDuplicate, outcome: BatchOutcome
) -> None:
    if not changes:
        outcome.unchanged += 1
        return
    target.changed.extend(c for c in changes if c not in target.changed)
    if on_duplicate == "update":
        outcome.updated += 1
    else:
        outcome.merged += 1


def _contact_events(
    batch: BatchInput, inserts: list[dict[str, Any]], updates: list[_Target]
) -> list[NewEvent]:
    """``crm.contact.created`` per new contact and ``crm.contact.updated`` per changed one."""
    created = [
        NewEvent(
            "crm.contact.created",
            "contact",
            row["id"],
            {
                "email": row["email"],
                "name": row["name"],
                "source": row["source"],
                "import_id": batch.import_id,
            },
        )
        for row in inserts
    ]
    updated = [
        NewEvent(
            "crm.contact.updated",
            "contact",
            target.row["id"],
            {
                "changes": target.changed,
                "import_id": batch.import_id,
                "on_duplicate": batch.on_duplicate,
            },
            version=target.row["version"],
        )
        for target in updates
    ]
    return created + updated


async def _existing_contacts(
    session: AsyncSession, tenant_id: str, valid: list[tuple[int, RowValues]]
) -> tuple[dict[str, _Target], dict[str, _Target]]:
    emails = {v.email_normalized for _, v in valid if v.email_normalized}
    phones = {v.phone_normalized for _, v in valid if v.phone_normalized}
    by_email: dict[str, _Target] = {}
    by_phone: dict[str, _Target] = {}
    if not emails and not phones:
        return by_email, by_phone
    keys = []
    if emails:
        keys.append(CONTACTS.c.email_normalized.in_(sorted(emails)))
    if phones:
        keys.append(CONTACTS.c.phone_normalized.in_(sorted(phones)))
    query = (
        sa.select(CONTACTS)
        .where(
            CONTACTS.c.tenant_id == tenant_id, CONTACTS.c.merged_into_id.is_(None), sa.or_(*keys)
        )
        # The oldest contact wins a shared phone; the lock keeps a concurrent PATCH from
        # being overwritten by values this batch read before it (PostgreSQL).
        .order_by(CONTACTS.c.id)
        .with_for_update()
    )
    for found in (await session.execute(query)).mappings():
        target = _Target(dict(found), new=False)
        if target.row["email_normalized"]:
            by_email.setdefault(target.row["email_normalized"], target)
        if target.row["phone_normalized"]:
            by_phone.setdefault(target.row["phone_normalized"], target)
    # One object per contact, whichever key found it.
    for key, target in list(by_phone.items()):
        email = target.row["email_normalized"]
        if email and email in by_email:
            by_phone[key] = by_email[email]
    return by_email, by_phone


def _new_contact(
    tenant_id: str, v: RowValues, owner_id: str | None, now: dt.datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "tenant_id": tenant_id,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "name": v.name,
        "email": v.email,
        "email_normalized": v.email_normalized,
        "phone": v.phone,
        "phone_normalized": v.phone_normalized,
        "company_id": None,
        "company_name": v.company,
        "title": v.title,
        "lifecycle_stage": "lead",
        "owner_id": owner_id,
        "source": v.source or "import",
        "country": v.country,
        "city": v.city,
        "tags": list(v.tags),
        "properties": dict(v.custom),
        "do_not_contact": False,
        "last_activity_at": None,
        "last_contacted_at": None,
        "last_replied_at": None,
        "became_customer_at": None,
        "merged_into_id": None,
    }


def _apply(row: dict[str, Any], v: RowValues, owner_id: str | None, mode: OnDuplicate) -> list[str]:
    """Apply a duplicate row: ``update`` overwrites with every non-empty value, ``merge``
    fills only blank fields (and unites tags). Returns the changed columns."""
    changed: list[str] = []
    given = {
        "name": v.name,
        "email": v.email,
        "phone": v.phone,
        "company_name": v.company,
        "title": v.title,
        "country": v.country,
        "city": v.city,
        "source": v.source,
        "owner_id": owner_id,
    }
    for column, value in given.items():
        if value is None:
            continue
        current = row[column]
        if mode == "merge" and current not in (None, ""):
            continue
        if current != value:
            row[column] = value
            changed.append(column)
            if column == "email":
                row["email_normalized"] = v.email_normalized
            elif column == "phone":
                row["phone_normalized"] = v.phone_normalized
    if v.tags:
        tags = list(row["tags"] or [])
        merged = v.tags if mode == "update" else tags + [t for t in v.tags if t not in tags]
        if merged != tags:
            row["tags"] = list(merged)
            changed.append("tags")
    if v.custom:
        properties = dict(row["properties"] or {})
        for key, value in v.custom.items():
            if mode == "merge" and properties.get(key) not in (None, ""):
                continue
            properties[key] = value
        if properties != (row["properties"] or {}):
            row["properties"] = properties
            changed.append("properties")
    return changed


async def _update_contacts(
    session: AsyncSession, tenant_id: str, targets: list[_Target], now: dt.datetime
) -> None:
    columns = (*_UPDATED, "tags", "properties")
    statement = (
        sa.update(CONTACTS)
        .where(CONTACTS.c.tenant_id == tenant_id, CONTACTS.c.id == sa.bindparam("b_id"))
        .values(
            {c: sa.bindparam(f"b_{c}") for c in columns}
            | {"version": sa.bindparam("b_version"), "updated_at": sa.bindparam("b_updated_at")}
        )
    )
    params = []
    for target in targets:
        target.row["version"] += 1
        params.append(
            {f"b_{c}": target.row[c] for c in columns}
            | {"b_id": target.row["id"], "b_version": target.row["version"], "b_updated_at": now}
        )
    await session.execute(statement, params)


async def _link_companies(
    session: AsyncSession,
    ctx: Context,
    targets: list[_Target],
    now: dt.datetime,
    events: list[NewEvent],
) -> None:
    """Point contacts at the company their ``company`` names: an existing one (same name,
    case-insensitive, else same email domain) or one created here (``crm.company.created``)."""
    wanting = [t for t in targets if t.row["company_name"]]
    if not wanting:
        return
    tenant_id = ctx.require_tenant()
    names = {t.row["company_name"].casefold() for t in wanting}
    domains = {_work_domain(t.row["email_normalized"]) for t in wanting} - {None}
    found_by_name: dict[str, str] = {}
    found_by_domain: dict[str, str] = {}
    lookups = [sa.func.lower(COMPANIES.c.name).in_(sorted(names))]
    if domains:
        lookups.append(COMPANIES.c.domain.in_(sorted(d for d in domains if d)))
    rows = await session.execute(
        sa.select(COMPANIES.c.id, COMPANIES.c.name, COMPANIES.c.domain)
        .where(
            COMPANIES.c.tenant_id == tenant_id,
            COMPANIES.c.merged_into_id.is_(None),
            sa.or_(*lookups),
        )
        .order_by(COMPANIES.c.id)
    )
    for company_id, name, domain in rows:
        found_by_name.setdefault(name.casefold(), company_id)
        if domain:
            found_by_domain.setdefault(domain, company_id)
    created: list[dict[str, Any]] = []
    for target in wanting:
        name = target.row["company_name"]
        domain = _work_domain(target.row["email_normalized"])
        company_id = found_by_name.get(name.casefold()) or (
            found_by_domain.get(domain) if domain else None
        )
        if company_id is None:
            company = {
                "id": new_id(),
                "tenant_id": tenant_id,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "name": name,
                "domain": domain,
                "tags": [],
                "properties": {},
            }
            created.append(company)
            company_id = company["id"]
            found_by_name[name.casefold()] = company_id
            if domain:
                found_by_domain[domain] = company_id
        if target.row["company_id"] != company_id:
            target.row["company_id"] = company_id
            if not target.new and "company_id" not in target.changed:
                target.changed.append("company_id")
    if created:
        await session.execute(sa.insert(COMPANIES), created)
        events.extend(
            NewEvent(
                "crm.company.created",
                "company",
                c["id"],
                {"name": c["name"], "domain": c["domain"], "source": "import"},
            )
            for c in created
        )


def _work_domain(email_normalized: str | None) -> str | None:
    if not email_normalized or is_free_mail(email_normalized):
        return None
    return email_domain(email_normalized)


# --- leads --------------------------------------------------------------------------

_OPEN_LEAD = ("new", "working", "qualified")


async def write_leads(session: AsyncSession, ctx: Context, batch: BatchInput) -> BatchOutcome:
    """Create a lead per valid row through the leads service (which dedupes the contact
    and starts the lead flow). A row whose email already has an open lead, or appeared
    earlier in the file, is skipped."""
    valid, errors = await asyncio.to_thread(_validate, ctx, batch, None)
    outcome = BatchOutcome()
    emails = sorted({v.email_normalized for _, v in valid if v.email_normalized})
    open_emails: set[str] = set()
    if emails:
        rows = await session.execute(
            sa.select(CONTACTS.c.email_normalized)
            .join(
                LEADS,
                sa.and_(
                    LEADS.c.contact_id == CONTACTS.c.id, LEADS.c.tenant_id == CONTACTS.c.tenant_id
                ),
            )
            .where(
                CONTACTS.c.tenant_id == ctx.require_tenant(),
                CONTACTS.c.email_normalized.in_(emails),
                LEADS.c.status.in_(_OPEN_LEAD),
            )
        )
        open_emails = {email for (email,) in rows}
    records = dict(batch.rows)
    for number, values in valid:
        assert values.email is not None and values.email_normalized is not None
        if values.email_normalized in open_emails:
            outcome.skipped += 1
            continue
        properties: dict[str, Any] = dict(values.custom)
        for key in ("title", "country", "city"):
            if getattr(values, key):
                properties[key] = getattr(values, key)
        if values.tags:
            properties["tags"] = values.tags
        properties["import_id"] = batch.import_id
        try:
            async with session.begin_nested():
                given = {name: getattr(values, name) for name in _LEAD_FIELDS}
                source = values.source or "import"
                await leads_service.create_lead(
                    session, ctx, **given, source=source, properties=properties
                )
        except (ProblemError, ValueError) as exc:
            problems = getattr(exc, "errors", None) or [{"msg": str(exc)}]
            entries = [
                {"column": None, "field": _field_of(p), "msg": p.get("msg", str(exc))}
                for p in problems
            ]
            errors.append(
                _error_row(ctx, batch.import_id, number, entries, batch.plan.raw(records[number]))
            )
            continue
        open_emails.add(values.email_normalized)
        outcome.created += 1
    if errors:
        await session.execute(sa.insert(ROW_ERRORS), errors)
    outcome.errors = len(errors)
    return outcome


def _field_of(problem: dict[str, Any]) -> str | None:
    loc = problem.get("loc") or []
    return str(loc[-1]) if loc else None
