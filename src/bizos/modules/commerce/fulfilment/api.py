"""An order's shipping label: /api/v1/commerce/orders/{id}/shipment/label.

A label bought from a real provider is where the provider keeps it (307 to its
``label_url``); a sandbox label is rendered here as a PDF, so the sandbox's
``label_url`` (this path) opens like a real one.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import CommerceRead
from bizos.core.errors import NotFound
from bizos.modules.commerce.fulfilment.label import render_sandbox_label
from bizos.modules.commerce.fulfilment.workflow import label_path
from bizos.modules.commerce.models import Shipment
from bizos.modules.commerce.orders import service as orders

router = APIRouter(tags=["commerce"])


@router.get(
    label_path("{order_id}"),
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, 307: {"description": "at the provider"}},
)
async def get_shipping_label(
    order_id: str, _: CommerceRead, session: DbSession, ctx: Ctx
) -> Response:
    """The order's current label: a PDF (sandbox) or a redirect to the provider's."""
    order = await orders.get_order(session, ctx, order_id)
    shipment = await session.scalar(
        sa.select(Shipment)
        .where(Shipment.tenant_id == order.tenant_id, Shipment.order_id == order.id)
        .order_by(Shipment.created_at.desc())
        .limit(1)
    )
    if shipment is None:
        raise NotFound(f"order {order.number} has no shipping label")
    if shipment.provider != "sandbox":
        return RedirectResponse(shipment.label_url, status_code=307)
    return Response(
        render_sandbox_label(shipment),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="label-{shipment.tracking_number}.pdf"'},
    )
