"""SLA due times and breaches: default policy made on first need, due times in business
hours, and one breach event and notification per ticket and kind, whatever the reruns."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from bizos import registry
from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.core.dispatcher import EventRecord
from bizos.core.scheduler import Scheduler
from bizos.modules.identity import service as identity_service
from bizos.modules.support.sla import handlers as sla_handlers
from bizos.modules.support.sla import jobs, service
from bizos.modules.support.sla.models import SlaPolicy
from bizos.modules.support.sla.schemas import SlaPolicyCreate
from tests.conftest import TenantLogin
from tests.modules.support.test_sla_factories import (
    MONDAY_10,
    events_of,
    load_ticket,
    make_ticket,
    notifications_of,
    owner_ctx,
)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 6, day, hour, minute, tzinfo=dt.UTC)


async def policies(db: Database, tenant: TenantLogin) -> list[SlaPolicy]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        return list(await session.scalars(sa.select(SlaPolicy).order_by(SlaPolicy.id)))


async def test_first_ticket_gets_a_default_policy_and_business_hour_due_times(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await make_ticket(db, tenant)  # Monday 10:00, normal
    [policy] = await policies(db, tenant)
    assert policy.is_default and policy.name == "Default"
    assert ticket.sla_policy_id == policy.id
    assert ticket.first_response_due_at == at(9, 10)  # 8 business hours: Tuesday 10:00
    assert ticket.resolution_due_at == at(15, 10)  # 40 business hours: next Monday
    urgent = await make_ticket(db, tenant, priority="urgent")
    assert (urgent.first_response_due_at, urgent.resolution_due_at) == (at(8, 11), at(9, 10))
    assert len(await policies(db, tenant)) == 1
    [created] = await events_of(db, tenant, "support.sla_policy.created")
    assert created == {"policy_id": policy.id, "lazy": True}


async def test_a_friday_evening_ticket_is_due_after_the_weekend(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await make_ticket(db, tenant, priority="high", created_at=at(12, 18))
    assert ticket.first_response_due_at == at(15, 13)  # Monday 09:00 + 4 h


async def test_a_priority_change_moves_due_times_from_the_ticket_start(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await make_ticket(db, tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        row = await session.merge(ticket)
        row.priority = "urgent"
        await service.apply_sla(session, owner_ctx(tenant), row, at(8, 15))
    reread = await load_ticket(db, tenant, ticket.id)
    assert reread.first_response_due_at == at(8, 11)
    assert reread.resolution_due_at == at(9, 10)


async def test_a_ticket_follows_the_tenant_policy_around_the_clock(
    db: Database, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.create_policy(
            session,
            owner_ctx(tenant),
            SlaPolicyCreate.model_validate(
                {
                    "name": "24/7",
                    "business_hours": None,
                    "is_default": True,
                    "targets": {"normal": {"first_response_minutes": 30, "resolution_minutes": 90}},
                }
            ),
        )
    ticket = await make_ticket(db, tenant, created_at=at(13, 23))  # Saturday night
    assert ticket.first_response_due_at == at(13, 23, 30)
    assert ticket.resolution_due_at == at(14, 0, 30)


async def test_a_breach_is_recorded_once_per_kind_and_notifies_the_owner(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await make_ticket(db, tenant, priority="urgent")  # due 11:00 and Tue 10:00
    assert await jobs.check_sla_breaches(db, at(8, 10, 59)) == 0
    assert await jobs.check_sla_breaches(db, at(8, 11, 1)) == 1
    assert await jobs.check_sla_breaches(db, at(8, 12)) == 0  # rerun: nothing new
    assert await jobs.check_sla_breaches(db, at(9, 10, 30)) == 1  # resolution now
    assert await jobs.check_sla_breaches(db, at(10, 10)) == 0

    events = await events_of(db, tenant, "support.sla.breached")
    assert [(e["kind"], e["due_at"]) for e in events] == [
        ("first_response", at(8, 11).isoformat()),
        ("resolution", at(9, 10).isoformat()),
    ]
    assert events[0]["ticket_id"] == ticket.id and events[0]["priority"] == "urgent"
    notes = await notifications_of(db, tenant)
    assert [n.user_id for n in notes] == [tenant.user_id, tenant.user_id]
    assert "first response" in notes[0].title and ticket.number in notes[0].title
    reread = await load_ticket(db, tenant, ticket.id)
    assert reread.sla_breached is True
    assert [b["kind"] for b in reread.sla_breaches] == ["first_response", "resolution"]
    assert reread.version == ticket.version + 2


async def test_the_assignee_hears_of_a_breach_rather_than_the_owner(
    db: Database, tenant: TenantLogin
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        agent = await identity_service.create_user(
            session,
            system_context(tenant.tenant_id),
            tenant_id=tenant.tenant_id,
            email="agent@example.com",
            name="Ada Agent",
            role="member",
            password="a long enough password",
        )
        agent_id = agent.id
    await make_ticket(db, tenant, priority="urgent", assignee_id=agent_id)
    assert await jobs.check_sla_breaches(db, at(8, 12)) == 1
    assert [n.user_id for n in await notifications_of(db, tenant)] == [agent_id]


async def test_resolved_closed_and_answered_tickets_do_not_breach_what_they_met(
    db: Database, tenant: TenantLogin
) -> None:
    await make_ticket(db, tenant, priority="urgent", status="resolved")
    await make_ticket(db, tenant, priority="urgent", status="closed")
    answered = await make_ticket(db, tenant, priority="urgent")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        row = await session.merge(answered)
        await service.mark_first_response(session, owner_ctx(tenant), row, at(8, 10, 30))
    assert await jobs.check_sla_breaches(db, at(8, 12)) == 0
    assert await jobs.check_sla_breaches(db, at(9, 11)) == 1  # its resolution is late
    [event] = await events_of(db, tenant, "support.sla.breached")
    assert (event["ticket_id"], event["kind"]) == (answered.id, "resolution")


async def test_a_late_first_reply_records_the_breach_at_once_and_only_once(
    db: Database, tenant: TenantLogin
) -> None:
    ticket = await make_ticket(db, tenant, priority="urgent")
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        row = await session.merge(ticket)
        await service.mark_first_response(session, owner_ctx(tenant), row, at(8, 11, 30))
        await service.mark_first_response(session, owner_ctx(tenant), row, at(8, 12))
    reread = await load_ticket(db, tenant, ticket.id)
    assert reread.first_responded_at == at(8, 11, 30)  # the first reply counts
    assert await jobs.check_sla_breaches(db, at(8, 12)) == 0
    [event] = await events_of(db, tenant, "support.sla.breached")
    assert event["kind"] == "first_response"
    assert len(await notifications_of(db, tenant)) == 1


async def test_workers_racing_record_each_breach_once(db: Database, tenant: TenantLogin) -> None:
    await make_ticket(db, tenant, priority="urgent")
    await make_ticket(db, tenant, priority="urgent")
    counts = await asyncio.gather(*(jobs.check_sla_breaches(db, at(9, 12)) for _ in range(3)))
    assert sum(counts) == 4  # two tickets, two kinds each
    assert len(await events_of(db, tenant, "support.sla.breached")) == 4
    assert len(await notifications_of(db, tenant)) == 4


async def test_one_run_reaches_every_ticket_beyond_a_batch(
    db: Database, tenant: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tickets already recorded must not fill the batch and starve the rest.
    monkeypatch.setattr(jobs, "JOB_BATCH", 2)
    first = [await make_ticket(db, tenant, priority="urgent") for _ in range(3)]
    assert await jobs.check_sla_breaches(db, at(8, 12)) == 3
    later = [await make_ticket(db, tenant, priority="urgent") for _ in range(2)]
    assert await jobs.check_sla_breaches(db, at(8, 12, 1)) == 2
    breached = {e["ticket_id"] for e in await events_of(db, tenant, "support.sla.breached")}
    assert breached == {t.id for t in first + later}


async def test_breaches_stay_in_their_tenant(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    mine = await make_ticket(db, tenant, priority="urgent")
    theirs = await make_ticket(db, other_tenant, priority="urgent")
    assert await jobs.check_sla_breaches(db, at(8, 12)) == 2
    assert [e["ticket_id"] for e in await events_of(db, tenant, "support.sla.breached")] == [
        mine.id
    ]
    assert [e["ticket_id"] for e in await events_of(db, other_tenant, "support.sla.breached")] == [
        theirs.id
    ]
    assert [n.user_id for n in await notifications_of(db, other_tenant)] == [other_tenant.user_id]


async def test_the_breach_job_runs_every_minute(db: Database, tenant: TenantLogin) -> None:
    job = registry.job(jobs.BREACH_JOB)
    assert job.every == dt.timedelta(minutes=1)
    await make_ticket(db, tenant, priority="urgent")
    scheduler = Scheduler(db, jobs=[job])
    assert await scheduler.run_due(at(8, 12)) == [jobs.BREACH_JOB]
    assert await scheduler.run_due(at(8, 12, 0) + dt.timedelta(seconds=30)) == []
    assert len(await events_of(db, tenant, "support.sla.breached")) == 1


async def test_a_new_tenant_gets_its_default_policy_once(db: Database, tenant: TenantLogin) -> None:
    event = EventRecord.__new__(EventRecord)  # the handler does not read the event
    for _ in range(2):  # a replayed event changes nothing
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            await sla_handlers.create_default_policy(
                session, system_context(tenant.tenant_id), event
            )
    [policy] = await policies(db, tenant)
    assert policy.is_default and policy.business_hours is not None
    assert MONDAY_10.weekday() == 0
