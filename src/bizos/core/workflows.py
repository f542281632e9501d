"""Durable workflows: the one seam over DBOS Transact (DESIGN rule 4).

Multi-step flows (order-to-cash, enrichment -> assignment, escalation ladders) are async
functions registered with ``@workflow``; their side effects live in ``@step`` functions::

    @step(retry=RetryPolicy(max_attempts=5, interval_seconds=2))
    async def notify_agent(tenant_id: str, ticket_id: str) -> None:
        async with get_database().unit_of_work(tenant_id=tenant_id) as session:
            ...  # a step opens its own unit of work; it never receives a session

    @workflow("support.escalate_ticket")
    async def escalate_ticket(tenant_id: str, ticket_id: str) -> str:
        await notify_agent(tenant_id, ticket_id)
        reply = await wait_for_signal("customer.replied", timeout_seconds=4 * 3600)
        ...

    await start_workflow(escalate_ticket, tenant_id, ticket_id,
                         workflow_id=workflow_id_for_event(event_id, "support.escalate_ticket"))

What DBOS guarantees, and what it asks of the code in return:

* every step's result (or final error) is checkpointed; after a crash the workflow is
  replayed from the top and finished steps return their recorded result without running
  again. Code between steps must therefore be deterministic: time, randomness, I/O and
  database access belong in steps.
* a step that was running when the process died runs again: steps must be idempotent.
* arguments, results, signals and errors are pickled into the system tables: pass ids
  and plain values (DESIGN rule 5), and raise exceptions that pickle.
* a workflow is recovered by the process with the same executor id
  (``BIZOS_EXECUTOR_ID``) and application version when it starts again. Modules that
  define workflows must be imported before :meth:`Workflows.start`, or recovery cannot
  find their functions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Generic, Literal, ParamSpec, TypeVar, overload

import sqlalchemy as sa
import structlog
from dbos import DBOS, DBOSConfig, SetWorkflowID, WorkflowHandleAsync, WorkflowStatus
from dbos import error as dbos_error
from opentelemetry import trace

from bizos.core.config import Settings
from bizos.core.observability import metrics
from bizos.core.workflow_store import redacted, sqlite_system_engine, system_database_url

P = ParamSpec("P")
R = TypeVar("R")

log = structlog.get_logger("bizos.workflows")
_tracer = trace.get_tracer("bizos.workflows")

WorkflowStatusName = Literal[
    "pending", "enqueued", "delayed", "succeeded", "failed", "cancelled", "abandoned"
]
_STATUS_NAMES: dict[str, WorkflowStatusName] = {
    "PENDING": "pending",
    "ENQUEUED": "enqueued",
    "DELAYED": "delayed",
    "SUCCESS": "succeeded",
    "ERROR": "failed",
    "CANCELLED": "cancelled",
    # DBOS gave up recovering it (it crashed the process too often): needs an operator.
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "abandoned",
}
# The seam's names for the durable operations DBOS records as steps of its own.
_STEP_NAMES = {
    "DBOS.sleep": "durable_sleep",
    "DBOS.recv": "wait_for_signal",
    "DBOS.send": "send_signal",
}


class WorkflowsNotRunning(RuntimeError):
    """Workflows are off in this process (``BIZOS_WORKFLOWS_ENABLED=false`` or no workers)."""


class WorkflowNotFound(LookupError):
    """No workflow has this id."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(workflow_id)
        self.workflow_id = workflow_id

    def __str__(self) -> str:
        return f"no workflow with id {self.workflow_id!r}"


class SagaFailed(Exception):
    """A saga step failed for good; the compensations of the steps before it have run.

    Raised from the step's error. Its fields are plain strings so it pickles into the
    workflow's recorded outcome.
    """

    def __init__(
        self, saga: str, reason: str, compensated: list[str], failed_compensations: list[str]
    ) -> None:
        super().__init__(saga, reason, compensated, failed_compensations)
        self.saga = saga
        self.reason = reason
        self.compensated = compensated
        self.failed_compensations = failed_compensations

    def __str__(self) -> str:
        text = f"saga {self.saga} failed ({self.reason}); compensated: {self.compensated}"
        if self.failed_compensations:
            text += f"; compensations that failed: {self.failed_compensations}"
        return text


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a step is tried before its failure is final.

    Attempt ``n`` (from 1) waits ``interval_seconds * backoff_rate ** (n - 1)`` before the
    next one. Errors of a ``give_up_on`` type are final at once (a rejected address will
    not be accepted on the fifth try).
    """

    max_attempts: int = 1
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    give_up_on: tuple[type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.interval_seconds < 0:
            raise ValueError("interval_seconds must not be negative")
        if self.backoff_rate < 1:
            raise ValueError("backoff_rate must be at least 1")

    def _should_retry(self) -> Callable[[BaseException], bool] | None:
        if not self.give_up_on:
            return None
        give_up_on = self.give_up_on
        return lambda error: not isinstance(error, give_up_on)


@dataclass(frozen=True, slots=True)
class WorkflowState:
    """Where a workflow stands, as an operator or an API response sees it."""

    workflow_id: str
    name: str
    status: WorkflowStatusName
    executor_id: str | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled", "abandoned")


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One checkpointed step of a workflow (a durable sleep ends at ``completed_at``)."""

    step_id: int
    name: str
    error: str | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None


# --- registration ---------------------------------------------------------------------

_workflows: dict[str, Callable[..., Coroutine[Any, Any, Any]]] = {}
# Tasks running a workflow body in this process, so stop() can hand them back to
# recovery (cancelled, they stay PENDING) instead of leaving them on a loop without DBOS.
_running: set[asyncio.Task[Any]] = set()


def workflow(
    name: str,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Register an async function as a durable workflow called ``name``.

    The name is stored with every run and used to find the function on recovery: it is a
    contract, so rename the Python function freely but never the workflow.
    """
    if not name.strip():
        raise ValueError("a workflow needs a name")

    def register(
        fn: Callable[P, Coroutine[Any, Any, R]],
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"workflow {name!r} must be an async function")
        previous = _workflows.get(name)
        if previous is not None and _origin(previous) != _origin(fn):
            raise ValueError(f"workflow {name!r} is already registered by {_origin(previous)}")

        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            task = asyncio.current_task()
            if task is not None:
                _running.add(task)
            try:
                result = await fn(*args, **kwargs)
            except SagaFailed:
                _record_outcome(name, "compensated")
                raise
            except Exception:
                _record_outcome(name, "failed")
                raise
            finally:
                if task is not None:
                    _running.discard(task)
            _record_outcome(name, "succeeded")
            return result

        durable = DBOS.workflow(name=name)(run)
        _workflows[name] = durable
        return durable

    return register


def step(
    name: str | None = None, *, retry: RetryPolicy | None = None
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Make an async function a checkpointed step of the workflows that call it.

    Called from a workflow, a finished step never runs again and a failing one is
    retried by ``retry``; once retries are spent the step raises its last error. Called
    outside a workflow it is a plain function call. Each attempt gets a span.
    """
    policy = retry or RetryPolicy()

    def decorate(
        fn: Callable[P, Coroutine[Any, Any, R]],
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"step {fn.__qualname__} must be an async function")
        step_name = name or fn.__qualname__

        @functools.wraps(fn)
        async def attempt(*args: P.args, **kwargs: P.kwargs) -> R:
            attributes = {"bizos.workflow.step": step_name}
            workflow_id = DBOS.workflow_id
            if workflow_id is not None:
                attributes["bizos.workflow.id"] = workflow_id
            with _tracer.start_as_current_span(f"workflow.step {step_name}", attributes=attributes):
                return await fn(*args, **kwargs)

        durable = DBOS.step(
            name=step_name,
            retries_allowed=policy.max_attempts > 1,
            max_attempts=policy.max_attempts,
            interval_seconds=policy.interval_seconds,
            backoff_rate=policy.backoff_rate,
            should_retry=policy._should_retry(),
        )(attempt)

        @functools.wraps(fn)
        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await durable(*args, **kwargs)
            except dbos_error.DBOSMaxStepRetriesExceeded as spent:
                # Callers catch the step's own error whether or not it was retried.
                if not spent.errors:
                    raise RuntimeError(f"step {step_name} failed") from None
                last = spent.errors[-1]
                last.add_note(f"step {step_name} failed after {spent.max_retries} attempts")
                raise last from None

        setattr(call, "__bizos_step__", step_name)  # noqa: B010 - marks it for Saga
        return call

    return decorate


def _origin(fn: Callable[..., Any]) -> str:
    target = inspect.unwrap(fn)
    return f"{target.__module__}.{target.__qualname__}"


def _record_outcome(name: str, outcome: str) -> None:
    metrics.workflow_runs.labels(workflow=name, outcome=outcome).inc()
    level = log.info if outcome == "succeeded" else log.warning
    level(f"workflow.{outcome}", workflow=name, workflow_id=DBOS.workflow_id)


# --- starting and observing -----------------------------------------------------------


def workflow_id_for_event(event_id: str, workflow_name: str) -> str:
    """The id of the ``workflow_name`` run caused by ``event_id``: the same event starts it once."""
    if not event_id.strip() or not workflow_name.strip():
        raise ValueError("both an event id and a workflow name are needed")
    return f"{workflow_name}:{event_id}"


class WorkflowRun(Generic[R]):
    """A started workflow: its id, its outcome when it ends, and its state meanwhile."""

    def __init__(self, handle: WorkflowHandleAsync[R]) -> None:
        self._handle = handle

    @property
    def workflow_id(self) -> str:
        return self._handle.get_workflow_id()

    async def result(self, *, timeout_seconds: float | None = None) -> R:
        """Wait for the outcome: the return value, or the workflow's error re-raised.

        Raises ``TimeoutError`` if it has not ended within ``timeout_seconds`` (the
        workflow itself carries on).
        """
        return await asyncio.wait_for(self._handle.get_result(), timeout_seconds)

    async def status(self) -> WorkflowState:
        state = await get_workflow_status(self.workflow_id)
        if state is None:
            raise WorkflowNotFound(self.workflow_id)
        return state

    def __repr__(self) -> str:
        return f"WorkflowRun({self.workflow_id!r})"


@overload
async def start_workflow(
    workflow: Callable[..., Coroutine[Any, Any, R]],
    *args: Any,
    workflow_id: str | None = None,
    **kwargs: Any,
) -> WorkflowRun[R]: ...


@overload
async def start_workflow(
    workflow: str, *args: Any, workflow_id: str | None = None, **kwargs: Any
) -> WorkflowRun[Any]: ...


async def start_workflow(
    workflow: str | Callable[..., Coroutine[Any, Any, Any]],
    *args: Any,
    workflow_id: str | None = None,
    **kwargs: Any,
) -> WorkflowRun[Any]:
    """Start a registered workflow (by function or name) in this process.

    With a ``workflow_id`` that already exists nothing new runs: the returned run is the
    existing one (whatever arguments it was first started with), finished or not.
    """
    _require_running()
    fn = _resolve(workflow)
    with SetWorkflowID(workflow_id) if workflow_id is not None else nullcontext():
        handle = await DBOS.start_workflow_async(fn, *args, **kwargs)
    return WorkflowRun(handle)


def _resolve(workflow: str | Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    if not isinstance(workflow, str):
        return workflow
    fn = _workflows.get(workflow)
    if fn is None:
        raise LookupError(f"no workflow is registered as {workflow!r}")
    return fn


async def get_workflow_status(workflow_id: str) -> WorkflowState | None:
    _require_running()
    status = await DBOS.get_workflow_status_async(workflow_id)
    return None if status is None else _state(status)


async def get_workflow_steps(workflow_id: str) -> list[StepRecord]:
    """The checkpointed steps of a workflow, in the order it ran them."""
    _require_running()
    steps = await DBOS.list_workflow_steps_async(workflow_id, load_output=False)
    # A wait for a signal checkpoints its deadline as a sleep in the very next slot: that
    # sleep is part of the wait, not a step of the workflow.
    waits = {s["function_id"] + 1 for s in steps if s["function_name"] == "DBOS.recv"}
    return [
        StepRecord(
            step_id=s["function_id"],
            name=_STEP_NAMES.get(s["function_name"], s["function_name"]),
            error=None if s["error"] is None else repr(s["error"]),
            started_at=_from_epoch_ms(s["started_at_epoch_ms"]),
            completed_at=_from_epoch_ms(s["completed_at_epoch_ms"]),
        )
        for s in steps
        if not (s["function_name"] == "DBOS.sleep" and s["function_id"] in waits)
    ]


def _state(status: WorkflowStatus) -> WorkflowState:
    return WorkflowState(
        workflow_id=status.workflow_id,
        name=status.name,
        status=_STATUS_NAMES.get(status.status, "pending"),
        executor_id=status.executor_id,
        created_at=_from_epoch_ms(status.created_at),
        updated_at=_from_epoch_ms(status.updated_at),
        error=None if status.error is None else repr(status.error),
    )


def _from_epoch_ms(value: int | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value / 1000, dt.UTC)


# --- inside a workflow ----------------------------------------------------------------


async def durable_sleep(seconds: float) -> None:
    """Sleep inside a workflow; the wake-up time is recorded, so a restart sleeps only
    what is left."""
    _require_workflow("durable_sleep")
    await DBOS.sleep_async(seconds)


async def wait_for_signal(topic: str, timeout_seconds: float) -> Any | None:
    """Inside a workflow, wait for a message sent to it on ``topic``; ``None`` on timeout.

    Durable: after a restart the wait resumes with its original deadline, and a message
    that arrived meanwhile is not lost.
    """
    _require_workflow("wait_for_signal")
    return await DBOS.recv_async(topic, timeout_seconds=timeout_seconds)


async def send_signal(
    workflow_id: str, topic: str, message: Any, *, idempotency_key: str | None = None
) -> None:
    """Deliver ``message`` to a workflow waiting (now or later) on ``topic``.

    With an ``idempotency_key`` (say, the inbound event id) a redelivered signal is
    delivered once.
    """
    try:
        await DBOS.send_async(workflow_id, message, topic, idempotency_key=idempotency_key)
    except dbos_error.DBOSNonExistentWorkflowError as missing:
        raise WorkflowNotFound(workflow_id) from missing


def _require_workflow(operation: str) -> None:
    if DBOS.workflow_id is None:
        raise RuntimeError(f"{operation} must be called from inside a workflow")


# --- lifecycle ------------------------------------------------------------------------

_active: Workflows | None = None


def _require_running() -> None:
    if _active is None:
        raise WorkflowsNotRunning("durable workflows are not running in this process")


def _application_version() -> str:
    # Pinned to the release rather than DBOS's default hash of the workflow sources: a
    # restart of the same release always recovers its pending workflows, and a release
    # that changes a workflow's steps is a new version (DBOS will not replay old runs on it).
    try:
        return f"bizos-{metadata.version('bizos')}"
    except metadata.PackageNotFoundError:
        return "bizos-dev"


class Workflows:
    """The DBOS runtime of this process (DBOS is a process-wide singleton: one at a time).

    ``start()`` must run on the event loop that serves the app: DBOS adopts the running
    loop, so workflows it recovers run there, next to the app's async engines (asyncpg
    connections belong to the loop that opened them).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.executor_id = settings.executor_id
        self.application_version = _application_version()
        self._sqlite_engine: sa.Engine | None = None

    async def start(self) -> None:
        global _active
        if _active is not None:
            raise RuntimeError("durable workflows are already running in this process")
        system_database = system_database_url(self.settings)
        config: DBOSConfig = {
            "name": "bizos",
            "system_database_url": system_database,
            "executor_id": self.executor_id,
            "application_version": self.application_version,
            # DBOS logs through stdlib logging; our own events say what matters.
            "log_level": "DEBUG" if self.settings.log_level.upper() == "DEBUG" else "WARNING",
            "enable_otlp": False,
        }
        if system_database.startswith("sqlite"):
            self._sqlite_engine = sqlite_system_engine(system_database)
            config["system_database_engine"] = self._sqlite_engine
            # No LISTEN/NOTIFY on SQLite: a waiting workflow polls for signals this often.
            config["notification_listener_polling_interval_sec"] = 0.05
        else:
            config["db_engine_kwargs"] = {
                "connect_args": {"application_name": f"bizos-workflows:{self.executor_id}"}
            }
        DBOS(config=config)
        try:
            # Blocking (it migrates the system tables), and deliberately on this loop's
            # thread: see the class docstring.
            DBOS.launch()
        except BaseException:
            DBOS.destroy()
            self._dispose_engine()
            raise
        _active = self
        log.info(
            "workflows.started",
            executor_id=self.executor_id,
            application_version=self.application_version,
            system_database=redacted(system_database),
        )

    async def stop(self) -> None:
        """Stop running workflows; unfinished ones stay PENDING for the next start."""
        global _active
        if _active is not self:
            return
        loop = asyncio.get_running_loop()
        here = [t for t in _running if t.get_loop() is loop and not t.done()]
        for task in here:
            task.cancel()
        await asyncio.gather(*here, return_exceptions=True)
        # DBOS made its thread pool this loop's default executor; destroy() shuts that
        # pool down, so run it on a thread of our own and give the loop a fresh pool.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dbos-stop") as pool:
            await loop.run_in_executor(pool, functools.partial(DBOS.destroy))
        loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))
        self._dispose_engine()
        _active = None
        log.info("workflows.stopped", executor_id=self.executor_id, interrupted=len(here))

    def _dispose_engine(self) -> None:
        if self._sqlite_engine is not None:
            self._sqlite_engine.dispose()
            self._sqlite_engine = None


__all__ = [
    "RetryPolicy",
    "SagaFailed",
    "StepRecord",
    "WorkflowNotFound",
    "WorkflowRun",
    "WorkflowState",
    "Workflows",
    "WorkflowsNotRunning",
    "durable_sleep",
    "get_workflow_status",
    "get_workflow_steps",
    "send_signal",
    "start_workflow",
    "step",
    "wait_for_signal",
    "workflow",
    "workflow_id_for_event",
]
