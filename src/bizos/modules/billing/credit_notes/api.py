"""Credit notes on an invoice: /api/v1/billing/invoices/{id}/credit-notes."""

from __future__ import annotations

from fastapi import APIRouter

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import BillingRead, BillingWrite
from bizos.core.pagination import Page
from bizos.core.versions import IfMatch
from bizos.modules.billing.credit_notes import service
from bizos.modules.billing.invoices.schemas import CreditNoteCreate, CreditNoteRead
from bizos.modules.billing.invoices.service import credit_note_read

router = APIRouter(tags=["billing"])

PATH = "/api/v1/billing/invoices/{invoice_id}/credit-notes"


@router.post(PATH, status_code=201, response_model=CreditNoteRead)
async def issue_credit_note(
    invoice_id: str,
    body: CreditNoteCreate,
    _: BillingWrite,
    session: DbSession,
    ctx: Ctx,
    if_match: IfMatch = None,
) -> CreditNoteRead:
    """Credit up to the balance due (``CN-000001``, gapless)."""
    note = await service.issue_credit_note(
        session, ctx, invoice_id, **body.model_dump(), if_match=if_match
    )
    return credit_note_read(note)


@router.get(PATH, response_model=Page[CreditNoteRead])
async def list_credit_notes(
    invoice_id: str, _: BillingRead, session: DbSession, ctx: Ctx
) -> Page[CreditNoteRead]:
    """The invoice's credit notes (all on one page: an invoice has few)."""
    return Page[CreditNoteRead](items=await service.list_credit_notes(session, ctx, invoice_id))
