"""An order's shipping label: /api/v1/commerce/orders/{id}/shipment/label.

A label bought from a real provider is where the provider keeps it (307 to its
``label_url``); a sandbox label is rendered here as a PDF, so the sandbox's
``label_url`` (this path) opens like a real one.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import CommerceRead
from bizos.modules.commerce.fulfilment import service
from bizos.modules.commerce.fulfilment.label import render_sandbox_label
from bizos.modules.commerce.fulfilment.service import label_path

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
    shipment = await service.latest_shipment(session, ctx, order_id)
    if shipment.provider != "sandbox":
        return RedirectResponse(shipment.label_url, status_code=307)
    return Response(
        render_sandbox_label(shipment),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="label-{shipment.tracking_number}.pdf"'},
    )
