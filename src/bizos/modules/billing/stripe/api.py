"""The Stripe webhook receiver: POST /webhooks/stripe/{tenant_slug}.

Stripe signs each delivery (``Stripe-Signature``, see ``signature.py``) with the
endpoint's signing secret, which the tenant stores as the ``stripe`` connector's
``webhook_secret``. A delivery that is not provably Stripe's, or whose signature is
older or newer than the tolerance (``tolerance_seconds`` in the connector config, 300 by
default), is answered 401 and nothing is stored. Each reason has its own problem type
(``webhooks.inbound.refusals``): not configured (an unknown workspace gets the same answer, so
the endpoint says nothing about which exist), signature missing, malformed or not
matching, timestamp expired (a replay, or a delivery held up) or in the future. A good
delivery is stored raw (once per Stripe event id: a replay inside the tolerance is
answered ``duplicate``) and answered 200 as soon as it is durable; ``handlers.py``
processes it from the event log.

The event type is read from the signed body, never from a header, so a captured event
cannot be passed off as another type.
"""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel

from bizos.api.deps import PublicCtx
from bizos.connectors import service as connectors_service
from bizos.core.db import get_database
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.modules.billing.stripe.adapter import StripeMappingError, parse_event
from bizos.modules.billing.stripe.signature import (
    DEFAULT_TOLERANCE_SECONDS,
    SignatureError,
    SignatureMalformed,
    SignatureMissing,
    TimestampOutsideTolerance,
    verify_signature,
)
from bizos.modules.identity import service as identity_service
from bizos.modules.webhooks.inbound.refusals import (
    WebhookRefused,
    WebhookSignatureMalformed,
    WebhookSignatureMismatch,
    WebhookSignatureMissing,
    WebhookTimestampExpired,
    WebhookTimestampInFuture,
    not_configured,
)
from bizos.modules.webhooks.inbound.service import store_inbound

log = structlog.get_logger("bizos.billing.stripe")

router = APIRouter(tags=["webhooks"])

PROVIDER = "stripe"
_PROBLEM = {"$ref": "#/components/schemas/Problem"}
LABEL = "Stripe"


class StripeAccepted(BaseModel):
    status: Literal["accepted", "duplicate"]
    event_id: str


def refusal(exc: SignatureError) -> WebhookRefused:
    """The problem a Stripe signature failure is answered with (no secret, no expected
    signature: only what the sender sent and our documented scheme)."""
    if isinstance(exc, SignatureMissing):
        return WebhookSignatureMissing(
            "the Stripe-Signature header is missing: Stripe sends "
            "t=<unix seconds>,v1=<hex HMAC-SHA256 of '{t}.{raw body}'>"
        )
    if isinstance(exc, SignatureMalformed):
        return WebhookSignatureMalformed(
            f"the Stripe-Signature header is malformed ({exc}): expected "
            "t=<unix seconds>,v1=<64 hex digits>[,v1=...]"
        )
    if isinstance(exc, TimestampOutsideTolerance):
        if exc.age > 0:
            return WebhookTimestampExpired(
                f"the Stripe-Signature timestamp is {exc.age} s old, beyond the "
                f"{exc.tolerance} s tolerance: a replayed or held-up delivery is refused "
                "(Stripe signs each retry afresh)"
            )
        return WebhookTimestampInFuture(
            f"the Stripe-Signature timestamp is {-exc.age} s in the future, beyond the "
            f"{exc.tolerance} s tolerance: check the sender's clock"
        )
    return WebhookSignatureMismatch(
        "no v1 signature in the Stripe-Signature header matches the body: sign "
        "'{t}.{raw body}' byte for byte with the workspace's Stripe webhook secret"
    )


@router.post(
    "/webhooks/stripe/{tenant_slug}",
    response_model=StripeAccepted,
    responses={
        401: {
            "description": (
                "Refused, nothing stored; `type` says why: webhook-not-configured, "
                "webhook-signature-missing, -malformed or -mismatch, "
                "webhook-timestamp-expired or -in-future"
            ),
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_stripe_webhook(
    tenant_slug: Annotated[str, Path(max_length=60)],
    request: Request,
    ctx: PublicCtx,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> StripeAccepted:
    """A Stripe event (``payment_intent.succeeded``, ``charge.succeeded``,
    ``charge.refunded``; others are stored and ignored). 200 once stored; a repeated
    event id is answered ``duplicate`` and processed once."""
    body = await request.body()
    db = get_database()
    try:
        async with db.unit_of_work(system=True, readonly=True) as lookup:
            tenant_id = (await identity_service.get_tenant_by_slug(lookup, slug=tenant_slug)).id
    except NotFound:
        log.info("stripe.webhook_rejected", reason="webhook-not-configured")
        raise not_configured(PROVIDER, LABEL) from None
    tenant_ctx = ctx.with_tenant(tenant_id)
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        secret = await connectors_service.get_secret(
            session, tenant_ctx, PROVIDER, "webhook_secret"
        )
        if not secret:
            log.info("stripe.webhook_rejected", reason="webhook-not-configured")
            raise not_configured(PROVIDER, LABEL)
        config = await connectors_service.connector_config(session, tenant_ctx, PROVIDER) or {}
        tolerance = int(config.get("tolerance_seconds") or DEFAULT_TOLERANCE_SECONDS)
        try:
            verify_signature(body, stripe_signature, secret, tolerance=tolerance)
        except SignatureError as exc:
            refused = refusal(exc)
            log.info("stripe.webhook_rejected", reason=refused.reason)
            raise refused from None
        try:
            event = parse_event(body)
        except StripeMappingError as exc:
            raise Unprocessable(
                "the body is not a Stripe event", errors=[field_error(["body"], str(exc))]
            ) from None
        stored = await store_inbound(
            session,
            tenant_ctx,
            provider=PROVIDER,
            external_id=event.id,
            topic=event.type,
            body=body,
            headers=dict(request.headers),
        )
    log.info("stripe.webhook_stored", event_type=event.type, duplicate=stored.duplicate)
    return StripeAccepted(status="duplicate" if stored.duplicate else "accepted", event_id=event.id)
