"""The support desk's copilot tools, called as the copilot calls them (through the
registry, with JSON parameters): ticket counts by status and priority with the ticket
ids behind them, SLA breaches falling due in a range, one ticket by its number. Another
tenant's tickets never count; a caller without ``support:read`` gets 403."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bizos.core.context import Context
from bizos.core.db import Database, utcnow
from bizos.core.errors import Forbidden, NotFound, Unprocessable
from bizos.core.tools import ToolRegistry
from bizos.modules.support.tickets import service as tickets
from bizos.modules.support.tools import TOOLS
from tests.conftest import TenantLogin

READER = frozenset({"support:read"})
NOW = utcnow()


def ctx_for(tenant: TenantLogin, scopes: frozenset[str] = READER) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_type="user", scopes=scopes)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


async def add_ticket(
    db: Database,
    tenant: TenantLogin,
    *,
    opened: dt.datetime,
    status: str = "new",
    priority: str = "normal",
    subject: str = "Where is my order?",
    **fields: Any,
) -> str:
    """A ticket with the customer's first message, opened at ``opened``."""
    ctx = ctx_for(tenant)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        ticket = await tickets.open_ticket(
            s,
            ctx,
            subject=subject,
            channel="email",
            contact_id=None,
            customer_email="ada@example.com",
            priority=priority,
        )
        ticket.created_at = opened
        ticket.status = status
        for name, value in fields.items():
            setattr(ticket, name, value)
        await tickets.add_message(
            s,
            ctx,
            ticket,
            direction="inbound",
            from_address="ada@example.com",
            subject=subject,
            body="Hello, where is my order?",
            header_message_id=f"<{ticket.id}@mail.example>",
            created_at=opened,
        )
        return ticket.id


async def call(db: Database, tenant: TenantLogin, name: str, params: dict[str, Any]) -> Any:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        return await ToolRegistry(TOOLS).call(s, ctx_for(tenant), name, params)


def breach(kind: str, due: dt.datetime) -> dict[str, str]:
    return {"kind": kind, "due_at": due.isoformat(), "detected_at": due.isoformat()}


def day(moment: dt.datetime) -> str:
    return moment.date().isoformat()


async def test_ticket_counts_by_status_and_priority_carry_their_ticket_ids(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    oldest = await add_ticket(db, tenant, opened=ago(20), status="resolved")
    urgent = await add_ticket(db, tenant, opened=ago(10), priority="urgent")
    pending = await add_ticket(db, tenant, opened=ago(5), status="pending", priority="high")
    newest = await add_ticket(db, tenant, opened=ago(1))
    await add_ticket(db, tenant, opened=ago(45))  # before the default 30 days
    await add_ticket(db, other_tenant, opened=ago(2))

    result = await call(db, tenant, "support.ticket_counts", {})

    value = result.value
    assert value.total == 4 == result.records_total
    assert result.records == [oldest, urgent, pending, newest]  # oldest first
    status = {b.key: (b.count, b.ticket_ids) for b in value.by_status}
    assert list(status) == ["new", "open", "pending", "resolved", "closed"]
    assert status["new"] == (2, [urgent, newest])
    assert status["pending"] == (1, [pending]) and status["resolved"] == (1, [oldest])
    assert status["open"] == status["closed"] == (0, [])
    priority = {b.key: b.count for b in value.by_priority}
    assert priority == {"low": 0, "normal": 2, "high": 1, "urgent": 1}
    assert result.filters["from"] == day(ago(29)) and result.filters["to"] == day(NOW)
    assert "created_at" in result.query


async def test_ticket_counts_narrow_by_range_and_filters(db: Database, tenant: TenantLogin) -> None:
    await add_ticket(db, tenant, opened=ago(20), status="resolved")
    urgent = await add_ticket(db, tenant, opened=ago(10), priority="urgent")
    await add_ticket(db, tenant, opened=ago(1))

    week = await call(
        db, tenant, "support.ticket_counts", {"from": day(ago(12)), "to": day(ago(2))}
    )
    assert week.records == [urgent] and week.value.total == 1
    only = await call(db, tenant, "support.ticket_counts", {"priority": "urgent"})
    assert only.records == [urgent] and only.filters["priority"] == "urgent"
    none = await call(db, tenant, "support.ticket_counts", {"status": "closed"})
    assert none.value.total == 0 and none.records == []


async def test_sla_breaches_are_the_targets_missed_in_the_range(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    # Recorded by the breach job (or by a late first reply).
    recorded = await add_ticket(
        db,
        tenant,
        opened=ago(6),
        status="resolved",
        priority="high",
        first_response_due_at=ago(5.9),
        first_responded_at=ago(5),
        sla_breached=True,
        sla_breaches=[breach("first_response", ago(5.9))],
    )
    # Missed a minute ago; the job has not run yet.
    unrecorded = await add_ticket(
        db, tenant, opened=ago(1), first_response_due_at=NOW - dt.timedelta(minutes=1)
    )
    # Answered in time, resolved before its due time ran out: no breach.
    await add_ticket(
        db,
        tenant,
        opened=ago(3),
        status="resolved",
        first_response_due_at=ago(2.9),
        first_responded_at=ago(2.95),
        resolution_due_at=ago(1),
    )
    # Open, its targets still ahead.
    await add_ticket(db, tenant, opened=ago(0.1), first_response_due_at=NOW + dt.timedelta(hours=2))
    # Due long ago, outside the range.
    await add_ticket(
        db,
        tenant,
        opened=ago(80),
        status="closed",
        sla_breached=True,
        sla_breaches=[breach("resolution", ago(79))],
    )
    await add_ticket(
        db,
        other_tenant,
        opened=ago(2),
        sla_breached=True,
        sla_breaches=[breach("first_response", ago(1.5))],
    )

    result = await call(db, tenant, "support.sla_breaches", {})

    found = [(b.ticket_id, b.kind, b.recorded) for b in result.value.breaches]
    assert found == [(recorded, "first_response", True), (unrecorded, "first_response", False)]
    assert result.records == [recorded, unrecorded]
    assert result.value.by_kind == {"first_response": 2, "resolution": 0}
    assert result.value.breaches[0].number.startswith("T-")
    assert result.value.breaches[0].due_at == ago(5.9)

    old = await call(
        db, tenant, "support.sla_breaches", {"from": day(ago(90)), "kind": "resolution"}
    )
    assert [(b.kind, b.status) for b in old.value.breaches] == [("resolution", "closed")]
    high = await call(db, tenant, "support.sla_breaches", {"priority": "high"})
    assert high.records == [recorded]


@pytest.mark.parametrize("number", ["T-000001", "t-1", "1", "[T-000001]", "#1", " T-000001 "])
async def test_a_ticket_is_found_by_its_number_however_it_is_written(
    db: Database, tenant: TenantLogin, number: str
) -> None:
    ticket_id = await add_ticket(db, tenant, opened=ago(1), subject="Broken grinder")

    result = await call(db, tenant, "support.ticket_lookup", {"number": number})

    assert result.value.id == ticket_id and result.value.number == "T-000001"
    assert result.value.subject == "Broken grinder"
    [message] = result.value.messages
    assert result.records == [ticket_id, message.id] and result.records_total == 2
    assert result.filters == {"number": "T-000001"}


async def test_another_tenants_ticket_number_is_not_found(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await add_ticket(db, other_tenant, opened=ago(1))
    with pytest.raises(NotFound):
        await call(db, tenant, "support.ticket_lookup", {"number": "T-000001"})
    await add_ticket(db, tenant, opened=ago(1))
    with pytest.raises(NotFound):
        await call(db, tenant, "support.ticket_lookup", {"number": "T-000002"})


@pytest.mark.parametrize(
    ("name", "params", "loc"),
    [
        ("support.ticket_lookup", {"number": "order 42"}, ["params"]),
        ("support.ticket_lookup", {}, ["params", "number"]),
        ("support.ticket_counts", {"status": "lost"}, ["params", "status"]),
        ("support.ticket_counts", {"from": "2026-05-01", "to": "2026-04-01"}, ["params", "to"]),
        ("support.ticket_counts", {"currency": "EUR"}, ["params", "currency"]),
        ("support.sla_breaches", {"kind": "late"}, ["params", "kind"]),
        ("support.sla_breaches", {"from": "2010-01-01", "to": "2026-01-01"}, ["params"]),
    ],
)
async def test_bad_parameters_are_422_with_their_paths(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any], loc: list[str]
) -> None:
    with pytest.raises(Unprocessable) as bad:
        await call(db, tenant, name, params)
    assert bad.value.errors and bad.value.errors[0]["loc"] == loc


async def test_the_tools_need_support_read(db: Database, tenant: TenantLogin) -> None:
    tools = ToolRegistry(TOOLS)
    assert [t.name for t in tools.available({"support:read"})] == [
        "support.first_response",
        "support.sla_breaches",
        "support.ticket_counts",
        "support.ticket_lookup",
    ]
    assert tools.available({"support:write", "kb:read"}) == []
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        for name in tools.names():
            with pytest.raises(Forbidden):
                await tools.call(s, ctx_for(tenant, frozenset({"kb:read"})), name, {})
