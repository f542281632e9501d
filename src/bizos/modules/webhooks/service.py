"""Outbound webhook use cases: endpoints, their signing secrets, and the delivery queue."""

from __future__ import annotations

import base64
import json
import secrets
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core import crypto
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.dispatcher import EventRecord, type_matcher
from bizos.core.egress import refuse_url
from bizos.core.errors import NotFound, Unprocessable, field_error
from bizos.core.events import append_event, wake_after_commit
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.modules.webhooks.models import (
    CANCELLED,
    DELIVERIES,
    OPEN_STATUSES,
    PENDING,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from bizos.modules.webhooks.schemas import (
    WebhookDeliveryAttemptRead,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
)

SECRET_PREFIX = "whsec_"
WAKE_TOPIC = "webhooks"
_ENDPOINTS_CACHE = "webhooks.live_endpoints"


# --- secrets ----------------------------------------------------------------------------


def new_signing_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes, the Standard Webhooks secret format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _secret_aad(tenant_id: str, endpoint_id: str) -> bytes:
    # Bound to its row: a sealed secret copied to another endpoint or tenant won't open.
    return crypto.associated_data("webhook-endpoint", tenant_id, endpoint_id)


def seal_secret(secret: str, *, tenant_id: str, endpoint_id: str) -> str:
    return crypto.encrypt(secret, aad=_secret_aad(tenant_id, endpoint_id))


def open_secret(sealed: str, *, tenant_id: str, endpoint_id: str) -> str:
    return crypto.decrypt(sealed, aad=_secret_aad(tenant_id, endpoint_id))


async def rotate_endpoint_secrets(session: AsyncSession) -> int:
    """Re-wrap every endpoint signing secret not under the current key-encryption key.

    The signing secrets themselves do not change (receivers keep verifying); only the
    key that protects them at rest moves. Returns how many were re-wrapped.
    """
    ring = crypto.Keyring.from_settings()
    moved = 0
    for endpoint in await session.scalars(sa.select(WebhookEndpoint)):
        if crypto.needs_rewrap(endpoint.secret_sealed, keyring=ring):
            endpoint.secret_sealed = crypto.rewrap(endpoint.secret_sealed, keyring=ring)
            moved += 1
    await session.flush()
    return moved


# --- endpoints --------------------------------------------------------------------------


def endpoint_read(endpoint: WebhookEndpoint) -> WebhookEndpointRead:
    return WebhookEndpointRead(
        id=endpoint.id,
        url=endpoint.url,
        events=list(endpoint.events),
        description=endpoint.description,
        created_at=endpoint.created_at,
    )


def refuse_target(url: str, *, allowed: bool) -> None:
    """422 with the reason when ``url`` is not a place webhooks may be sent.

    Judged as written (the URL's scheme, credentials and host, including every spelling of
    a local address). Names are resolved at delivery, where each answer is judged again and
    the request goes to the address that passed (see :mod:`bizos.core.egress`).
    """
    reason = refuse_url(url, allow_private=allowed)
    if reason is not None:
        raise Unprocessable(
            "webhook endpoints must be publicly reachable",
            errors=[field_error(["body", "url"], reason)],
        )


async def create_endpoint(
    session: AsyncSession,
    ctx: Context,
    *,
    body: WebhookEndpointCreate,
    allow_private_targets: bool = False,
) -> WebhookEndpointCreated:
    """Register an endpoint; the only time its signing secret is returned."""
    tenant_id = ctx.require_tenant()
    refuse_target(str(body.url), allowed=allow_private_targets)
    endpoint_id = new_id()
    secret = new_signing_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        tenant_id=tenant_id,
        url=str(body.url),
        events=list(body.events),
        description=body.description,
        secret_sealed=seal_secret(secret, tenant_id=tenant_id, endpoint_id=endpoint_id),
    )
    session.add(endpoint)
    await session.flush()
    await append_event(
        session,
        ctx,
        "webhooks.endpoint.created",
        aggregate_type="webhook_endpoint",
        aggregate_id=endpoint_id,
        data={"url": endpoint.url, "events": endpoint.events},
    )
    return WebhookEndpointCreated(**endpoint_read(endpoint).model_dump(), secret=secret)


async def _live_endpoint(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await session.scalar(
        sa.select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.deleted_at.is_(None)
        )
    )
    if endpoint is None:  # unknown, deleted, or another tenant's: the same answer
        raise NotFound("webhook endpoint not found")
    return endpoint


async def get_endpoint(
    session: AsyncSession, ctx: Context, *, endpoint_id: str
) -> WebhookEndpointRead:
    ctx.require_tenant()
    return endpoint_read(await _live_endpoint(session, endpoint_id))


ENDPOINT_ORDER = ListOrder(
    "webhook_endpoints",
    WebhookEndpoint.id,
    [WebhookEndpoint.created_at, WebhookEndpoint.updated_at],
)
ATTEMPT_ORDER = ListOrder(
    "webhook_deliveries",
    WebhookDeliveryAttempt.id,
    [WebhookDeliveryAttempt.created_at],
    unsorted_descending=True,
)


async def list_endpoints(
    session: AsyncSession, ctx: Context, *, page: PageParams
) -> tuple[list[WebhookEndpointRead], str | None]:
    """The tenant's endpoints in ``page``'s order (newest first by default)."""
    ctx.require_tenant()
    query = sa.select(WebhookEndpoint).where(WebhookEndpoint.deleted_at.is_(None))
    return await read_page(session, ENDPOINT_ORDER, query, page, endpoint_read)


async def delete_endpoint(session: AsyncSession, ctx: Context, *, endpoint_id: str) -> None:
    """Stop sending to an endpoint: undelivered events to it are cancelled.

    The row and its delivery log are kept for audit; the API answers 404 for it from now on.
    """
    tenant_id = ctx.require_tenant()
    endpoint = await _live_endpoint(session, endpoint_id)
    endpoint.deleted_at = utcnow()
    d = DELIVERIES
    await session.execute(
        sa.update(d)
        .where(
            d.c.tenant_id == tenant_id,
            d.c.endpoint_id == endpoint_id,
            d.c.status.in_(OPEN_STATUSES),
        )
        .values(status=CANCELLED, next_attempt_at=None, updated_at=utcnow())
    )
    await session.flush()
    await append_event(
        session,
        ctx,
        "webhooks.endpoint.deleted",
        aggregate_type="webhook_endpoint",
        aggregate_id=endpoint_id,
        data={"url": endpoint.url},
    )


async def list_delivery_attempts(
    session: AsyncSession, ctx: Context, *, endpoint_id: str, page: PageParams
) -> tuple[list[WebhookDeliveryAttemptRead], str | None]:
    """Every HTTP attempt made to the endpoint in ``page``'s order (newest first by
    default)."""
    ctx.require_tenant()
    await _live_endpoint(session, endpoint_id)
    a = WebhookDeliveryAttempt
    query = sa.select(a).where(a.endpoint_id == endpoint_id)
    return await read_page(
        session,
        ATTEMPT_ORDER,
        query,
        page,
        lambda r: WebhookDeliveryAttemptRead.model_validate(r, from_attributes=True),
    )


# --- the queue --------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _matcher(patterns: tuple[str, ...]) -> Any:
    return type_matcher(patterns)


def delivery_payload(event: EventRecord) -> str:
    """The JSON body sent for ``event`` (Standard Webhooks shape: type, timestamp, data)."""
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "timestamp": event.occurred_at.isoformat(),
            "data": event.data,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "sequence": event.sequence,
        },
        separators=(",", ":"),
        default=str,
    )


async def _live_endpoint_patterns(session: AsyncSession) -> list[tuple[str, tuple[str, ...]]]:
    """The tenant's live endpoints and their patterns, read once per transaction.

    The dispatcher hands this subscriber a whole batch of one tenant's events in one
    transaction; at ingest rates a query per event would be the subscriber's main cost.
    """
    cached: list[tuple[str, tuple[str, ...]]] | None = session.info.get(_ENDPOINTS_CACHE)
    if cached is None:
        rows = await session.execute(
            sa.select(WebhookEndpoint.id, WebhookEndpoint.events).where(
                WebhookEndpoint.deleted_at.is_(None)
            )
        )
        cached = [(row.id, tuple(row.events)) for row in rows]
        session.info[_ENDPOINTS_CACHE] = cached
    return cached


async def enqueue_deliveries(session: AsyncSession, ctx: Context, *, event: EventRecord) -> int:
    """Queue ``event`` for every live endpoint of its tenant whose patterns match it."""
    tenant_id = ctx.require_tenant()
    endpoints = await _live_endpoint_patterns(session)
    targets = [endpoint_id for endpoint_id, patterns in endpoints if _matcher(patterns)(event.type)]
    if not targets:
        return 0
    now = utcnow()
    payload = delivery_payload(event)
    await session.execute(
        sa.insert(DELIVERIES),
        [
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "endpoint_id": endpoint_id,
                "event_id": event.id,
                "event_type": event.type,
                "event_sequence": event.sequence,
                "payload": payload,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for endpoint_id in targets
        ],
    )
    wake_after_commit(session, WAKE_TOPIC)
    return len(targets)
