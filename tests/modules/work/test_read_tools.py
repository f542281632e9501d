"""The copilot's task tools, called as the copilot calls them: ``work.my_tasks`` lists
only the caller's tasks (never a colleague's, never another tenant's), ``work.overdue_tasks``
the open tasks past due, most overdue first. Counts are checked against SQL worked out
here, and every number the answer writes is one of its figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database, utcnow
from bizos.core.errors import Forbidden, Unprocessable
from bizos.core.ids import new_id
from bizos.core.tools import Said, ToolRegistry, ToolResult
from bizos.modules.work.models import Task
from bizos.modules.work.tools import TOOLS
from tests.conftest import TenantLogin
from tests.modules.crm.scoring.factories import add_user
from tests.modules.said import assert_backed, figure

REGISTRY = ToolRegistry(TOOLS)
READER = frozenset({"crm:read"})
NOW = utcnow()


def ctx_for(tenant: TenantLogin, user_id: str | None = None, **kw: Any) -> Context:
    fields: dict[str, Any] = {"actor_type": "user", "scopes": READER, **kw}
    return Context(tenant_id=tenant.tenant_id, actor_id=user_id or tenant.user_id, **fields)


async def add_task(
    db: Database,
    tenant: TenantLogin,
    title: str,
    *,
    assignee_id: str | None,
    due_in_days: float | None = None,
    status: str = "open",
    priority: str = "normal",
) -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        task = Task(
            id=new_id(),
            tenant_id=tenant.tenant_id,
            title=title,
            assignee_id=assignee_id,
            status=status,
            priority=priority,
            due_at=None if due_in_days is None else NOW + dt.timedelta(days=due_in_days),
        )
        s.add(task)
        return task.id


async def call(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any], ctx: Context | None = None
) -> tuple[ToolResult, Said]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        result = await REGISTRY.call(s, ctx or ctx_for(tenant), name, params)
    tool = REGISTRY.get(name)
    assert tool.speak is not None
    return result, tool.speak(REGISTRY.validated(name, params), result)


async def count(db: Database, tenant: TenantLogin, where: str, **params: Any) -> int:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        query = sa.text(f"SELECT count(*) FROM tasks WHERE tenant_id = :t AND {where}")
        if "now" in params:  # stored as the table stores times
            query = query.bindparams(sa.bindparam("now", type_=Task.__table__.c.due_at.type))
        return int((await s.execute(query, {"t": tenant.tenant_id, **params})).scalar_one())


def day(days: float) -> str:
    return (NOW + dt.timedelta(days=days)).date().isoformat()


async def test_my_tasks_are_only_the_callers_own_earliest_due_first(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    colleague = await add_user(db, tenant.tenant_id, name="Maya Okafor")
    me = tenant.user_id
    late = await add_task(db, tenant, "Call Ada back", assignee_id=me, due_in_days=-2)
    soon = await add_task(db, tenant, "Send the quote", assignee_id=me, due_in_days=1)
    whenever = await add_task(db, tenant, "Tidy the CRM", assignee_id=me, status="in_progress")
    await add_task(db, tenant, "Finished", assignee_id=me, status="done", due_in_days=-5)
    await add_task(db, tenant, "Maya's call", assignee_id=colleague, due_in_days=-1)
    await add_task(db, tenant, "Nobody's", assignee_id=None, due_in_days=-1)
    await add_task(db, other_tenant, "Not ours", assignee_id=other_tenant.user_id)

    result, said = await call(db, tenant, "work.my_tasks", {})

    mine_open = await count(
        db, tenant, "assignee_id = :me AND status IN ('open', 'in_progress')", me=me
    )
    assert result.value.total == result.records_total == mine_open == 3
    assert result.records == [late, soon, whenever]  # no due date last
    assert result.value.overdue == 1
    assert {t.assignee_id for t in result.value.tasks} == {me}
    assert_backed(said)
    assert said.text == (
        f"You have 3 open tasks, 1 of them overdue: Call Ada back (due {day(-2)}, overdue); "
        f"Send the quote (due {day(1)}); Tidy the CRM (no due date)."
    )
    assert [s.id for s in said.sources] == [late, soon, whenever]

    maya, said = await call(db, tenant, "work.my_tasks", {}, ctx_for(tenant, colleague))
    assert [t.title for t in maya.value.tasks] == ["Maya's call"]
    assert said.text.startswith("You have 1 open task, 1 of them overdue: Maya's call")


async def test_my_tasks_of_one_status_and_none(db: Database, tenant: TenantLogin) -> None:
    await add_task(db, tenant, "Finished", assignee_id=tenant.user_id, status="done")
    done, said = await call(db, tenant, "work.my_tasks", {"status": "done", "limit": 5})
    assert done.value.total == 1 and done.filters["statuses"] == ["done"]
    assert said.text.startswith("You have 1 done task: Finished")
    assert_backed(said)
    none, said = await call(db, tenant, "work.my_tasks", {"status": "cancelled"})
    assert none.value.total == 0 and said.text == "You have no cancelled tasks."


async def test_an_api_key_has_no_tasks_of_its_own(db: Database, tenant: TenantLogin) -> None:
    key = ctx_for(tenant, "key-1", actor_type="api_key")
    with pytest.raises(Unprocessable) as refused:
        await call(db, tenant, "work.my_tasks", {}, key)
    assert refused.value.errors[0]["loc"] == ["params"]


async def test_overdue_tasks_are_open_and_past_due_most_overdue_first(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    colleague = await add_user(db, tenant.tenant_id, name="Maya Okafor")
    mine = await add_task(db, tenant, "Call Ada back", assignee_id=tenant.user_id, due_in_days=-1)
    hers = await add_task(
        db, tenant, "Renewal call", assignee_id=colleague, due_in_days=-6, priority="urgent"
    )
    await add_task(db, tenant, "Not due yet", assignee_id=colleague, due_in_days=2)
    await add_task(db, tenant, "Done late", assignee_id=colleague, due_in_days=-9, status="done")
    await add_task(db, other_tenant, "Not ours", assignee_id=None, due_in_days=-3)

    result, said = await call(db, tenant, "work.overdue_tasks", {})

    overdue = await count(
        db, tenant, "status IN ('open', 'in_progress') AND due_at < :now", now=NOW
    )
    assert result.value.total == overdue == 2 and result.records == [hers, mine]
    assert_backed(said)
    assert said.text == (
        f"There are 2 overdue tasks: Renewal call (due {day(-6)}, urgent, Maya Okafor); "
        f"Call Ada back (due {day(-1)}, Olive)."
    )
    assert figure(said, "overdue tasks") == 2

    only_mine, said = await call(db, tenant, "work.overdue_tasks", {"mine": True, "limit": 1})
    assert only_mine.records == [mine] and only_mine.filters["assignee_id"] == tenant.user_id
    assert said.text == f"You have 1 overdue task: Call Ada back (due {day(-1)})."
    _, said = await call(db, tenant, "work.overdue_tasks", {"limit": 1})
    assert said.text.startswith("There are 2 overdue tasks; the first by due date: Renewal")
    none, said = await call(db, other_tenant, "work.overdue_tasks", {"mine": True})
    assert none.value.total == 0 and said.text == "You have no overdue tasks."


@pytest.mark.parametrize(
    ("name", "params", "loc"),
    [
        ("work.my_tasks", {"status": "late"}, ["params", "status"]),
        ("work.my_tasks", {"limit": 51}, ["params", "limit"]),
        ("work.overdue_tasks", {"mine": "perhaps"}, ["params", "mine"]),
        ("work.overdue_tasks", {"assignee": "x"}, ["params", "assignee"]),
    ],
)
async def test_bad_parameters_are_422(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any], loc: list[str]
) -> None:
    with pytest.raises(Unprocessable) as bad:
        await call(db, tenant, name, params)
    assert bad.value.errors[0]["loc"] == loc


async def test_the_task_tools_need_crm_read(db: Database, tenant: TenantLogin) -> None:
    reads = [t for t in REGISTRY.available(READER) if t.kind == "read"]
    assert [t.name for t in reads] == ["work.my_tasks", "work.overdue_tasks"]
    assert all(t.speak is not None for t in reads)
    for name in ("work.my_tasks", "work.overdue_tasks"):
        with pytest.raises(Forbidden):
            await call(db, tenant, name, {}, ctx_for(tenant, scopes=frozenset({"kb:read"})))
