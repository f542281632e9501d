"""CRM contacts API: CRUD, search, duplicates and merge, notes, attachments, the
contacts of a company and the contact timeline. Reading needs ``crm:read``, writing ``crm:write``.

A merged contact's id keeps working for reads: ``GET`` answers the survivor (its ``id``
differs from the one asked for, and ``Content-Location`` names it). Writes to a merged
id are 409 with ``merged_into_id``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Query, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import StringConstraints

from bizos.api.deps import Ctx, DbSession
from bizos.api.lists import Filters
from bizos.core.auth import Admin, CrmRead, CrmWrite
from bizos.core.errors import NotFound
from bizos.core.pagination import Page, PageParams, fixed_order
from bizos.core.reads import read_of
from bizos.core.versions import tagged, version_etag
from bizos.modules.crm import timeline
from bizos.modules.crm.companies import service as companies
from bizos.modules.crm.contacts import attachments, merge, notes, service
from bizos.modules.crm.contacts.schemas import (
    AttachmentRead,
    ContactCreate,
    ContactFilters,
    ContactRead,
    ContactSettings,
    ContactUpdate,
    DuplicatePair,
    MergeRequest,
    MergeResult,
    NoteCreate,
    NoteRead,
    SubjectType,
    TimelineEntryRead,
)

router = APIRouter(tags=["crm"])

BASE = "/api/v1/crm"
IfMatch = Annotated[str | None, Header(description="The `version` you read (409 if stale).")]

ContactPages = Annotated[PageParams, Depends(service.CONTACT_ORDER.dependency)]
NotePages = Annotated[PageParams, Depends(notes.NOTE_ORDER.dependency)]
AttachmentPages = Annotated[PageParams, Depends(attachments.ATTACHMENT_ORDER.dependency)]
TimelinePages = Annotated[
    PageParams, Depends(fixed_order("-occurred_at", "newest first, across every source"))
]
DuplicatePages = Annotated[
    PageParams, Depends(fixed_order("id", "pairs in the order of their contact ids"))
]


# --- contacts -------------------------------------------------------------------------


@router.get(f"{BASE}/contacts", response_model=Page[ContactRead])
async def list_contacts(
    _: CrmRead, session: DbSession, ctx: Ctx, page: ContactPages, filters: Filters[ContactFilters]
) -> Page[ContactRead]:
    rows, cursor = await service.list_contacts(session, ctx, page=page, **filters.model_dump())
    return Page[ContactRead](items=[service.contact_read(r) for r in rows], next_cursor=cursor)


@router.post(f"{BASE}/contacts", status_code=201, response_model=ContactRead)
async def create_contact(
    body: ContactCreate, _: CrmWrite, session: DbSession, ctx: Ctx, response: Response
) -> ContactRead:
    """Create a contact. An email a live contact already has → 409 with `existing_id`."""
    row = await service.create_contact(session, ctx, body)
    response.headers["Location"] = f"{BASE}/contacts/{row.id}"
    return tagged(response, service.contact_read(row))


@router.get(f"{BASE}/contacts/duplicates", response_model=Page[DuplicatePair])
async def list_duplicates(
    _: CrmRead, session: DbSession, ctx: Ctx, page: DuplicatePages
) -> Page[DuplicatePair]:
    """Pairs of contacts that look like one person: same phone, same mailbox (`+tag`,
    Gmail dots), or same name at the same company. Merge them with `POST .../merge`."""
    return Page[DuplicatePair].of(await merge.find_duplicates(session, ctx, page=page))


@router.get(f"{BASE}/contacts/{{contact_id}}", response_model=ContactRead)
async def get_contact(
    contact_id: str, _: CrmRead, session: DbSession, ctx: Ctx, response: Response
) -> ContactRead:
    row = await service.get_contact(session, ctx, contact_id)
    if row.id != contact_id:
        response.headers["Content-Location"] = f"{BASE}/contacts/{row.id}"
    return tagged(response, service.contact_read(row))


@router.patch(f"{BASE}/contacts/{{contact_id}}", response_model=ContactRead)
async def update_contact(
    contact_id: str,
    body: ContactUpdate,
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> ContactRead:
    row = await service.update_contact(session, ctx, contact_id, body, if_match=if_match)
    return tagged(response, service.contact_read(row))


@router.delete(f"{BASE}/contacts/{{contact_id}}", status_code=204)
async def delete_contact(
    contact_id: str, _: CrmWrite, session: DbSession, ctx: Ctx, if_match: IfMatch = None
) -> Response:
    """Delete the contact with its notes and attachments (and contacts merged into it).
    409 while leads or deals point at it: merge it into another contact instead."""
    await service.delete_contact(session, ctx, contact_id, if_match=if_match)
    return Response(status_code=204)


@router.post(f"{BASE}/contacts/{{contact_id}}/merge", response_model=MergeResult)
async def merge_contacts(
    contact_id: str,
    body: MergeRequest,
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
) -> MergeResult:
    """Merge `duplicate_ids` into this contact (the survivor). The survivor keeps its
    values and fills blanks from the duplicates; `prefer` picks, per field, whose value
    wins. Leads, deals, notes and attachments move over; each duplicate is kept with
    `merged_into_id`, and reading it answers the survivor."""
    row, merged = await merge.merge_contacts(
        session, ctx, contact_id, duplicate_ids=body.duplicate_ids, prefer=body.prefer
    )
    response.headers["ETag"] = version_etag(row.version)
    return MergeResult(contact=service.contact_read(row), merged_ids=merged)


@router.get(f"{BASE}/contacts/{{contact_id}}/timeline", response_model=Page[TimelineEntryRead])
async def contact_timeline(
    contact_id: str,
    _: CrmRead,
    session: DbSession,
    ctx: Ctx,
    page: TimelinePages,
    kind: Annotated[
        list[str] | None,
        Query(max_length=20, description="Only entries whose kind starts with one of these."),
    ] = None,
) -> Page[TimelineEntryRead]:
    """Everything about the contact (and contacts merged into it), newest first: events,
    tracked activity, messages, notes, attachments, leads, deals and what other parts add."""
    contact = await service.get_contact(session, ctx, contact_id)
    ids = [contact.id, *await service.merged_ids(session, ctx, contact.id)]
    entries, cursor = await timeline.read_timeline(
        session, ctx, contact_ids=ids, email=contact.email_normalized, page=page, kinds=kind
    )
    return Page[TimelineEntryRead](
        items=[read_of(TimelineEntryRead, e) for e in entries],
        next_cursor=cursor,
    )


# --- notes ----------------------------------------------------------------------------


async def _notes_page(
    session: DbSession, ctx: Ctx, subject_type: str, subject_id: str, page: PageParams
) -> Page[NoteRead]:
    rows, cursor = await notes.list_notes(
        session, ctx, subject_type=subject_type, subject_id=subject_id, page=page
    )
    return Page[NoteRead](items=[notes.note_read(r) for r in rows], next_cursor=cursor)


async def _add_note(
    session: DbSession, ctx: Ctx, subject_type: str, subject_id: str, body: str
) -> NoteRead:
    row = await notes.create_note(
        session, ctx, subject_type=subject_type, subject_id=subject_id, body=body
    )
    return notes.note_read(row)


@router.get(f"{BASE}/contacts/{{contact_id}}/notes", response_model=Page[NoteRead])
async def list_contact_notes(
    contact_id: str, _: CrmRead, session: DbSession, ctx: Ctx, page: NotePages
) -> Page[NoteRead]:
    return await _notes_page(session, ctx, "contact", contact_id, page)


@router.post(f"{BASE}/contacts/{{contact_id}}/notes", status_code=201, response_model=NoteRead)
async def add_contact_note(
    contact_id: str, body: NoteCreate, _: CrmWrite, session: DbSession, ctx: Ctx
) -> NoteRead:
    return await _add_note(session, ctx, "contact", contact_id, body.body)


@router.get(f"{BASE}/companies/{{company_id}}/notes", response_model=Page[NoteRead])
async def list_company_notes(
    company_id: str, _: CrmRead, session: DbSession, ctx: Ctx, page: NotePages
) -> Page[NoteRead]:
    return await _notes_page(session, ctx, "company", company_id, page)


@router.post(f"{BASE}/companies/{{company_id}}/notes", status_code=201, response_model=NoteRead)
async def add_company_note(
    company_id: str, body: NoteCreate, _: CrmWrite, session: DbSession, ctx: Ctx
) -> NoteRead:
    return await _add_note(session, ctx, "company", company_id, body.body)


@router.get(f"{BASE}/notes", response_model=Page[NoteRead])
async def list_notes(
    subject_type: SubjectType,
    subject_id: Annotated[str, Query(min_length=1, max_length=36)],
    _: CrmRead,
    session: DbSession,
    ctx: Ctx,
    page: NotePages,
) -> Page[NoteRead]:
    """Notes on any CRM record (contact, company, lead, deal), newest first."""
    return await _notes_page(session, ctx, subject_type, subject_id, page)


class NoteForSubject(NoteCreate):
    subject_type: SubjectType
    subject_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]


@router.post(f"{BASE}/notes", status_code=201, response_model=NoteRead)
async def add_note(body: NoteForSubject, _: CrmWrite, session: DbSession, ctx: Ctx) -> NoteRead:
    return await _add_note(session, ctx, body.subject_type, body.subject_id, body.body)


# --- attachments ------------------------------------------------------------------------


@router.post(
    f"{BASE}/contacts/{{contact_id}}/attachments", status_code=201, response_model=AttachmentRead
)
async def add_contact_attachment(
    contact_id: str,
    file: Annotated[UploadFile, File(description="PDF, PNG, JPEG, GIF, WebP, text, CSV...")],
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
) -> AttachmentRead:
    """Attach a file (multipart field `file`). Too big → 413; a type we do not take →
    415; content that is not what its type says → 422."""
    row = await attachments.add_attachment(
        session,
        ctx,
        subject_type="contact",
        subject_id=contact_id,
        filename=file.filename,
        content_type=file.content_type,
        source=file.file,
    )
    return attachments.attachment_read(row)


@router.get(f"{BASE}/contacts/{{contact_id}}/attachments", response_model=Page[AttachmentRead])
async def list_contact_attachments(
    contact_id: str, _: CrmRead, session: DbSession, ctx: Ctx, page: AttachmentPages
) -> Page[AttachmentRead]:
    rows, cursor = await attachments.list_attachments(
        session, ctx, subject_type="contact", subject_id=contact_id, page=page
    )
    return Page[AttachmentRead](
        items=[attachments.attachment_read(r) for r in rows], next_cursor=cursor
    )


@router.get(f"{BASE}/attachments/{{attachment_id}}", response_model=AttachmentRead)
async def get_attachment(
    attachment_id: str, _: CrmRead, session: DbSession, ctx: Ctx
) -> AttachmentRead:
    return attachments.attachment_read(
        await attachments.get_attachment(session, ctx, attachment_id)
    )


@router.get(
    f"{BASE}/attachments/{{attachment_id}}/content",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_attachment(
    attachment_id: str, _: CrmRead, session: DbSession, ctx: Ctx
) -> FileResponse:
    row = await attachments.get_attachment(session, ctx, attachment_id)
    path = attachments.attachment_path(row.storage_key)
    if not path.is_file():
        raise NotFound("attachment content not found")
    return FileResponse(
        path,
        media_type=row.content_type,
        filename=row.filename,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Digest": f"sha-256={row.sha256}",
        },
    )


@router.delete(f"{BASE}/attachments/{{attachment_id}}", status_code=204)
async def delete_attachment(
    attachment_id: str, _: CrmWrite, session: DbSession, ctx: Ctx
) -> Response:
    await attachments.delete_attachment(session, ctx, attachment_id)
    return Response(status_code=204)


@router.get(f"{BASE}/companies/{{company_id}}/contacts", response_model=Page[ContactRead])
async def company_contacts(
    company_id: str, _: CrmRead, session: DbSession, ctx: Ctx, page: ContactPages
) -> Page[ContactRead]:
    company = await companies.get_company(session, ctx, company_id)
    filters = ContactFilters(company_id=company.id)
    rows, cursor = await service.list_contacts(session, ctx, page=page, **filters.model_dump())
    return Page[ContactRead](items=[service.contact_read(r) for r in rows], next_cursor=cursor)


# --- settings -------------------------------------------------------------------------


@router.get(f"{BASE}/settings/contacts", response_model=ContactSettings)
async def get_contact_settings(_: CrmRead, session: DbSession, ctx: Ctx) -> ContactSettings:
    return await service.get_contact_settings(session, ctx)


@router.put(f"{BASE}/settings/contacts", response_model=ContactSettings)
async def put_contact_settings(
    body: ContactSettings, _: Admin, session: DbSession, ctx: Ctx
) -> ContactSettings:
    """`default_region`: the country national phone numbers are read in (e.g. `DE`)."""
    return await service.update_contact_settings(session, ctx, body)
