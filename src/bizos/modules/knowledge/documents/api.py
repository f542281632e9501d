"""Document, search and answer endpoints: /api/v1/kb/documents, /api/v1/kb/search,
/api/v1/kb/answer.

``POST /api/v1/kb/documents`` takes either a multipart upload (``file``, optional
``title`` and ``tags``, or ``tag``; text, Markdown, HTML or PDF, the type checked against
the bytes) or JSON ``{title, content, content_type?, tags?, tag?}``. ``tag`` and ``tags``
are one field by two names (merged); any other form field is a 422. ``PATCH`` takes JSON or a
multipart ``file`` (new content) and re-indexes; both honour ``If-Match``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from bizos.api.deps import Ctx, DbSession
from bizos.api.guards import NUL, raise_for_nul
from bizos.core.auth import KbRead, KbWrite
from bizos.core.errors import Unprocessable, field_error
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import IfMatch, tagged
from bizos.modules.knowledge.documents import answers, service
from bizos.modules.knowledge.documents.models import KbChunk, KbDocument
from bizos.modules.knowledge.documents.parsing import UnsupportedMediaType
from bizos.modules.knowledge.documents.schemas import (
    ChunkRead,
    DocumentCreate,
    DocumentDetail,
    DocumentRead,
    DocumentUpdate,
    KbAnswerRead,
    SearchResults,
    split_tags,
)

router = APIRouter(tags=["knowledge"])

_UNSUPPORTED: dict[str, Any] = {
    "description": "Not a type the knowledge base reads",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}

BASE = "/api/v1/kb"
# The documents list's query parameters: its page (order and cursor) and one tag.
DocumentPage = Annotated[PageParams, Depends(service.DOCUMENT_ORDER.dependency)]
TagFilter = Annotated[str | None, Query(max_length=50)]
MAX_FORM_FIELDS = 30
FORM_FIELDS = ("file", "title", "tags", "tag")


def _multipart_schema(required_file: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["file"] if required_file else [],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "title": {"type": "string", "maxLength": 300},
            "tags": {"type": "string", "description": "Comma-separated, or the field repeated."},
            "tag": {"type": "string", "description": "Same as `tags` (merged with them)."},
        },
    }


def _body_doc(json_schema: dict[str, Any], required_file: bool) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_schema},
                "multipart/form-data": {"schema": _multipart_schema(required_file)},
            },
        }
    }


def document_read(row: KbDocument) -> DocumentRead:
    return DocumentRead.model_validate(row, from_attributes=True)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _json_body(request: Request, model: type[BaseModel]) -> Any:
    try:
        payload = await request.json()
    except ValueError:
        raise Unprocessable(
            "the body is not valid JSON", errors=[field_error(["body"], "invalid JSON")]
        ) from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None


async def _file_body(
    request: Request, *, file_required: bool
) -> tuple[UploadFile | None, str | None, list[str] | None]:
    """``(file, title, tags)`` of a multipart body (NUL-free, sizes checked)."""
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except StarletteHTTPException as exc:
        if exc.status_code != 400:
            raise
        # Starlette's word for a malformed body or too many parts: ours is 422.
        raise Unprocessable(
            f"the multipart body is not usable: {exc.detail}",
            errors=[field_error(["body"], str(exc.detail))],
        ) from None
    raise_for_nul(
        [
            ["body", key]
            for key, value in form.multi_items()
            if NUL in key
            or (isinstance(value, str) and NUL in value)
            or (isinstance(value, UploadFile) and NUL in (value.filename or ""))
        ]
    )
    accepted = ", ".join(FORM_FIELDS)
    unknown = [
        field_error(["body", key], f"unknown field; accepted: {accepted}")
        for key in dict.fromkeys(form.keys())
        if key not in FORM_FIELDS
    ]
    upload = form.get("file")
    if upload is not None and not isinstance(upload, UploadFile):
        raise Unprocessable(
            "file must be a file part", errors=[field_error(["body", "file"], "not a file")]
        )
    if upload is None and file_required:
        raise Unprocessable(
            "upload the document as the multipart field file",
            errors=[field_error(["body", "file"], "field required"), *unknown],
        )
    if unknown:
        names = ", ".join(str(e["loc"][1]) for e in unknown)
        raise Unprocessable(f"unknown form fields (accepted: {accepted}): {names}", errors=unknown)
    title_value = form.get("title")
    title = title_value if isinstance(title_value, str) and title_value.strip() else None
    # ``tag`` and ``tags`` are one field by two names: the README said one, the API the other.
    tag_values = [v for k in ("tags", "tag") for v in form.getlist(k) if isinstance(v, str)]
    tags = split_tags(tag_values) if tag_values else None
    try:
        checked = DocumentUpdate(title=title, tags=tags)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None
    return upload, checked.title, checked.tags


async def _upload_fields(upload: UploadFile | None) -> dict[str, Any]:
    """What a multipart ``file`` gives the service: its bytes, type and name (all
    ``None`` without a file)."""
    if upload is None:
        return {"content": None, "content_type": None, "filename": None}
    content = await _read_upload(upload)
    return {"content": content, "content_type": upload.content_type, "filename": upload.filename}


async def _read_upload(upload: UploadFile) -> bytes:
    limit = service.max_document_bytes()
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise service.too_large(f"the file is larger than {limit} bytes")
    return data


def _unsupported_body() -> UnsupportedMediaType:
    return UnsupportedMediaType("send the document as multipart/form-data or application/json")


@router.post(
    f"{BASE}/documents",
    status_code=201,
    response_model=DocumentRead,
    openapi_extra=_body_doc(DocumentCreate.model_json_schema(), required_file=True),
    responses={413: {"description": "Too large"}, 415: _UNSUPPORTED},
)
async def create_document(
    request: Request, _: KbWrite, session: DbSession, ctx: Ctx, response: Response
) -> DocumentRead:
    """Add a document: multipart ``file`` (text, Markdown, HTML or PDF) with optional
    ``title`` and ``tags`` (or ``tag``), or JSON ``{title, content, content_type?, tags?}``. It is
    chunked, embedded and indexed before the answer. Too big → 413; not a type we read →
    415; a file that is not what it claims, an encrypted or unreadable PDF → 422."""
    media_type = _media_type(request)
    if media_type == "multipart/form-data":
        upload, title, tags = await _file_body(request, file_required=True)
        assert upload is not None
        upload_fields = await _upload_fields(upload)
        row = await service.create_document(
            session, ctx, title=title, tags=tags or [], **upload_fields
        )
    elif media_type in ("", "application/json") or media_type.endswith("+json"):
        body: DocumentCreate = await _json_body(request, DocumentCreate)
        row = await service.create_document(session, ctx, **body.model_dump())
    else:
        raise _unsupported_body()
    response.headers["Location"] = f"{BASE}/documents/{row.id}"
    tagged(response, row)
    return document_read(row)


@router.get(f"{BASE}/documents", response_model=Page[DocumentRead])
async def list_documents(
    _: KbRead, session: DbSession, ctx: Ctx, page: DocumentPage, tag: TagFilter = None
) -> Page[DocumentRead]:
    """Documents, newest first (see `sort`); `tag` keeps those with that tag."""
    rows, cursor = await service.list_documents(session, ctx, page=page, tag=tag)
    return Page[DocumentRead](items=[document_read(r) for r in rows], next_cursor=cursor)


@router.get(f"{BASE}/documents/{{document_id}}", response_model=DocumentDetail)
async def get_document(
    document_id: str, _: KbRead, session: DbSession, ctx: Ctx, response: Response
) -> DocumentDetail:
    row = await service.get_document(session, ctx, document_id)
    tagged(response, row)
    return DocumentDetail.model_validate(row, from_attributes=True)


@router.get(f"{BASE}/documents/{{document_id}}/chunks", response_model=list[ChunkRead])
async def list_chunks(document_id: str, _: KbRead, session: DbSession, ctx: Ctx) -> list[ChunkRead]:
    """The document's chunks in reading order, with their heading paths and pages."""
    rows: list[KbChunk] = await service.document_chunks(session, ctx, document_id)
    return [ChunkRead.model_validate(r, from_attributes=True) for r in rows]


@router.patch(
    f"{BASE}/documents/{{document_id}}",
    response_model=DocumentRead,
    openapi_extra=_body_doc(DocumentUpdate.model_json_schema(), required_file=False),
    responses={413: {"description": "Too large"}, 415: _UNSUPPORTED},
)
async def update_document(
    document_id: str,
    request: Request,
    _: KbWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> DocumentRead:
    """Change ``title``, ``tags`` or ``content`` (JSON, or a multipart ``file``); new
    content replaces the document's chunks. ``If-Match: <version>`` → 409 when stale."""
    media_type = _media_type(request)
    if media_type == "multipart/form-data":
        upload, title, tags = await _file_body(request, file_required=False)
        upload_fields = await _upload_fields(upload)
        row = await service.update_document(
            session, ctx, document_id, title=title, tags=tags, if_match=if_match, **upload_fields
        )
    elif media_type in ("", "application/json") or media_type.endswith("+json"):
        body: DocumentUpdate = await _json_body(request, DocumentUpdate)
        row = await service.update_document(
            session, ctx, document_id, if_match=if_match, **body.model_dump()
        )
    else:
        raise _unsupported_body()
    tagged(response, row)
    return document_read(row)


@router.delete(f"{BASE}/documents/{{document_id}}", status_code=204)
async def delete_document(
    document_id: str, _: KbWrite, session: DbSession, ctx: Ctx, if_match: IfMatch = None
) -> Response:
    """Remove the document and everything indexed from it."""
    await service.delete_document(session, ctx, document_id, if_match=if_match)
    return Response(status_code=204)


@router.get(f"{BASE}/search", response_model=SearchResults)
async def search(
    _: KbRead,
    session: DbSession,
    ctx: Ctx,
    q: Annotated[str, Query(min_length=1, max_length=500, description="What to look for.")],
    limit: Annotated[int, Query(ge=1, le=service.MAX_SEARCH_LIMIT)] = 5,
    document_id: Annotated[str | None, Query(max_length=36)] = None,
) -> SearchResults:
    """Passages of the tenant's documents relevant to ``q``, best first. ``score`` is
    relevance (cosine in the tenant's TF-IDF space of words and letter n-grams, so a
    misspelt word still meets its page); passages too unrelated to it are left out."""
    if not q.strip():
        raise Unprocessable(
            "say what to look for", errors=[field_error(["query", "q"], "blank query")]
        )
    hits = await service.search(
        session, ctx, q, limit=limit, document_id=document_id, min_score=service.RELEVANT
    )
    return SearchResults(items=[h.read() for h in hits])


@router.get(f"{BASE}/answer", response_model=KbAnswerRead)
async def answer(
    _: KbRead,
    session: DbSession,
    ctx: Ctx,
    q: Annotated[str, Query(min_length=1, max_length=500, description="The question.")],
    limit: Annotated[
        int, Query(ge=1, le=service.MAX_SEARCH_LIMIT, description="Passages to read for it.")
    ] = answers.DEFAULT_PASSAGES,
) -> KbAnswerRead:
    """An answer to ``q`` quoted from the passages search ranks best: the sentences that
    answer each part of the question, each source named (``sources``, with the excerpt
    quoted). Extractive — nothing is generated; ``answered`` is false, and the answer says
    so, when no passage answers it."""
    if not q.strip():
        raise Unprocessable(
            "ask a question", errors=[field_error(["query", "q"], "blank question")]
        )
    return await answers.answer(session, ctx, q, limit=limit)
