"""Running a plan: each step a tool call through the registry, with the caller's scopes.

Steps run in the plan's order; consecutive steps sharing a ``parallel_group`` run
together. Every step runs in its own tenant session (read-only: reads, and the reads an
action's ``propose`` makes) under a timeout, so one slow tool cannot hold the answer and
one failure does not take the others with it: a failed, timed-out or refused step is an
:class:`Outcome` with its ``error`` said plainly ("missing scope: crm:read", "timed out
after 5 s"), never hidden. A step whose ``when`` says no is recorded as skipped.

Read tools answer (``result``) and say their answer (``speak``). Action tools never run
here: their ``propose`` describes the change, and the service stores it as a proposal.
Also here: what the plan and its outcomes look like in the answer body and the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.errors import ProblemError
from bizos.core.tools import Figure, Proposal, Said, Tool, ToolRegistry, ToolResult
from bizos.modules.copilot.schemas import FigureRead, PeriodRead, PlanStepRead
from bizos.modules.copilot.steps import Outcome, Plan, Step

log = structlog.get_logger("bizos.copilot.runner")

# How long one step may take (seconds); a slower one is reported as timed out.
STEP_TIMEOUT_SECONDS = 10.0

OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class StepFailed(Exception):
    """A step that cannot run, with what to tell the user."""


def proposing_scope(tool: Tool, known: frozenset[str] | set[str]) -> str:
    """The scope a caller needs to see a proposal of ``tool``: the read scope matching its
    write scope (a proposal reads what it would change), else the tool's scope."""
    read = tool.scope.replace(":write", ":read")
    return read if read in known else tool.scope


def status_of(outcome: Outcome) -> str:
    """``ok``, ``proposed``, ``skipped``, ``timeout`` or ``failed``."""
    if outcome.skipped:
        return "skipped"
    if outcome.error is not None:
        return "timeout" if outcome.error.startswith("timed out") else "failed"
    return "proposed" if outcome.proposal is not None else "ok"


def waves(plan: Plan) -> Iterator[list[Step]]:
    """The plan's steps in runs: one step, or consecutive steps of one parallel group."""
    current: list[Step] = []
    for step in plan.steps:
        group = step.parallel_group
        if current and (group is None or current[0].parallel_group != group):
            yield current
            current = []
        current.append(step)
    if current:
        yield current


class Runner:
    """Runs one plan for ``ctx``: ``open_session()`` gives a fresh tenant session."""

    def __init__(
        self,
        ctx: Context,
        registry: ToolRegistry,
        open_session: OpenSession,
        *,
        known_scopes: frozenset[str],
        timeout: float | None = None,
        emit: Emit | None = None,
    ) -> None:
        self.ctx = ctx
        self.registry = registry
        self.open_session = open_session
        self.known_scopes = known_scopes
        self.timeout = STEP_TIMEOUT_SECONDS if timeout is None else timeout
        self.emit = emit

    async def run(self, plan: Plan) -> dict[str, Outcome]:
        """Every step's outcome, by step id, in the plan's order."""
        outcomes: dict[str, Outcome] = {}
        for wave in waves(plan):
            done = await asyncio.gather(*(self.run_step(step, dict(outcomes)) for step in wave))
            for outcome in done:
                outcomes[outcome.step.id] = outcome
        return outcomes

    async def run_step(self, step: Step, earlier: dict[str, Outcome]) -> Outcome:
        if step.when is not None and not _safely(step.when, earlier):
            return Outcome(step=step, skipped=True)
        started = time.perf_counter()
        params: BaseModel | None = None
        try:
            tool, params = self._prepare(step, earlier)
            if self.emit is not None:
                await self.emit(
                    "tool_call", {"step": step.id, "tool": step.tool, "args": _dump(params)}
                )
            outcome = await asyncio.wait_for(self._call(step, tool, params), self.timeout)
        except TimeoutError:
            outcome = Outcome(step=step, params=params, error=f"timed out after {self.timeout:g} s")
        except StepFailed as exc:
            outcome = Outcome(step=step, params=params, error=str(exc))
        except ProblemError as exc:
            outcome = Outcome(step=step, params=params, error=problem_text(exc))
        except Exception as exc:  # one tool's fault must not lose the others' answers
            log.exception("copilot.step.failed", tool=step.tool)
            outcome = Outcome(
                step=step, params=params, error=f"the tool failed ({type(exc).__name__})"
            )
        elapsed = (time.perf_counter() - started) * 1000
        outcome = _timed(outcome, elapsed)
        if self.emit is not None:
            await self.emit("tool_result", result_event(outcome))
        return outcome

    def _prepare(self, step: Step, earlier: dict[str, Outcome]) -> tuple[Tool, BaseModel]:
        try:
            args = step.resolve(earlier)
        except LookupError as exc:
            raise StepFailed(str(exc).strip("'\"") or "nothing to go on") from None
        tool = self.registry.get(step.tool)
        needed = proposing_scope(tool, self.known_scopes) if tool.kind == "action" else tool.scope
        if needed not in self.ctx.scopes:
            raise StepFailed(f"missing scope: {needed}")
        return tool, self.registry.validated(step.tool, args)

    async def _call(self, step: Step, tool: Tool, params: BaseModel) -> Outcome:
        async with self.open_session() as session:
            session.info["ctx"] = self.ctx
            if tool.kind == "action":
                assert tool.propose is not None
                proposal: Proposal = await tool.propose(session, self.ctx, params)
                return Outcome(step=step, params=params, proposal=proposal)
            result: ToolResult = await tool.run(session, self.ctx, params)
        said: Said | None = tool.speak(params, result) if tool.speak is not None else None
        return Outcome(step=step, params=params, result=result, said=said)


def problem_text(exc: ProblemError) -> str:
    """A refusal in a sentence: the detail, and which parameters were wrong and why."""
    text = exc.detail or exc.title
    fields = [
        f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg', '')}"
        for e in exc.errors or []
        if isinstance(e, dict)
    ]
    return f"{text} ({'; '.join(fields)})" if fields else text


def _safely(when: Callable[[dict[str, Outcome]], bool], earlier: dict[str, Outcome]) -> bool:
    try:
        return bool(when(earlier))
    except (LookupError, AttributeError, TypeError):
        return False


def _timed(outcome: Outcome, elapsed_ms: float) -> Outcome:
    return Outcome(
        step=outcome.step,
        params=outcome.params,
        result=outcome.result,
        said=outcome.said,
        proposal=outcome.proposal,
        error=outcome.error,
        duration_ms=round(elapsed_ms, 2),
        skipped=outcome.skipped,
    )


def _dump(params: BaseModel | None) -> dict[str, Any]:
    return params.model_dump(mode="json", by_alias=True, exclude_none=True) if params else {}


def args_of(outcome: Outcome) -> dict[str, Any]:
    """The arguments a step ran with (as validated), or as planned when it did not get
    that far (a plain dict only: a computed one may depend on what failed)."""
    if outcome.params is not None:
        return _dump(outcome.params)
    return dict(outcome.step.args) if isinstance(outcome.step.args, dict) else {}


def result_event(outcome: Outcome) -> dict[str, Any]:
    """What a ``tool_result`` event says of a finished step."""
    return {
        "step": outcome.step.id,
        "tool": outcome.step.tool,
        "status": status_of(outcome),
        "duration_ms": outcome.duration_ms,
        "error": outcome.error,
        "text": (
            outcome.said.text
            if outcome.said is not None
            else outcome.proposal.summary
            if outcome.proposal is not None
            else None
        ),
    }


def plan_step_event(step: Step) -> dict[str, Any]:
    return {
        "id": step.id,
        "tool": step.tool,
        "label": step.label,
        "args": dict(step.args) if isinstance(step.args, dict) else None,
        "after": list(step.after),
        "parallel_group": step.parallel_group,
        "conditional": step.when is not None,
    }


async def replay_steps(body: dict[str, Any], emit: Emit) -> None:
    """A cached answer's steps as the events a fresh one streams."""
    for step in body.get("plan", []):
        await emit("tool_call", {"step": step["id"], "tool": step["tool"], "args": step["args"]})
        await emit(
            "tool_result",
            {
                "step": step["id"],
                "tool": step["tool"],
                "status": step["status"],
                "duration_ms": step["duration_ms"],
                "error": step.get("error"),
                "cached": True,
            },
        )


def figure_read(figure: Figure, outcome: Outcome) -> FigureRead:
    """A figure with where it comes from: the read tool's query, filters and records, or
    for a proposed action, what it would touch (the arguments it was proposed with and
    the record it changes or is about)."""
    result = outcome.result
    if result is not None:
        query = result.query
        filters: dict[str, Any] = to_jsonable_python(result.filters)
        records = list(result.records)
        total = result.records_total if result.records_total is not None else len(records)
    elif outcome.proposal is not None:
        query = (
            f"read by {outcome.step.tool} to propose {outcome.step.label!r} "
            "(proposed, nothing changed until confirmed); records are the record it touches"
        )
        filters, records = args_of(outcome), touched(outcome)
        total = len(records)
    else:
        query, filters, records, total = "", {}, [], 0
    return FigureRead(
        label=figure.label,
        value=figure.value,
        currency=figure.currency,
        unit=figure.unit,
        period=(PeriodRead(from_=figure.period[0], to=figure.period[1]) if figure.period else None),
        tool=outcome.step.tool,
        query=query,
        filters=filters,
        records=records,
        records_total=total,
    )


# The arguments that name the record an action changes or is about, most direct first.
TOUCHED_ARGS = ("deal_id", "record_id", "invoice_id", "contact_id", "related_id")


def touched(outcome: Outcome) -> list[str]:
    """The record a proposed action touches: the record as it is (``before``'s id), else
    the one its arguments name (a new task: the record it is about)."""
    before = outcome.proposal.before if outcome.proposal is not None else None
    if isinstance(before, dict) and isinstance(before.get("id"), str) and before["id"]:
        return [before["id"]]
    args = args_of(outcome)
    for key in TOUCHED_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value:
            return [value]
    return []


def plan_read(the_plan: Plan, outcomes: dict[str, Outcome]) -> list[PlanStepRead]:
    steps = []
    for step in the_plan.steps:
        outcome = outcomes.get(step.id) or Outcome(step=step, skipped=True)
        steps.append(
            PlanStepRead(
                id=step.id,
                tool=step.tool,
                label=step.label,
                args=args_of(outcome),
                status=status_of(outcome),
                duration_ms=outcome.duration_ms,
                error=outcome.error,
            )
        )
    return steps
