"""The tool registry as the copilot will use it: every module tool runs through it with
validated parameters and answers with its figure, query, filters and records; bad
parameters are 422, a missing scope 403, an unknown tool 404."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import Forbidden, NotFound, Unprocessable
from bizos.core.tools import Tool, ToolRegistry, ToolResult
from bizos.modules.billing.tools import TOOLS as BILLING_TOOLS
from bizos.modules.commerce.tools import TOOLS as COMMERCE_TOOLS
from bizos.modules.finance import service as finance
from bizos.modules.finance.budgets import service as budgets
from bizos.modules.finance.tools import TOOLS as FINANCE_TOOLS
from tests.conftest import TenantLogin
from tests.modules.billing.test_metrics import seed_books
from tests.modules.commerce.test_metrics import seed_shop

READER = frozenset({"commerce:read", "billing:read"})
# Parameters a planner might send for each tool, as JSON (strings for dates).
PARAMS: dict[str, dict[str, Any]] = {
    "commerce.revenue": {"from": "2026-01-01", "to": "2026-02-28", "group_by": "channel"},
    "commerce.orders": {"from": "2026-01-01", "to": "2026-02-28"},
    "commerce.top_customers": {"from": "2026-01-01", "to": "2026-02-28", "limit": 1},
    "commerce.stock_value": {"currency": "EUR"},
    "billing.receivables": {"as_of": "2026-03-31"},
    "billing.refunds": {"from": "2026-03-01", "to": "2026-03-31"},
    "finance.expenses": {"from": "2026-01-01", "to": "2026-01-31"},
    "finance.budgets": {},
}


def registry() -> ToolRegistry:
    """The read tools of these modules (their actions are tested with their modules)."""
    tools = [*COMMERCE_TOOLS, *BILLING_TOOLS, *FINANCE_TOOLS]
    return ToolRegistry(t for t in tools if t.kind == "read")


def ctx_for(tenant: TenantLogin, scopes: frozenset[str] = READER) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_type="user", scopes=scopes)


@pytest.fixture
async def books(db: Database, tenant: TenantLogin) -> None:
    await seed_shop(db, tenant.tenant_id)
    await seed_books(db, tenant.tenant_id)
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        ctx = ctx_for(tenant)
        await budgets.create_budget(
            s,
            ctx,
            name="Ads",
            category="marketing",
            amount=Decimal("100.00"),
            currency="EUR",
        )
        await finance.record_expense(
            s,
            ctx,
            category="marketing",
            amount=Decimal("80.00"),
            currency="EUR",
            spent_on=dt.date(2026, 1, 15),
            description="ads",
        )


def test_every_tool_is_typed_scoped_and_described() -> None:
    tools = registry()
    assert tools.names() == sorted(PARAMS)
    for name in tools.names():
        tool = tools.get(name)
        assert tool.scope in {"commerce:read", "billing:read"}
        assert issubclass(tool.input_model, BaseModel) and tool.description
        assert tool.parameters_schema()["type"] == "object"
    assert [t.name for t in tools.available({"billing:read"})] == [
        "billing.receivables",
        "billing.refunds",
        "finance.budgets",
        "finance.expenses",
    ]


async def test_every_tool_answers_through_the_registry_with_its_provenance(
    db: Database, tenant: TenantLogin, books: None
) -> None:
    tools = registry()
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        results = {n: await tools.call(s, ctx_for(tenant), n, PARAMS[n]) for n in PARAMS}
    for name, result in results.items():
        assert isinstance(result, ToolResult)
        assert result.query and result.records, name
        assert result.to_dict()["records_total"] >= len(result.records)
    # A few figures the fixture fixes (worked out in the metrics tests).
    channels = {(r.key, r.currency): str(r.revenue) for r in results["commerce.revenue"].value.rows}
    assert channels == {
        ("api", "EUR"): "140.00",
        ("deal", "USD"): "300.00",
        ("shopify", "EUR"): "60.00",
    }
    assert results["commerce.orders"].value.order_count == 4
    assert str(results["commerce.stock_value"].value.by_currency[0].value) == "230.00"
    assert results["billing.refunds"].value.count == 3
    [spent] = results["finance.expenses"].value
    assert (spent.category, str(spent.amount), spent.count) == ("marketing", "80.00", 1)
    [budget] = results["finance.budgets"].value
    assert budget.name == "Ads"


async def test_bad_parameters_are_422_with_param_paths(db: Database, tenant: TenantLogin) -> None:
    tools = registry()
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        with pytest.raises(Unprocessable) as bad:
            await tools.call(s, ctx_for(tenant), "commerce.revenue", {"interval": "fortnight"})
        assert bad.value.errors and bad.value.errors[0]["loc"] == ["params", "interval"]
        with pytest.raises(Unprocessable):
            await tools.call(s, ctx_for(tenant), "billing.refunds", {"surprise": True})


async def test_a_tool_needs_its_scope_and_an_unknown_tool_is_404(
    db: Database, tenant: TenantLogin
) -> None:
    tools = registry()
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        with pytest.raises(Forbidden):
            await tools.call(
                s, ctx_for(tenant, frozenset({"commerce:read"})), "billing.receivables", {}
            )
        with pytest.raises(NotFound):
            await tools.call(s, ctx_for(tenant), "commerce.delete_everything", {})


def test_a_name_registers_once() -> None:
    async def run(_s: Any, _c: Any, _p: Any) -> ToolResult:
        return ToolResult(value=1, query="one")

    tool = Tool(name="x.one", description="one", scope="crm:read", input_model=BaseModel, run=run)
    with pytest.raises(ValueError):
        ToolRegistry([tool, tool])
