"""Allocation as orders use it: all-or-nothing, never more than is available however
many orders race for the last units, released and shipped once per order — and the
ledger always balancing with the counters."""

from __future__ import annotations

import asyncio

import pytest

from bizos.core.db import Database
from bizos.core.errors import Conflict
from bizos.core.ids import new_id
from bizos.core.pagination import PageParams
from bizos.modules.commerce.inventory import service
from tests.conftest import TenantLogin
from tests.modules.commerce.inventory.helpers import (
    assert_ledger_balances,
    counters,
    make_product,
    owner_ctx,
)


async def allocate(
    db: Database, tenant: TenantLogin, order_id: str, lines: list[tuple[str, int]]
) -> bool:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        return await service.allocate_lines(
            session, owner_ctx(tenant), order_id=order_id, lines=lines
        )


async def release(
    db: Database, tenant: TenantLogin, order_id: str, lines: list[tuple[str, int]]
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.release_lines(session, owner_ctx(tenant), order_id=order_id, lines=lines)


async def ship(
    db: Database, tenant: TenantLogin, order_id: str, lines: list[tuple[str, int]]
) -> None:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
        await service.ship_lines(session, owner_ctx(tenant), order_id=order_id, lines=lines)


async def test_concurrent_orders_never_oversell(db: Database, tenant: TenantLogin) -> None:
    mug = await make_product(db, tenant, stock=10)

    results = await asyncio.gather(*(allocate(db, tenant, new_id(), [(mug, 1)]) for _ in range(60)))

    assert results.count(True) == 10
    assert results.count(False) == 50
    assert await counters(db, tenant, mug) == (10, 10)
    await assert_ledger_balances(db, tenant, mug)


async def test_concurrent_multi_line_orders_are_all_or_nothing(
    db: Database, tenant: TenantLogin
) -> None:
    # Each order wants one mug and two plates: 10 mugs but only 12 plates means six
    # orders can be served; a refused one must not keep its mug.
    mug = await make_product(db, tenant, sku="MUG", stock=10)
    plate = await make_product(db, tenant, sku="PLATE", stock=12)
    orders = [[(mug, 1), (plate, 2)] if i % 2 else [(plate, 2), (mug, 1)] for i in range(50)]

    results = await asyncio.gather(*(allocate(db, tenant, new_id(), o) for o in orders))

    assert results.count(True) == 6
    assert await counters(db, tenant, mug) == (10, 6)
    assert await counters(db, tenant, plate) == (12, 12)
    await assert_ledger_balances(db, tenant, mug)
    await assert_ledger_balances(db, tenant, plate)


async def test_an_order_short_on_one_line_holds_nothing(db: Database, tenant: TenantLogin) -> None:
    mug = await make_product(db, tenant, sku="MUG", stock=10)
    plate = await make_product(db, tenant, sku="PLATE", stock=1)

    assert await allocate(db, tenant, new_id(), [(mug, 3), (plate, 2)]) is False

    assert await counters(db, tenant, mug) == (10, 0)
    assert await counters(db, tenant, plate) == (1, 0)
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as session:
        moves, _ = await service.list_movements(
            session, owner_ctx(tenant), mug, page=PageParams(limit=10)
        )
    assert [m.kind for m in moves] == ["initial"]


async def test_an_order_is_allocated_released_and_shipped_once(
    db: Database, tenant: TenantLogin
) -> None:
    mug = await make_product(db, tenant, stock=10)
    order = new_id()

    assert await allocate(db, tenant, order, [(mug, 2), (mug, 1)])
    assert await allocate(db, tenant, order, [(mug, 3)])  # a retry allocates nothing more
    assert await counters(db, tenant, mug) == (10, 3)

    await ship(db, tenant, order, [(mug, 3)])
    await ship(db, tenant, order, [(mug, 3)])  # a retry ships nothing more
    assert await counters(db, tenant, mug) == (7, 0)
    await release(db, tenant, order, [(mug, 3)])  # shipped: nothing left to release
    assert await counters(db, tenant, mug) == (7, 0)
    await assert_ledger_balances(db, tenant, mug)


async def test_a_cancelled_order_gives_its_stock_back_once(
    db: Database, tenant: TenantLogin
) -> None:
    mug = await make_product(db, tenant, stock=5)
    order = new_id()
    assert await allocate(db, tenant, order, [(mug, 4)])
    assert await allocate(db, tenant, new_id(), [(mug, 2)]) is False

    await release(db, tenant, order, [(mug, 4)])
    await release(db, tenant, order, [(mug, 4)])

    assert await counters(db, tenant, mug) == (5, 0)
    assert await allocate(db, tenant, new_id(), [(mug, 2)])
    await assert_ledger_balances(db, tenant, mug)


async def test_stock_held_by_orders_cannot_be_corrected_away(
    db: Database, tenant: TenantLogin
) -> None:
    mug = await make_product(db, tenant, stock=10)
    assert await allocate(db, tenant, new_id(), [(mug, 8)])

    with pytest.raises(Conflict, match="8 of them allocated"):
        async with db.unit_of_work(tenant_id=tenant.tenant_id) as session:
            await service.receive_stock(
                session, owner_ctx(tenant), mug, quantity=-3, kind="adjustment"
            )

    assert await counters(db, tenant, mug) == (10, 8)
    await assert_ledger_balances(db, tenant, mug)


async def test_shipping_what_an_order_does_not_hold_is_refused(
    db: Database, tenant: TenantLogin
) -> None:
    mug = await make_product(db, tenant, stock=10)
    with pytest.raises(Conflict, match="holds 0 units"):
        await ship(db, tenant, new_id(), [(mug, 1)])
    assert await counters(db, tenant, mug) == (10, 0)


async def test_services_need_no_stock(db: Database, tenant: TenantLogin) -> None:
    consulting = await make_product(db, tenant, sku="CONSULT", stock=0, tracks_stock=False)
    assert await allocate(db, tenant, new_id(), [(consulting, 5)])
    assert await counters(db, tenant, consulting) == (0, 0)
