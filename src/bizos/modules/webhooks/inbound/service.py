"""Inbound webhooks: store the raw delivery durably, once, then process it from the log.

A receiver (``/webhooks/shopify/{tenant}``, ``/webhooks/stripe/{tenant}``) verifies the
signature, then calls :func:`store_inbound` in the tenant's unit of work and answers 200
as soon as it commits. The stored row and a ``webhooks.inbound.received`` event commit
together, so the dispatcher hands the delivery to the provider's handler after commit,
with retries and dead letters like every other event (DESIGN rules 3 and 9). A delivery
whose ``(provider, external_id)`` is already stored is counted as a duplicate and
produces no event: it is processed once.

A handler that finds a signed delivery contradicting itself (Shopify's topic header is
outside the signature, so a captured body can be re-sent under another topic) does not
act on it: :func:`flag_inbound` marks it ``flagged`` with the reason and raises
``webhooks.inbound.flagged``. ``GET /api/v1/inbound-webhooks`` lists every delivery
with its status and reason.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import dialect_insert, utcnow
from bizos.core.errors import NotFound
from bizos.core.events import append_event, payload
from bizos.core.fields import from_row
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.modules.webhooks.models import InboundWebhook
from bizos.modules.webhooks.schemas import InboundWebhookDetail, InboundWebhookRead

log = structlog.get_logger("bizos.webhooks")

INBOUND_RECEIVED = "webhooks.inbound.received"
INBOUND_FLAGGED = "webhooks.inbound.flagged"
FLAGGED = "flagged"
# What a delivery's events say of it, besides its id.
SENT = ("provider", "topic", "external_id")
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
    sent = {"provider": provider, "topic": topic, "external_id": external_id}
    # status, duplicates and received_at take the model's defaults (received, 0, now)
    insert = dialect_insert(session, InboundWebhook)
    inserted = await session.scalar(
        insert.values(
            id=inbound_id, tenant_id=tenant_id, headers=kept_headers(headers), body=body, **sent
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
        data={"inbound_id": inbound_id, **sent},
    )
    return Stored(inbound_id=inbound_id, duplicate=False)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stored delivery as a provider's handler reads it (plain data, no session)."""

    id: str
    provider: str
    topic: str
    external_id: str
    status: str
    headers: dict[str, str]
    body: bytes


async def get_delivery(session: AsyncSession, inbound_id: str) -> Delivery:
    """The stored delivery ``inbound_id``, for the handler that processes it."""
    row = await _inbound(session, inbound_id)
    return Delivery(**{f.name: getattr(row, f.name) for f in fields(Delivery)})


async def _inbound(session: AsyncSession, inbound_id: str) -> InboundWebhook:
    row = await session.get(InboundWebhook, inbound_id)
    if row is None:
        raise NotFound("no such inbound webhook")
    return row


async def finish_inbound(
    session: AsyncSession, inbound_id: str, *, status: str, error: str | None = None
) -> None:
    """Record how processing ended: ``processed``, ``ignored`` or ``failed`` (with why).
    A delivery that must not be acted on is flagged with :func:`flag_inbound` instead."""
    if status not in ("processed", "ignored", "failed"):
        raise ValueError(f"unknown inbound status {status!r}")
    await _finish(session, await _inbound(session, inbound_id), status, error)


async def _finish(
    session: AsyncSession, row: InboundWebhook, status: str, error: str | None
) -> None:
    row.status = status
    row.error = error
    row.processed_at = utcnow()
    await session.flush()


async def flag_inbound(
    session: AsyncSession, ctx: Context, inbound_id: str, *, reason: str
) -> None:
    """Finish a signed delivery that contradicts itself (say, a topic header its payload
    does not bear out) without acting on it: the raw body stays, the row is ``flagged``
    with ``reason``, and ``webhooks.inbound.flagged`` records it for whoever watches."""
    row = await _inbound(session, inbound_id)
    await _finish(session, row, FLAGGED, reason)
    await append_event(
        session,
        ctx,
        type=INBOUND_FLAGGED,
        aggregate_type="inbound_webhook",
        aggregate_id=row.id,
        data={"inbound_id": row.id, **payload(row, *SENT), "reason": reason},
    )
    log.warning(
        "webhooks.inbound_flagged", inbound_id=row.id, provider=row.provider, topic=row.topic
    )


INBOUND_ORDER = ListOrder(
    "webhooks_inbound",
    InboundWebhook.id,
    [InboundWebhook.received_at, InboundWebhook.processed_at],
    default="-received_at",
    unsorted_descending=True,
)


async def list_inbound(
    session: AsyncSession, ctx: Context, *, page: PageParams, **equal: str | None
) -> tuple[list[InboundWebhookRead], str | None]:
    """The tenant's stored deliveries whose columns ``equal`` the values given (``provider``,
    ``status``; None: any), newest first unless ``page.sort`` says otherwise."""
    ctx.require_tenant()
    wanted = {name: value for name, value in equal.items() if value is not None}
    query = sa.select(InboundWebhook).filter_by(**wanted)
    return await read_page(session, INBOUND_ORDER, query, page, inbound_read)


async def get_inbound_detail(
    session: AsyncSession, ctx: Context, *, inbound_id: str
) -> InboundWebhookDetail:
    ctx.require_tenant()
    row = await _inbound(session, inbound_id)
    return InboundWebhookDetail(
        **inbound_read(row).model_dump(),
        headers=dict(row.headers),
        body=row.body.decode("utf-8", "replace"),
    )


def inbound_read(row: InboundWebhook) -> InboundWebhookRead:
    return from_row(InboundWebhookRead, row, reason=row.error)
