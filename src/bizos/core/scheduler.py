"""Periodic jobs: ``@scheduled(name, every=...)`` and the loop that runs them.

A job is ``async def job(db: Database, now: datetime) -> None``. It opens its own units
of work (it usually spans tenants: a system session to find the work, one tenant unit
of work per item) and takes the time from ``now``, never from the clock, so tests drive
it by passing a time.

Every process that runs workers runs a :class:`Scheduler`; the ``scheduled_jobs`` table
makes sure each due run happens in one of them only:

* a run is *claimed* with a conditional ``UPDATE`` (due, and no live lease) that sets
  ``lease_until``; the process whose update changed the row runs the job, the others
  see zero rows changed and skip it;
* when the job ends, the same process sets ``next_run_at = now + every`` and clears the
  lease. A process that dies mid-run leaves the lease to expire; the job is then due
  again. A job is cancelled when it outlives its lease, so two runs never overlap;
* a failing job is logged, its error recorded in ``last_error`` and it runs again next
  period; it never stops the loop or the other jobs.

A module lists its jobs in its manifest; the assembly hands them all to the Runtime's
scheduler. Defining a job registers nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from bizos.core.db import Base, Database, utcnow
from bizos.core.events import Wakeup
from bizos.core.ids import new_id
from bizos.core.observability import metrics

log = structlog.get_logger("bizos.scheduler")

JobFunc = Callable[[Database, dt.datetime], Awaitable[None]]

DEFAULT_LEASE = dt.timedelta(minutes=10)
_MAX_ERROR_CHARS = 2000
# The loop looks for due jobs at least this often, and never more often than the floor.
_MAX_SLEEP_SECONDS = 30.0
_MIN_SLEEP_SECONDS = 0.5


class ScheduledJob(Base):
    """One periodic job's schedule and last outcome (not tenant data: jobs span tenants)."""

    __tablename__ = "scheduled_jobs"
    __audit__ = False

    name: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    next_run_at: Mapped[dt.datetime]
    # Set while a process runs the job; the run is that process's until then.
    lease_until: Mapped[dt.datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64))
    last_started_at: Mapped[dt.datetime | None]
    last_finished_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    runs: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)


JOBS = cast(sa.Table, ScheduledJob.__table__)

job_runs = Counter(
    "bizos_scheduler_runs_total",
    "Scheduled job runs by outcome",
    ["job", "outcome"],
    registry=metrics.registry,
)
job_duration = Histogram(
    "bizos_scheduler_job_duration_seconds",
    "Scheduled job run time",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
    registry=metrics.registry,
)


@dataclass(frozen=True, slots=True)
class Job:
    """A scheduled job: ``func(db, now)`` runs every ``every`` in one worker process.

    A job is a value: it runs once a module's manifest lists it (``Manifest.jobs``).
    Calling it runs its function directly (tests do).
    """

    name: str
    every: dt.timedelta
    func: JobFunc
    lease: dt.timedelta = DEFAULT_LEASE

    def __post_init__(self) -> None:
        if self.every <= dt.timedelta(0):
            raise ValueError(f"scheduled job {self.name!r} needs a positive period")

    def __call__(self, db: Database, now: dt.datetime) -> Awaitable[None]:
        return self.func(db, now)


def scheduled(
    name: str, *, every: dt.timedelta, lease: dt.timedelta | None = None
) -> Callable[[JobFunc], Job]:
    """Make ``async def job(db, now)`` a :class:`Job` that runs every ``every``.

    ``lease`` bounds one run (default: ten minutes, or the period if longer); a run that
    takes longer is cancelled and counted as a failure.
    """

    def make(func: JobFunc) -> Job:
        return Job(name, every, func, lease or max(DEFAULT_LEASE, every))

    return make


def check_unique(jobs: Iterable[Job]) -> list[Job]:
    """The jobs sorted by name; two different jobs under one name are an error."""
    by_name: dict[str, Job] = {}
    for job in jobs:
        existing = by_name.get(job.name)
        if existing is not None and existing is not job:
            raise ValueError(f"a scheduled job named {job.name!r} is already registered")
        by_name[job.name] = job
    return sorted(by_name.values(), key=lambda j: j.name)


class Scheduler:
    """Runs due jobs. ``run_due`` is one pass (tests drive it); ``run_forever`` loops."""

    def __init__(self, db: Database, jobs: Iterable[Job] = ()) -> None:
        self.db = db
        self._jobs = check_unique(jobs)
        self.owner = new_id()  # this scheduler's lease token
        self._wakeup = Wakeup()
        self._stopping = False

    @property
    def jobs(self) -> list[Job]:
        return self._jobs

    async def run_due(self, now: dt.datetime | None = None) -> list[str]:
        """Run every job that is due at ``now`` and whose run no other process holds;
        returns the names of the jobs this call ran (failed ones included)."""
        now = now or utcnow()
        jobs = self.jobs
        if not jobs:
            return []
        await self._ensure_rows(jobs, now)
        claimed = [job for job in jobs if await self._claim(job, now)]
        await asyncio.gather(*(self._run(job, now) for job in claimed))
        return [job.name for job in claimed]

    async def _ensure_rows(self, jobs: list[Job], now: dt.datetime) -> None:
        """A row per job, due at once the first time a scheduler sees it."""
        async with self.db.unit_of_work(system=True, readonly=True) as session:
            known = set(
                await session.scalars(
                    sa.select(JOBS.c.name).where(JOBS.c.name.in_([j.name for j in jobs]))
                )
            )
        missing = [j for j in jobs if j.name not in known]
        if not missing:
            return
        dialect = postgresql if not self.db.is_sqlite else sqlite
        insert = (
            dialect.insert(JOBS)
            .values(
                [{"name": j.name, "next_run_at": now, "runs": 0, "failures": 0} for j in missing]
            )
            .on_conflict_do_nothing(index_elements=["name"])
        )
        async with self.db.unit_of_work(system=True) as session:
            await session.execute(insert)

    async def _claim(self, job: Job, now: dt.datetime) -> bool:
        c = JOBS.c
        async with self.db.unit_of_work(system=True) as session:
            result = await session.execute(
                sa.update(JOBS)
                .where(
                    c.name == job.name,
                    c.next_run_at <= now,
                    sa.or_(c.lease_until.is_(None), c.lease_until <= now),
                )
                .values(lease_until=now + job.lease, lease_owner=self.owner, last_started_at=now)
            )
            return getattr(result, "rowcount", 0) == 1

    async def _run(self, job: Job, now: dt.datetime) -> None:
        started = time.perf_counter()
        error: str | None = None
        try:
            async with asyncio.timeout(job.lease.total_seconds()):
                await job.func(self.db, now)
        except TimeoutError:
            error = f"TimeoutError: the run outlived its lease of {job.lease}"
            log.error("scheduler.job_timed_out", job=job.name)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
            log.exception("scheduler.job_failed", job=job.name)
        elapsed = time.perf_counter() - started
        outcome = "failed" if error else "succeeded"
        job_runs.labels(job=job.name, outcome=outcome).inc()
        job_duration.labels(job=job.name).observe(elapsed)
        try:
            await self._finish(job, now, error, elapsed)
        except Exception:  # the lease expires and the job runs again: nothing is lost
            log.exception("scheduler.finish_failed", job=job.name)
        log.info("scheduler.job_ran", job=job.name, outcome=outcome, seconds=round(elapsed, 3))

    async def _finish(self, job: Job, now: dt.datetime, error: str | None, elapsed: float) -> None:
        c = JOBS.c
        values: dict[str, object] = {
            "next_run_at": now + job.every,
            "lease_until": None,
            "lease_owner": None,
            "last_finished_at": now + dt.timedelta(seconds=elapsed),
            "last_error": error,
            "runs": c.runs + 1,
        }
        if error:
            values["failures"] = c.failures + 1
        async with self.db.unit_of_work(system=True) as session:
            # Only while the lease is still ours: a taken-over run is the new owner's.
            await session.execute(
                sa.update(JOBS)
                .where(c.name == job.name, c.lease_owner == self.owner)
                .values(values)
            )

    async def next_due_in(self) -> float:
        """Seconds until the earliest scheduled run (capped for the loop's sleep)."""
        names = [j.name for j in self.jobs]
        if not names:
            return _MAX_SLEEP_SECONDS
        async with self.db.unit_of_work(system=True, readonly=True) as session:
            rows = (
                await session.execute(
                    sa.select(JOBS.c.next_run_at, JOBS.c.lease_until).where(JOBS.c.name.in_(names))
                )
            ).all()
        if len(rows) < len(names):
            return _MIN_SLEEP_SECONDS  # a job without a row yet: due now
        # A job another process is running is due again when its lease ends at the earliest.
        earliest: dt.datetime = min(
            max(r.next_run_at, r.lease_until or r.next_run_at) for r in rows
        )
        seconds: float = (earliest - utcnow()).total_seconds()
        return min(_MAX_SLEEP_SECONDS, max(_MIN_SLEEP_SECONDS, seconds))

    async def run_forever(self) -> None:
        """Run due jobs until :meth:`stop`; a failing pass is logged and retried."""
        self._wakeup.bind()
        failures = 0
        log.info("scheduler.started", jobs=[j.name for j in self.jobs])
        try:
            while not self._stopping:
                self._wakeup.clear()
                try:
                    await self.run_due()
                    pause = await self.next_due_in()
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("scheduler.poll_failed", consecutive=failures)
                    pause = min(_MAX_SLEEP_SECONDS, _MIN_SLEEP_SECONDS * 2**failures)
                if not self._stopping:
                    await self._wakeup.sleep(pause)
        finally:
            log.info("scheduler.stopped")

    def stop(self) -> None:
        """Ask :meth:`run_forever` to return after the pass in progress."""
        self._stopping = True
        self._wakeup.wake()


async def job_state(db: Database, name: str) -> dict[str, object] | None:
    """The stored schedule and last outcome of one job (for operators and tests)."""
    async with db.unit_of_work(system=True, readonly=True) as session:
        row = (await session.execute(sa.select(JOBS).where(JOBS.c.name == name))).mappings().first()
    return dict(row) if row else None


__all__ = [
    "Job",
    "ScheduledJob",
    "Scheduler",
    "check_unique",
    "job_state",
    "scheduled",
]
