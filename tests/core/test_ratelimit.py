"""The rate limiter contract: the in-process and the Redis limiter behave the same.

The in-process limiter runs on a fake clock; the Redis one runs on the Redis server's
clock, so its tests wait real (short) periods. Redis tests need ``BIZOS_TEST_REDIS_URL``
(e.g. ``redis://127.0.0.1:6379/15``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from bizos.core.config import Settings
from bizos.core.ratelimit import (
    InProcessRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    rate_limiter_for,
)

REDIS_URL = os.environ.get("BIZOS_TEST_REDIS_URL", "")
# Short periods keep the Redis variant's real waits brief.
PERIOD = 0.6
LIMIT = 3


@dataclass
class Subject:
    limiter: RateLimiter
    wait: Callable[[float], Awaitable[None]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(
    params=[
        "in_process",
        pytest.param(
            "redis",
            marks=[
                pytest.mark.redis,
                pytest.mark.skipif(not REDIS_URL, reason="BIZOS_TEST_REDIS_URL is not set"),
            ],
        ),
    ]
)
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "in_process":
        clock = FakeClock()

        async def advance(seconds: float) -> None:
            clock.now += seconds

        limiter = InProcessRateLimiter(clock=clock)
        yield Subject(limiter, advance)
        await limiter.close()
    else:
        redis_limiter = RedisRateLimiter(
            Redis.from_url(REDIS_URL), prefix=f"test:{uuid.uuid4().hex}:"
        )

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(seconds)

        yield Subject(redis_limiter, sleep)
        await redis_limiter.close()


async def test_a_burst_up_to_the_limit_is_allowed_then_refused(subject: Subject) -> None:
    decisions = [await subject.limiter.hit("k", limit=LIMIT, period=PERIOD) for _ in range(LIMIT)]
    assert [d.allowed for d in decisions] == [True] * LIMIT
    assert [d.remaining for d in decisions] == list(range(LIMIT - 1, -1, -1))
    assert all(d.limit == LIMIT for d in decisions)

    refused = await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)
    assert not refused.allowed
    assert refused.remaining == 0
    assert 0 < refused.retry_after <= PERIOD / LIMIT + 0.01
    assert refused.retry_after_seconds >= 1


async def test_keys_are_counted_separately(subject: Subject) -> None:
    for _ in range(LIMIT):
        await subject.limiter.hit("alice", limit=LIMIT, period=PERIOD)
    assert not (await subject.limiter.hit("alice", limit=LIMIT, period=PERIOD)).allowed
    bob = await subject.limiter.hit("bob", limit=LIMIT, period=PERIOD)
    assert bob.allowed
    assert bob.remaining == LIMIT - 1


async def test_after_the_retry_after_one_more_request_is_allowed(subject: Subject) -> None:
    for _ in range(LIMIT):
        await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)
    refused = await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)
    await subject.wait(refused.retry_after + 0.02)
    again = await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)
    assert again.allowed
    assert again.remaining == 0


async def test_refused_requests_do_not_push_the_wait_further(subject: Subject) -> None:
    for _ in range(LIMIT):
        await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)
    first_refusal = await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)
    for _ in range(5):
        assert not (await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)).allowed
    await subject.wait(first_refusal.retry_after + 0.02)
    assert (await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)).allowed


async def test_the_whole_quota_returns_after_the_reset(subject: Subject) -> None:
    last = None
    for _ in range(LIMIT):
        last = await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)
    assert last is not None
    assert 0 < last.reset_after <= PERIOD + 0.01
    await subject.wait(last.reset_after + 0.02)
    fresh = await subject.limiter.hit("k", limit=LIMIT, period=PERIOD)
    assert fresh.allowed
    assert fresh.remaining == LIMIT - 1


async def test_a_limit_below_one_is_a_programming_error(subject: Subject) -> None:
    with pytest.raises(ValueError):
        await subject.limiter.hit("k", limit=0, period=PERIOD)


def test_redis_is_used_only_when_configured() -> None:
    assert isinstance(rate_limiter_for(Settings(redis_url=None)), InProcessRateLimiter)
    assert isinstance(
        rate_limiter_for(Settings(redis_url="redis://127.0.0.1:6379/15")), RedisRateLimiter
    )


async def test_idle_keys_are_forgotten_without_changing_any_answer() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock, max_keys=10)
    for i in range(10):
        await limiter.hit(f"idle-{i}", limit=5, period=1.0)
    clock.now += 5
    for _ in range(5):
        assert (await limiter.hit("busy", limit=5, period=1.0)).allowed
    assert not (await limiter.hit("busy", limit=5, period=1.0)).allowed
    assert (await limiter.hit("idle-0", limit=5, period=1.0)).remaining == 4
