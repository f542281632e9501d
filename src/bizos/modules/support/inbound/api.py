"""POST /webhooks/email/{tenant_slug}: a raw RFC 5322 message from a mail provider.

The sender signs the exact bytes: ``X-Bizos-Signature: sha256=<hex HMAC-SHA256 of the
body>`` keyed with the tenant's ``email`` connector ``webhook_secret``. The receiver
checks it in constant time, stores the message (``store_email``: deduplicated by
``Message-ID``, or by the bytes' SHA-256 when there is none) and answers 202 once that
has committed; the ticket is made later, from the event log (``inbound/handlers.py``).

Refusals are 401s that store nothing, each with its own problem type
(``webhooks.inbound.refusals``): not configured (an unknown workspace gets the very same answer,
so nothing says which workspaces exist), signature missing, malformed (not
``sha256=<64 hex digits>``) or not matching. No answer carries the secret or the
signature we expected.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import replace
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel

from bizos.api.deps import PublicCtx
from bizos.connectors import service as connectors_service
from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.errors import NotFound, ProblemError, Unprocessable, field_error
from bizos.modules.identity import service as identity_service
from bizos.modules.support.inbound.service import PROVIDER, store_email
from bizos.modules.webhooks.inbound.refusals import (
    WebhookRefused,
    WebhookSignatureMalformed,
    WebhookSignatureMismatch,
    WebhookSignatureMissing,
    not_configured,
)

log = structlog.get_logger("bizos.support.inbound")

router = APIRouter(tags=["webhooks"])

SIGNATURE_HEADER = "x-bizos-signature"
ACCEPTED_TYPES = ("message/rfc822", "text/plain", "application/octet-stream")
LABEL = "Inbound email"
CHALLENGE = "HMAC-SHA256"
_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")


class UnsupportedMediaType(ProblemError):
    status = 415
    title = "Unsupported media type"


class EmailAccepted(BaseModel):
    status: Literal["accepted", "duplicate"]


def signature_of(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(body: bytes, secret: str, signature: str | None) -> None:
    """Refuse unless ``signature`` (as sent; scheme and hex in any case) is the body's
    own; compared in constant time."""
    given = (signature or "").strip()
    if not given:
        raise WebhookSignatureMissing(
            "the X-Bizos-Signature header is missing: send sha256=<hex HMAC-SHA256 of the "
            "raw message>",
            challenge=CHALLENGE,
        )
    if _SIGNATURE.fullmatch(given.lower()) is None:
        raise WebhookSignatureMalformed(
            "the X-Bizos-Signature header is not sha256=<64 hex digits>", challenge=CHALLENGE
        )
    if not hmac.compare_digest(signature_of(body, secret).encode(), given.lower().encode()):
        raise WebhookSignatureMismatch(
            "the X-Bizos-Signature header does not match the body: sign the exact raw "
            "message bytes with the workspace's email webhook secret",
            challenge=CHALLENGE,
        )


async def tenant_id_for_slug(slug: str) -> str | None:
    async with get_database().unit_of_work(system=True, readonly=True) as lookup:
        try:
            return (await identity_service.get_tenant_by_slug(lookup, slug=slug)).id
        except NotFound:
            return None


async def _webhook_secret(tenant_id: str, ctx: Context) -> str | None:
    async with get_database().unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        settings = await connectors_service.connector_settings(session, ctx, PROVIDER)
    return settings.secrets.get("webhook_secret") if settings is not None else None


async def _verify(body: bytes, tenant_slug: str, signature: str | None, ctx: Context) -> str:
    """The receiving tenant's id once the message is proven signed with its secret."""
    tenant_id = await tenant_id_for_slug(tenant_slug)
    secret = await _webhook_secret(tenant_id, webhook_ctx(ctx, tenant_id)) if tenant_id else None
    if tenant_id is None or not secret:
        raise not_configured(PROVIDER, LABEL, challenge=CHALLENGE)
    check_signature(body, secret, signature)
    return tenant_id


def webhook_ctx(ctx: Context, tenant_id: str) -> Context:
    return replace(ctx.with_tenant(tenant_id), actor_type="webhook")


def _check_content(request: Request, body: bytes) -> None:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media and media not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(
            f"send the raw message as message/rfc822 (got {media[:100]})",
            errors=[field_error(["header", "content-type"], "expected message/rfc822")],
        )
    if not body.strip():
        raise Unprocessable(
            "the body must be a raw RFC 5322 message",
            errors=[field_error(["body"], "empty")],
        )


_RAW_MESSAGE = {"schema": {"type": "string", "format": "binary"}}
_PROBLEM = {"$ref": "#/components/schemas/Problem"}


@router.post(
    "/webhooks/email/{tenant_slug}",
    status_code=202,
    response_model=EmailAccepted,
    responses={
        401: {
            "description": (
                "Refused, nothing stored; `type` says why: webhook-not-configured, "
                "webhook-signature-missing, -malformed or -mismatch"
            ),
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        },
        415: {
            "description": "Not a raw message (send message/rfc822)",
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        },
        422: {"description": "An empty body"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The raw RFC 5322 message, byte for byte as signed.",
            "content": {media: _RAW_MESSAGE for media in ACCEPTED_TYPES},
        }
    },
)
async def receive_email(
    tenant_slug: Annotated[str, Path(max_length=60)],
    request: Request,
    ctx: PublicCtx,
    x_bizos_signature: Annotated[
        str | None,
        Header(
            alias="X-Bizos-Signature",
            description="`sha256=<hex HMAC-SHA256 of the body with email.webhook_secret>`",
        ),
    ] = None,
) -> EmailAccepted:
    """Verify, store durably, answer 202; the ticket is made asynchronously. The same
    message again (same ``Message-ID``) answers ``duplicate`` and is processed once."""
    body = await request.body()
    try:
        tenant_id = await _verify(body, tenant_slug, x_bizos_signature, ctx)
    except WebhookRefused as refused:
        log.info("support.email_webhook_rejected", reason=refused.reason)
        raise
    _check_content(request, body)
    headers = {k: v for k, v in request.headers.items() if k.lower() != SIGNATURE_HEADER}
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        stored = await store_email(session, webhook_ctx(ctx, tenant_id), body, headers=headers)
    log.info("support.email_stored", duplicate=stored.duplicate)
    return EmailAccepted(status="duplicate" if stored.duplicate else "accepted")
