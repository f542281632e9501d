"""Expenses landing on one budget at the same time: every amount counts (the spent
total is an SQL increment, never read-modify-write) and the crossing alerts once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import sqlalchemy as sa

from bizos.core.context import system_context
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.finance import service
from tests.conftest import TenantLogin
from tests.modules.finance.helpers import get_budget, post_budget, this_month


async def test_concurrent_expenses_lose_no_update_and_alert_once(
    client: httpx.AsyncClient, db: Database, tenant: TenantLogin
) -> None:
    budget = await post_budget(client, tenant, amount="100.00")
    ctx = system_context(tenant.tenant_id)

    async def one_expense(i: int) -> None:
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            await service.record_expense(
                session,
                ctx,
                category="marketing",
                amount=Decimal("7.50"),
                currency="USD",
                spent_on=this_month(2),
                description=f"ad {i}",
            )

    await asyncio.gather(*(one_expense(i) for i in range(20)))

    read = await get_budget(client, tenant, budget["id"])
    assert read["spent"] == "150.00"
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        alerts = await session.scalar(
            sa.select(sa.func.count()).where(Event.type == "finance.budget.exceeded")
        )
    assert alerts == 1
