"""Refunding a payment: POST /api/v1/billing/payments/{id}/refunds."""

from __future__ import annotations

from fastapi import APIRouter

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import BillingWrite
from bizos.modules.billing.payments.schemas import RefundCreate, RefundRead
from bizos.modules.billing.payments.service import refund_read
from bizos.modules.billing.refunds import service

router = APIRouter(tags=["billing"])


@router.post(
    "/api/v1/billing/payments/{payment_id}/refunds", status_code=201, response_model=RefundRead
)
async def refund_payment(
    payment_id: str, body: RefundCreate, _: BillingWrite, session: DbSession, ctx: Ctx
) -> RefundRead:
    """Record money given back (all that is left by default; 422 beyond it). It comes
    off the invoice's paid amount when the payment was booked there. This records the
    refund in bizos; a card refund itself is made in Stripe, whose ``charge.refunded``
    webhook is recorded the same way."""
    refund, _created = await service.record_refund(
        session, ctx, payment_id=payment_id, amount=body.amount, reason=body.reason
    )
    return refund_read(refund)
