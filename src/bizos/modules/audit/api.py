from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin
from bizos.core.pagination import Page, PageParams
from bizos.modules.audit import service
from bizos.modules.audit.schemas import AuditEntryRead

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", response_model=Page[AuditEntryRead])
async def list_audit_entries(
    _admin: Admin,
    ctx: Ctx,
    session: DbSession,
    page: Annotated[PageParams, Depends(service.AUDIT_ORDER.dependency)],
    resource_type: Annotated[str | None, Query(max_length=80)] = None,
    resource_id: Annotated[str | None, Query(max_length=200)] = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Literal["create", "update", "delete"] | None = None,
) -> Page[AuditEntryRead]:
    """Every recorded write of this workspace, newest first: who (actor), what (action,
    resource, changed fields with secrets redacted), from where (ip, user agent, request
    id). Scope `admin`."""
    return Page[AuditEntryRead].of(
        await service.list_audit_entries(
            session,
            ctx,
            page=page,
            resource_type=resource_type,
            resource_id=resource_id,
            actor_id=actor_id,
            action=action,
        )
    )
