"""Files attached to contacts (and companies, leads, deals). The only writer of
``crm_attachments`` and of ``<data dir>/attachments/``.

A file is stored as ``attachments/<tenant id>/<attachment id>`` under the data dir: no
part of the path comes from the caller, so a hostile filename cannot escape. The name
is kept only as metadata, cleaned of directories and control characters.

What is accepted: an allow-list of types; PDF and the image types must start with their
magic bytes, text must be UTF-8 without NULs, and content that sniffs as one type may
not be declared as another (415 for a type we do not take, 422 for a mismatch). Size is
capped by ``BIZOS_CRM_ATTACHMENT_MAX_BYTES`` (413). The SHA-256 is recorded.

The file is written before the row; if the transaction rolls back the file is removed,
and a deleted attachment's file is removed only once the deletion has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.errors import (
    NotFound,
    PayloadTooLarge,
    ProblemError,
    Unprocessable,
    field_error,
)
from bizos.core.events import payload
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import read_of
from bizos.modules.crm.contacts.notes import add_on_subject, resolve_subject
from bizos.modules.crm.contacts.schemas import AttachmentRead
from bizos.modules.crm.models import Attachment
from bizos.modules.crm.records import on_subjects, read_page, record_new_event, tenant_row

CHUNK = 64 * 1024

# content type -> the magic prefixes its content must start with (None: text)
ALLOWED: dict[str, tuple[bytes, ...] | None] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
    "text/plain": None,
    "text/csv": None,
}
_UNKNOWN = ("", "application/octet-stream")


class UnsupportedMediaType(ProblemError):
    status = 415
    title = "Unsupported media type"


def sniff(head: bytes) -> str | None:
    """The type the first bytes prove, among the binary types we take."""
    for content_type, magics in ALLOWED.items():
        if magics and any(head.startswith(m) for m in magics):
            if content_type == "image/webp" and head[8:12] != b"WEBP":
                continue
            return content_type
    return None


def _looks_like_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"
    return True


def check_type(declared: str | None, head: bytes) -> str:
    """The content type to store, or 415/422 (see the module docstring)."""
    claimed = (declared or "").split(";", 1)[0].strip().lower()
    found = sniff(head)
    if claimed in _UNKNOWN:
        if found:
            return found
        if _looks_like_text(head):
            return "text/plain"
        raise UnsupportedMediaType("the file's type is not one we accept")
    if claimed not in ALLOWED:
        raise UnsupportedMediaType(
            f"{claimed} is not accepted; allowed: {', '.join(sorted(ALLOWED))}"
        )
    magics = ALLOWED[claimed]
    if magics is None:
        ok = found is None and _looks_like_text(head)
    else:
        ok = found == claimed or (found is not None and ALLOWED[found] == magics)
    if not ok:
        raise Unprocessable(
            f"the content is not {claimed}",
            errors=[field_error(["body", "file"], f"content does not match {claimed}")],
        )
    return claimed


def clean_filename(name: str | None) -> str:
    """A display name without directories, control characters or quotes."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" and ch not in '"<>|:*?')
    text = text.strip().lstrip(".").strip()
    if not text:
        return "attachment"
    if len(text) > 200:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 20 else text[:200]
    return text


def data_dir() -> Path:
    return get_settings().data_dir.resolve()


def attachment_path(storage_key: str) -> Path:
    base = data_dir()
    path = (base / storage_key).resolve()
    if not path.is_relative_to(base / "attachments"):
        raise NotFound("attachment content not found")
    return path


# --- files follow the transaction ------------------------------------------------------

_CREATED = "crm_attachment_files_created"
_DOOMED = "crm_attachment_files_doomed"


def _settle_files(session: Session, kept: str, removed: str) -> None:
    """Forget the files listed under ``kept`` and delete those listed under ``removed``."""
    session.info.pop(kept, None)
    for path in session.info.pop(removed, []):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@sa_event.listens_for(Session, "after_commit")
def _remove_deleted_files(session: Session) -> None:
    _settle_files(session, kept=_CREATED, removed=_DOOMED)


@sa_event.listens_for(Session, "after_rollback")
def _remove_created_files(session: Session) -> None:
    _settle_files(session, kept=_DOOMED, removed=_CREATED)


def attachment_read(row: Attachment) -> AttachmentRead:
    return read_of(AttachmentRead, row, content_url=f"/api/v1/crm/attachments/{row.id}/content")


def _store(source: BinaryIO, target: Path, declared: str | None, max_bytes: int) -> dict[str, Any]:
    """Copy ``source`` to ``target`` (via a temporary name), checking type and size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    size = 0
    content_type: str | None = None
    try:
        with open(temporary, "wb") as out:
            while chunk := source.read(CHUNK):
                if content_type is None:
                    content_type = check_type(declared, chunk[:4096])
                elif content_type.startswith("text/") and b"\x00" in chunk:
                    raise Unprocessable(
                        f"the content is not {content_type}",
                        errors=[field_error(["body", "file"], "binary content in a text file")],
                    )
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"attachments are limited to {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Unprocessable(
                "the file is empty", errors=[field_error(["body", "file"], "empty file")]
            )
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    assert content_type is not None
    return {"content_type": content_type, "size": size, "sha256": digest.hexdigest()}


async def add_attachment(
    session: AsyncSession,
    ctx: Context,
    *,
    subject_type: str,
    subject_id: str,
    filename: str | None,
    content_type: str | None,
    source: BinaryIO,
) -> Attachment:
    target_id = await resolve_subject(session, ctx, subject_type, subject_id)
    tenant_id = ctx.require_tenant()
    attachment_id = new_id()
    storage_key = f"attachments/{tenant_id}/{attachment_id}"
    path = data_dir() / storage_key
    max_bytes = get_settings().crm_attachment_max_bytes
    facts = await asyncio.to_thread(_store, source, path, content_type, max_bytes)
    session.info.setdefault(_CREATED, []).append(str(path))
    row = Attachment(
        id=attachment_id,
        filename=clean_filename(filename),
        storage_key=storage_key,
        uploaded_by=ctx.actor_id,
        **facts,
    )
    await add_on_subject(
        session, ctx, row, subject_type, target_id, "filename", "content_type", "size", "sha256"
    )
    return row


async def get_attachment(session: AsyncSession, ctx: Context, attachment_id: str) -> Attachment:
    return await tenant_row(session, ctx, Attachment, attachment_id, what="attachment")


ATTACHMENT_ORDER = ListOrder(
    "attachments", Attachment.id, [Attachment.created_at], unsorted_descending=True
)


async def list_attachments(
    session: AsyncSession, ctx: Context, *, subject_type: str, subject_id: str, page: PageParams
) -> tuple[list[Attachment], str | None]:
    """A subject's attachments in ``page``'s order (newest first by default)."""
    target = await resolve_subject(session, ctx, subject_type, subject_id)
    query = sa.select(Attachment).where(on_subjects(ctx, Attachment, subject_type, [target]))
    return await read_page(session, ATTACHMENT_ORDER, query, page)


async def delete_attachment(session: AsyncSession, ctx: Context, attachment_id: str) -> None:
    row = await get_attachment(session, ctx, attachment_id)
    await session.delete(row)
    await session.flush()
    session.info.setdefault(_DOOMED, []).append(str(data_dir() / row.storage_key))
    data = payload(row, "subject_type", "subject_id")
    await record_new_event(session, ctx, "crm.attachment.deleted", "attachment", row.id, data)


async def delete_for_subjects(
    session: AsyncSession, ctx: Context, subject_type: str, subject_ids: Sequence[str]
) -> None:
    rows = await session.scalars(
        sa.select(Attachment).where(on_subjects(ctx, Attachment, subject_type, subject_ids))
    )
    for row in rows:
        await session.delete(row)
        session.info.setdefault(_DOOMED, []).append(str(data_dir() / row.storage_key))
    await session.flush()
