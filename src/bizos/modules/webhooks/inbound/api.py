"""Stored inbound webhooks (scope ``admin``): what Shopify, Stripe and the mail provider
sent, and how each delivery ended (processed, ignored, failed or flagged, with why)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin
from bizos.core.pagination import Page, PageParams
from bizos.modules.webhooks.inbound import service as inbound
from bizos.modules.webhooks.schemas import InboundStatus, InboundWebhookDetail, InboundWebhookRead

router = APIRouter(prefix="/api/v1/inbound-webhooks", tags=["webhooks"])

Provider = Literal["shopify", "stripe", "email"]
InboundPages = Annotated[PageParams, Depends(inbound.INBOUND_ORDER.dependency)]


@router.get("", response_model=Page[InboundWebhookRead])
async def list_inbound_webhooks(
    _admin: Admin,
    ctx: Ctx,
    session: DbSession,
    page: InboundPages,
    provider: Annotated[Provider | None, Query()] = None,
    status: Annotated[InboundStatus | None, Query()] = None,
) -> Page[InboundWebhookRead]:
    """Deliveries received, newest first; `status=flagged` lists the signed deliveries
    that contradicted themselves and were kept without being acted on."""
    return Page[InboundWebhookRead].of(
        await inbound.list_inbound(session, ctx, page=page, provider=provider, status=status)
    )


@router.get("/{inbound_id}", response_model=InboundWebhookDetail)
async def get_inbound_webhook(
    inbound_id: Annotated[str, Path(max_length=36)],
    _admin: Admin,
    ctx: Ctx,
    session: DbSession,
) -> InboundWebhookDetail:
    """One delivery with the headers kept and its raw body."""
    return await inbound.get_inbound_detail(session, ctx, inbound_id=inbound_id)
