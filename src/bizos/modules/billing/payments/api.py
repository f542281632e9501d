"""Payments: /api/v1/billing/payments, and money entered against an
invoice (/api/v1/billing/invoices/{id}/payments).

Stripe payments arrive by webhook (``billing/stripe``); these endpoints list them, take
payments received another way and let a person match a payment the automatic matching
could not place (refunds: ``billing/refunds``). Reading takes ``billing:read``, the
rest ``billing:write``.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from bizos.api.deps import Ctx, DbSession
from bizos.api.lists import list_route
from bizos.core.auth import BillingRead, BillingWrite
from bizos.core.versions import IfMatch, tagged
from bizos.modules.billing.payments import service
from bizos.modules.billing.payments.schemas import (
    ManualPaymentCreate,
    PaymentFilters,
    PaymentMatch,
    PaymentRead,
)

router = APIRouter(tags=["billing"])


list_route(
    router,
    "/api/v1/billing/payments",
    PaymentRead,
    service.PAYMENT_ORDER,
    PaymentFilters,
    service.list_payments,
    scope=BillingRead,
    name="list_payments",
    doc="Payments, newest first (see `sort`); ``status=unmatched`` is the work queue of "
    "payments no\ninvoice could be found for.",
)


@router.get("/api/v1/billing/payments/{payment_id}", response_model=PaymentRead)
async def get_payment(
    payment_id: str, _: BillingRead, session: DbSession, ctx: Ctx, response: Response
) -> PaymentRead:
    payment = await service.get_payment(session, ctx, payment_id)
    return tagged(response, await service.payment_detail(session, ctx, payment))


@router.post(
    "/api/v1/billing/invoices/{invoice_id}/payments", status_code=201, response_model=PaymentRead
)
async def record_manual_payment(
    invoice_id: str,
    body: ManualPaymentCreate,
    _: BillingWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
) -> PaymentRead:
    """Money received another way (transfer, cash, cheque) for this invoice. 409 for a
    void, draft or paid invoice, 422 for another currency; more than the balance due is
    booked and flags the invoice ``discrepancy``. A repeated ``reference`` answers 200
    with the payment recorded before."""
    recorded = await service.record_manual_payment(session, ctx, invoice_id, body)
    if not recorded.created:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/billing/payments/{recorded.payment.id}"
    return tagged(response, await service.payment_detail(session, ctx, recorded.payment))


@router.post("/api/v1/billing/payments/{payment_id}/match", response_model=PaymentRead)
async def match_payment(
    payment_id: str,
    body: PaymentMatch,
    _: BillingWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> PaymentRead:
    """Assign an unmatched payment to its invoice (409 for a payment that is not
    unmatched, or a void, draft or paid invoice; 422 for an invoice in another currency
    or one that does not exist)."""
    payment = await service.match_payment(
        session, ctx, payment_id, invoice_id=body.invoice_id, if_match=if_match
    )
    return tagged(response, await service.payment_detail(session, ctx, payment))
