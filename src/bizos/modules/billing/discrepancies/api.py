"""Settling a payment discrepancy: POST /api/v1/billing/invoices/{id}/resolve."""

from __future__ import annotations

from fastapi import APIRouter, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import BillingWrite
from bizos.core.versions import IfMatch
from bizos.modules.billing.discrepancies import service
from bizos.modules.billing.invoices.api import answer
from bizos.modules.billing.invoices.schemas import DiscrepancyResolve, InvoiceRead

router = APIRouter(tags=["billing"])


@router.post("/api/v1/billing/invoices/{invoice_id}/resolve", response_model=InvoiceRead)
async def resolve_discrepancy(
    invoice_id: str,
    body: DiscrepancyResolve,
    _: BillingWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> InvoiceRead:
    """Take an invoice out of ``discrepancy`` once the payment question is settled."""
    invoice = await service.resolve_discrepancy(
        session, ctx, invoice_id, status=body.status, note=body.note, if_match=if_match
    )
    return await answer(session, ctx, response, invoice)
