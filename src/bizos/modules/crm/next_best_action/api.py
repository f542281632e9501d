"""Next best action API: ``GET /contacts/{id}/next-actions`` (``crm:read``)."""

from __future__ import annotations

from fastapi import APIRouter

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import CrmRead
from bizos.modules.crm.next_best_action import service
from bizos.modules.crm.next_best_action.schemas import NextActions

router = APIRouter(tags=["crm"])


@router.get("/api/v1/crm/contacts/{contact_id}/next-actions", response_model=NextActions)
async def next_actions(contact_id: str, _: CrmRead, session: DbSession, ctx: Ctx) -> NextActions:
    """Ranked, explained suggestions of what to do next with this contact."""
    return await service.next_actions(session, ctx, contact_id)
