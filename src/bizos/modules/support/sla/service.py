"""SLA policies, due times and breaches. The only writer of ``support_sla_policies`` and
of a ticket's SLA fields (due times, first response, breaches).

* A tenant always has one default policy: made when the tenant is created (handler),
  or lazily the first time one is needed; weekdays 09:00-17:00 UTC and the targets in
  ``schemas.DEFAULT_TARGETS``. The default cannot be deleted, deactivated or
  un-defaulted: another policy is made the default instead.
* ``apply_sla`` sets a ticket's due times from its policy (its own if still active,
  else the tenant default) and its priority, counted from when the ticket was created,
  so a priority change moves the targets as if the ticket had had that priority from
  the start. Policy edits apply to tickets from their next ``apply_sla``.
* In v1 a ticket waiting on the customer (``pending``) does not pause the clock.
* Breaches: the ``support.sla_breaches`` job (``jobs.py``, every minute) records, once per ticket
  and kind, ``support.sla.breached`` {ticket_id, number, kind, due_at, priority} and
  notifies the assignee (or the active owners when nobody is assigned). Resolved and
  closed tickets are skipped; a first-response breach needs the first response to be
  missing, or to have come late (``mark_first_response`` records that at once).
  Ticket rows are locked while a breach is recorded, so a rerun, two workers, or a
  reply racing the job never record one twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.db import dialect_insert, utcnow
from bizos.core.errors import Conflict, NotFound, Unprocessable, field_error
from bizos.core.events import append_event
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams
from bizos.core.reads import one_or_404, read_of
from bizos.core.versions import check_version
from bizos.modules.identity import service as identity_service
from bizos.modules.notifications import service as notifications_service
from bizos.modules.support.sla.hours import BusinessHours, add_business_minutes
from bizos.modules.support.sla.models import SlaPolicy
from bizos.modules.support.sla.schemas import (
    DEFAULT_BUSINESS_HOURS,
    DEFAULT_TARGETS,
    PRIORITY_ORDER,
    BusinessHoursRead,
    FirstResponseRead,
    SlaPolicyCreate,
    SlaPolicyRead,
    SlaPolicyUpdate,
    SlaTargetRead,
)
from bizos.modules.support.tickets.models import Ticket
from bizos.modules.support.tickets.service import ticket_event

log = structlog.get_logger("bizos.support.sla")

BREACH_KINDS: tuple[str, ...] = ("first_response", "resolution")
CLOSED_STATUSES: tuple[str, ...] = ("resolved", "closed")
DEFAULT_POLICY_NAME = "Default"
# The policy every tenant has until it makes its own the default.
DEFAULT_POLICY: dict[str, Any] = {
    "name": DEFAULT_POLICY_NAME,
    "targets": DEFAULT_TARGETS,
    "business_hours": DEFAULT_BUSINESS_HOURS,
    "is_default": True,
    "active": True,
    "version": 1,
}
_MAX_NOTIFIED_OWNERS = 20


# --- reading --------------------------------------------------------------------------


def policy_read(row: SlaPolicy) -> SlaPolicyRead:
    targets = {**DEFAULT_TARGETS, **(row.targets or {})}
    hours = BusinessHours.from_config(row.business_hours) if row.business_hours else None
    return read_of(
        SlaPolicyRead,
        row,
        targets={p: SlaTargetRead(**targets[p]) for p in reversed(PRIORITY_ORDER)},
        business_hours=BusinessHoursRead(**hours.to_config()) if hours else None,
    )


POLICY_ORDER = ListOrder(
    "sla_policies", SlaPolicy.id, [SlaPolicy.created_at, SlaPolicy.updated_at, SlaPolicy.name]
)


async def list_policies(
    session: AsyncSession, ctx: Context, *, page: PageParams
) -> tuple[list[SlaPolicy], str | None]:
    """The tenant's policies in ``page``'s order (newest first by default)."""
    query = sa.select(SlaPolicy).where(SlaPolicy.tenant_id == ctx.require_tenant())
    rows = (await session.scalars(POLICY_ORDER.apply(query, page))).all()
    return POLICY_ORDER.take_page(rows, page)


async def get_policy(
    session: AsyncSession, ctx: Context, policy_id: str, *, for_update: bool = False
) -> SlaPolicy:
    """The tenant's policy; 404 for a missing one or another tenant's."""
    query = sa.select(SlaPolicy).where(
        SlaPolicy.tenant_id == ctx.require_tenant(), SlaPolicy.id == policy_id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await one_or_404(session, query, "SLA policy")


async def default_policy(session: AsyncSession, ctx: Context) -> SlaPolicy:
    """The tenant's default policy, made on first need (safe when two callers race)."""
    tenant_id = ctx.require_tenant()
    query = sa.select(SlaPolicy).where(SlaPolicy.tenant_id == tenant_id, SlaPolicy.is_default)
    row = await session.scalar(query)
    if row is not None:
        return row
    now = utcnow()
    policy_id = new_id()
    inserted = await session.execute(
        dialect_insert(session, SlaPolicy)
        .values(id=policy_id, tenant_id=tenant_id, **DEFAULT_POLICY, created_at=now, updated_at=now)
        .on_conflict_do_nothing()
    )
    if getattr(inserted, "rowcount", 0) == 1:
        await _policy_event(session, ctx, "support.sla_policy.created", policy_id, 1, lazy=True)
        log.info("support.sla_policy.default_created", tenant_id=tenant_id, policy_id=policy_id)
    row = await session.scalar(query)
    if row is None:  # a policy named "Default" that is not the default: promote it
        row = await session.scalar(
            sa.select(SlaPolicy).where(
                SlaPolicy.tenant_id == tenant_id, SlaPolicy.name == DEFAULT_POLICY_NAME
            )
        )
        if row is None:
            raise RuntimeError("could not make a default SLA policy")
        row.is_default, row.active = True, True
        row.version += 1
        await session.flush()
    return row


# --- writing --------------------------------------------------------------------------


async def _lock_tenant_policies(session: AsyncSession, ctx: Context) -> None:
    """Serialise policy writes of one tenant (the default flag moves between rows)."""
    await session.execute(
        sa.select(SlaPolicy.id).where(SlaPolicy.tenant_id == ctx.require_tenant()).with_for_update()
    )


async def _unset_other_defaults(session: AsyncSession, ctx: Context, keep_id: str) -> None:
    await session.execute(
        sa.update(SlaPolicy)
        .where(
            SlaPolicy.tenant_id == ctx.require_tenant(),
            SlaPolicy.is_default,
            SlaPolicy.id != keep_id,
        )
        .values(is_default=False, version=SlaPolicy.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )


async def _name_taken(
    session: AsyncSession, ctx: Context, name: str, exclude_id: str | None = None
) -> None:
    query = sa.select(SlaPolicy.id).where(
        SlaPolicy.tenant_id == ctx.require_tenant(), SlaPolicy.name == name
    )
    if exclude_id is not None:
        query = query.where(SlaPolicy.id != exclude_id)
    existing = await session.scalar(query)
    if existing is not None:
        raise _name_used(name)


async def _flush_unique(session: AsyncSession, name: str) -> None:
    """Flush inside a savepoint: a name taken by a concurrent writer is 409, not 500."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise _name_used(name) from exc


def _name_used(name: str) -> Conflict:
    return Conflict(
        f"an SLA policy named {name!r} exists",
        errors=[field_error(["body", "name"], "already used by another policy")],
    )


async def create_policy(session: AsyncSession, ctx: Context, body: SlaPolicyCreate) -> SlaPolicy:
    await _lock_tenant_policies(session, ctx)
    await _name_taken(session, ctx, body.name)
    has_default = await session.scalar(
        sa.select(SlaPolicy.id).where(
            SlaPolicy.tenant_id == ctx.require_tenant(), SlaPolicy.is_default
        )
    )
    make_default = body.is_default or has_default is None
    if make_default and not body.active:
        raise _default_must_be_active()
    row = SlaPolicy(
        id=new_id(),
        tenant_id=ctx.require_tenant(),
        name=body.name,
        targets={**DEFAULT_TARGETS, **body.targets.given()},
        business_hours=body.business_hours.to_config() if body.business_hours else None,
        is_default=False,
        active=body.active,
        version=1,
    )
    session.add(row)
    await _flush_unique(session, body.name)
    if make_default:
        await _unset_other_defaults(session, ctx, row.id)
        row.is_default = True
        await session.flush()
    await _policy_event(session, ctx, "support.sla_policy.created", row.id, row.version)
    return row


def _default_must_be_active() -> Conflict:
    return Conflict(
        "the default SLA policy must stay active: make another policy the default first",
        errors=[field_error(["body", "active"], "the default policy cannot be inactive")],
    )


async def update_policy(
    session: AsyncSession,
    ctx: Context,
    policy_id: str,
    body: SlaPolicyUpdate,
    *,
    if_match: str | None = None,
) -> SlaPolicy:
    given = body.model_dump(exclude_unset=True)
    for name in ("name", "targets", "is_default", "active"):
        if name in given and given[name] is None:
            raise Unprocessable(
                f"{name} may not be null", errors=[field_error(["body", name], "may not be null")]
            )
    await _lock_tenant_policies(session, ctx)
    row = await get_policy(session, ctx, policy_id, for_update=True)
    check_version(if_match, row.version)
    if row.is_default and given.get("is_default") is False:
        raise Conflict(
            "a tenant always has a default SLA policy: make another policy the default",
            errors=[field_error(["body", "is_default"], "the default cannot be unset")],
        )
    becomes_default = given.get("is_default") is True and not row.is_default
    if (row.is_default or becomes_default) and given.get("active") is False:
        raise _default_must_be_active()
    if becomes_default and not given.get("active", row.active):
        raise _default_must_be_active()
    if "name" in given and given["name"] != row.name:
        await _name_taken(session, ctx, given["name"], exclude_id=row.id)
        row.name = given["name"]
    if body.targets is not None:
        row.targets = {**DEFAULT_TARGETS, **(row.targets or {}), **body.targets.given()}
    if "business_hours" in given:
        row.business_hours = body.business_hours.to_config() if body.business_hours else None
    if "active" in given:
        row.active = bool(given["active"])
    if becomes_default:
        await _unset_other_defaults(session, ctx, row.id)
        row.is_default = True
    row.version += 1
    await _flush_unique(session, row.name)
    await _policy_event(
        session, ctx, "support.sla_policy.updated", row.id, row.version, changed=sorted(given)
    )
    return row


async def delete_policy(
    session: AsyncSession, ctx: Context, policy_id: str, *, if_match: str | None = None
) -> None:
    """Delete a policy; its tickets fall back to the default at their next
    ``apply_sla`` (their due times stay). The default itself → 409."""
    await _lock_tenant_policies(session, ctx)
    row = await get_policy(session, ctx, policy_id, for_update=True)
    check_version(if_match, row.version)
    if row.is_default:
        raise Conflict("the default SLA policy cannot be deleted: make another one the default")
    await session.delete(row)
    await session.flush()
    await _policy_event(session, ctx, "support.sla_policy.deleted", row.id, row.version + 1)


async def _policy_event(
    session: AsyncSession, ctx: Context, type_: str, policy_id: str, version: int, **data: Any
) -> None:
    await append_event(
        session,
        ctx,
        type_,
        aggregate_type="sla_policy",
        aggregate_id=policy_id,
        version=version,
        data={"policy_id": policy_id, **data},
    )


# --- due times ------------------------------------------------------------------------


def due_times(
    policy: SlaPolicy, priority: str, start: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """(first response due, resolution due) for a ticket of ``priority`` opened at
    ``start`` under ``policy``."""
    targets = {**DEFAULT_TARGETS, **(policy.targets or {})}
    target = targets.get(priority) or targets["normal"]
    hours = BusinessHours.from_config(policy.business_hours) if policy.business_hours else None
    return (
        add_business_minutes(start, int(target["first_response_minutes"]), hours),
        add_business_minutes(start, int(target["resolution_minutes"]), hours),
    )


async def _policy_for(session: AsyncSession, ctx: Context, ticket: Ticket) -> SlaPolicy:
    if ticket.sla_policy_id:
        row = await session.scalar(
            sa.select(SlaPolicy).where(
                SlaPolicy.tenant_id == ctx.require_tenant(),
                SlaPolicy.id == ticket.sla_policy_id,
                SlaPolicy.active,
            )
        )
        if row is not None:
            return row
    return await default_policy(session, ctx)


async def apply_sla(session: AsyncSession, ctx: Context, ticket: Ticket, now: dt.datetime) -> None:
    """Set ``ticket``'s policy and due times for its current priority (in the caller's
    transaction; the caller saves the ticket). Due times count from the ticket's
    creation (``now`` for a ticket not saved yet)."""
    policy = await _policy_for(session, ctx, ticket)
    start = ticket.created_at or now
    first_due, resolution_due = due_times(policy, ticket.priority, start)
    ticket.sla_policy_id = policy.id
    ticket.first_response_due_at = first_due
    ticket.resolution_due_at = resolution_due


async def mark_first_response(
    session: AsyncSession, ctx: Context, ticket: Ticket, at: dt.datetime
) -> None:
    """Record the first reply to the customer (later replies change nothing). A reply
    after the due time records the first-response breach now if the job has not."""
    if ticket.first_responded_at is not None:
        return
    await session.flush()
    locked = await _locked_ticket(session, ctx, ticket.id)
    if locked is None:  # not saved: nothing can have raced it
        ticket.first_responded_at = at
        return
    if locked.first_responded_at is not None:
        return
    locked.first_responded_at = at
    due = locked.first_response_due_at
    if due is not None and at > due and not _recorded(locked, "first_response"):
        await _record_breach(session, ctx, locked, "first_response", due, at)
    await session.flush()


# --- breaches -------------------------------------------------------------------------


def _recorded(ticket: Ticket, kind: str) -> bool:
    return any(b.get("kind") == kind for b in ticket.sla_breaches or [])


def breaches_due(ticket: Ticket, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """The (kind, due_at) breaches of ``ticket`` at ``now`` not recorded yet."""
    if ticket.status in CLOSED_STATUSES:
        return []
    due: list[tuple[str, dt.datetime]] = []
    first = ticket.first_response_due_at
    if (
        first is not None
        and first <= now
        and ticket.first_responded_at is None
        and not _recorded(ticket, "first_response")
    ):
        due.append(("first_response", first))
    resolution = ticket.resolution_due_at
    if resolution is not None and resolution <= now and not _recorded(ticket, "resolution"):
        due.append(("resolution", resolution))
    return due


async def _locked_ticket(session: AsyncSession, ctx: Context, ticket_id: str) -> Ticket | None:
    return await session.scalar(
        sa.select(Ticket)
        .where(Ticket.tenant_id == ctx.require_tenant(), Ticket.id == ticket_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def record_breaches(
    session: AsyncSession, ctx: Context, ticket_id: str, now: dt.datetime
) -> int:
    """Record every breach of the ticket due at ``now`` and not recorded yet; how many."""
    ticket = await _locked_ticket(session, ctx, ticket_id)
    if ticket is None:
        return 0
    found = breaches_due(ticket, now)
    for kind, due_at in found:
        await _record_breach(session, ctx, ticket, kind, due_at, now)
    if found:
        await session.flush()
    return len(found)


async def _record_breach(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    kind: str,
    due_at: dt.datetime,
    now: dt.datetime,
) -> None:
    entry = {"kind": kind, "due_at": due_at.isoformat(), "detected_at": now.isoformat()}
    ticket.sla_breaches = [*(ticket.sla_breaches or []), entry]  # a new list: JSON change
    ticket.sla_breached = True
    ticket.version += 1
    breach = {
        "number": ticket.number,
        "kind": kind,
        "due_at": due_at.isoformat(),
        "priority": ticket.priority,
        "assignee_id": ticket.assignee_id,
    }
    await ticket_event(session, ctx, ticket, "support.sla.breached", **breach)
    data = {"ticket_id": ticket.id, **breach}
    what = "first response" if kind == "first_response" else "resolution"
    title = f"SLA breached: {what} on {ticket.number}"
    body = (
        f"{ticket.number} ({ticket.priority}) “{ticket.subject[:120]}” was due by "
        f"{due_at:%Y-%m-%d %H:%M} UTC."
    )
    for user_id in await _breach_recipients(session, ctx, ticket):
        await notifications_service.notify(
            session,
            ctx,
            user_id=user_id,
            kind="support.sla_breached",
            title=title,
            body=body,
            related_type="ticket",
            related_id=ticket.id,
            data=data,
        )
    log.warning("support.sla.breached", ticket_id=ticket.id, kind=kind)


async def _breach_recipients(session: AsyncSession, ctx: Context, ticket: Ticket) -> list[str]:
    """The assignee if still active; else the tenant's active owners."""
    if ticket.assignee_id:
        try:
            user = await identity_service.get_user(session, ctx, user_id=ticket.assignee_id)
        except NotFound:
            user = None
        if user is not None and user.is_active:
            return [user.id]
    owners = await identity_service.list_users(
        session, ctx, page=PageParams(limit=_MAX_NOTIFIED_OWNERS), role="owner", is_active=True
    )
    return [u.id for u in owners.items]


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands datetimes back naive; they are UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def first_responses(
    session: AsyncSession,
    ctx: Context,
    *,
    start: dt.datetime,
    end: dt.datetime,
    priority: str | None = None,
) -> list[FirstResponseRead]:
    """The tickets opened in ``[start, end)`` (of one priority, if given), oldest first,
    each with when an agent first answered it (``first_responded_at``), if yet."""
    where = [
        Ticket.tenant_id == ctx.require_tenant(),
        Ticket.created_at >= start,
        Ticket.created_at < end,
    ]
    if priority is not None:
        where.append(Ticket.priority == priority)
    rows = await session.execute(
        sa.select(
            Ticket.id, Ticket.number, Ticket.priority, Ticket.created_at, Ticket.first_responded_at
        )
        .where(*where)
        .order_by(Ticket.created_at, Ticket.id)
    )
    return [
        FirstResponseRead(
            ticket_id=ticket_id,
            number=number,
            priority=prio,
            opened_at=_utc(opened),
            responded_at=_utc(responded) if responded else None,
        )
        for ticket_id, number, prio, opened, responded in rows.all()
    ]
