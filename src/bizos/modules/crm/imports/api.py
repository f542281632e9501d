"""CRM CSV import and export API.

``POST /api/v1/crm/imports`` takes the file (multipart), checks it and answers 202; the
rows are processed after commit by a worker (see ``handlers.py``), and
``GET /api/v1/crm/imports/{id}`` shows the progress. Exports stream CSV.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import StreamingResponse

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import CrmRead, CrmWrite
from bizos.core.db import get_database
from bizos.core.errors import Unprocessable, field_error
from bizos.core.pagination import Page, PageParams, fixed_order
from bizos.modules.crm.imports import export, service
from bizos.modules.crm.imports.schemas import (
    ImportKind,
    ImportRead,
    ImportRowErrorRead,
    ImportStatus,
    OnDuplicate,
)

router = APIRouter(tags=["crm"])

_MAPPING_HELP = (
    'JSON object of CSV column -> field, e.g. {"E-mail": "email", "Firma": "company", '
    '"Segment": "custom:segment", "Notes": ""}. Fields: email, name, first_name, last_name, '
    "phone, company, title, country, city, tags, source, owner_email (leads: message), "
    'custom:<key>; "" ignores a column. Columns left out are mapped by their common names.'
)


def _parse_mapping(text: str | None) -> dict[str, str] | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unprocessable(
            "the mapping is not JSON",
            errors=[field_error(["body", "mapping"], f"not valid JSON: {exc.msg}")],
        ) from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise Unprocessable(
            "the mapping must map column names to field names",
            errors=[field_error(["body", "mapping"], "a JSON object of strings to strings")],
        )
    if len(value) > 500:
        raise Unprocessable(
            "the mapping is too long",
            errors=[field_error(["body", "mapping"], "at most 500 columns")],
        )
    return value


@router.post("/api/v1/crm/imports", status_code=202, response_model=ImportRead)
async def create_import(
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
    file: Annotated[UploadFile, File(description="The CSV file (UTF-8 or Windows-1252).")],
    kind: Annotated[ImportKind, Form()] = "contacts",
    mapping: Annotated[str | None, Form(description=_MAPPING_HELP)] = None,
    on_duplicate: Annotated[
        OnDuplicate,
        Form(
            description="skip: leave existing contacts; update: overwrite with non-empty "
            "values; merge: fill blank fields only, unite tags"
        ),
    ] = "skip",
) -> ImportRead:
    """Upload a CSV file to import contacts or leads; processed in the background."""
    return await service.create_import(
        session,
        ctx,
        upload=file.file,
        filename=file.filename or "upload.csv",
        kind=kind,
        mapping=_parse_mapping(mapping),
        on_duplicate=on_duplicate,
    )


@router.get("/api/v1/crm/imports", response_model=Page[ImportRead])
async def list_imports(
    _: CrmRead,
    session: DbSession,
    ctx: Ctx,
    page: Annotated[PageParams, Depends(service.IMPORT_ORDER.dependency)],
    status: ImportStatus | None = None,
) -> Page[ImportRead]:
    return Page[ImportRead].of(await service.list_imports(session, ctx, page=page, status=status))


@router.get("/api/v1/crm/imports/{import_id}", response_model=ImportRead)
async def get_import(import_id: str, _: CrmRead, session: DbSession, ctx: Ctx) -> ImportRead:
    return await service.get_import(session, ctx, import_id)


@router.get("/api/v1/crm/imports/{import_id}/errors", response_model=Page[ImportRowErrorRead])
async def list_import_errors(
    import_id: str,
    _: CrmRead,
    session: DbSession,
    ctx: Ctx,
    page: Annotated[PageParams, Depends(fixed_order("row", "in file order"))],
) -> Page[ImportRowErrorRead]:
    """The validation report: each rejected row with what was wrong and the row itself."""
    return Page[ImportRowErrorRead].of(
        await service.list_row_errors(session, ctx, import_id, page=page)
    )


def _csv_response(chunks: object, filename: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,  # type: ignore[arg-type]
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


Text = Annotated[str | None, Query(max_length=200)]


@router.get("/api/v1/crm/exports/contacts.csv", response_class=StreamingResponse)
@router.get(
    "/api/v1/crm/contacts/export.csv", response_class=StreamingResponse, include_in_schema=False
)
async def export_contacts(
    _: CrmRead,
    ctx: Ctx,
    q: Text = None,
    source: Text = None,
    lifecycle_stage: Text = None,
    owner_id: Text = None,
    tag: Text = None,
) -> StreamingResponse:
    """All live contacts (optionally filtered) as CSV, streamed; re-importable as is."""
    filters = export.ExportFilter(
        q=q, source=source, lifecycle_stage=lifecycle_stage, owner_id=owner_id, tag=tag
    )
    return _csv_response(export.export_contacts(get_database(), ctx, filters), "contacts.csv")


@router.get("/api/v1/crm/exports/companies.csv", response_class=StreamingResponse)
@router.get(
    "/api/v1/crm/companies/export.csv", response_class=StreamingResponse, include_in_schema=False
)
async def export_companies(_: CrmRead, ctx: Ctx, q: Text = None) -> StreamingResponse:
    """All live companies as CSV, streamed."""
    return _csv_response(export.export_companies(get_database(), ctx, q), "companies.csv")
