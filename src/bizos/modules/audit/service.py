"""Queries over the audit log (written by ``core.audit``'s flush hook, never here)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.audit import AuditEntry
from bizos.core.context import Context
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.modules.audit.schemas import AuditEntryRead, AuditFilter

AUDIT_ORDER = ListOrder("audit", AuditEntry.id, [AuditEntry.created_at], unsorted_descending=True)


async def list_audit_entries(
    session: AsyncSession, ctx: Context, *, page: PageParams, filters: AuditFilter
) -> tuple[list[AuditEntryRead], str | None]:
    """The tenant's audit entries in ``page``'s order (newest first by default),
    filtered by what is given."""
    query = sa.select(AuditEntry).filter_by(**filters.model_dump(exclude_none=True))
    ctx.require_tenant()  # the tenant criterion itself is added by the session (core.db)
    return await read_page(session, AUDIT_ORDER, query, page, _entry_read)


def _entry_read(entry: AuditEntry) -> AuditEntryRead:
    return AuditEntryRead.model_validate(entry, from_attributes=True)
