"""Scheduled jobs: one process per due run (a lease in the database), failures recorded
and retried next period, and the Runtime running the loop in worker processes."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from fastapi import FastAPI

from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.observability import metrics
from bizos.core.scheduler import Job, Scheduler, check_unique, job_state, scheduled
from bizos.runtime import Runtime

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
EVERY = dt.timedelta(minutes=5)


class Counting:
    """A job that records the times it ran at."""

    def __init__(self) -> None:
        self.ran_at: list[dt.datetime] = []

    async def __call__(self, db: Database, now: dt.datetime) -> None:
        self.ran_at.append(now)


async def test_a_due_job_runs_once_when_two_schedulers_race(db: Database) -> None:
    job = Counting()
    spec = Job("test.count", EVERY, job)
    first, second = Scheduler(db, [spec]), Scheduler(db, [spec])

    results = await asyncio.gather(first.run_due(NOW), second.run_due(NOW))

    assert sorted(results) == [[], ["test.count"]]
    assert job.ran_at == [NOW]
    state = await job_state(db, "test.count")
    assert state is not None
    assert state["next_run_at"] == NOW + EVERY
    assert state["lease_until"] is None
    assert state["runs"] == 1
    assert state["last_error"] is None

    # Not due again before its period is over; due again after it, in either process.
    assert await second.run_due(NOW + EVERY - dt.timedelta(seconds=1)) == []
    assert await second.run_due(NOW + EVERY) == ["test.count"]
    assert job.ran_at == [NOW, NOW + EVERY]


async def test_a_run_in_progress_is_not_started_again_elsewhere(db: Database) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    runs = 0

    async def slow(db: Database, now: dt.datetime) -> None:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()

    spec = Job("test.slow", EVERY, slow, lease=dt.timedelta(minutes=10))
    first, second = Scheduler(db, [spec]), Scheduler(db, [spec])
    running = asyncio.create_task(first.run_due(NOW))
    await started.wait()

    # Past its period but within the lease of the run in progress: nobody takes it.
    assert await second.run_due(NOW + EVERY + dt.timedelta(minutes=1)) == []
    release.set()
    assert await running == ["test.slow"]
    assert runs == 1


async def test_a_run_whose_process_died_is_taken_over_when_the_lease_ends(db: Database) -> None:
    job = Counting()
    lease = dt.timedelta(minutes=2)
    spec = Job("test.orphan", EVERY, job, lease=lease)
    dead = Scheduler(db, [spec])
    await dead._ensure_rows([spec], NOW)
    assert await dead._claim(spec, NOW)  # claimed, then the process "dies" before running

    survivor = Scheduler(db, [spec])
    assert await survivor.run_due(NOW + lease - dt.timedelta(seconds=1)) == []
    assert await survivor.run_due(NOW + lease) == ["test.orphan"]
    assert job.ran_at == [NOW + lease]


async def test_a_failing_job_is_recorded_and_runs_again_next_period(db: Database) -> None:
    calls = 0

    async def flaky(db: Database, now: dt.datetime) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the warehouse exploded")

    other = Counting()
    failed_before = metrics.registry.get_sample_value(
        "bizos_scheduler_runs_total", {"job": "test.flaky", "outcome": "failed"}
    )
    scheduler = Scheduler(db, [Job("test.flaky", EVERY, flaky), Job("test.other", EVERY, other)])

    assert sorted(await scheduler.run_due(NOW)) == ["test.flaky", "test.other"]
    assert other.ran_at == [NOW]  # the failure did not stop the other job
    state = await job_state(db, "test.flaky")
    assert state is not None
    assert state["last_error"] == "RuntimeError: the warehouse exploded"
    assert state["failures"] == 1
    assert state["next_run_at"] == NOW + EVERY
    assert state["lease_until"] is None
    failed_after = metrics.registry.get_sample_value(
        "bizos_scheduler_runs_total", {"job": "test.flaky", "outcome": "failed"}
    )
    assert (failed_after or 0) - (failed_before or 0) == 1

    assert await scheduler.run_due(NOW + EVERY) == ["test.flaky", "test.other"]
    state = await job_state(db, "test.flaky")
    assert state is not None
    assert state["last_error"] is None
    assert (state["runs"], state["failures"]) == (2, 1)


async def test_a_job_that_outlives_its_lease_is_cancelled_and_recorded(db: Database) -> None:
    async def stuck(db: Database, now: dt.datetime) -> None:
        await asyncio.Event().wait()

    spec = Job("test.stuck", EVERY, stuck, lease=dt.timedelta(milliseconds=50))
    assert await Scheduler(db, [spec]).run_due(NOW) == ["test.stuck"]
    state = await job_state(db, "test.stuck")
    assert state is not None
    assert str(state["last_error"]).startswith("TimeoutError")


async def test_the_loop_survives_failing_jobs_and_stops_cleanly(db: Database) -> None:
    attempts = 0
    failed_twice = asyncio.Event()

    async def always_fails(db: Database, now: dt.datetime) -> None:
        nonlocal attempts
        attempts += 1
        if attempts >= 2:
            failed_twice.set()
        raise ValueError("still broken")

    scheduler = Scheduler(db, [Job("test.broken", dt.timedelta(milliseconds=1), always_fails)])
    loop = asyncio.create_task(scheduler.run_forever())
    await asyncio.wait_for(failed_twice.wait(), timeout=30)
    assert not loop.done()
    scheduler.stop()
    await asyncio.wait_for(loop, timeout=30)
    assert loop.exception() is None


def test_a_scheduler_refuses_two_jobs_of_the_same_name() -> None:
    @scheduled("test.once", every=EVERY)
    async def once(db: Database, now: dt.datetime) -> None:
        return None

    assert once.name == "test.once"
    assert once.lease >= EVERY

    @scheduled("test.once", every=EVERY)
    async def again(db: Database, now: dt.datetime) -> None:
        return None

    assert check_unique([once, once]) == [once]
    with pytest.raises(ValueError, match="already registered"):
        check_unique([once, again])
    with pytest.raises(ValueError, match="positive period"):
        Job("test.never", dt.timedelta(0), once.func)


async def test_the_runtime_runs_the_scheduler_in_worker_processes(
    settings: Settings, db: Database, app: FastAPI, client: httpx.AsyncClient
) -> None:
    api_only = Runtime(settings, db, workers=False)
    await api_only.start()
    assert "scheduler" not in api_only.worker_health()
    await api_only.stop()

    runtime = Runtime(settings, db, workers=True)
    names = [job.name for job in runtime.scheduler.jobs]
    assert {"work.task_reminders", "work.task_escalations"} <= set(names)
    await runtime.start()
    real, app.state.runtime = app.state.runtime, runtime
    try:
        assert runtime.worker_health()["scheduler"] is True
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["workers"] == "ok"
        loop = next(t for t in runtime._loops if t.get_name() == "bizos-scheduler")
    finally:
        app.state.runtime = real
        await runtime.stop()
    assert loop.done() and not loop.cancelled()
    assert runtime.worker_health() == {}
