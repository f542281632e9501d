"""The support desk's tools in words, and the first-response time: the median and mean
hours from a ticket's opening to the first agent reply, over the tickets opened in the
range, checked against the hours this test gave them and against SQL; every number an
answer writes is one of its figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.core.errors import Forbidden, Unprocessable
from bizos.core.phrases import between_text
from bizos.core.tools import Said, ToolRegistry, ToolResult
from bizos.modules.support.tickets.models import Ticket
from bizos.modules.support.tools import TOOLS
from tests.conftest import TenantLogin
from tests.modules.said import assert_backed, figure
from tests.modules.support.test_tools import NOW, add_ticket, ago, breach, ctx_for, day

REGISTRY = ToolRegistry(TOOLS)


async def call(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any]
) -> tuple[ToolResult, Said]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        result = await REGISTRY.call(s, ctx_for(tenant), name, params)
    tool = REGISTRY.get(name)
    assert tool.speak is not None
    return result, tool.speak(REGISTRY.validated(name, params), result)


async def answered(
    db: Database, tenant: TenantLogin, *, opened_days_ago: float, hours: float | None, **kw: Any
) -> str:
    opened = ago(opened_days_ago)
    responded = opened + dt.timedelta(hours=hours) if hours is not None else None
    return await add_ticket(db, tenant, opened=opened, first_responded_at=responded, **kw)


async def test_first_response_time_is_the_median_and_mean_hours_to_the_first_reply(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    quick = await answered(db, tenant, opened_days_ago=10, hours=1)
    slow = await answered(db, tenant, opened_days_ago=5, hours=6.5, priority="high")
    middling = await answered(db, tenant, opened_days_ago=3, hours=2.25)
    await answered(db, tenant, opened_days_ago=1, hours=None)  # still waiting
    await answered(db, tenant, opened_days_ago=60, hours=100)  # opened before the range
    await answered(db, other_tenant, opened_days_ago=2, hours=50)

    result, said = await call(db, tenant, "support.first_response", {})

    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        [(opened, responded)] = (
            await s.execute(
                sa.text(
                    "SELECT count(*), count(first_responded_at) FROM support_tickets "
                    "WHERE tenant_id = :t AND created_at >= :start"
                ).bindparams(sa.bindparam("start", type_=Ticket.__table__.c.created_at.type)),
                {"t": tenant.tenant_id, "start": ago(29.99)},
            )
        ).all()
    value = result.value
    assert (value.opened, value.responded, value.awaiting) == (opened, responded, 1) == (4, 3, 1)
    assert value.median_hours == Decimal("2.25")
    assert value.average_hours == Decimal("3.25")  # (1 + 6.5 + 2.25) / 3
    assert result.records == [quick, slow, middling] and result.records_total == 3
    assert_backed(said)
    start = (NOW - dt.timedelta(days=29)).date()
    assert said.text == (
        f"Of the 4 tickets opened {between_text(start, NOW.date())}, 3 have had a first response: "
        "median 2.25 hours, average 3.25 hours; 1 is still waiting."
    )
    assert figure(said, "median first-response time") == Decimal("2.25")

    high, said = await call(db, tenant, "support.first_response", {"priority": "high"})
    assert high.value.median_hours == high.value.average_hours == Decimal("6.50")
    assert said.text.startswith("Of the 1 high-priority ticket opened")
    assert_backed(said)
    quiet, said = await call(
        db, tenant, "support.first_response", {"from": day(ago(200)), "to": day(ago(100))}
    )
    assert quiet.value.opened == 0 and quiet.value.median_hours is None
    assert said.text.startswith("No tickets were opened between ")


async def test_ticket_counts_and_breaches_said_in_words(db: Database, tenant: TenantLogin) -> None:
    await add_ticket(db, tenant, opened=ago(3), priority="urgent")
    await add_ticket(db, tenant, opened=ago(2), status="pending")
    late = await add_ticket(
        db,
        tenant,
        opened=ago(6),
        subject="Grinder broke after 3 days",
        sla_breached=True,
        sla_breaches=[breach("first_response", ago(5.9))],
    )

    counts, said = await call(db, tenant, "support.ticket_counts", {})
    assert counts.value.total == 3
    assert_backed(said)
    assert said.text.endswith("By status: new 2; pending 1. By priority: normal 2; urgent 1.")

    breaches, said = await call(db, tenant, "support.sla_breaches", {})
    assert breaches.records == [late]
    assert_backed(said)
    assert said.text.endswith(f"on 1 ticket: T-000003 (first response due {day(ago(5.9))}).")
    assert said.text.startswith("1 SLA target was missed between ")
    assert said.sources[0].title == "T-000003 Grinder broke after 3 days"

    none, said = await call(db, tenant, "support.ticket_counts", {"status": "closed"})
    assert none.value.total == 0 and said.text.startswith("No tickets (status closed) were opened")


async def test_a_ticket_is_said_with_its_state_and_messages(
    db: Database, tenant: TenantLogin
) -> None:
    ticket_id = await add_ticket(
        db, tenant, opened=ago(2), subject="Order 1042 never came", priority="high"
    )
    result, said = await call(db, tenant, "support.ticket_lookup", {"number": "1"})
    assert result.value.id == ticket_id
    assert_backed(said)  # 1042 is part of the ticket's title
    assert said.text.startswith(
        f"T-000001 (Order 1042 never came) is new with high priority, opened on {day(ago(2))}; "
        f"it has 1 message, the last from the customer on {day(ago(2))}."
    )
    assert said.sources[0].type == "ticket" and said.sources[0].id == ticket_id


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"priority": "asap"}, ["params", "priority"]),
        ({"from": "2026-05-01", "to": "2026-04-01"}, ["params", "to"]),
        ({"status": "open"}, ["params", "status"]),
    ],
)
async def test_first_response_refuses_bad_parameters(
    db: Database, tenant: TenantLogin, params: dict[str, Any], loc: list[str]
) -> None:
    with pytest.raises(Unprocessable) as bad:
        await call(db, tenant, "support.first_response", params)
    assert bad.value.errors[0]["loc"] == loc


async def test_every_support_tool_speaks_and_first_response_needs_support_read(
    db: Database, tenant: TenantLogin
) -> None:
    assert all(t.speak is not None for t in REGISTRY.available({"support:read"}))
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        with pytest.raises(Forbidden):
            await REGISTRY.call(
                s, ctx_for(tenant, frozenset({"crm:read"})), "support.first_response", {}
            )
