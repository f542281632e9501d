"""The query cache: a repeated question is served from the cache, and a new order makes
the next answer fresh (never stale); answers are never shared across scopes or tenants."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from bizos.modules.copilot.cache import (
    MemoryQueryCache,
    normalised,
    query_key,
    use_query_cache,
)
from tests.conftest import TenantLogin
from tests.modules.commerce.orders.helpers import add_product
from tests.modules.copilot.helpers import ask, place_order
from tests.modules.events.helpers import key_headers

QUESTION = "What's my revenue this month?"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[MemoryQueryCache]:
    cache = MemoryQueryCache()
    use_query_cache(cache)
    yield cache
    use_query_cache(None)


def revenue(answer: dict[str, object]) -> Decimal:
    figures = answer["figures"]
    assert isinstance(figures, list) and figures
    return Decimal(str(figures[0]["value"]))


async def test_a_new_order_is_never_answered_from_a_stale_cache(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "MUG-1", price="12.50", stock=50)
    await place_order(client, tenant.headers, "MUG-1", 2)

    first = await ask(client, tenant.headers, QUESTION)
    again = await ask(client, tenant.headers, "what's my revenue this month")
    assert first["cached"] is False and again["cached"] is True
    assert revenue(first) == revenue(again) == Decimal("25.00")

    await place_order(client, tenant.headers, "MUG-1", 1)
    after = await ask(client, tenant.headers, QUESTION)

    assert after["cached"] is False
    assert revenue(after) == Decimal("37.50")


async def test_a_cached_answer_is_still_a_turn_of_the_conversation(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await ask(client, tenant.headers, QUESTION)
    again = await ask(client, tenant.headers, QUESTION, conversation_id=first["conversation_id"])
    assert again["cached"] is True
    r = await client.get(
        f"/api/v1/copilot/conversations/{first['conversation_id']}", headers=tenant.headers
    )
    assert len(r.json()["turns"]) == 2


async def test_an_answer_is_not_shared_with_a_caller_of_other_scopes(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "MUG-1", price="12.50")
    await place_order(client, tenant.headers, "MUG-1", 2)
    await ask(client, tenant.headers, QUESTION)
    narrow = await key_headers(client, tenant, ["copilot:read", "kb:read"])

    answer = await ask(client, narrow, QUESTION)

    assert answer["cached"] is False
    assert answer["figures"] == []


async def test_tenants_never_share_a_cached_answer(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    await add_product(client, tenant, "MUG-1", price="12.50")
    await place_order(client, tenant.headers, "MUG-1", 2)
    await ask(client, tenant.headers, QUESTION)
    theirs = await ask(client, other_tenant.headers, QUESTION)
    assert theirs["cached"] is False
    assert all(Decimal(str(f["value"])) != Decimal("25.00") for f in theirs["figures"])


def test_the_key_names_the_tenant_and_hashes_the_rest() -> None:
    key = query_key("t1", question=normalised("  What's my  Revenue?? "), sequence=4)
    assert key.startswith("cache:query:t1:")
    assert key == query_key("t1", question="what's my revenue", sequence=4)
    assert key != query_key("t1", question="what's my revenue", sequence=5)
    assert key != query_key("t2", question="what's my revenue", sequence=4)


async def test_the_memory_cache_forgets_the_least_recent() -> None:
    cache = MemoryQueryCache(max_entries=2)
    for name in ("a", "b", "c"):
        await cache.put(name, {"v": name})
    assert await cache.get("a") is None
    assert await cache.get("c") == {"v": "c"}
