"""Gapless per-tenant number series: consecutive under concurrency, no gap on rollback,
separate per tenant and per series."""

from __future__ import annotations

import asyncio

import pytest

from bizos.core.db import Database
from bizos.core.sequences import format_number, next_value
from tests.conftest import TenantLogin


class Boom(Exception):
    pass


async def take(db: Database, tenant_id: str, name: str) -> int:
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        return await next_value(s, tenant_id, name)


async def test_concurrent_takers_get_distinct_consecutive_numbers(
    db: Database, tenant: TenantLogin
) -> None:
    numbers = await asyncio.gather(*(take(db, tenant.tenant_id, "invoice") for _ in range(30)))
    assert sorted(numbers) == list(range(1, 31))


async def test_a_rolled_back_transaction_gives_its_number_back(
    db: Database, tenant: TenantLogin
) -> None:
    assert await take(db, tenant.tenant_id, "invoice") == 1
    with pytest.raises(Boom):
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
            assert await next_value(s, tenant.tenant_id, "invoice") == 2
            raise Boom
    assert await take(db, tenant.tenant_id, "invoice") == 2


async def test_series_are_separate_per_tenant_and_per_name(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    assert await take(db, tenant.tenant_id, "invoice") == 1
    assert await take(db, tenant.tenant_id, "invoice") == 2
    assert await take(db, tenant.tenant_id, "order") == 1
    assert await take(db, other_tenant.tenant_id, "invoice") == 1


def test_numbers_are_zero_padded_with_a_prefix() -> None:
    assert format_number("INV", 42) == "INV-000042"
    assert format_number("CN", 1234567) == "CN-1234567"
