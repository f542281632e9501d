"""CSV export of contacts and companies, streamed page by page.

Rows are read in keyset pages by id, each page in a short read-only unit of work of its
own, and written out as CSV text: memory holds one page however large the table. The
columns are the import's field names (custom properties as ``custom:<key>``), so an
exported file imports back unchanged. Cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) are prefixed with
``'``; the import strips that prefix again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.modules.crm.imports.mapping import CONTACT_FIELDS, CUSTOM_PREFIX, FORMULA_PREFIXES
from bizos.modules.crm.imports.writers import tenant_users
from bizos.modules.crm.models import Company, Contact

CONTACTS = cast(sa.Table, Contact.__table__)
COMPANIES = cast(sa.Table, Company.__table__)
PAGE_ROWS = 1000
MAX_CUSTOM_COLUMNS = 200

# An import reads the columns it knows (CONTACT_FIELDS but the name parts) back in.
CONTACT_COLUMNS = (
    "id",
    "email",
    "name",
    *CONTACT_FIELDS[4:],
    "lifecycle_stage",
    "created_at",
    "updated_at",
)
COMPANY_COLUMNS = (
    "id",
    "name",
    "domain",
    "website",
    "industry",
    "employees",
    "annual_revenue",
    "country",
    "city",
    "tags",
    "owner_email",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class ExportFilter:
    q: str | None = None
    source: str | None = None
    lifecycle_stage: str | None = None
    owner_id: str | None = None
    tag: str | None = None


def safe_cell(value: Any) -> str:
    """The cell's text, defused: a leading formula character gets a ``'`` in front."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        text = value.isoformat()
    elif isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def _line(cells: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(c) for c in cells])
    return buffer.getvalue()


async def _user_emails(session: AsyncSession, ctx: Context) -> dict[str, str]:
    return {u.id: u.email for u in await tenant_users(session, ctx)}


async def _pages(
    db: Database, tenant_id: str, table: sa.Table, where: list[sa.ColumnElement[bool]]
) -> AsyncIterator[Sequence[sa.RowMapping]]:
    """The rows of ``table`` that ``where`` selects, a page at a time in id order, each
    page read in a short read-only unit of work of its own."""
    after = ""
    while True:
        async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
            query = sa.select(table).where(*where, table.c.id > after).order_by(table.c.id)
            rows = (await session.execute(query.limit(PAGE_ROWS))).mappings().all()
        yield rows
        if len(rows) < PAGE_ROWS:
            return
        after = rows[-1]["id"]


async def _custom_keys(session: AsyncSession, tenant_id: str) -> list[str]:
    """The custom property keys in use, for the ``custom:<key>`` columns (JSON functions
    of each database, so the keys are found without reading every row here)."""
    if session.get_bind().dialect.name == "postgresql":
        sql = (
            "SELECT DISTINCT k FROM crm_contacts, json_object_keys(properties) AS k "
            "WHERE tenant_id = :tenant AND merged_into_id IS NULL "
            "AND json_typeof(properties) = 'object' ORDER BY k LIMIT :limit"
        )
    else:
        sql = (
            "SELECT DISTINCT j.key FROM crm_contacts, json_each(crm_contacts.properties) AS j "
            "WHERE crm_contacts.tenant_id = :tenant AND crm_contacts.merged_into_id IS NULL "
            "ORDER BY j.key LIMIT :limit"
        )
    rows = await session.execute(sa.text(sql), {"tenant": tenant_id, "limit": MAX_CUSTOM_COLUMNS})
    return [str(key) for (key,) in rows]


def _contact_filters(tenant_id: str, filters: ExportFilter) -> list[sa.ColumnElement[bool]]:
    c = CONTACTS.c
    where: list[sa.ColumnElement[bool]] = [c.tenant_id == tenant_id, c.merged_into_id.is_(None)]
    if filters.q:
        pattern = (
            "%"
            + filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        where.append(
            sa.or_(
                sa.func.lower(c.name).like(pattern, escape="\\"),
                c.email_normalized.like(pattern, escape="\\"),
                sa.func.lower(c.company_name).like(pattern, escape="\\"),
                c.phone_normalized.like(pattern, escape="\\"),
            )
        )
    if filters.source:
        where.append(c.source == filters.source)
    if filters.lifecycle_stage:
        where.append(c.lifecycle_stage == filters.lifecycle_stage)
    if filters.owner_id:
        where.append(c.owner_id == filters.owner_id)
    return where


async def export_contacts(
    db: Database, ctx: Context, filters: ExportFilter | None = None
) -> AsyncIterator[str]:
    """The tenant's live contacts as CSV text, header first, one page per chunk."""
    tenant_id = ctx.require_tenant()
    filters = filters or ExportFilter()
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        keys = await _custom_keys(session, tenant_id)
        owners = await _user_emails(session, ctx)
    yield _line([*CONTACT_COLUMNS, *(f"{CUSTOM_PREFIX}{k}" for k in keys)])
    where = _contact_filters(tenant_id, filters)
    async for rows in _pages(db, tenant_id, CONTACTS, where):
        chunk = []
        for r in rows:
            if filters.tag and filters.tag not in (r["tags"] or []):
                continue
            properties = r["properties"] or {}
            chunk.append(
                _line(
                    [
                        r["id"],
                        r["email"],
                        r["name"],
                        r["phone"],
                        r["company_name"],
                        r["title"],
                        r["country"],
                        r["city"],
                        r["tags"] or [],
                        r["source"],
                        owners.get(r["owner_id"]) if r["owner_id"] else None,
                        r["lifecycle_stage"],
                        r["created_at"],
                        r["updated_at"],
                        *(properties.get(k) for k in keys),
                    ]
                )
            )
        if chunk:
            yield "".join(chunk)


async def export_companies(db: Database, ctx: Context, q: str | None = None) -> AsyncIterator[str]:
    """The tenant's live companies as CSV text, header first, one page per chunk."""
    tenant_id = ctx.require_tenant()
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        owners = await _user_emails(session, ctx)
    yield _line(COMPANY_COLUMNS)
    c = COMPANIES.c
    where: list[sa.ColumnElement[bool]] = [c.tenant_id == tenant_id, c.merged_into_id.is_(None)]
    if q:
        pattern = (
            "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        where.append(
            sa.or_(
                sa.func.lower(c.name).like(pattern, escape="\\"),
                c.domain.like(pattern, escape="\\"),
            )
        )
    async for rows in _pages(db, tenant_id, COMPANIES, where):
        if rows:
            yield "".join(
                _line(
                    [
                        r["id"],
                        r["name"],
                        r["domain"],
                        r["website"],
                        r["industry"],
                        r["employees"],
                        r["annual_revenue"],
                        r["country"],
                        r["city"],
                        r["tags"] or [],
                        owners.get(r["owner_id"]) if r["owner_id"] else None,
                        r["created_at"],
                        r["updated_at"],
                    ]
                )
                for r in rows
            )
