"""Duplicate contacts: finding the likely pairs and joining them into one.

A merged contact keeps its row with ``merged_into_id`` set; a merge re-points the
CRM's rows (leads, deals, notes, attachments) and emits ``crm.contact.merged`` per
duplicate so other modules re-point theirs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.core.events import NewEvent, append_events
from bizos.core.pagination import PageParams, take_page
from bizos.modules.crm.contacts.lookups import MergedContact, contact_read, follow_merges
from bizos.modules.crm.contacts.schemas import LIFECYCLE_ORDER, DuplicatePair, DuplicateReason
from bizos.modules.crm.models import Attachment, Contact, Deal, Lead, Note
from bizos.modules.crm.records import live

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
    given = sa.and_(live(ctx, Contact), *(k.is_not(None) for k in keys), *(k != "" for k in keys))
    dupes = (
        sa.select(*keys)
        .where(given)
        .group_by(*keys)
        .having(sa.func.count() > 1)
        .limit(MAX_DUPLICATE_GROUPS)
        .subquery()
    )
    rows = await session.execute(
        sa.select(Contact.id, *keys)
        .where(given, sa.tuple_(*keys).in_(sa.select(*dupes.c)))
        .order_by(Contact.id)
    )
    groups: dict[tuple[Any, ...], list[str]] = {}
    for row in rows:
        groups.setdefault(tuple(row[1:]), []).append(row[0])
    return [ids for ids in groups.values() if len(ids) > 1]


async def _email_groups(session: AsyncSession, ctx: Context) -> list[list[str]]:
    with_email = sa.and_(live(ctx, Contact), Contact.email_normalized.is_not(None))
    tagged = await session.execute(
        sa.select(Contact.id, Contact.email_normalized)
        .where(
            with_email,
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
            with_email, Contact.email_normalized.in_(list(by_key))
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
    _check_merge_request(survivor_id, dupes, prefer)
    by_id = await _lock_live(session, ctx, [survivor_id, *dupes])
    survivor = by_id[survivor_id]
    others = [by_id[i] for i in dupes]
    # Values the survivor takes, decided before anything moves.
    take = _survivor_values(survivor, others, by_id, prefer)

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

    await _repoint(session, survivor.id, dupes)
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


def _check_merge_request(survivor_id: str, dupes: list[str], prefer: dict[str, str]) -> None:
    """422 for a merge into itself, or a ``prefer`` that names an unknown field or a
    contact outside the merge."""
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


async def _lock_live(
    session: AsyncSession, ctx: Context, everyone: list[str]
) -> dict[str, Contact]:
    """The contacts, row-locked; 404 for an unknown one, 409 for one merged already."""
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
            survivor = await follow_merges(session, ctx, row)
            raise MergedContact(contact_id, survivor.id if survivor else row.merged_into_id)
    return by_id


def _survivor_values(
    survivor: Contact, others: list[Contact], by_id: dict[str, Contact], prefer: dict[str, str]
) -> dict[str, Any]:
    """Column -> the value the survivor ends with (see :func:`merge_contacts`)."""
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
    return take


async def _repoint(session: AsyncSession, survivor_id: str, dupes: list[str]) -> None:
    """What referenced the duplicates (and contacts merged into them earlier) now
    references the survivor."""
    to_survivor: dict[str, Any] = {"contact_id": survivor_id}
    updates: list[tuple[Any, sa.ColumnElement[bool], dict[str, Any]]] = [
        (Contact, Contact.merged_into_id.in_(dupes), {"merged_into_id": survivor_id}),
        (Lead, Lead.contact_id.in_(dupes), to_survivor),
        (Deal, Deal.contact_id.in_(dupes), to_survivor),
    ]
    for on_subject in (Note, Attachment):
        where = sa.and_(on_subject.subject_type == "contact", on_subject.subject_id.in_(dupes))
        updates.append((on_subject, where, {"subject_id": survivor_id}))
    for model, where, values in updates:
        query = sa.update(model).where(where).values(values)
        await session.execute(query.execution_options(synchronize_session=False))


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, dt.datetime) else v
        for k, v in changes.items()
        if k != "email_normalized" and k != "phone_normalized"
    }
