"""The query cache's contract, held by both stores: in-process and Redis (when
``BIZOS_TEST_REDIS_URL`` is set, as in CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from bizos.modules.copilot.cache import MemoryQueryCache, QueryCache, RedisQueryCache

REDIS_URL = os.environ.get("BIZOS_TEST_REDIS_URL", "")
BACKENDS = [
    "memory",
    pytest.param(
        "redis",
        marks=pytest.mark.skipif(not REDIS_URL, reason="BIZOS_TEST_REDIS_URL is not set"),
    ),
]


@pytest.fixture(params=BACKENDS)
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[QueryCache]:
    if request.param == "memory":
        yield MemoryQueryCache()
        return
    store = RedisQueryCache.from_url(REDIS_URL)
    yield store
    await store.clear()


async def test_what_is_put_is_got_back_as_a_copy(cache: QueryCache) -> None:
    key = f"cache:query:t-{uuid.uuid4().hex}:k"
    body = {"answer": "Revenue was $25.00.", "figures": [{"value": "25.00"}]}
    await cache.put(key, body)
    got = await cache.get(key)
    assert got == body
    assert got is not body


async def test_an_unknown_key_is_a_miss(cache: QueryCache) -> None:
    assert await cache.get(f"cache:query:t-{uuid.uuid4().hex}:none") is None


async def test_an_entry_expires() -> None:
    cache = MemoryQueryCache(ttl=0)
    await cache.put("cache:query:t:k", {"answer": "x"})
    assert await cache.get("cache:query:t:k") is None


async def test_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    cache = RedisQueryCache.from_url("redis://127.0.0.1:1/0")
    await cache.put("cache:query:t:k", {"answer": "x"})
    assert await cache.get("cache:query:t:k") is None
