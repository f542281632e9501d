"""Leads: capture (API, public form, import), lifecycle, conversion into a deal.

The only writer of ``crm_leads`` (with ``enrichment.py`` and ``first_outreach.py`` of
this package, which record what the lead flow did). A lead always points at a contact:
the email is deduplicated into ``crm_contacts`` by the contacts service, so a second
lead from the same person links to the same contact.

Lifecycle: ``new -> working -> qualified | disqualified``; ``qualified -> converted``
only through :func:`convert_lead`, which creates the deal. A disqualified lead may be
reopened (back to ``working``); a converted one is final.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import read_of
from bizos.core.versions import check_version
from bizos.modules.crm import search
from bizos.modules.crm.contacts.service import default_region, find_or_create_contact
from bizos.modules.crm.deals import service as deals_service
from bizos.modules.crm.leads.replies import file_reply as file_reply
from bizos.modules.crm.leads.schemas import (
    LeadConvert,
    LeadCounts,
    LeadGroupCount,
    LeadGrouping,
    LeadRead,
    LeadUpdate,
    WebFormLead,
)
from bizos.modules.crm.models import Contact, Deal, Lead
from bizos.modules.crm.normalize import InvalidEmail, normalize_source
from bizos.modules.crm.records import read_page, record_event, tenant_row, where_equal
from bizos.modules.identity import service as identity_service

log = structlog.get_logger("bizos.crm.leads")

STATUSES = ("new", "working", "qualified", "disqualified", "converted")
# Where a lead may go from each status by PATCH; ``converted`` is reached by convert_lead.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("working", "disqualified"),
    "working": ("qualified", "disqualified"),
    "qualified": ("working", "disqualified"),
    "disqualified": ("working",),
    "converted": (),
}
CONVERTIBLE = ("qualified",)


def lead_read(row: Lead) -> LeadRead:
    return read_of(
        LeadRead,
        row,
        properties=dict(row.properties or {}),
        score_factors=list(row.score_factors or []),
    )


# --- capture --------------------------------------------------------------------------


async def create_lead(
    session: AsyncSession,
    ctx: Context,
    *,
    email: str,
    name: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    source: str | None = "api",
    message: str | None = None,
    properties: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> Lead:
    """A new lead (``crm.lead.created``, which starts the lead flow) linked to the contact
    with this email, made if there is none. Raises 422 (at ``body.email``) for a
    malformed email."""
    source = normalize_source(source) if source else "api"
    person = {"name": name, "phone": phone, "company": company}
    try:
        contact, contact_created = await find_or_create_contact(
            session, ctx, email=email, source=source, **person
        )
    except InvalidEmail as exc:
        raise Unprocessable(
            "the email address is not valid",
            errors=[field_error(["body", "email"], f"not a valid email address: {exc}")],
        ) from exc
    now = utcnow()
    lead = Lead(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        contact_id=contact.id,
        company_id=contact.company_id,
        email=email.strip(),
        **person,
        source=source,
        message=message,
        properties=dict(properties or {}),
        status="new",
        status_changed_at=now,
        score_factors=[],
        enrichment_status="pending",
        ip=ip,
    )
    session.add(lead)
    await session.flush()
    await record_event(
        session,
        ctx,
        "crm.lead.created",
        lead,
        "lead",
        payload(
            lead,
            "email",
            "name",
            "company",
            "source",
            contact_id=contact.id,
            contact_created=contact_created,
        ),
    )
    log.info("crm.lead.created", lead_id=lead.id, source=source, new_contact=contact_created)
    return lead


# Hidden fields a person never sees, so never fills; bots fill every field they find.
HONEYPOT_FIELDS = ("website", "hp", "_hp", "honeypot")
_FORM_FIELDS = frozenset({"email", "name", "phone", "company", "message", "source"})
_IGNORED_FORM_FIELDS = frozenset({"submit", "_submit", "csrf_token", "_csrf"})
MAX_FORM_PROPERTIES = 20
MAX_FORM_PROPERTY_CHARS = 500


def is_spam(form: Mapping[str, Any]) -> bool:
    """A filled honeypot field marks a bot's post."""
    return any(str(form.get(name) or "").strip() for name in HONEYPOT_FIELDS)


async def capture_web_form(
    session: AsyncSession, ctx: Context, *, form: Mapping[str, Any], ip: str | None
) -> Lead | None:
    """A lead from the public web form (source ``web_form`` unless the form names one);
    ``None`` for a post caught by the honeypot, which stores nothing. Fields the form
    adds beyond the lead's own (UTM tags, a page URL) are kept in ``properties``."""
    if is_spam(form):
        log.info("crm.lead.form_spam", ip=ip)
        return None
    try:
        fields = WebFormLead.model_validate(form)
    except ValidationError as exc:
        raise Unprocessable(
            "the form did not validate",
            errors=[field_error(["body", *e["loc"]], e["msg"]) for e in exc.errors()],
        ) from exc
    extras = {
        str(key)[:60]: str(value)[:MAX_FORM_PROPERTY_CHARS]
        for key, value in form.items()
        if key not in _FORM_FIELDS
        and key not in HONEYPOT_FIELDS
        and key not in _IGNORED_FORM_FIELDS
        and value not in (None, "")
    }
    properties = dict(list(extras.items())[:MAX_FORM_PROPERTIES])
    given = fields.model_dump(exclude={"source"})
    source = fields.source or "web_form"
    return await create_lead(session, ctx, **given, source=source, properties=properties, ip=ip)


# --- reading --------------------------------------------------------------------------


async def get_lead(
    session: AsyncSession, ctx: Context, lead_id: str, *, for_update: bool = False
) -> Lead:
    """The tenant's lead (404 for an unknown id or another tenant's)."""
    return await tenant_row(session, ctx, Lead, lead_id, what="lead", lock=for_update)


LEAD_ORDER = ListOrder("leads", Lead.id, [Lead.created_at, Lead.updated_at, Lead.score])
_SEARCHED = (Lead.name, Lead.email, Lead.company, Lead.phone)


def _search_filter(dialect: str, q: str, *, default_region: str | None) -> sa.ColumnElement[bool]:
    """Leads whose contact the contact search finds (name, email, phone, company: the
    indexed search), or whose own details as captured hold every word of ``q``. A query
    without a word or a number finds nothing."""
    clauses: list[sa.ColumnElement[bool]] = []
    contacts = search.contact_filter(dialect, q, default_region=default_region)
    if contacts is not None:
        clauses.append(Lead.contact_id.in_(sa.select(Contact.id).where(contacts)))
    words = search.terms(q)
    if words:
        clauses.append(
            sa.and_(
                *(
                    sa.or_(*(sa.func.lower(c).contains(w, autoescape=True) for c in _SEARCHED))
                    for w in words
                )
            )
        )
    return sa.or_(*clauses) if clauses else sa.false()


async def list_leads(
    session: AsyncSession,
    ctx: Context,
    *,
    page: PageParams,
    q: str | None = None,
    **filters: str | None,
) -> tuple[list[LeadRead], str | None]:
    """The tenant's leads in ``page``'s order (newest first by default), filtered by
    ``LeadFilters``' other fields (a lead column each, an empty one not applied); ``q``
    searches name, email, company and phone."""
    query = sa.select(Lead).where(Lead.tenant_id == ctx.require_tenant())
    if q and q.strip():
        dialect = session.get_bind().dialect.name
        region = await default_region(session, ctx)
        query = query.where(_search_filter(dialect, q, default_region=region))
    query = where_equal(query, [(getattr(Lead, k), v or None) for k, v in filters.items()])
    items, cursor = await read_page(session, LEAD_ORDER, query, page)
    return [lead_read(r) for r in items], cursor


# --- reports ---------------------------------------------------------------------------


def _period_start(session: AsyncSession, grouping: str) -> sa.ColumnElement[str]:
    """The first day (UTC) of the day, week (Monday) or month a lead came in, YYYY-MM-DD."""
    if session.get_bind().dialect.name == "postgresql":
        utc = sa.func.timezone("UTC", Lead.created_at)
        return sa.func.to_char(sa.func.date_trunc(grouping, utc), "YYYY-MM-DD")
    # SQLite keeps UTC datetimes as text; 'weekday 0' is the next Sunday (or that day).
    if grouping == "day":
        return sa.func.strftime("%Y-%m-%d", Lead.created_at)
    if grouping == "month":
        return sa.func.strftime("%Y-%m-01", Lead.created_at)
    return sa.func.date(Lead.created_at, "weekday 0", "-6 days")


async def lead_counts(
    session: AsyncSession,
    ctx: Context,
    *,
    start: dt.datetime,
    end: dt.datetime,
    grouping: LeadGrouping,
    source: str | None = None,
    id_limit: int = 100,
) -> LeadCounts:
    """Leads that came in (``created_at``) in ``[start, end)``, of one source if given,
    counted per source, status, or day/week/month (UTC)."""
    where = [
        Lead.tenant_id == ctx.require_tenant(),
        Lead.created_at >= start,
        Lead.created_at < end,
    ]
    if source is not None:
        where.append(Lead.source == source)
    key: sa.ColumnElement[str]
    if grouping in ("source", "status"):
        key = (Lead.source if grouping == "source" else Lead.status).expression
    else:
        key = _period_start(session, grouping)
    count = sa.func.count()
    order = [key] if grouping in ("day", "week", "month") else [count.desc(), key]
    rows = await session.execute(sa.select(key, count).where(*where).group_by(key).order_by(*order))
    groups = [LeadGroupCount(key=str(k), count=int(n)) for k, n in rows.all()]
    ids = await session.scalars(
        sa.select(Lead.id).where(*where).order_by(Lead.created_at, Lead.id).limit(id_limit)
    )
    return LeadCounts(total=sum(g.count for g in groups), groups=groups, lead_ids=list(ids))


async def top_scored_leads(
    session: AsyncSession, ctx: Context, *, min_score: int, limit: int
) -> tuple[list[LeadRead], int]:
    """Open leads (new, working, qualified) scoring at least ``min_score``: the ``limit``
    highest first (newest first among equals), and how many there are."""
    where = (
        Lead.tenant_id == ctx.require_tenant(),
        Lead.status.in_(("new", "working", "qualified")),
        Lead.score >= min_score,
    )
    total = await session.scalar(sa.select(sa.func.count()).select_from(Lead).where(*where))
    rows = await session.scalars(
        sa.select(Lead)
        .where(*where)
        .order_by(Lead.score.desc(), Lead.created_at.desc(), Lead.id)
        .limit(limit)
    )
    return [lead_read(r) for r in rows], int(total or 0)


# --- changes --------------------------------------------------------------------------


async def update_lead(
    session: AsyncSession,
    ctx: Context,
    lead_id: str,
    *,
    changes: LeadUpdate,
    if_match: str | None = None,
) -> Lead:
    """Apply a partial update: fields (``crm.lead.updated``), a status move along the
    lifecycle (``crm.lead.status_changed``; 409 for a move the lifecycle does not allow)
    and the owner (``crm.lead.assigned``)."""
    lead = await get_lead(session, ctx, lead_id, for_update=True)
    check_version(if_match, lead.version)
    given = changes.model_dump(exclude_unset=True)
    status = given.pop("status", None)
    reason = given.pop("reason", None)
    owner_id = given.pop("owner_id", None) if "owner_id" in given else lead.owner_id
    if status is not None and status != lead.status:
        _check_transition(lead, status, reason)
    elif reason is not None and status is None:
        raise Unprocessable(
            "a reason goes with a status change",
            errors=[field_error(["body", "reason"], "only allowed together with status")],
        )
    if owner_id != lead.owner_id and owner_id is not None:
        await identity_service.require_active_user(session, ctx, owner_id)
    fields = {k: v for k, v in given.items() if getattr(lead, k) != v}
    status_moves = status is not None and status != lead.status
    owner_moves = owner_id != lead.owner_id
    if not fields and not status_moves and not owner_moves:
        return lead

    now = utcnow()
    for key, value in fields.items():
        setattr(lead, key, value)
    previous_status, previous_owner = lead.status, lead.owner_id
    if status_moves:
        assert status is not None
        lead.status, lead.status_reason, lead.status_changed_at = status, reason, now
    if owner_moves:
        lead.owner_id, lead.assigned_at = owner_id, now if owner_id else None
        lead.assignment_reason = "assigned by hand" if owner_id else None
    lead.version += 1
    await session.flush()
    if fields:
        await record_event(session, ctx, "crm.lead.updated", lead, "lead", {"changes": fields})
    if status_moves:
        data = {"from": previous_status, "to": lead.status, "reason": reason}
        await record_event(session, ctx, "crm.lead.status_changed", lead, "lead", data)
    if owner_moves:
        data = {
            "owner_id": lead.owner_id,
            "previous_owner_id": previous_owner,
            "reason": lead.assignment_reason,
        }
        await record_event(session, ctx, "crm.lead.assigned", lead, "lead", data)
    return lead


def _check_transition(lead: Lead, status: str, reason: str | None) -> None:
    if status == "converted":
        raise Unprocessable(
            "a lead is converted with POST /api/v1/crm/leads/{id}/convert, which creates its deal",
            errors=[field_error(["body", "status"], "use the convert endpoint")],
        )
    allowed = TRANSITIONS[lead.status]
    if status not in allowed:
        can = ", ".join(allowed) if allowed else "nothing: it is final"
        raise Conflict(
            f"a {lead.status} lead cannot become {status}; from {lead.status} it can become {can}"
        )
    if status == "disqualified" and not reason:
        raise Unprocessable(
            "disqualifying a lead needs a reason",
            errors=[field_error(["body", "reason"], "required when status is disqualified")],
        )


async def convert_lead(
    session: AsyncSession,
    ctx: Context,
    lead_id: str,
    *,
    body: LeadConvert,
    if_match: str | None = None,
) -> tuple[Lead, Deal]:
    """Turn a qualified lead into a deal (``crm.deal.created``) for its contact, company
    and owner; the lead becomes ``converted`` with ``deal_id`` (``crm.lead.converted``).
    Converting twice is refused (409), naming the deal made the first time."""
    lead = await get_lead(session, ctx, lead_id, for_update=True)
    check_version(if_match, lead.version)
    if lead.status == "converted":
        raise Conflict(f"the lead is already converted into deal {lead.deal_id}")
    if lead.status not in CONVERTIBLE:
        raise Conflict(
            f"a {lead.status} lead cannot be converted; qualify it first "
            f"(PATCH status: {', '.join(TRANSITIONS[lead.status]) or 'none'})"
        )
    deal = await deals_service.create_deal(
        session,
        ctx,
        name=body.deal_name or _deal_name(lead),
        amount=body.amount,
        currency=body.currency,
        contact_id=lead.contact_id,
        company_id=lead.company_id,
        lead_id=lead.id,
        owner_id=lead.owner_id,
        close_date=body.close_date,
        source=lead.source,
        stage=body.stage or "lead",
    )
    now = utcnow()
    previous_status = lead.status
    lead.status, lead.status_reason, lead.status_changed_at = "converted", None, now
    lead.deal_id, lead.converted_at = deal.id, now
    lead.version += 1
    await session.flush()
    await record_event(
        session,
        ctx,
        "crm.lead.status_changed",
        lead,
        "lead",
        {"from": previous_status, "to": "converted", "reason": None},
    )
    await record_event(
        session,
        ctx,
        "crm.lead.converted",
        lead,
        "lead",
        {"deal_id": deal.id, "contact_id": lead.contact_id, "company_id": lead.company_id},
    )
    log.info("crm.lead.converted", lead_id=lead.id, deal_id=deal.id)
    return lead, deal


def _deal_name(lead: Lead) -> str:
    who = lead.company or lead.name or lead.email
    return f"{who} (inbound {lead.created_at:%Y-%m-%d})"[:200]
