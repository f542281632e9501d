"""POST /webhooks/email/{tenant_slug}: a raw RFC 5322 message from a mail provider.

The sender signs the exact bytes: ``X-Bizos-Signature: sha256=<hex HMAC-SHA256 of the
body>`` keyed with the tenant's ``email`` connector ``webhook_secret``. The receiver
checks it in constant time, stores the message (``store_email``: deduplicated by
``Message-ID``, or by the bytes' SHA-256 when there is none) and answers 202 once that
has committed; the ticket is made later, from the event log (``inbound/handlers.py``).

An unknown workspace, a workspace without a secret, and a missing, malformed or wrong
signature all get the same 401 and store nothing: a caller without the secret learns
nothing about which workspaces exist.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel

from bizos.api.deps import PublicCtx
from bizos.connectors import service as connectors_service
from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.errors import NotFound, ProblemError, Unauthenticated, Unprocessable, field_error
from bizos.modules.identity import service as identity_service
from bizos.modules.support.inbound.service import PROVIDER, store_email

log = structlog.get_logger("bizos.support.inbound")

router = APIRouter(tags=["webhooks"])

SIGNATURE_HEADER = "x-bizos-signature"
ACCEPTED_TYPES = ("message/rfc822", "text/plain", "application/octet-stream")
_UNVERIFIED = "the webhook signature could not be verified"
# Compared against when there is no secret, so every 401 costs the same work.
_NO_SECRET = "sha256=" + "0" * 64


class UnsupportedMediaType(ProblemError):
    status = 415
    title = "Unsupported media type"


class EmailAccepted(BaseModel):
    status: Literal["accepted", "duplicate"]


def signature_of(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, secret: str | None, signature: str | None) -> bool:
    """Constant-time check of ``signature`` (as sent) against the body's own."""
    expected = signature_of(body, secret) if secret else _NO_SECRET
    given = (signature or "").strip()
    scheme, _, digest = given.partition("=")
    given = f"{scheme.lower()}={digest.lower()}"
    same = hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
    return same and bool(secret)


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
        401: {"description": "Unknown workspace, no secret, or a missing or wrong signature"},
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
    signature = x_bizos_signature
    tenant_id = await tenant_id_for_slug(tenant_slug)
    secret = await _webhook_secret(tenant_id, webhook_ctx(ctx, tenant_id)) if tenant_id else None
    if not signature_matches(body, secret, signature) or tenant_id is None:
        log.info("support.email_webhook_rejected", has_signature=signature is not None)
        raise Unauthenticated(_UNVERIFIED, headers={"WWW-Authenticate": "HMAC-SHA256"})
    _check_content(request, body)
    headers = {k: v for k, v in request.headers.items() if k.lower() != SIGNATURE_HEADER}
    async with get_database().unit_of_work(tenant_id=tenant_id) as session:
        stored = await store_email(session, webhook_ctx(ctx, tenant_id), body, headers=headers)
    log.info("support.email_stored", duplicate=stored.duplicate)
    return EmailAccepted(status="duplicate" if stored.duplicate else "accepted")
