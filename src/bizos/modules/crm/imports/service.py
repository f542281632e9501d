"""CSV imports: a file arrives, is checked and stored, then is processed batch by batch.

The only writer of ``crm_imports`` and ``crm_import_errors``. Whoever drives an import
(a durable workflow, the dispatcher, the CLI) calls :func:`process_next_batch` in a unit
of work of its own until it says the import is finished. Each call locks the job, reads
the next batch from the stored ``byte_offset``, writes it, and saves the new offset and
counts in the same transaction: a crash at any point leaves the job at the end of the
last committed batch, so resuming never imports a row twice, and two drivers of one
import take turns rather than double up.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import get_settings
from bizos.core.context import Context
from bizos.core.db import Database, utcnow
from bizos.core.errors import PayloadTooLarge, Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams, encode_cursor
from bizos.core.reads import read_of
from bizos.modules.crm.imports.csvfile import CsvFileError, inspect_csv, is_blank, read_records
from bizos.modules.crm.imports.mapping import KINDS, ImportKind, RowPlan, resolve_mapping
from bizos.modules.crm.imports.schemas import (
    ImportCounts,
    ImportRead,
    ImportRowErrorRead,
    OnDuplicate,
    RowProblem,
)
from bizos.modules.crm.imports.writers import BatchInput, BatchOutcome, write_contacts, write_leads
from bizos.modules.crm.models import ImportJob, ImportRowError
from bizos.modules.crm.records import read_page, record_new_event, tenant_row, where_equal

log = structlog.get_logger("bizos.crm.imports")

BATCH_SIZE = 1000
ON_DUPLICATE: tuple[OnDuplicate, ...] = ("skip", "update", "merge")
FINISHED = ("completed", "failed")
_COPY_CHUNK = 1024 * 1024
_WRITE_ATTEMPTS = 3


def storage_root() -> Path:
    return get_settings().data_dir.resolve()


def import_read(job: ImportJob) -> ImportRead:
    ignored = [c for c in job.columns if c and c not in job.mapping]
    if job.status == "completed":
        progress = 1.0
    elif job.total_bytes:
        progress = round(min(job.byte_offset / job.total_bytes, 1.0), 4)
    else:
        progress = 0.0
    return read_of(
        ImportRead,
        job,
        kind=cast(Any, job.kind),
        status=cast(Any, job.status),
        on_duplicate=cast(Any, job.on_duplicate),
        mapping=dict(job.mapping),
        columns=list(job.columns),
        ignored_columns=ignored,
        progress=progress,
        counts=counts_of(job),
    )


# What a job keeps of its file's layout, under the same names.
_LAYOUT_FIELDS = ("encoding", "delimiter", "columns", "total_rows")
# The job's counter behind each of ImportCounts' fields.
_COUNTERS = {
    "created": "created_count",
    "updated": "updated_count",
    "merged": "merged_count",
    "skipped": "skipped_count",
    "unchanged": "unchanged_count",
    "errors": "error_count",
}


def counts_of(job: ImportJob) -> ImportCounts:
    return ImportCounts(**{name: getattr(job, counter) for name, counter in _COUNTERS.items()})


# --- a file arrives -------------------------------------------------------------------


def _check_options(kind: str, on_duplicate: str) -> list[dict[str, Any]]:
    errors = []
    if kind not in KINDS:
        errors.append(field_error(["body", "kind"], f"one of {', '.join(KINDS)}"))
    if on_duplicate not in ON_DUPLICATE:
        errors.append(field_error(["body", "on_duplicate"], f"one of {', '.join(ON_DUPLICATE)}"))
    elif kind == "leads" and on_duplicate != "skip":
        errors.append(
            field_error(
                ["body", "on_duplicate"],
                "leads are never overwritten: a lead import only skips duplicates",
            )
        )
    return errors


def _store(upload: BinaryIO, target: Path, max_bytes: int) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with target.open("wb") as out:
        while chunk := upload.read(_COPY_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"the file is larger than {max_bytes} bytes",
                    errors=[field_error(["body", "file"], "file too large")],
                )
            out.write(chunk)
    return size


async def create_import(
    session: AsyncSession,
    ctx: Context,
    *,
    upload: BinaryIO,
    filename: str,
    kind: str = "contacts",
    mapping: dict[str, str] | None = None,
    on_duplicate: str = "skip",
    runner: str = "worker",
) -> ImportRead:
    """Store the file under the data dir, check it reads as CSV with a usable mapping,
    and record the import (``crm.import.queued``, which starts the processing after
    commit; the CLI, which processes it itself, records ``crm.import.started``).

    422 at ``body.file`` for a file that is not CSV (empty, binary, bad encoding, no
    header), at ``body.mapping`` for a mapping that does not fit it.
    """
    errors = _check_options(kind, on_duplicate)
    if errors:
        raise Unprocessable("the import options are not valid", errors=errors)
    tenant_id = ctx.require_tenant()
    job_id = new_id()
    storage_key = f"imports/{tenant_id}/{job_id}.csv"
    path = storage_root() / storage_key
    settings = get_settings()
    try:
        size = await asyncio.to_thread(_store, upload, path, settings.max_import_bytes)
        layout = await asyncio.to_thread(inspect_csv, path)
        resolved, problems = resolve_mapping(layout.columns, mapping, cast(ImportKind, kind))
        if problems:
            raise Unprocessable("the column mapping does not fit the file", errors=problems)
    except CsvFileError as exc:
        path.unlink(missing_ok=True)
        raise Unprocessable(
            f"the file cannot be imported: {exc}", errors=[field_error(["body", "file"], str(exc))]
        ) from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    job = ImportJob(
        id=job_id,
        tenant_id=tenant_id,
        kind=kind,
        filename=(filename or "upload.csv")[:255],
        storage_key=storage_key,
        mapping=resolved,
        on_duplicate=on_duplicate,
        **{name: getattr(layout, name) for name in _LAYOUT_FIELDS},
        byte_offset=layout.data_offset,
        total_bytes=size,
        status="queued",
        runner=runner,
        created_by=ctx.actor_id if ctx.actor_type == "user" else None,
    )
    session.add(job)
    await session.flush()
    event = "crm.import.started" if runner == "cli" else "crm.import.queued"
    data = payload(job, "kind", "filename", "total_rows", "runner")
    await record_new_event(session, ctx, event, "import", job.id, data)
    log.info(
        "crm.import.created", import_id=job.id, kind=kind, rows=layout.total_rows, runner=runner
    )
    return import_read(job)


# --- processing -----------------------------------------------------------------------


async def _job(
    session: AsyncSession, ctx: Context, import_id: str, *, lock: bool = False
) -> ImportJob:
    return await tenant_row(session, ctx, ImportJob, import_id, what="import", lock=lock)


def _read_batch(job: ImportJob, batch_size: int) -> tuple[list[list[str]], int, bool]:
    """The next records from the job's offset, the offset after them, and whether the
    file ended."""
    records: list[list[str]] = []
    end = job.byte_offset
    reader = read_records(
        storage_root() / job.storage_key,
        encoding=job.encoding,
        delimiter=job.delimiter,
        offset=job.byte_offset,
    )
    with contextlib.closing(reader):
        for record, end in reader:
            if is_blank(record):
                continue
            records.append(record)
            if len(records) >= batch_size:
                return records, end, False
    return records, end, True


async def process_next_batch(
    session: AsyncSession, ctx: Context, import_id: str, *, batch_size: int | None = None
) -> ImportRead:
    """Process the next batch of an import in the caller's transaction; returns where it
    stands (``status`` completed or failed once there is nothing left)."""
    job = await _job(session, ctx, import_id, lock=True)
    if job.status in FINISHED:
        return import_read(job)
    if job.status == "queued":
        job.status = "running"
        job.started_at = utcnow()
    try:
        records, end, at_end = await asyncio.to_thread(_read_batch, job, batch_size or BATCH_SIZE)
    except (OSError, UnicodeDecodeError) as exc:
        return await _fail(session, ctx, job, f"the stored file cannot be read: {exc}")
    except csv.Error as exc:
        return await _fail(
            session, ctx, job, f"the file is not valid CSV after row {job.processed_rows}: {exc}"
        )
    first = job.processed_rows + 1
    batch = BatchInput(
        import_id=job.id,
        plan=RowPlan.build(job.columns, job.mapping, cast(ImportKind, job.kind)),
        on_duplicate=cast(OnDuplicate, job.on_duplicate),
        rows=[(first + i, record) for i, record in enumerate(records)],
    )
    outcome = await _write(session, ctx, job.kind, batch) if records else BatchOutcome()
    job.processed_rows += len(records)
    job.created_count += outcome.created
    job.updated_count += outcome.updated
    job.merged_count += outcome.merged
    job.skipped_count += outcome.skipped
    job.unchanged_count += outcome.unchanged
    job.error_count += outcome.errors
    job.byte_offset = end
    if at_end:
        job.status = "completed"
        job.finished_at = utcnow()
        job.total_rows = job.processed_rows
        await record_new_event(
            session,
            ctx,
            "crm.import.completed",
            "import",
            job.id,
            {"kind": job.kind, "rows": job.processed_rows, **counts_of(job).model_dump()},
        )
        log.info("crm.import.completed", import_id=job.id, rows=job.processed_rows)
    await session.flush()
    return import_read(job)


async def _write(session: AsyncSession, ctx: Context, kind: str, batch: BatchInput) -> BatchOutcome:
    writer = write_leads if kind == "leads" else write_contacts
    for attempt in range(1, _WRITE_ATTEMPTS + 1):
        try:
            async with session.begin_nested():
                return await writer(session, ctx, batch)
        except IntegrityError:
            # A contact with one of these emails was created meanwhile (by a request or
            # another import): look again and treat it as the duplicate it now is.
            if attempt == _WRITE_ATTEMPTS:
                raise
            log.info("crm.import.batch_retried", import_id=batch.import_id, attempt=attempt)
    raise AssertionError("unreachable")


async def _fail(session: AsyncSession, ctx: Context, job: ImportJob, reason: str) -> ImportRead:
    job.status = "failed"
    job.error = reason
    job.finished_at = utcnow()
    await record_new_event(
        session,
        ctx,
        "crm.import.failed",
        "import",
        job.id,
        {"kind": job.kind, "error": reason, **counts_of(job).model_dump()},
    )
    await session.flush()
    log.warning("crm.import.failed", import_id=job.id)
    return import_read(job)


async def import_batch_and_continue(
    session: AsyncSession, ctx: Context, import_id: str
) -> ImportRead:
    """One batch, then ``crm.import.continued`` unless the import is finished: the
    dispatcher's way of carrying an import where no workflow runs."""
    progress = await process_next_batch(session, ctx, import_id)
    if progress.status not in FINISHED:
        await record_new_event(
            session,
            ctx,
            "crm.import.continued",
            "import",
            import_id,
            {"processed_rows": progress.processed_rows},
        )
    return progress


async def set_runner(session: AsyncSession, ctx: Context, import_id: str, *, runner: str) -> None:
    job = await _job(session, ctx, import_id)
    job.runner = runner
    await session.flush()


async def fail_import(
    session: AsyncSession, ctx: Context, import_id: str, *, reason: str
) -> ImportRead:
    """Stop an unfinished import as failed (its counts so far stand)."""
    job = await _job(session, ctx, import_id, lock=True)
    if job.status in FINISHED:
        return import_read(job)
    return await _fail(session, ctx, job, reason)


async def run_import_in_process(
    db: Database,
    ctx: Context,
    import_id: str,
    *,
    batch_size: int | None = None,
    on_batch: Callable[[ImportRead], None] | None = None,
) -> ImportRead:
    """Drive an import to its end here, one unit of work per batch (the CLI's way; a
    stopped run resumes from the last committed batch when called again)."""
    tenant_id = ctx.require_tenant()
    while True:
        async with db.unit_of_work(tenant_id=tenant_id) as session:
            progress = await process_next_batch(session, ctx, import_id, batch_size=batch_size)
        if on_batch is not None:
            on_batch(progress)
        if progress.status in FINISHED:
            return progress


# --- reading ------------------------------------------------------------------------


async def get_import(session: AsyncSession, ctx: Context, import_id: str) -> ImportRead:
    return import_read(await _job(session, ctx, import_id))


IMPORT_ORDER = ListOrder(
    "imports", ImportJob.id, [ImportJob.created_at, ImportJob.updated_at], unsorted_descending=True
)


async def list_imports(
    session: AsyncSession, ctx: Context, *, page: PageParams, status: str | None = None
) -> tuple[list[ImportRead], str | None]:
    """In ``page``'s order (newest first by default)."""
    query = sa.select(ImportJob).where(ImportJob.tenant_id == ctx.require_tenant())
    query = where_equal(query, [(ImportJob.status, status)])
    rows, cursor = await read_page(session, IMPORT_ORDER, query, page)
    return [import_read(j) for j in rows], cursor


async def list_row_errors(
    session: AsyncSession, ctx: Context, import_id: str, *, page: PageParams
) -> tuple[list[ImportRowErrorRead], str | None]:
    """The validation report, in file order."""
    await _job(session, ctx, import_id)
    after = 0
    if page.after is not None:
        if not page.after.isdigit():
            raise Unprocessable(
                "the cursor is not valid",
                errors=[field_error(["query", "cursor"], "invalid cursor")],
            )
        after = int(page.after)
    rows = (
        await session.scalars(
            sa.select(ImportRowError)
            .where(
                ImportRowError.tenant_id == ctx.require_tenant(),
                ImportRowError.import_id == import_id,
                ImportRowError.row_number > after,
            )
            .order_by(ImportRowError.row_number)
            .limit(page.limit + 1)
        )
    ).all()
    items = [
        ImportRowErrorRead(
            row_number=r.row_number,
            errors=[
                RowProblem(column=e.get("column"), field=e.get("field"), msg=str(e.get("msg", "")))
                for e in r.errors
            ],
            raw={str(k): str(v) for k, v in r.raw.items()},
        )
        for r in rows[: page.limit]
    ]
    cursor = encode_cursor(str(rows[page.limit - 1].row_number)) if len(rows) > page.limit else None
    return items, cursor
