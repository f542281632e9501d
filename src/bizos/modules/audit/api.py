from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin
from bizos.core.pagination import Page, PageParams
from bizos.modules.audit import service
from bizos.modules.audit.schemas import AuditEntryRead, AuditFilter

router = APIRouter(prefix="/api/v1", tags=["audit"])
AuditPages = Annotated[PageParams, Depends(service.AUDIT_ORDER.dependency)]
AuditFilters = Annotated[AuditFilter, Query()]


@router.get("/audit", response_model=Page[AuditEntryRead])
async def list_audit_entries(
    _admin: Admin, ctx: Ctx, session: DbSession, page: AuditPages, filters: AuditFilters
) -> Page[AuditEntryRead]:
    """Every recorded write of this workspace, newest first: who (actor), what (action,
    resource, changed fields with secrets redacted), from where (ip, user agent, request
    id). Scope `admin`."""
    entries = await service.list_audit_entries(session, ctx, page=page, filters=filters)
    return Page[AuditEntryRead].of(entries)
