"""Finding a contact: by id (answering a merged contact's survivor), by email, and by
what a person calls them (name, email, company or phone, forgiving small typos).

The lowest file of contacts: the service, the merge, notes and attachments all find
contacts through it, and it imports none of them.
"""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import Conflict, NotFound
from bizos.core.reads import read_of
from bizos.modules.crm import search
from bizos.modules.crm.contacts.schemas import ContactRead
from bizos.modules.crm.models import Contact
from bizos.modules.crm.normalize import InvalidEmail, normalize_email
from bizos.modules.crm.records import live

MAX_MERGE_HOPS = 8


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
    return read_of(
        ContactRead,
        row,
        phone_e164=row.phone_normalized,
        company=row.company_name,
        tags=list(row.tags or []),
        properties=dict(row.properties or {}),
    )


# --- lookups -------------------------------------------------------------------------


async def follow_merges(session: AsyncSession, ctx: Context, row: Contact | None) -> Contact | None:
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
    query = sa.select(Contact).where(live(ctx, Contact), Contact.email_normalized == normalized)
    found = await session.scalar(query)
    if found is not None:
        return found
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
    return await follow_merges(session, ctx, merged)


async def get_contact(session: AsyncSession, ctx: Context, contact_id: str) -> Contact:
    """The contact, or the survivor it was merged into; 404 if the tenant has none."""
    row = await session.scalar(
        sa.select(Contact).where(
            Contact.tenant_id == ctx.require_tenant(), Contact.id == contact_id
        )
    )
    found = await follow_merges(session, ctx, row)
    if found is None:
        raise NotFound("contact not found")
    return found


async def locked_contact(session: AsyncSession, ctx: Context, contact_id: str) -> Contact:
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
        survivor = await follow_merges(session, ctx, row)
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


# How many contacts a lookup reads to rank by name when the full-text index finds none
# that match well (a typo): the most recently changed.
LOOKUP_SCAN = 5000
_INDEXED_HITS = 200


async def _ranked_rows(
    session: AsyncSession, ctx: Context, query: str, *, limit: int
) -> list[tuple[Contact, float]]:
    dialect = session.get_bind().dialect.name
    clause = search.contact_filter(dialect, query)
    rows: list[Contact] = []
    if clause is not None:
        rows = list(
            await session.scalars(
                sa.select(Contact)
                .where(live(ctx, Contact), clause)
                .order_by(Contact.updated_at.desc(), Contact.id)
                .limit(_INDEXED_HITS)
            )
        )
    if rows and search.is_phone_query(query):
        return [(row, 1.0) for row in rows[:limit]]
    texts = ((row, (row.name, row.email, row.company_name)) for row in rows)
    return search.rank_by_name(query, texts, limit=limit)


async def find_contacts(
    session: AsyncSession, ctx: Context, query: str, *, limit: int
) -> list[tuple[ContactRead, float]]:
    """The live contacts that best match ``query`` with how well (0..1), best first: an
    email finds its contact; a phone number, contacts whose number holds its digits;
    words, contacts by name, email and company, forgiving case, accents and typos."""
    text = query.strip()
    if "@" in text:
        with contextlib.suppress(InvalidEmail):
            found = await find_contact_by_email(session, ctx, text)
            if found is not None:
                return [(contact_read(found), 1.0)]
    ranked = await _ranked_rows(session, ctx, text, limit=limit)
    if not ranked:
        candidates = await session.execute(
            sa.select(Contact.id, Contact.name, Contact.email, Contact.company_name)
            .where(live(ctx, Contact))
            .order_by(Contact.updated_at.desc(), Contact.id)
            .limit(LOOKUP_SCAN)
        )
        best = search.rank_by_name(
            text, ((r[0], (r[1], r[2], r[3])) for r in candidates.all()), limit=limit
        )
        rows = {
            row.id: row
            for row in await session.scalars(
                sa.select(Contact).where(live(ctx, Contact), Contact.id.in_([i for i, _ in best]))
            )
        }
        ranked = [(rows[i], score) for i, score in best if i in rows]
    return [(contact_read(row), score) for row, score in ranked]


async def contacts_at(
    session: AsyncSession, ctx: Context, company_id: str, *, limit: int
) -> tuple[list[ContactRead], int]:
    """The company's live contacts (most recently active first, at most ``limit``) and
    how many it has."""
    where = (live(ctx, Contact), Contact.company_id == company_id)
    total = await session.scalar(sa.select(sa.func.count()).select_from(Contact).where(*where))
    rows = await session.scalars(
        sa.select(Contact)
        .where(*where)
        .order_by(Contact.last_activity_at.desc().nulls_last(), Contact.id)
        .limit(limit)
    )
    return [contact_read(r) for r in rows], int(total or 0)
