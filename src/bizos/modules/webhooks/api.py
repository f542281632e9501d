"""Outbound webhook endpoints (scope ``admin``) and their delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import Admin
from bizos.core.pagination import Page, PageParams
from bizos.modules.webhooks import service
from bizos.modules.webhooks.schemas import (
    WebhookDeliveryAttemptRead,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
)

router = APIRouter(prefix="/api/v1/webhook-endpoints", tags=["webhooks"])
EndpointPages = Annotated[PageParams, Depends(service.ENDPOINT_ORDER.dependency)]
AttemptPages = Annotated[PageParams, Depends(service.ATTEMPT_ORDER.dependency)]


@router.post("", status_code=201, response_model=WebhookEndpointCreated)
async def create_webhook_endpoint(
    body: WebhookEndpointCreate, _admin: Admin, ctx: Ctx, session: DbSession, request: Request
) -> WebhookEndpointCreated:
    """Send matching events to `url`, signed per Standard Webhooks. The `secret` is
    returned only here. Private or local URLs are refused (422)."""
    allow = bool(request.app.state.settings.webhook_allow_private_targets)
    return await service.create_endpoint(session, ctx, body=body, allow_private_targets=allow)


@router.get("", response_model=Page[WebhookEndpointRead])
async def list_webhook_endpoints(
    _admin: Admin, ctx: Ctx, session: DbSession, page: EndpointPages
) -> Page[WebhookEndpointRead]:
    return Page[WebhookEndpointRead].of(await service.list_endpoints(session, ctx, page=page))


@router.get("/{endpoint_id}", response_model=WebhookEndpointRead)
async def get_webhook_endpoint(
    endpoint_id: str, _admin: Admin, ctx: Ctx, session: DbSession
) -> WebhookEndpointRead:
    return await service.get_endpoint(session, ctx, endpoint_id=endpoint_id)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_webhook_endpoint(
    endpoint_id: str, _admin: Admin, ctx: Ctx, session: DbSession
) -> Response:
    """Stop sending to the endpoint; deliveries not yet made are cancelled."""
    await service.delete_endpoint(session, ctx, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.get("/{endpoint_id}/deliveries", response_model=Page[WebhookDeliveryAttemptRead])
async def list_webhook_deliveries(
    endpoint_id: str, _admin: Admin, ctx: Ctx, session: DbSession, page: AttemptPages
) -> Page[WebhookDeliveryAttemptRead]:
    """Every delivery attempt to the endpoint, newest first."""
    return Page[WebhookDeliveryAttemptRead].of(
        await service.list_delivery_attempts(session, ctx, endpoint_id=endpoint_id, page=page)
    )
