"""The plan runner: sequential, parallel and conditional steps, arguments from earlier
answers, and failures (an error, a timeout, a missing scope) reported step by step."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import SCOPES
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.tools import Figure, Said, ToolRegistry, ToolResult, tools_for
from bizos.modules.copilot.runner import Runner, status_of
from bizos.modules.copilot.steps import Plan, Step
from tests.conftest import TenantLogin
from tests.modules.copilot.helpers import CountingAction


class Number(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = 1


async def double(session: AsyncSession, ctx: Context, params: Any) -> ToolResult:
    return ToolResult(value=params.n * 2, query="twice n")


def say_double(params: Any, result: ToolResult) -> Said:
    return Said(f"Twice is {result.value}.", figures=[Figure("twice", result.value)])


async def boom(session: AsyncSession, ctx: Context, params: Any) -> ToolResult:
    raise RuntimeError("the database is on fire")


async def never(session: AsyncSession, ctx: Context, params: Any) -> ToolResult:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@pytest.fixture
def action() -> CountingAction:
    return CountingAction()


@pytest.fixture
def registry(action: CountingAction) -> ToolRegistry:
    return ToolRegistry(
        [
            *tools_for(
                "kb:read",
                ("t.double", "Twice n.", Number, double, say_double),
                ("t.boom", "Fails.", Number, boom),
                ("t.never", "Never answers.", Number, never),
            ),
            *tools_for("admin", ("t.secret", "Admins only.", Number, double, say_double)),
            action.tool(),
        ]
    )


def runner(db: Database, tenant: TenantLogin, registry: ToolRegistry, **kw: Any) -> Runner:
    ctx = Context(
        tenant_id=tenant.tenant_id,
        actor_id=tenant.user_id,
        scopes=frozenset({"kb:read", "crm:read"}),
    )

    def open_session() -> AbstractAsyncContextManager[AsyncSession]:
        return db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True)

    return Runner(ctx, registry, open_session, known_scopes=frozenset(SCOPES), **kw)


async def test_a_step_takes_its_arguments_from_an_earlier_answer(
    db: Database, tenant: TenantLogin, registry: ToolRegistry
) -> None:
    plan = Plan(
        [
            Step("a", "t.double", {"n": 3}, "first"),
            Step("b", "t.double", lambda o: {"n": o["a"].result.value}, "second", after=("a",)),
        ]
    )
    outcomes = await runner(db, tenant, registry).run(plan)
    assert outcomes["b"].result is not None and outcomes["b"].result.value == 12
    assert outcomes["b"].said is not None and outcomes["b"].said.text == "Twice is 12."


async def test_a_parallel_group_reports_each_failure_and_keeps_the_answers(
    db: Database, tenant: TenantLogin, registry: ToolRegistry
) -> None:
    plan = Plan(
        [
            Step("ok", "t.double", {"n": 2}, "works", parallel_group="g"),
            Step("boom", "t.boom", {}, "fails", parallel_group="g"),
            Step("slow", "t.never", {}, "hangs", parallel_group="g"),
            Step("secret", "t.secret", {}, "admins only", parallel_group="g"),
            Step("nope", "t.missing", {}, "no such tool", parallel_group="g"),
        ]
    )
    outcomes = await runner(db, tenant, registry, timeout=0.05).run(plan)

    assert {k: status_of(o) for k, o in outcomes.items()} == {
        "ok": "ok",
        "boom": "failed",
        "slow": "timeout",
        "secret": "failed",
        "nope": "failed",
    }
    assert outcomes["ok"].result is not None and outcomes["ok"].result.value == 4
    assert outcomes["boom"].error == "the tool failed (RuntimeError)"
    assert outcomes["slow"].error == "timed out after 0.05 s"
    assert outcomes["secret"].error == "missing scope: admin"
    assert outcomes["nope"].error == "no tool named 't.missing'"


async def test_a_conditional_step_runs_only_when_its_condition_holds(
    db: Database, tenant: TenantLogin, registry: ToolRegistry
) -> None:
    plan = Plan(
        [
            Step("a", "t.double", {"n": 1}, "first"),
            Step("big", "t.double", {"n": 9}, "if big", when=lambda o: o["a"].result.value > 5),
            Step("small", "t.double", {"n": 5}, "if small", when=lambda o: o["a"].result.value < 5),
        ]
    )
    outcomes = await runner(db, tenant, registry).run(plan)
    assert status_of(outcomes["big"]) == "skipped"
    assert status_of(outcomes["small"]) == "ok"


async def test_nothing_to_go_on_is_a_plain_failure(
    db: Database, tenant: TenantLogin, registry: ToolRegistry
) -> None:
    def no_customer(outcomes: Any) -> dict[str, Any]:
        raise LookupError("no customer found")

    outcomes = await runner(db, tenant, registry).run(
        Plan([Step("a", "t.double", no_customer, "needs a customer")])
    )
    assert outcomes["a"].error == "no customer found"


async def test_bad_arguments_fail_the_step_not_the_answer(
    db: Database, tenant: TenantLogin, registry: ToolRegistry
) -> None:
    outcomes = await runner(db, tenant, registry).run(
        Plan([Step("a", "t.double", {"n": "many"}, "bad")])
    )
    assert status_of(outcomes["a"]) == "failed"
    assert outcomes["a"].error is not None
    assert outcomes["a"].error.startswith("invalid tool parameters (n: ")


async def test_an_action_is_proposed_never_run(
    db: Database, tenant: TenantLogin, registry: ToolRegistry, action: CountingAction
) -> None:
    outcomes = await runner(db, tenant, registry).run(
        Plan([Step("do", "test.rename", {"record_id": "c1", "name": "Ada"}, "rename")])
    )
    assert status_of(outcomes["do"]) == "proposed"
    assert outcomes["do"].proposal is not None
    assert outcomes["do"].proposal.after == {"name": "Ada"}
    assert action.runs == []


async def test_events_follow_each_step(
    db: Database, tenant: TenantLogin, registry: ToolRegistry
) -> None:
    seen: list[tuple[str, str]] = []

    async def emit(event: str, data: dict[str, Any]) -> None:
        seen.append((event, data["step"]))

    await runner(db, tenant, registry, emit=emit).run(
        Plan([Step("a", "t.double", {"n": 1}, "one"), Step("b", "t.double", {"n": 2}, "two")])
    )
    assert seen == [
        ("tool_call", "a"),
        ("tool_result", "a"),
        ("tool_call", "b"),
        ("tool_result", "b"),
    ]
