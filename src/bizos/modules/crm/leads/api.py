"""CRM leads API, the public lead form, and the lead flow's settings.

``POST /forms/{tenant_slug}/leads`` is public: no credential, rate limited per client
address more strictly than the rest of the public surface (``RateLimitMiddleware``),
a honeypot field for bots, and always the same 202 whether or not the person was
already known.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.datastructures import UploadFile

from bizos.api.deps import Ctx, DbSession, PublicCtx
from bizos.api.guards import NUL, raise_for_nul
from bizos.api.lists import Filters
from bizos.core.auth import Admin, CrmRead, CrmWrite
from bizos.core.context import Context
from bizos.core.db import get_database
from bizos.core.errors import Forbidden, ProblemError, Unprocessable, field_error
from bizos.core.pagination import Page, PageParams
from bizos.core.versions import tagged
from bizos.modules.crm.assignment import service as assignment_service
from bizos.modules.crm.assignment.schemas import LeadAssign
from bizos.modules.crm.deals import service as deals_service
from bizos.modules.crm.leads import first_outreach, service, web_form
from bizos.modules.crm.leads.schemas import (
    FormAccepted,
    LeadConvert,
    LeadConverted,
    LeadCreate,
    LeadFilters,
    LeadFlowSettings,
    LeadFlowUpdate,
    LeadRead,
    LeadUpdate,
    WebFormLead,
    WebFormSettings,
    WebFormUpdate,
)
from bizos.modules.identity import service as identity_service

router = APIRouter(tags=["crm"])

LeadPages = Annotated[PageParams, Depends(service.LEAD_ORDER.dependency)]

MAX_FORM_FIELDS = 60


class UnsupportedMediaType(ProblemError):
    status = 415
    title = "Unsupported media type"


@router.post("/api/v1/crm/leads", status_code=201, response_model=LeadRead)
async def create_lead(
    body: LeadCreate, _: CrmWrite, session: DbSession, ctx: Ctx, response: Response
) -> LeadRead:
    """Capture a lead. Its email is matched to an existing contact (no duplicate is
    made); the lead flow then enriches, scores and assigns it and emails the person from
    the owner."""
    fields = body.model_dump(exclude={"source"})
    lead = await service.create_lead(session, ctx, **fields, source=body.source or "api")
    response.headers["Location"] = f"/api/v1/crm/leads/{lead.id}"
    return tagged(response, service.lead_read(lead))


@router.get("/api/v1/crm/leads", response_model=Page[LeadRead])
async def list_leads(
    _: CrmRead, session: DbSession, ctx: Ctx, page: LeadPages, filters: Filters[LeadFilters]
) -> Page[LeadRead]:
    """Leads, newest first (see `sort`), filtered; `q` searches them."""
    leads = await service.list_leads(session, ctx, page=page, **filters.model_dump())
    return Page[LeadRead].of(leads)


@router.get("/api/v1/crm/leads/{lead_id}", response_model=LeadRead)
async def get_lead(
    lead_id: str, _: CrmRead, session: DbSession, ctx: Ctx, response: Response
) -> LeadRead:
    return tagged(response, service.lead_read(await service.get_lead(session, ctx, lead_id)))


@router.patch("/api/v1/crm/leads/{lead_id}", response_model=LeadRead)
async def update_lead(
    lead_id: str,
    body: LeadUpdate,
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> LeadRead:
    """Edit a lead or move it along ``new -> working -> qualified | disqualified``
    (409 for a move the lifecycle does not allow; ``reason`` is required to
    disqualify). ``If-Match: <version>`` guards against lost updates."""
    lead = await service.update_lead(session, ctx, lead_id, changes=body, if_match=if_match)
    return tagged(response, service.lead_read(lead))


@router.post("/api/v1/crm/leads/{lead_id}/convert", status_code=201, response_model=LeadConverted)
async def convert_lead(
    lead_id: str,
    body: LeadConvert,
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> LeadConverted:
    """Convert a qualified lead into a deal for its contact, company and owner."""
    lead, deal = await service.convert_lead(session, ctx, lead_id, body=body, if_match=if_match)
    response.headers["Location"] = f"/api/v1/crm/deals/{deal.id}"
    return LeadConverted(lead=service.lead_read(lead), deal=deals_service.deal_read(deal))


# --- the lead flow's settings -----------------------------------------------------------


@router.get("/api/v1/crm/lead-flow", response_model=LeadFlowSettings)
async def get_lead_flow(_: CrmRead, session: DbSession, ctx: Ctx) -> LeadFlowSettings:
    """The first outreach email new leads get from their owner."""
    return await first_outreach.get_lead_flow_settings(session, ctx)


@router.put("/api/v1/crm/lead-flow", response_model=LeadFlowSettings)
async def update_lead_flow(
    body: LeadFlowUpdate, _: Admin, session: DbSession, ctx: Ctx
) -> LeadFlowSettings:
    """Turn the first outreach email on or off, or change its subject and body
    (``{{first_name}}``-style placeholders; unknown ones are refused)."""
    return await first_outreach.update_lead_flow_settings(session, ctx, changes=body)


@router.get("/api/v1/crm/web-form", response_model=WebFormSettings)
async def get_web_form(_: CrmRead, session: DbSession, ctx: Ctx) -> WebFormSettings:
    """The public lead form's settings: the sites whose scripts may post it, and the
    thank-you page a plain HTML form post leads to."""
    return await web_form.get_web_form_settings(session, ctx)


@router.put("/api/v1/crm/web-form", response_model=WebFormSettings)
async def update_web_form(
    body: WebFormUpdate, _: Admin, session: DbSession, ctx: Ctx
) -> WebFormSettings:
    """Set the sites allowed to post the form from a script (``allowed_origins``, e.g.
    ``https://shop.example``) and the ``thank_you_url`` for plain HTML form posts."""
    return await web_form.update_web_form_settings(session, ctx, changes=body)


# --- the public web form ----------------------------------------------------------------

_FORM_SCHEMA = WebFormLead.model_json_schema()


_PREFLIGHT_MAX_AGE = "600"
_THANK_YOU_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Thank you</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto;">
<h1>Thank you</h1><p>We have your message and will be in touch soon.</p>
<p><a href="javascript:history.back()">Back</a></p></body></html>
"""


async def _form_tenant(tenant_slug: str, ctx: Context) -> tuple[str, WebFormSettings]:
    """The tenant a form belongs to and its web form settings (404 for an unknown slug)."""
    db = get_database()
    async with db.unit_of_work(system=True, readonly=True) as lookup:
        tenant = await identity_service.get_tenant_by_slug(lookup, slug=tenant_slug)
        tenant_id = tenant.id
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as session:
        settings = await web_form.read_web_form_settings(session, ctx.with_tenant(tenant_id))
    return tenant_id, settings


def _cors_headers(origin: str | None, settings: WebFormSettings) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin and origin.strip().lower().rstrip("/") in settings.allowed_origins:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def _wants_html(request: Request) -> bool:
    """A browser submitting a plain ``<form>`` (it navigates, so it asks for HTML);
    a script's ``fetch`` asks for anything or for JSON and gets JSON."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    accept = request.headers.get("accept", "")
    return media_type in ("application/x-www-form-urlencoded", "multipart/form-data") and (
        "text/html" in accept
    )


@router.options("/forms/{tenant_slug}/leads", include_in_schema=False)
async def lead_form_preflight(
    tenant_slug: Annotated[str, Path(max_length=60)],
    ctx: PublicCtx,
    origin: Annotated[str | None, Header(max_length=300)] = None,
) -> Response:
    """A browser asks whether a page's script may post the form: yes for the origins in
    the tenant's web form settings (``PUT /api/v1/crm/web-form``), no for any other."""
    _, settings = await _form_tenant(tenant_slug, ctx)
    headers = _cors_headers(origin, settings)
    if "Access-Control-Allow-Origin" not in headers:
        raise Forbidden(
            f"the origin {origin or '(none)'} may not post this form from a script; add it "
            "to allowed_origins in the web form settings",
            headers=headers,
        )
    headers |= {
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Accept, Accept-Language",
        "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE,
    }
    return Response(status_code=204, headers=headers)


@router.post(
    "/forms/{tenant_slug}/leads",
    status_code=202,
    response_model=FormAccepted,
    tags=["forms"],
    responses={
        303: {"description": "A plain HTML form post: on to the tenant's thank-you page."},
        200: {
            "description": "A plain HTML form post and no thank-you page set: a short one.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _FORM_SCHEMA},
                "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
                "multipart/form-data": {"schema": _FORM_SCHEMA},
            },
        }
    },
)
async def submit_lead_form(
    tenant_slug: Annotated[str, Path(max_length=60)],
    request: Request,
    ctx: PublicCtx,
    origin: Annotated[str | None, Header(max_length=300)] = None,
) -> Response:
    """A website's contact form posts here (JSON or a plain HTML form). The answer is
    202 whether the person was known or not; a filled honeypot field (``website``,
    ``hp``) is answered the same and stores nothing. A plain HTML form post (the browser
    asks for ``text/html``) is sent on to the tenant's thank-you page instead; scripts on
    the tenant's allowed origins may read the answer (CORS)."""
    tenant_id, settings = await _form_tenant(tenant_slug, ctx)
    cors = _cors_headers(origin, settings)
    try:
        form = await _form_body(request)
        async with get_database().unit_of_work(tenant_id=tenant_id) as session:
            await service.capture_web_form(
                session, ctx.with_tenant(tenant_id), form=form, ip=ctx.ip
            )
    except ProblemError as exc:
        exc.headers.update(cors)  # a script on an allowed site may read why, too
        raise
    if _wants_html(request):
        if settings.thank_you_url:
            return RedirectResponse(settings.thank_you_url, status_code=303, headers=cors)
        return HTMLResponse(_THANK_YOU_PAGE, headers=cors)
    return JSONResponse(FormAccepted().model_dump(), status_code=202, headers=cors)


async def _form_body(request: Request) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        # The app-wide guard leaves multipart bodies to the routes that parse them.
        raise_for_nul([["body", k] for k, v in form.multi_items() if NUL in k or NUL in str(v)])
        return {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
    if media_type in ("", "application/json") or media_type.endswith("+json"):
        try:
            body = await request.json()
        except ValueError as exc:
            raise Unprocessable(
                "the body is not valid JSON", errors=[field_error(["body"], "invalid JSON")]
            ) from exc
        if not isinstance(body, dict):
            raise Unprocessable(
                "the body must be a JSON object", errors=[field_error(["body"], "not an object")]
            )
        return body
    raise UnsupportedMediaType(
        "post the form as application/json, application/x-www-form-urlencoded or "
        "multipart/form-data"
    )


@router.post("/api/v1/crm/leads/{lead_id}/assign", response_model=LeadRead)
async def assign_lead(
    lead_id: str,
    _: CrmWrite,
    session: DbSession,
    ctx: Ctx,
    body: Annotated[LeadAssign | None, Body()] = None,
) -> LeadRead:
    """Hand the lead to `owner_id`, or without one run the assignment rules again."""
    if body is not None and body.owner_id is not None:
        lead = await assignment_service.reassign_lead(session, ctx, lead_id, owner_id=body.owner_id)
    else:
        lead = await assignment_service.assign_lead(session, ctx, lead_id)
    return service.lead_read(lead)
