"""Queries over the audit log (written by ``core.audit``'s flush hook, never here)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.audit import AuditEntry
from bizos.core.context import Context
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.modules.audit.schemas import AuditEntryRead

AUDIT_ORDER = ListOrder("audit", AuditEntry.id, [AuditEntry.created_at], unsorted_descending=True)


async def list_audit_entries(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    resource_type: str | None = None,
    resource_id: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
) -> tuple[list[AuditEntryRead], str | None]:
    """The tenant's audit entries in ``page``'s order (newest first by default),
    filtered by what is given."""
    query = sa.select(AuditEntry)
    if resource_type is not None:
        query = query.where(AuditEntry.resource_type == resource_type)
    if resource_id is not None:
        query = query.where(AuditEntry.resource_id == resource_id)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    ctx.require_tenant()  # the tenant criterion itself is added by the session (core.db)
    return await read_page(
        session,
        AUDIT_ORDER,
        query,
        page,
        lambda e: AuditEntryRead.model_validate(e, from_attributes=True),
    )
