"""The Stripe webhook receiver: POST /webhooks/stripe/{tenant_slug}.

Stripe signs each delivery (``Stripe-Signature``, see ``signature.py``) with the
endpoint's signing secret, which the tenant stores as the ``stripe`` connector's
``webhook_secret``. A delivery that is not provably Stripe's, or is older than the
tolerance (``tolerance_seconds`` in the connector config, 300 by default), is answered
401 and nothing is stored; an unknown tenant or a tenant without a secret gets the very
same answer, so the endpoint reveals nothing. A good delivery is stored raw (once per
Stripe event id) and answered 200 as soon as it is durable; ``handlers.py`` processes it
from the event log.
"""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel

from bizos.api.deps import PublicCtx
from bizos.connectors import service as connectors_service
from bizos.core.db import get_database
from bizos.core.errors import NotFound, Unauthenticated, Unprocessable, field_error
from bizos.modules.billing.stripe.adapter import StripeMappingError, parse_event
from bizos.modules.billing.stripe.signature import (
    DEFAULT_TOLERANCE_SECONDS,
    SignatureError,
    verify_signature,
)
from bizos.modules.identity import service as identity_service
from bizos.modules.webhooks.inbound import store_inbound

log = structlog.get_logger("bizos.billing.stripe")

router = APIRouter(tags=["webhooks"])

PROVIDER = "stripe"
_REJECTED = "the Stripe-Signature header does not prove this delivery"


class StripeAccepted(BaseModel):
    status: Literal["accepted", "duplicate"]
    event_id: str


class StripeRejected(Unauthenticated):
    def __init__(self) -> None:
        super().__init__(_REJECTED)
        # Not a bearer-token endpoint: no challenge to offer.
        self.headers.pop("WWW-Authenticate", None)


@router.post(
    "/webhooks/stripe/{tenant_slug}",
    response_model=StripeAccepted,
    responses={401: {"description": "Bad, missing or stale signature"}},
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
        log.info("stripe.webhook_rejected", reason="unknown tenant")
        raise StripeRejected() from None
    tenant_ctx = ctx.with_tenant(tenant_id)
    async with db.unit_of_work(tenant_id=tenant_id) as session:
        secret = await connectors_service.get_secret(
            session, tenant_ctx, PROVIDER, "webhook_secret"
        )
        config = await connectors_service.connector_config(session, tenant_ctx, PROVIDER) or {}
        tolerance = int(config.get("tolerance_seconds") or DEFAULT_TOLERANCE_SECONDS)
        try:
            verify_signature(body, stripe_signature, secret or "", tolerance=tolerance)
        except SignatureError as exc:
            log.info("stripe.webhook_rejected", reason=str(exc))
            raise StripeRejected() from None
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
