"""Inbound webhooks: store the raw delivery durably, once, then process it from the log.

A receiver (``/webhooks/shopify/{tenant}``, ``/webhooks/stripe/{tenant}``) verifies the
signature, then calls :func:`store_inbound` in the tenant's unit of work and answers 200
as soon as it commits. The stored row and a ``webhooks.inbound.received`` event commit
together, so the dispatcher hands the delivery to the provider's handler after commit,
with retries and dead letters like every other event (DESIGN rules 3 and 9). A delivery
whose ``(provider, external_id)`` is already stored is counted as a duplicate and
produces no event: it is processed once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import dialect_insert, utcnow
from bizos.core.errors import NotFound
from bizos.core.events import append_event
from bizos.core.ids import new_id
from bizos.modules.webhooks.models import InboundWebhook

INBOUND_RECEIVED = "webhooks.inbound.received"
# Headers worth keeping for support and replay; signatures are kept (they are not
# secrets), authorization-like headers never are.
_KEEP_HEADERS = frozenset(
    {
        "content-type",
        "user-agent",
        "x-shopify-topic",
        "x-shopify-hmac-sha256",
        "x-shopify-webhook-id",
        "x-shopify-shop-domain",
        "x-shopify-api-version",
        "x-shopify-triggered-at",
        "x-shopify-event-id",
        "stripe-signature",
        "x-request-id",
    }
)


@dataclass(frozen=True, slots=True)
class Stored:
    inbound_id: str
    duplicate: bool


def kept_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v[:1000] for k, v in headers.items() if k.lower() in _KEEP_HEADERS}


async def store_inbound(
    session: AsyncSession,
    ctx: Context,
    *,
    provider: str,
    external_id: str,
    topic: str,
    body: bytes,
    headers: dict[str, str],
) -> Stored:
    """Store one delivery and append ``webhooks.inbound.received`` (in the caller's
    transaction); a delivery already stored only bumps its ``duplicates`` counter."""
    tenant_id = ctx.require_tenant()
    inbound_id = new_id()
    insert = dialect_insert(session, InboundWebhook)
    inserted = await session.scalar(
        insert.values(
            id=inbound_id,
            tenant_id=tenant_id,
            provider=provider,
            external_id=external_id,
            topic=topic,
            headers=kept_headers(headers),
            body=body,
            status="received",
            duplicates=0,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "provider", "external_id"])
        .returning(InboundWebhook.id)
    )
    if inserted is None:
        existing = await session.scalar(
            sa.update(InboundWebhook)
            .where(InboundWebhook.provider == provider, InboundWebhook.external_id == external_id)
            .values(duplicates=InboundWebhook.duplicates + 1)
            .returning(InboundWebhook.id)
            .execution_options(synchronize_session=False)
        )
        return Stored(inbound_id=str(existing), duplicate=True)
    await append_event(
        session,
        ctx,
        type=INBOUND_RECEIVED,
        aggregate_type="inbound_webhook",
        aggregate_id=inbound_id,
        data={
            "inbound_id": inbound_id,
            "provider": provider,
            "topic": topic,
            "external_id": external_id,
        },
    )
    return Stored(inbound_id=inbound_id, duplicate=False)


async def get_inbound(session: AsyncSession, inbound_id: str) -> InboundWebhook:
    row = await session.get(InboundWebhook, inbound_id)
    if row is None:
        raise NotFound("no such inbound webhook")
    return row


async def finish_inbound(
    session: AsyncSession,
    inbound_id: str,
    *,
    status: str,
    error: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Record how processing ended: ``processed``, ``ignored`` or ``failed`` (with why)."""
    if status not in ("processed", "ignored", "failed"):
        raise ValueError(f"unknown inbound status {status!r}")
    row = await get_inbound(session, inbound_id)
    row.status = status
    row.error = error
    row.processed_at = now or utcnow()
    await session.flush()
