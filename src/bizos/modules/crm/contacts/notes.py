"""Notes on contacts, companies, leads and deals. The only writer of ``crm_notes``."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import NotFound
from bizos.core.events import payload
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import read_of
from bizos.modules.crm.companies import service as companies
from bizos.modules.crm.contacts.lookups import get_contact
from bizos.modules.crm.contacts.schemas import NoteRead
from bizos.modules.crm.models import Attachment, Deal, Lead, Note
from bizos.modules.crm.records import on_subjects, read_page, record_new_event, tenant_row


def note_read(row: Note) -> NoteRead:
    return read_of(NoteRead, row)


async def resolve_subject(
    session: AsyncSession, ctx: Context, subject_type: str, subject_id: str
) -> str:
    """The id notes and attachments hang on (a merged contact's survivor); 404 if the
    tenant has no such record."""
    if subject_type == "contact":
        return (await get_contact(session, ctx, subject_id)).id
    if subject_type == "company":
        return (await companies.get_company(session, ctx, subject_id)).id
    if subject_type == "lead":
        return (await tenant_row(session, ctx, Lead, subject_id, what="lead")).id
    if subject_type == "deal":
        return (await tenant_row(session, ctx, Deal, subject_id, what="deal")).id
    raise NotFound(f"{subject_type} not found")


async def add_on_subject(
    session: AsyncSession,
    ctx: Context,
    row: Note | Attachment,
    subject_type: str,
    subject_id: str,
    *facts: str,
) -> None:
    """Put ``row`` (a note or an attachment) on the tenant's record and announce it
    (``crm.note.created``, ``crm.attachment.added``) with its subject and ``facts``."""
    row.tenant_id, row.subject_type, row.subject_id = ctx.require_tenant(), subject_type, subject_id
    session.add(row)
    await session.flush()
    kind = "note" if isinstance(row, Note) else "attachment"
    event = "crm.note.created" if kind == "note" else "crm.attachment.added"
    data = payload(row, "subject_type", "subject_id", *facts)
    await record_new_event(session, ctx, event, kind, row.id, data)


async def create_note(
    session: AsyncSession, ctx: Context, *, subject_type: str, subject_id: str, body: str
) -> Note:
    target = await resolve_subject(session, ctx, subject_type, subject_id)
    row = Note(id=new_id(), body=body, author_id=ctx.actor_id)
    await add_on_subject(session, ctx, row, subject_type, target)
    return row


NOTE_ORDER = ListOrder(
    "notes", Note.id, [Note.created_at, Note.updated_at], unsorted_descending=True
)


async def list_notes(
    session: AsyncSession,
    ctx: Context,
    *,
    subject_type: str,
    subject_id: str,
    page: PageParams,
) -> tuple[list[Note], str | None]:
    """A subject's notes in ``page``'s order (newest first by default)."""
    target = await resolve_subject(session, ctx, subject_type, subject_id)
    query = sa.select(Note).where(on_subjects(ctx, Note, subject_type, [target]))
    return await read_page(session, NOTE_ORDER, query, page)


async def delete_for_subjects(
    session: AsyncSession, ctx: Context, subject_type: str, subject_ids: Sequence[str]
) -> None:
    await session.execute(
        sa.delete(Note)
        .where(on_subjects(ctx, Note, subject_type, subject_ids))
        .execution_options(synchronize_session=False)
    )
