"""Deals: create, move through the pipeline, close, reopen. The only writer of
``crm_deals`` and ``crm_deal_stage_changes``.

Every stage entry is checked against the tenant's rules (``pipeline.py``), recorded in
the stage history with the seconds spent in the previous stage, announced with
``crm.deal.stage_changed`` and followed by the task templates of that stage. A won deal
makes its contact a customer and emits ``crm.deal.won``; a lost one ``crm.deal.lost``.

Closed deals (won or lost) keep their stage, amount, currency and close date: changing
any of them takes an explicit ``reopen_deal`` first, so a won figure never moves by
accident and the history says when and why it was reopened.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import payload
from bizos.core.money import CENT, cents
from bizos.core.money import text as money_text
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import read_of
from bizos.core.versions import check_version
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.crm.deals.pipeline import check_stage_rules, pipeline_settings
from bizos.modules.crm.deals.schemas import (
    CLOSED_STAGES,
    OPEN_STAGES,
    STAGES,
    DealRead,
    DealReopen,
    StageChangeRead,
    iso_currency,
)
from bizos.modules.crm.models import Company, Deal, DealStageChange
from bizos.modules.crm.records import read_page, record_event, tenant_row, where_equal
from bizos.modules.identity import service as identity_service
from bizos.modules.work import service as work_service

log = structlog.get_logger("bizos.crm.deals")

# Fields that a closed deal keeps until it is reopened.
_FROZEN_WHEN_CLOSED = ("stage", "amount", "currency", "close_date")


def deal_read(row: Deal) -> DealRead:
    return read_of(
        DealRead,
        row,
        amount=cents(row.amount),
        is_closed=row.stage in CLOSED_STAGES,
        properties=row.properties or {},
    )


def stage_change_read(row: DealStageChange) -> StageChangeRead:
    seconds = row.seconds_in_previous
    return read_of(
        StageChangeRead,
        row,
        seconds_in_previous=seconds,
        days_in_previous=round(seconds / 86400, 4) if seconds is not None else None,
        amount=cents(row.amount),
    )


# --- references -----------------------------------------------------------------------


def _bad_reference(field: str, what: str) -> Unprocessable:
    # The same answer for "does not exist" and "another tenant's": never reveal which.
    return Unprocessable(
        f"no such {what}", errors=[field_error(["body", field], f"no such {what}")]
    )


async def _live_contact_id(session: AsyncSession, ctx: Context, contact_id: str) -> str:
    """The contact's id, or its survivor's when it was merged; 422 when there is none."""
    try:
        return (await contacts_service.get_contact(session, ctx, contact_id)).id
    except NotFound:
        raise _bad_reference("contact_id", "contact") from None


async def _check_company(session: AsyncSession, ctx: Context, company_id: str) -> str:
    row = await session.scalar(
        sa.select(Company).where(
            Company.tenant_id == ctx.require_tenant(), Company.id == company_id
        )
    )
    if row is None:
        raise _bad_reference("company_id", "company")
    return row.merged_into_id or row.id


def _check_money(amount: Decimal, currency: str) -> tuple[Decimal, str]:
    """For callers that bypass the API schema (lead conversion, demo data)."""
    errors = []
    if amount < 0 or amount != amount.quantize(CENT):
        errors.append(field_error(["body", "amount"], "a non-negative amount with 2 decimals"))
    try:
        currency = iso_currency(currency)
    except ValueError as exc:
        errors.append(field_error(["body", "currency"], str(exc)))
    if errors:
        raise Unprocessable("invalid money", errors=errors)
    return amount, currency


# --- reads ----------------------------------------------------------------------------


async def get_deal(session: AsyncSession, ctx: Context, deal_id: str) -> Deal:
    return await tenant_row(session, ctx, Deal, deal_id, what="deal")


async def read_deal(session: AsyncSession, ctx: Context, deal_id: str) -> DealRead:
    """The tenant's deal ``deal_id`` as its Read, for other modules (404 otherwise)."""
    return deal_read(await get_deal(session, ctx, deal_id))


async def _locked_deal(session: AsyncSession, ctx: Context, deal_id: str) -> Deal:
    return await tenant_row(session, ctx, Deal, deal_id, what="deal", lock=True)


DEAL_ORDER = ListOrder(
    "deals", Deal.id, [Deal.created_at, Deal.updated_at, Deal.amount, Deal.close_date]
)
STAGE_CHANGE_ORDER = ListOrder(
    "deal_history", DealStageChange.id, [DealStageChange.changed_at], default="-changed_at"
)


async def list_deals(
    session: AsyncSession, ctx: Context, *, page: PageParams, **filters: str | None
) -> tuple[list[DealRead], str | None]:
    """The tenant's deals in ``page``'s order (newest first by default), filtered by
    ``DealFilters``' fields (a deal column each, the ones given as None not applied)."""
    query = where_equal(
        sa.select(Deal).where(Deal.tenant_id == ctx.require_tenant()),
        [(getattr(Deal, name), value) for name, value in filters.items()],
    )
    items, cursor = await read_page(session, DEAL_ORDER, query, page)
    return [deal_read(r) for r in items], cursor


async def deal_history(
    session: AsyncSession, ctx: Context, deal_id: str, *, page: PageParams
) -> tuple[list[StageChangeRead], str | None]:
    """The deal's stage changes, the latest first (``sort=changed_at``: in the order
    they happened, its creation first)."""
    await get_deal(session, ctx, deal_id)
    query = sa.select(DealStageChange).where(
        DealStageChange.tenant_id == ctx.require_tenant(), DealStageChange.deal_id == deal_id
    )
    items, cursor = await read_page(session, STAGE_CHANGE_ORDER, query, page)
    return [stage_change_read(r) for r in items], cursor


# --- writes ---------------------------------------------------------------------------


async def _new_deal_references(
    session: AsyncSession,
    ctx: Context,
    *,
    contact_id: str | None,
    company_id: str | None,
    owner_id: str | None,
) -> dict[str, str | None]:
    """A new deal's ``contact_id``, ``company_id`` and ``owner_id``, checked (422 naming
    the field); the owner defaults to the user creating the deal."""
    if contact_id is not None:
        contact_id = await _live_contact_id(session, ctx, contact_id)
    if company_id is not None:
        company_id = await _check_company(session, ctx, company_id)
    if owner_id is not None:
        owner_id = (await identity_service.require_active_user(session, ctx, owner_id)).id
    elif ctx.actor_type == "user":
        owner_id = ctx.actor_id
    return {"contact_id": contact_id, "company_id": company_id, "owner_id": owner_id}


# What the created event tells of a new deal, besides its id and amount.
_CREATED_FIELDS = (
    "name",
    "currency",
    "stage",
    "contact_id",
    "company_id",
    "lead_id",
    "owner_id",
    "close_date",
    "source",
)


def _created_event_data(deal: Deal) -> dict[str, Any]:
    return payload(deal, *_CREATED_FIELDS, deal_id=deal.id, amount=money_text(deal.amount))


async def create_deal(
    session: AsyncSession,
    ctx: Context,
    *,
    name: str,
    amount: Decimal,
    currency: str,
    contact_id: str | None = None,
    company_id: str | None = None,
    lead_id: str | None = None,
    owner_id: str | None = None,
    stage: str = "lead",
    close_date: dt.date | None = None,
    source: str | None = None,
    probability: float | None = None,
    close_reason: str | None = None,
    description: str | None = None,
    properties: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
    stage_tasks: bool = True,
) -> Deal:
    """A new deal in ``stage`` (``crm.deal.created``), checked against the stage rules,
    with its first history row and the stage's template tasks. ``at`` backdates it (demo
    data, imports of past deals; it defaults to now); ``stage_tasks=False`` skips the
    template tasks (history being replayed needs no to-dos)."""
    at = at or utcnow()
    if stage not in STAGES:
        raise Unprocessable(
            "unknown stage", errors=[field_error(["body", "stage"], "unknown stage")]
        )
    amount, currency = _check_money(Decimal(amount), currency)
    references = await _new_deal_references(
        session, ctx, contact_id=contact_id, company_id=company_id, owner_id=owner_id
    )
    closed = stage in CLOSED_STAGES
    deal = Deal(
        tenant_id=ctx.require_tenant(),
        name=name,
        **references,
        lead_id=lead_id,
        amount=amount,
        currency=currency,
        stage=stage,
        stage_entered_at=at,
        probability=probability,
        close_date=(close_date or at.date()) if closed else close_date,
        closed_at=at if closed else None,
        close_reason=close_reason,
        source=source,
        description=description,
        properties=properties or {},
        created_at=at,
        updated_at=at,
    )
    check_stage_rules(await pipeline_settings(session, ctx), deal, stage)
    session.add(deal)
    await session.flush()
    session.add(_stage_change(ctx, deal, None, at, None))
    await record_event(session, ctx, "crm.deal.created", deal, "deal", _created_event_data(deal))
    await _after_stage_entered(session, ctx, deal, at=at, stage_tasks=stage_tasks)
    log.info("crm.deal.created", deal_id=deal.id, stage=stage)
    return deal


# Fields every deal has: a PATCH may change them, never clear them.
_NOT_NULL = ("name", "amount", "currency", "stage", "properties")


async def update_deal(
    session: AsyncSession,
    ctx: Context,
    deal_id: str,
    *,
    changes: dict[str, Any],
    if_match: str | None = None,
    at: dt.datetime | None = None,
    stage_tasks: bool = True,
) -> Deal:
    """Apply ``changes`` (the fields a PATCH sent) under the row lock. A ``stage`` among
    them moves the deal (rules, history, events, tasks); ``If-Match`` guards the version.
    The fields every deal has cannot be cleared: 422 naming those sent as null."""
    cleared = [k for k in _NOT_NULL if k in changes and changes[k] is None]
    if cleared:
        errors = [field_error(["body", k], "may not be null") for k in cleared]
        raise Unprocessable("these fields cannot be cleared", errors=errors)
    at = at or utcnow()
    deal = await _locked_deal(session, ctx, deal_id)
    check_version(if_match, deal.version)
    # A close date sent with won/lost is the day it closed, even if it was already set.
    close_date_given = "close_date" in changes
    changes = {k: v for k, v in changes.items() if getattr(deal, k) != v}
    if not changes:
        return deal
    _refuse_frozen(deal.id, deal.stage, changes)
    if changes.get("contact_id") is not None:
        changes["contact_id"] = await _live_contact_id(session, ctx, changes["contact_id"])
    if changes.get("company_id") is not None:
        changes["company_id"] = await _check_company(session, ctx, changes["company_id"])
    if changes.get("owner_id") is not None:
        changes["owner_id"] = (
            await identity_service.require_active_user(session, ctx, changes["owner_id"])
        ).id
    if "amount" in changes or "currency" in changes:
        _check_money(
            Decimal(changes.get("amount", deal.amount)), changes.get("currency", deal.currency)
        )
    new_stage: str | None = changes.pop("stage", None)
    for key, value in changes.items():
        setattr(deal, key, value)
    settings = await pipeline_settings(session, ctx)
    if new_stage is not None:
        if new_stage in CLOSED_STAGES and not close_date_given:
            deal.close_date = at.date()
        check_stage_rules(settings, deal, new_stage)
    elif any(
        k in changes for k in ("amount", "close_date", "contact_id", "company_id", "owner_id")
    ):
        # An edit may not take away what the current stage demanded on entry.
        check_stage_rules(settings, deal, deal.stage)
    deal.version += 1
    deal.updated_at = at
    if changes:
        await record_event(
            session,
            ctx,
            "crm.deal.updated",
            deal,
            "deal",
            {"deal_id": deal.id, "changed": sorted(changes)},
        )
    if new_stage is not None:
        await _move(session, ctx, deal, new_stage, at=at, stage_tasks=stage_tasks)
    await session.flush()
    return deal


def _refuse_frozen(deal_id: str, stage: str, changes: dict[str, Any]) -> None:
    """409 when ``changes`` touch what a closed deal keeps until it is reopened."""
    if stage in CLOSED_STAGES:
        frozen = [k for k in _FROZEN_WHEN_CLOSED if k in changes]
        if frozen:
            raise Conflict(
                f"the deal is {stage}: its {', '.join(frozen)} cannot change; "
                f"reopen it first (POST /api/v1/crm/deals/{deal_id}/reopen)"
            )


async def preview_move(
    session: AsyncSession,
    ctx: Context,
    deal_id: str,
    *,
    stage: str,
    close_reason: str | None = None,
    at: dt.datetime | None = None,
) -> tuple[DealRead, DealRead]:
    """The deal as it is and as :func:`update_deal` would leave it moved to ``stage``
    (with ``close_reason``), changing nothing. The same refusals: 404 for a deal the
    tenant lacks, 409 for a closed one, 422 naming every stage rule the move breaks.
    Moving to the stage it is in changes nothing: both are the deal as it is."""
    at = at or utcnow()
    deal = await get_deal(session, ctx, deal_id)
    before = deal_read(deal)
    if stage not in STAGES:
        raise Unprocessable(
            "unknown stage", errors=[field_error(["body", "stage"], "unknown stage")]
        )
    changes: dict[str, Any] = {"stage": stage, "close_reason": close_reason or deal.close_reason}
    changes = {k: v for k, v in changes.items() if getattr(deal, k) != v}
    if not changes:
        return before, before
    _refuse_frozen(deal.id, deal.stage, changes)
    moved = stage != deal.stage
    closing = moved and stage in CLOSED_STAGES
    after = before.model_copy(
        update={
            **changes,
            "close_date": at.date() if closing else before.close_date,
            "closed_at": at if closing else before.closed_at,
            "is_closed": stage in CLOSED_STAGES,
            "stage_entered_at": at if moved else before.stage_entered_at,
            "version": before.version + 1,
            "updated_at": at,
        }
    )
    check_stage_rules(await pipeline_settings(session, ctx), after, stage)
    return before, after


async def reopen_deal(
    session: AsyncSession, ctx: Context, deal_id: str, body: DealReopen, if_match: str | None = None
) -> Deal:
    """Take a won or lost deal back into an open stage (``body.stage``, by default the one
    it closed from): ``crm.deal.reopened`` and a stage change; the close fields are
    cleared."""
    at, stage, reason = utcnow(), body.stage, body.reason
    deal = await _locked_deal(session, ctx, deal_id)
    check_version(if_match, deal.version)
    if deal.stage not in CLOSED_STAGES:
        raise Conflict(f"the deal is open (stage {deal.stage}); only won or lost deals reopen")
    if stage is None:
        stage = await session.scalar(
            sa.select(DealStageChange.from_stage)
            .where(
                DealStageChange.tenant_id == ctx.require_tenant(),
                DealStageChange.deal_id == deal.id,
                DealStageChange.to_stage == deal.stage,
                DealStageChange.from_stage.in_(OPEN_STAGES),
            )
            .order_by(DealStageChange.id.desc())
            .limit(1)
        )
        stage = stage or "negotiation"
    if stage not in OPEN_STAGES:
        raise Unprocessable(
            "a deal reopens into an open stage",
            errors=[field_error(["body", "stage"], "must be an open stage")],
        )
    closed_as = deal.stage
    deal.closed_at = None
    deal.close_reason = None
    check_stage_rules(await pipeline_settings(session, ctx), deal, stage)
    deal.version += 1
    deal.updated_at = at
    await record_event(
        session,
        ctx,
        "crm.deal.reopened",
        deal,
        "deal",
        {"deal_id": deal.id, "was": closed_as, "stage": stage, "reason": reason},
    )
    await _move(session, ctx, deal, stage, at=at, stage_tasks=True)
    await session.flush()
    return deal


def _stage_change(
    ctx: Context, deal: Deal, from_stage: str | None, at: dt.datetime, seconds: float | None
) -> DealStageChange:
    """The history row of ``deal`` entering its current stage (at its current amount)."""
    return DealStageChange(
        tenant_id=deal.tenant_id,
        deal_id=deal.id,
        from_stage=from_stage,
        to_stage=deal.stage,
        changed_at=at,
        seconds_in_previous=seconds,
        amount=deal.amount,
        actor_id=ctx.actor_id,
    )


async def _move(
    session: AsyncSession, ctx: Context, deal: Deal, stage: str, at: dt.datetime, stage_tasks: bool
) -> None:
    """Record the move of ``deal`` into ``stage`` (already checked against the rules)."""
    previous = deal.stage
    seconds = max((at - deal.stage_entered_at).total_seconds(), 0.0)
    deal.stage = stage
    session.add(_stage_change(ctx, deal, previous, at, seconds))
    deal.stage_entered_at = at
    if stage in CLOSED_STAGES:
        deal.closed_at = at
    await session.flush()
    await record_event(
        session,
        ctx,
        "crm.deal.stage_changed",
        deal,
        "deal",
        payload(
            deal,
            "currency",
            "contact_id",
            "owner_id",
            deal_id=deal.id,
            from_stage=previous,
            to_stage=stage,
            seconds_in_previous=seconds,
            amount=money_text(deal.amount),
        ),
    )
    log.info("crm.deal.stage_changed", deal_id=deal.id, from_stage=previous, to_stage=stage)
    await _after_stage_entered(session, ctx, deal, at=at, stage_tasks=stage_tasks)


async def _after_stage_entered(
    session: AsyncSession, ctx: Context, deal: Deal, *, at: dt.datetime, stage_tasks: bool
) -> None:
    """What entering a stage sets off: its template tasks, and the won/lost outcomes."""
    if stage_tasks:
        await work_service.create_tasks_from_templates(
            session,
            ctx,
            trigger=f"deal.stage:{deal.stage}",
            owner_id=deal.owner_id,
            related_type="deal",
            related_id=deal.id,
            contact_id=deal.contact_id,
            values={
                "deal_name": deal.name,
                "amount": money_text(deal.amount),
                "currency": deal.currency,
                "stage": deal.stage,
            },
            now=at,
        )
    outcome = payload(
        deal,
        "contact_id",
        "company_id",
        "lead_id",
        "owner_id",
        "currency",
        "close_date",
        deal_id=deal.id,
        amount=money_text(deal.amount),
        reason=deal.close_reason,
    )
    if deal.stage == "won":
        if deal.contact_id is not None:
            await contacts_service.mark_customer(session, ctx, deal.contact_id, deal_id=deal.id)
        await record_event(session, ctx, "crm.deal.won", deal, "deal", outcome)
    elif deal.stage == "lost":
        await record_event(session, ctx, "crm.deal.lost", deal, "deal", outcome)
