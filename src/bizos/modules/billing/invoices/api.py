"""Invoices: /api/v1/billing/invoices (credit notes and discrepancies have their own
routers on the same paths: ``billing/credit_notes``, ``billing/discrepancies``).

Order invoices are issued by the order-to-cash workflow; manual invoices start as drafts
(``POST /billing/invoices``) and get their number when issued (``/issue``). A paid or
partially paid invoice is refunded before it can be voided (409). The state-changing
POSTs take ``If-Match: <version>`` (409 when stale).
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.api.deps import Ctx, DbSession
from bizos.api.lists import list_route
from bizos.core.auth import BillingRead, BillingWrite
from bizos.core.context import Context
from bizos.core.pagination import PageParams
from bizos.core.versions import IfMatch, tagged
from bizos.modules.billing.invoices import service
from bizos.modules.billing.invoices.pdf import render_invoice_pdf
from bizos.modules.billing.invoices.schemas import (
    InvoiceCreate,
    InvoiceFilters,
    InvoiceRead,
    InvoiceVoid,
)
from bizos.modules.billing.models import Invoice
from bizos.modules.identity import service as identity_service

router = APIRouter(tags=["billing"])


async def answer(
    session: AsyncSession, ctx: Context, response: Response, invoice: Invoice
) -> InvoiceRead:
    """What the invoice endpoints answer: the invoice's read, its version as the ETag."""
    return tagged(response, await service.invoice_read(session, ctx, invoice))


@router.post("/api/v1/billing/invoices", status_code=201, response_model=InvoiceRead)
async def create_invoice(
    body: InvoiceCreate, _: BillingWrite, session: DbSession, ctx: Ctx, response: Response
) -> InvoiceRead:
    """A manual invoice as a draft (no number until it is issued)."""
    invoice = await service.create_invoice(session, ctx, **body.model_dump())
    response.headers["Location"] = f"/api/v1/billing/invoices/{invoice.id}"
    return await answer(session, ctx, response, invoice)


async def _invoices(
    session: AsyncSession, ctx: Context, *, page: PageParams, filters: InvoiceFilters
) -> tuple[list[InvoiceRead], str | None]:
    return await service.list_invoices(session, ctx, page=page, **filters.model_dump())


list_route(
    router,
    "/api/v1/billing/invoices",
    InvoiceRead,
    service.INVOICE_ORDER,
    InvoiceFilters,
    _invoices,
    scope=BillingRead,
    name="list_invoices",
    doc="Invoices, newest first (see `sort`); ``overdue=true``: open or partially paid and\n"
    "past due.",
)


@router.get("/api/v1/billing/invoices/{invoice_id}", response_model=InvoiceRead)
async def get_invoice(
    invoice_id: str, _: BillingRead, session: DbSession, ctx: Ctx, response: Response
) -> InvoiceRead:
    return await answer(session, ctx, response, await service.get_invoice(session, ctx, invoice_id))


@router.get(
    "/api/v1/billing/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The invoice as PDF."}},
)
async def invoice_pdf(invoice_id: str, _: BillingRead, session: DbSession, ctx: Ctx) -> Response:
    invoice = await service.get_invoice(session, ctx, invoice_id)
    read = await service.invoice_read(session, ctx, invoice)
    tenant = await identity_service.get_tenant(session, ctx)
    name = read.number or f"draft-{read.id}"
    return Response(
        content=render_invoice_pdf(read, tenant.name),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
    )


@router.post("/api/v1/billing/invoices/{invoice_id}/issue", response_model=InvoiceRead)
async def issue_invoice(
    invoice_id: str,
    _: BillingWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> InvoiceRead:
    """Number a draft (``INV-000001``, gapless) and open it; its payment terms start now."""
    invoice = await service.issue_invoice(session, ctx, invoice_id, if_match=if_match)
    return await answer(session, ctx, response, invoice)


@router.post("/api/v1/billing/invoices/{invoice_id}/void", response_model=InvoiceRead)
async def void_invoice(
    invoice_id: str,
    body: InvoiceVoid,
    _: BillingWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: IfMatch = None,
) -> InvoiceRead:
    """Void a draft or unpaid invoice; money received must be refunded first (409)."""
    invoice = await service.void_invoice(
        session, ctx, invoice_id, reason=body.reason, if_match=if_match
    )
    return await answer(session, ctx, response, invoice)
