"""Orders counted by status: with ``status`` the count is exactly the orders in that
status (cancelled, failed and backordered included when asked for), checked against SQL;
without it the revenue rule still leaves cancelled and failed out."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bizos.core.db import Database
from bizos.modules.commerce.metrics import service as metrics
from bizos.modules.commerce.models import Order
from bizos.modules.commerce.tools import speak_orders
from tests.conftest import TenantLogin
from tests.modules.commerce.test_metrics import FEB_END, JAN, run, seed_other_shop, seed_shop


async def counted_by_sql(db: Database, tenant: TenantLogin, status: str) -> int:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        n = await s.scalar(
            sa.select(sa.func.count())
            .select_from(Order)
            .where(
                Order.tenant_id == tenant.tenant_id,
                Order.status == status,
                Order.placed_at >= start,
                Order.placed_at < end,
            )
        )
        return int(n or 0)


@pytest.mark.parametrize("status", ["cancelled", "failed", "fulfilled", "received", "backordered"])
async def test_a_status_counts_exactly_those_orders(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin, status: str
) -> None:
    await seed_shop(db, tenant.tenant_id)
    await seed_other_shop(db, other_tenant.tenant_id)
    params = metrics.OrdersParams.model_validate({"from": JAN, "to": FEB_END, "status": status})
    result = await run(db, tenant, metrics.orders_summary, params)
    assert result.value.order_count == await counted_by_sql(db, tenant, status)
    assert result.filters["status"] == status and result.filters["excluded_statuses"] == []
    said = speak_orders(params, result)
    assert f"with status {status}" in said.text


async def test_without_a_status_cancelled_and_failed_stay_out(
    db: Database, tenant: TenantLogin
) -> None:
    await seed_shop(db, tenant.tenant_id)
    params = metrics.OrdersParams.model_validate({"from": JAN, "to": FEB_END})
    result = await run(db, tenant, metrics.orders_summary, params)
    cancelled = await counted_by_sql(db, tenant, "cancelled")
    failed = await counted_by_sql(db, tenant, "failed")
    assert cancelled == 1 and failed == 1
    assert result.value.order_count == 4
    assert result.filters["excluded_statuses"] == ["cancelled", "failed"]


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError):
        metrics.OrdersParams.model_validate({"from": JAN, "to": FEB_END, "status": "lost"})
