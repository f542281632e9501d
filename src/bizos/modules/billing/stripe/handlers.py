"""Processing stored Stripe webhooks (payment_intent.succeeded, charge.succeeded,
charge.refunded).

Each stored delivery raises ``webhooks.inbound.received`` once; this subscriber reads
the raw body back, maps it through ``adapter.py`` and records the payment or refund. The
outcome lands on the stored delivery: ``processed``, ``ignored`` (a type we do not act
on, or a charge that moved no money) or ``failed`` with the reason and a task for a
person — a malformed event never crash-loops the dispatcher. Everything it records is
idempotent (payments by PaymentIntent, refunds by refund id), so a replay changes nothing.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.core.errors import ProblemError
from bizos.modules.billing.models import Payment
from bizos.modules.billing.payments import service as payments
from bizos.modules.billing.refunds import service as refunds
from bizos.modules.billing.service import escalate_to_owner
from bizos.modules.billing.stripe.adapter import (
    NotAPayment,
    PaymentFact,
    RefundFact,
    StripeEvent,
    StripeMappingError,
    parse_event,
    payment_from_charge,
    payment_from_intent,
    refunds_from_charge,
    to_minor_units,
)
from bizos.modules.webhooks.inbound.service import INBOUND_RECEIVED, finish_inbound, get_delivery

log = structlog.get_logger("bizos.billing.stripe")

PROVIDER = "stripe"
HANDLED_TYPES = ("payment_intent.succeeded", "charge.succeeded", "charge.refunded")


class _Ignored(Exception):
    pass


async def process_stripe_delivery(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """Process one stored Stripe delivery and record how it ended."""
    if event.data.get("provider") != PROVIDER:
        return
    inbound_id = str(event.data["inbound_id"])
    inbound = await get_delivery(session, inbound_id)
    if inbound.status != "received":
        return  # already finished (a replayed dead letter, say)
    try:
        async with session.begin_nested():
            stripe_event = parse_event(inbound.body)
            await _apply(session, ctx, stripe_event)
    except (_Ignored, NotAPayment) as exc:
        await finish_inbound(session, inbound_id, status="ignored", error=str(exc) or None)
        return
    except (StripeMappingError, ProblemError) as exc:
        reason = exc.detail if isinstance(exc, ProblemError) else str(exc)
        log.warning("stripe.webhook_failed", inbound_id=inbound_id, reason=reason)
        await finish_inbound(session, inbound_id, status="failed", error=reason)
        await escalate_to_owner(
            session,
            ctx,
            title=f"A Stripe webhook ({inbound.topic}) could not be processed",
            body=f"Stripe event {inbound.external_id}: {reason}",
            origin="billing.stripe.webhook_failed",
            related=("inbound_webhook", inbound_id),
        )
        return
    await finish_inbound(session, inbound_id, status="processed")


async def _apply(session: AsyncSession, ctx: Context, event: StripeEvent) -> None:
    if event.type == "payment_intent.succeeded":
        await _record(session, ctx, payment_from_intent(event.object), event.id)
    elif event.type == "charge.succeeded":
        await _record(session, ctx, payment_from_charge(event.object), event.id)
    elif event.type == "charge.refunded":
        await _refunded(session, ctx, event)
    else:
        raise _Ignored(f"{event.type} is not acted on")


async def _record(session: AsyncSession, ctx: Context, fact: PaymentFact, event_id: str) -> Payment:
    reported = dataclasses.asdict(fact)
    del reported["payment_intent_id"]  # the payment's outside id is ``fact.external_id``
    recorded = await payments.record_payment(
        session,
        ctx,
        provider=PROVIDER,
        external_id=fact.external_id,
        source_event_id=event_id,
        **reported,
    )
    return recorded.payment


async def _refund(session: AsyncSession, ctx: Context, payment: Payment, fact: RefundFact) -> None:
    await refunds.record_refund(session, ctx, payment_id=payment.id, **dataclasses.asdict(fact))


async def _refunded(session: AsyncSession, ctx: Context, event: StripeEvent) -> None:
    """Refunds of a charge. The charge is recorded first if its ``charge.succeeded``
    has not arrived (Stripe does not promise order). Refunds Stripe lists are recorded
    by id; whatever the charge's cumulative ``amount_refunded`` says beyond them (newer
    API versions do not list refunds) is recorded as one refund keyed by that total."""
    charge = refunds_from_charge(event.object)
    payment = await _record(session, ctx, charge.payment, event.id)
    listed = sum((r.amount for r in charge.refunds), Decimal("0"))
    target = max(charge.amount_refunded, listed)
    for refund in charge.refunds:
        if payment.amount_refunded + refund.amount <= target:
            await _refund(session, ctx, payment, refund)
    rest = target - payment.amount_refunded
    if rest > 0:
        minor = to_minor_units(target, payment.currency)
        key = f"{charge.payment.charge_id}:refunded:{minor}"
        await _refund(session, ctx, payment, RefundFact(key, rest, "refunded in Stripe"))


def register(dispatcher: Dispatcher) -> None:
    """Subscribe this part's handlers."""
    dispatcher.subscribe(
        "billing.stripe.process_delivery", INBOUND_RECEIVED, process_stripe_delivery
    )
