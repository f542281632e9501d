"""The query cache: an answer kept under its tenant and what it depends on.

The key (``cache:query:{tenant}:{hash}``) hashes the normalised question, its parsed
entities (conversation-independent: a follow-up's are already resolved to dates and
names), the tenant's day, the caller's scope set, the caller's id when the answer is
theirs ("my tasks"), and the tenant's newest event-log sequence. Every change that moves
a figure (an order, a payment, an expense) appends an event, so after it the same
question has a new key and is answered afresh: never stale, with nothing to invalidate.

Two stores behind one small protocol: in-process LRU (one node, the default) and Redis
(``BIZOS_REDIS_URL``, shared by every node). Both expire entries after ``ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis

log = structlog.get_logger("bizos.copilot.cache")

TTL_SECONDS = 600
MAX_ENTRIES = 2000


def normalised(question: str) -> str:
    """Lower case, single spaces, no trailing punctuation: "What's my revenue?" and
    "what's my  revenue" are one question."""
    text = re.sub(r"\s+", " ", question.strip().lower())
    return text.rstrip("?!. ")


def query_key(tenant_id: str, **parts: Any) -> str:
    """``cache:query:{tenant}:{hash}`` of everything the answer depends on."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    digest = hashlib.sha256(blob.encode()).hexdigest()[:32]
    return f"cache:query:{tenant_id}:{digest}"


class QueryCache(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any]) -> None: ...

    async def clear(self) -> None: ...


class MemoryQueryCache:
    """In-process LRU with expiry."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, ttl: float = TTL_SECONDS) -> None:
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl

    async def get(self, key: str) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        self._entries.move_to_end(key)
        value: dict[str, Any] = json.loads(entry[1])
        return value

    async def put(self, key: str, value: dict[str, Any]) -> None:
        # Stored as JSON: a hit is a copy, never an object a caller could change.
        self._entries[key] = (time.monotonic() + self._ttl, json.dumps(value, default=str))
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def clear(self) -> None:
        self._entries.clear()


class RedisQueryCache:
    """Shared by every node; a Redis failure is a miss, never an error."""

    def __init__(self, client: Redis, *, ttl: int = TTL_SECONDS) -> None:
        self._client = client
        self._ttl = ttl

    @classmethod
    def from_url(cls, url: str) -> RedisQueryCache:
        return cls(Redis.from_url(url))

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = await self._client.get(key)
        except Exception:  # the cache is an optimisation: a down Redis costs a recompute
            log.warning("copilot.cache.unavailable")
            return None
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return value

    async def put(self, key: str, value: dict[str, Any]) -> None:
        try:
            await self._client.set(key, json.dumps(value, default=str), ex=self._ttl)
        except Exception:
            log.warning("copilot.cache.unavailable")

    async def clear(self) -> None:
        try:
            async for key in self._client.scan_iter(match="cache:query:*"):
                await self._client.delete(key)
        except Exception:
            log.warning("copilot.cache.unavailable")


_cache: QueryCache | None = None


def query_cache(redis_url: str | None = None) -> QueryCache:
    """The process's cache: Redis when a URL is configured, else in-process."""
    global _cache
    if _cache is None:
        _cache = RedisQueryCache.from_url(redis_url) if redis_url else MemoryQueryCache()
    return _cache


def use_query_cache(cache: QueryCache | None) -> None:
    """Swap the cache (tests; a new configuration)."""
    global _cache
    _cache = cache
