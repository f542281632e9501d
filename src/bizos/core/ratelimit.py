"""Rate limiting with GCRA (the generic cell rate algorithm).

GCRA keeps one number per key, the *theoretical arrival time* (TAT): the moment the key's
quota would be fully restored. A request at ``now`` is allowed if ``TAT + interval -
period <= now``; allowed requests push the TAT forward by ``interval = period / limit``.
So a key may burst ``limit`` requests and then earns one request every ``interval`` — a
smooth sliding window without per-request bookkeeping.

Two backends pass the same contract suite (``tests/core/test_ratelimit.py``): an
in-process one (the default, for one node) and a Redis one (shared by every API node) that
runs the same arithmetic atomically in a Lua script on the Redis clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog
from redis.asyncio import Redis

from bizos.core.config import Settings

log = structlog.get_logger("bizos.ratelimit")

_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The answer for one request, with what the ``RateLimit-*`` headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the whole quota is available again
    retry_after: float  # seconds until a request would be allowed; 0 when allowed

    @property
    def reset_seconds(self) -> int:
        return max(0, math.ceil(self.reset_after))

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after))


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, period: float = 60.0) -> RateLimitDecision:
        """Count one request for ``key`` against ``limit`` requests per ``period`` seconds."""
        ...

    async def close(self) -> None: ...


def _gcra(
    tat: float | None, now: float, limit: int, period: float
) -> tuple[RateLimitDecision, float]:
    """One GCRA step; returns the decision and the TAT to store (unchanged when refused)."""
    interval = period / limit
    tat = now if tat is None or tat < now else tat
    new_tat = tat + interval
    allow_at = new_tat - period
    # A microsecond of tolerance: float rounding must not refuse the last request of a burst.
    if allow_at - now > _TOLERANCE:
        decision = RateLimitDecision(
            allowed=False,
            limit=limit,
            remaining=0,
            reset_after=tat - now,
            retry_after=allow_at - now,
        )
        return decision, tat
    remaining = max(0, min(limit - 1, math.floor((now - allow_at) / interval + 1e-6)))
    decision = RateLimitDecision(
        allowed=True, limit=limit, remaining=remaining, reset_after=new_tat - now, retry_after=0.0
    )
    return decision, new_tat


class InProcessRateLimiter:
    """GCRA in this process's memory: exact for one node, forgotten on restart."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, *, limit: int, period: float = 60.0) -> RateLimitDecision:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        now = self._clock()
        decision, tat = _gcra(self._tats.get(key), now, limit, period)
        self._tats[key] = tat
        if len(self._tats) > self._max_keys:
            self._forget_idle(now)
        return decision

    def _forget_idle(self, now: float) -> None:
        # A key whose TAT has passed has its full quota back: forgetting it changes nothing.
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]

    async def close(self) -> None:
        self._tats.clear()


# Times in microseconds on the Redis server's clock, so every API node agrees on "now".
_GCRA_LUA = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if allow_at - now > 1 then
  return {0, 0, math.ceil(tat - now), math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
           math.max(1, math.ceil((new_tat - now) / 1000)))
local remaining = math.floor((now - allow_at) / interval + 0.000001)
if remaining > limit - 1 then remaining = limit - 1 end
if remaining < 0 then remaining = 0 end
return {1, remaining, math.ceil(new_tat - now), 0}
"""


class RedisRateLimiter:
    """GCRA in Redis, one atomic script call per request, shared by every node."""

    def __init__(self, client: Redis, *, prefix: str = "bizos:rl:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_GCRA_LUA)

    @classmethod
    def from_url(cls, url: str, **kw: str) -> RedisRateLimiter:
        return cls(Redis.from_url(url), **kw)

    async def hit(self, key: str, *, limit: int, period: float = 60.0) -> RateLimitDecision:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        period_us = int(period * 1_000_000)
        allowed, remaining, reset_us, retry_us = await self._script(
            keys=[self._prefix + key], args=[limit, period_us]
        )
        return RateLimitDecision(
            allowed=bool(allowed),
            limit=limit,
            remaining=int(remaining),
            reset_after=int(reset_us) / 1_000_000,
            retry_after=int(retry_us) / 1_000_000,
        )

    async def close(self) -> None:
        await self._client.aclose()


def rate_limiter_for(settings: Settings) -> RateLimiter:
    """Redis when ``BIZOS_REDIS_URL`` is set (several nodes share limits), else in-process."""
    if settings.redis_url:
        log.info("ratelimit.backend", backend="redis")
        return RedisRateLimiter.from_url(settings.redis_url)
    return InProcessRateLimiter()
