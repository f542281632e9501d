"""Contract endpoints: the terms of one document, and the contracts list (``kb:read``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import KbRead
from bizos.core.fields import Day
from bizos.core.pagination import Page, PageParams
from bizos.modules.knowledge.contracts import service as contracts
from bizos.modules.knowledge.contracts.schemas import ContractRead, ContractStatus

router = APIRouter(tags=["knowledge"])

# The list's query parameters: its page (order and cursor) and the notice-date filter.
ContractPage = Annotated[PageParams, Depends(contracts.CONTRACT_ORDER.dependency)]
NoticeBefore = Annotated[Day | None, Query(description="YYYY-MM-DD")]


@router.get("/api/v1/kb/documents/{document_id}/contract", response_model=ContractRead)
async def get_contract(document_id: str, _: KbRead, session: DbSession, ctx: Ctx) -> ContractRead:
    """The terms extracted from a document tagged ``contract`` (404 if it is not one)."""
    return await contracts.contract_for_document(session, ctx, document_id)


@router.get("/api/v1/kb/contracts", response_model=Page[ContractRead])
async def list_contracts(
    _: KbRead,
    session: DbSession,
    ctx: Ctx,
    page: ContractPage,
    status: ContractStatus | None = None,
    notice_before: NoticeBefore = None,
) -> Page[ContractRead]:
    """Contracts, newest first (see `sort`); ``notice_before`` keeps those whose notice or renewal
    date falls before that day."""
    items, cursor = await contracts.list_contracts(
        session, ctx, page=page, status=status, notice_before=notice_before
    )
    return Page[ContractRead](items=items, next_cursor=cursor)
