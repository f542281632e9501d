"""Next best action for a contact: ranked, explained suggestions from rules over its state.

Rules (thresholds from the tenant's pipeline settings):

- ``follow_up`` — we reached out (``last_contacted_at``) and no reply came after it for
  ``follow_up_days``;
- ``call`` — one of the contact's open deals sits in its stage longer than that stage's
  ``stall_days``;
- ``first_call`` — an open lead of the contact scores at least ``hot_lead_score`` and
  nobody has reached out since it came in;
- ``complete_task`` — a task about the contact is overdue;
- ``check_in`` — a customer with no activity for ``check_in_days``.

A contact marked ``do_not_contact`` gets none of the actions that reach out to them
(they are listed under ``suppressed`` with the reason); overdue tasks still show.
Priority is 0-100; items come highest first. Nothing is stored: the answer is always
derived from the current state.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.pagination import PageParams
from bizos.modules.crm.contacts import service as contacts_service
from bizos.modules.crm.deals.pipeline import pipeline_settings
from bizos.modules.crm.deals.schemas import OPEN_STAGES, PipelineSettings
from bizos.modules.crm.models import Contact, Deal, Lead
from bizos.modules.crm.next_best_action.schemas import (
    NextAction,
    NextActions,
    Related,
    Suppressed,
)
from bizos.modules.work import service as work_service

REACHES_OUT: frozenset[str] = frozenset({"follow_up", "call", "first_call", "check_in"})
_RANK: dict[str, int] = {stage: i for i, stage in enumerate(OPEN_STAGES)}
_TASK_PRIORITY = {"urgent": 95, "high": 85, "normal": 70, "low": 55}


def _days(delta: dt.timedelta) -> int:
    return max(int(delta.total_seconds() // 86400), 0)


def _when(at: dt.datetime) -> str:
    return at.date().isoformat()


def _follow_up(contact: Contact, settings: PipelineSettings, now: dt.datetime) -> list[NextAction]:
    contacted = contact.last_contacted_at
    if contacted is None:
        return []
    if contact.last_replied_at is not None and contact.last_replied_at >= contacted:
        return []
    days = _days(now - contacted)
    if days < settings.follow_up_days:
        return []
    return [
        NextAction(
            action="follow_up",
            title=f"Follow up with {contact.name or contact.email or 'the contact'}",
            reason=(
                f"We reached out on {_when(contacted)} ({days} days ago) and no reply has "
                f"come since; the follow-up threshold is {settings.follow_up_days} days."
            ),
            priority=min(90, 60 + 3 * (days - settings.follow_up_days)),
            related=Related(type="contact", id=contact.id),
        )
    ]


def _stalled(deals: list[Deal], settings: PipelineSettings, now: dt.datetime) -> list[NextAction]:
    out = []
    for deal in deals:
        limit = settings.stall_days.get(deal.stage)  # type: ignore[call-overload]
        days = _days(now - deal.stage_entered_at)
        if limit is None or days <= limit:
            continue
        rank = _RANK[deal.stage]
        amount = Decimal(deal.amount).quantize(Decimal("0.01"))
        out.append(
            NextAction(
                action="call",
                title=f"Call about {deal.name}",
                reason=(
                    f"The deal {deal.name!r} ({amount} {deal.currency}) has been in "
                    f"{deal.stage} for {days} days since {_when(deal.stage_entered_at)}; "
                    f"deals are expected to move on within {limit} days."
                ),
                priority=min(95, 55 + 7 * rank + min(days - limit, 15)),
                related=Related(type="deal", id=deal.id),
            )
        )
    return out


def _hot_leads(contact: Contact, leads: list[Lead], settings: PipelineSettings) -> list[NextAction]:
    out = []
    for lead in leads:
        if lead.score is None or lead.score < settings.hot_lead_score:
            continue
        contacted = contact.last_contacted_at
        if contacted is not None and contacted >= lead.created_at:
            continue
        out.append(
            NextAction(
                action="first_call",
                title=f"First call with {lead.name or lead.email}",
                reason=(
                    f"The lead from {_when(lead.created_at)} scores {lead.score} (hot from "
                    f"{settings.hot_lead_score}) and nobody has reached out since it came in."
                ),
                priority=min(95, 80 + (lead.score - settings.hot_lead_score) // 3),
                related=Related(type="lead", id=lead.id),
            )
        )
    return out


def _check_in(contact: Contact, settings: PipelineSettings, now: dt.datetime) -> list[NextAction]:
    if contact.lifecycle_stage != "customer":
        return []
    moments = [
        t
        for t in (
            contact.last_activity_at,
            contact.last_contacted_at,
            contact.last_replied_at,
            contact.became_customer_at,
        )
        if t is not None
    ]
    last = max(moments) if moments else contact.created_at
    days = _days(now - last)
    if days < settings.check_in_days:
        return []
    return [
        NextAction(
            action="check_in",
            title=f"Check in with {contact.name or contact.email or 'the customer'}",
            reason=(
                f"A customer with no activity since {_when(last)} ({days} days); the "
                f"check-in threshold is {settings.check_in_days} days."
            ),
            priority=min(70, 40 + (days - settings.check_in_days) // 10),
            related=Related(type="contact", id=contact.id),
        )
    ]


async def _overdue_tasks(
    session: AsyncSession, ctx: Context, contact_ids: list[str], now: dt.datetime
) -> list[NextAction]:
    out = []
    for contact_id in contact_ids:
        tasks, _ = await work_service.list_tasks(
            session, ctx, page=PageParams(limit=50), contact_id=contact_id, overdue=True, now=now
        )
        for task in tasks:
            assert task.due_at is not None
            days = _days(now - task.due_at)
            out.append(
                NextAction(
                    action="complete_task",
                    title=task.title,
                    reason=(
                        f"This {task.priority}-priority task was due on {_when(task.due_at)}"
                        f" ({days} days overdue)."
                        if days
                        else f"This {task.priority}-priority task is overdue since today."
                    ),
                    priority=min(99, _TASK_PRIORITY.get(task.priority, 70) + min(days, 4)),
                    related=Related(type="task", id=task.id),
                )
            )
    return out


async def next_actions(
    session: AsyncSession, ctx: Context, contact_id: str, *, now: dt.datetime | None = None
) -> NextActions:
    """The ranked suggestions for ``contact_id`` (see the module doc)."""
    now = now or utcnow()
    tenant_id = ctx.require_tenant()
    contact = await contacts_service.get_contact(session, ctx, contact_id)
    merged = list(
        await session.scalars(
            sa.select(Contact.id).where(
                Contact.tenant_id == tenant_id, Contact.merged_into_id == contact.id
            )
        )
    )
    ids = [contact.id, *merged]
    settings = await pipeline_settings(session, ctx)
    deals = list(
        await session.scalars(
            sa.select(Deal)
            .where(
                Deal.tenant_id == tenant_id,
                Deal.contact_id.in_(ids),
                Deal.stage.in_(OPEN_STAGES),
            )
            .order_by(Deal.id)
        )
    )
    leads = list(
        await session.scalars(
            sa.select(Lead)
            .where(
                Lead.tenant_id == tenant_id,
                Lead.contact_id.in_(ids),
                Lead.status.in_(("new", "working")),
            )
            .order_by(Lead.id)
        )
    )
    candidates = [
        *_follow_up(contact, settings, now),
        *_stalled(deals, settings, now),
        *_hot_leads(contact, leads, settings),
        *await _overdue_tasks(session, ctx, ids, now),
        *_check_in(contact, settings, now),
    ]
    items: list[NextAction] = []
    suppressed: list[Suppressed] = []
    for action in candidates:
        if contact.do_not_contact and action.action in REACHES_OUT:
            suppressed.append(
                Suppressed(
                    action=action.action,
                    related=action.related,
                    reason="the contact asked not to be contacted (do_not_contact)",
                )
            )
        else:
            items.append(action)
    items.sort(key=lambda a: -a.priority)
    return NextActions(
        contact_id=contact.id,
        do_not_contact=contact.do_not_contact,
        generated_at=now,
        items=items,
        suppressed=suppressed,
    )


async def contacts_to_act_on(
    session: AsyncSession, ctx: Context, *, owner_id: str | None, limit: int
) -> list[str]:
    """The live contacts behind open deals and open leads (of ``owner_id``, when given),
    those whose deal or lead changed most recently first: where next actions are looked
    for when no contact is named."""
    tenant_id = ctx.require_tenant()
    deals = sa.select(Deal.contact_id.label("contact_id"), Deal.updated_at.label("at")).where(
        Deal.tenant_id == tenant_id, Deal.stage.in_(OPEN_STAGES), Deal.contact_id.is_not(None)
    )
    leads = sa.select(Lead.contact_id.label("contact_id"), Lead.updated_at.label("at")).where(
        Lead.tenant_id == tenant_id, Lead.status.in_(("new", "working", "qualified"))
    )
    if owner_id is not None:
        deals = deals.where(Deal.owner_id == owner_id)
        leads = leads.where(Lead.owner_id == owner_id)
    either = sa.union_all(deals, leads).subquery()
    latest = sa.func.max(either.c.at)
    rows = await session.execute(
        sa.select(either.c.contact_id)
        .join(Contact, sa.and_(Contact.tenant_id == tenant_id, Contact.id == either.c.contact_id))
        .where(Contact.merged_into_id.is_(None))
        .group_by(either.c.contact_id)
        .order_by(latest.desc(), either.c.contact_id)
        .limit(limit)
    )
    return [str(contact_id) for (contact_id,) in rows.all()]
