"""The Shopify webhook receiver: POST /webhooks/shopify/{tenant_slug}.

Shopify signs the raw body: ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the
exact bytes with the shop's webhook secret (our ``shopify`` connector's
``webhook_secret``). The receiver checks it in constant time over the raw bytes, then
stores the delivery (``webhooks.inbound.store_inbound``, keyed by
``X-Shopify-Webhook-Id``) and answers 200 once that has committed; the order is made
later, from the event log (``shopify/handlers.py``).

An unknown workspace, a workspace without a secret, a shop domain other than the one
configured, and a missing or wrong signature all get the same 401: a caller without the
secret learns nothing about which workspaces exist.
"""

from __future__ import annotations

import base64
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
from bizos.core.errors import NotFound, Unauthenticated, Unprocessable, field_error
from bizos.modules.identity import service as identity_service
from bizos.modules.webhooks.inbound import store_inbound

log = structlog.get_logger("bizos.commerce.shopify")

router = APIRouter(tags=["webhooks"])

PROVIDER = "shopify"
_UNVERIFIED = "the webhook signature could not be verified"
# Compared against when there is no secret, so every 401 costs the same work.
_NO_SECRET = b"\x00" * 32


class WebhookAccepted(BaseModel):
    status: str  # accepted | duplicate


def signature_of(body: bytes, secret: str) -> str:
    """Shopify's signature of ``body``: base64 of its HMAC-SHA256 with ``secret``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_matches(body: bytes, secret: str | None, signature: str | None) -> bool:
    """Constant-time check of ``signature`` (as sent) against the body's own."""
    expected = signature_of(body, secret) if secret else base64.b64encode(_NO_SECRET).decode()
    given = (signature or "").strip()
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")) and bool(secret)


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


@router.post("/webhooks/shopify/{tenant_slug}", response_model=WebhookAccepted)
async def receive_shopify_webhook(
    tenant_slug: Annotated[str, Path(max_length=60)], request: Request, ctx: PublicCtx
) -> WebhookAccepted:
    """Verify, store durably, answer; the order is processed asynchronously. A repeated
    ``X-Shopify-Webhook-Id`` answers ``duplicate`` and is processed once."""
    # The body as it arrived (the app's guards cache it, byte for byte).
    body = await request.body()
    signature = request.headers.get("x-shopify-hmac-sha256")
    tenant_id = await _tenant_id(tenant_slug)
    secret, expected_shop = (None, None)
    if tenant_id is not None:
        secret, expected_shop = await _verification_keys(tenant_id, _webhook_ctx(ctx, tenant_id))
    verified = signature_matches(body, secret, signature)
    shop = (request.headers.get("x-shopify-shop-domain") or "").strip().lower()
    if expected_shop and shop != expected_shop:
        verified = False  # signed with an app secret, but for another shop
    if not verified or tenant_id is None:
        log.info("shopify.webhook_rejected", has_signature=signature is not None)
        raise Unauthenticated(_UNVERIFIED, headers={"WWW-Authenticate": "HMAC-SHA256"})
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


def _webhook_ctx(ctx: Context, tenant_id: str) -> Context:
    return replace(ctx.with_tenant(tenant_id), actor_type="webhook")
