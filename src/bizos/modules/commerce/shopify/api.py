"""The Shopify webhook receiver: POST /webhooks/shopify/{tenant_slug}.

Shopify signs the raw body: ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the
exact bytes with the shop's webhook secret (our ``shopify`` connector's
``webhook_secret``). The receiver checks it in constant time over the raw bytes, then
stores the delivery (``webhooks.inbound.service.store_inbound``, keyed by
``X-Shopify-Webhook-Id``) and answers 200 once that has committed; the order is made
later, from the event log (``shopify/handlers.py``).

Refusals are 401s that store nothing, each with its own problem type
(``webhooks.inbound.refusals``) so a shop owner wiring it up can tell what to fix: not
configured (an unknown workspace gets the very same answer, so nothing says which
workspaces exist), signature missing, malformed (not a base64 SHA-256 digest) or not
matching, and, once the signature is good, a shop domain other than the configured one.
No answer carries the secret or the signature we expected.

The topic header is outside Shopify's signature; the handler checks that the payload is
what the topic says before acting on it (``handlers.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import replace
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from bizos.api.deps import PublicCtx
from bizos.connectors import service as connectors_service
from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.modules.identity import service as identity_service
from bizos.modules.webhooks.inbound.refusals import (
    WebhookRefused,
    WebhookSenderMismatch,
    WebhookSignatureMalformed,
    WebhookSignatureMismatch,
    WebhookSignatureMissing,
    not_configured,
)
from bizos.modules.webhooks.inbound.service import store_inbound

log = structlog.get_logger("bizos.commerce.shopify")

router = APIRouter(tags=["webhooks"])

PROVIDER = "shopify"
LABEL = "Shopify"
SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
CHALLENGE = "HMAC-SHA256"
_PROBLEM = {"$ref": "#/components/schemas/Problem"}


class WebhookAccepted(BaseModel):
    status: str  # accepted | duplicate


def signature_of(body: bytes, secret: str) -> str:
    """Shopify's signature of ``body``: base64 of its HMAC-SHA256 with ``secret``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def check_signature(body: bytes, secret: str, signature: str | None) -> None:
    """Refuse unless ``signature`` (as sent) is the body's own; compared in constant time."""
    given = (signature or "").strip()
    if not given:
        raise WebhookSignatureMissing(
            f"the {SIGNATURE_HEADER} header is missing: Shopify sends the base64 "
            "HMAC-SHA256 of the raw body",
            challenge=CHALLENGE,
        )
    try:
        digest = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise WebhookSignatureMalformed(
            f"the {SIGNATURE_HEADER} header is not a base64 HMAC-SHA256 digest "
            "(44 characters ending in '=')",
            challenge=CHALLENGE,
        )
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, digest):
        raise WebhookSignatureMismatch(
            f"the {SIGNATURE_HEADER} header does not match the body: sign the exact raw "
            "bytes with the workspace's Shopify webhook secret",
            challenge=CHALLENGE,
        )


async def _tenant_id(slug: str) -> str | None:
    async with get_database().unit_of_work(system=True, readonly=True) as lookup:
        try:
            return (await identity_service.get_tenant_by_slug(lookup, slug=slug)).id
        except NotFound:
            return None


def _required(request: Request, name: str, limit: int) -> str:
    value = (request.headers.get(name) or "").strip()
    if not value or len(value) > limit:
        raise Unprocessable(
            f"the {name} header is required (at most {limit} characters)",
            errors=[field_error(["header", name], "required")],
        )
    return value


async def _verification_keys(tenant_id: str, ctx: Context) -> tuple[str | None, str | None]:
    """The tenant's Shopify webhook secret and configured shop domain (either may be unset)."""
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        settings = await connectors_service.connector_settings(session, ctx, PROVIDER)
    if settings is None:
        return None, None
    shop = settings.config.get("shop_domain")
    return settings.secrets.get("webhook_secret"), str(shop).strip().lower() if shop else None


@router.post(
    "/webhooks/shopify/{tenant_slug}",
    response_model=WebhookAccepted,
    responses={
        401: {
            "description": (
                "Refused, nothing stored; `type` says why: webhook-not-configured, "
                "webhook-signature-missing, -malformed or -mismatch, webhook-sender-mismatch"
            ),
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
    },
)
async def receive_shopify_webhook(
    tenant_slug: Annotated[str, Path(max_length=60)], request: Request, ctx: PublicCtx
) -> WebhookAccepted:
    """Verify, store durably, answer; the order is processed asynchronously. A repeated
    ``X-Shopify-Webhook-Id`` answers ``duplicate`` and is processed once."""
    # The body as it arrived (the app's guards cache it, byte for byte).
    body = await request.body()
    try:
        tenant_id = await _verify(request, body, tenant_slug, ctx)
    except WebhookRefused as refused:
        log.info("shopify.webhook_rejected", reason=refused.reason)
        raise
    topic = _required(request, "x-shopify-topic", 100)
    webhook_id = _required(request, "x-shopify-webhook-id", 200)
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        stored = await store_inbound(
            session,
            _webhook_ctx(ctx, tenant_id),
            provider=PROVIDER,
            external_id=webhook_id,
            topic=topic,
            body=body,
            headers=dict(request.headers),
        )
    log.info("shopify.webhook_stored", topic=topic, duplicate=stored.duplicate)
    return WebhookAccepted(status="duplicate" if stored.duplicate else "accepted")


async def _verify(request: Request, body: bytes, tenant_slug: str, ctx: Context) -> str:
    """The receiving tenant's id once the delivery is proven Shopify's, for this shop."""
    tenant_id = await _tenant_id(tenant_slug)
    secret, expected_shop = (None, None)
    if tenant_id is not None:
        secret, expected_shop = await _verification_keys(tenant_id, _webhook_ctx(ctx, tenant_id))
    if tenant_id is None or not secret:
        raise not_configured(PROVIDER, LABEL, challenge=CHALLENGE)
    check_signature(body, secret, request.headers.get(SIGNATURE_HEADER))
    shop = (request.headers.get("x-shopify-shop-domain") or "").strip().lower()
    if expected_shop and shop != expected_shop:
        # Signed with the app's secret, but for another of its shops.
        shown = shop[:255] or "none"
        raise WebhookSenderMismatch(
            f"the X-Shopify-Shop-Domain header ({shown}) is not the shop this workspace "
            "is connected to",
            challenge=CHALLENGE,
        )
    return tenant_id


def _webhook_ctx(ctx: Context, tenant_id: str) -> Context:
    return replace(ctx.with_tenant(tenant_id), actor_type="webhook")
