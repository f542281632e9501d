"""Outside agents reach the copilot's tools over MCP, spoken to by the official MCP
Python SDK as the client: over stdio (``bizos mcp`` in a child process) and over
streamable HTTP at ``/mcp``. The API key decides everything: which tenant's data, which
tools are listed, and whether the door opens at all. Actions are only proposed."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.tools import (
    Days,
    Figure,
    Proposal,
    Said,
    SourceRef,
    Tool,
    ToolResult,
    actions_for,
    tools_for,
)
from bizos.modules.commerce.models import Order
from tests.conftest import IS_PG, TenantLogin, signup
from tests.modules.identity.helpers import assert_problem, create_key

# --- the shop behind the figures ------------------------------------------------------

JAN = {"from": "2026-01-01", "to": "2026-01-31", "group_by": "channel"}


async def sell(db: Database, tenant_id: str, number: str, total: str) -> str:
    """One fulfilled EUR order placed on 5 January 2026 for ``total``; its id."""
    async with db.unit_of_work(tenant_id=tenant_id) as s:
        order = Order(
            number=number,
            status="fulfilled",
            source="api",
            currency="EUR",
            placed_at=dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC),
            subtotal=Decimal(total),
            total=Decimal(total),
        )
        s.add(order)
        await s.flush()
        return order.id


# --- an action tool, proposed and never run ----------------------------------------


class FollowUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1)


async def _propose_follow_up(session: Any, ctx: Context, params: FollowUp) -> Proposal:
    return Proposal(f"Create the task '{params.title}'", None, {"title": params.title})


DONE: list[str] = []


async def _create_follow_up(session: Any, ctx: Context, params: FollowUp) -> ToolResult:
    DONE.append(params.title)
    return ToolResult(value={"title": params.title}, query="created a follow-up task")


FOLLOW_UP: Tool = actions_for(
    "crm:write",
    ("test.follow_up", "Create a follow-up task.", FollowUp, _propose_follow_up, _create_follow_up),
)[0]


@pytest.fixture
def with_action(app: Any) -> Tool:
    """This test's app with one more action tool, for MCP and the copilot's API alike."""
    DONE.clear()
    app.state.tools.register(FOLLOW_UP)
    return FOLLOW_UP


# --- read tools with words -----------------------------------------------------------


async def _takings(session: Any, ctx: Context, params: Days) -> ToolResult:
    return ToolResult(Decimal("24580.00"), "sum of the till", params.described(), ["t-1"])


def _say_takings(params: Days, result: ToolResult) -> Said:
    start, end = params.bounds()
    return Said(
        "The takings were $24,580.00.",
        [Figure("Takings", result.value, "USD", period=(start, end))],
        [SourceRef("document", "d-1", "Till rolls")],
    )


def _stammer(params: Days, result: ToolResult) -> Said:
    raise ValueError("lost for words")


SPOKEN: list[Tool] = tools_for(
    "commerce:read",
    ("test.takings", "The till's takings.", Days, _takings, _say_takings),
    ("test.stammer", "The till's takings, unsaid.", Days, _takings, _stammer),
)


# --- clients ------------------------------------------------------------------------


@asynccontextmanager
async def over_http(app: Any, key: str, **client: Any) -> AsyncIterator[Client]:
    """An MCP client on ``/mcp`` of the ASGI app, with ``key`` as its bearer token."""
    transport = httpx2.ASGITransport(app=app)
    async with (
        httpx2.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {key}"},
        ) as http,
        Client(streamable_http_client("http://testserver/mcp", http_client=http), **client) as mcp,
    ):
        yield mcp


def child_env(database_url: str, **extra: str) -> dict[str, str]:
    """What ``bizos mcp`` needs from this test's environment: the same master secret
    (API keys are checked by their keyed hash), this test's database, the source tree."""
    env = {k: v for k, v in os.environ.items() if k.startswith("BIZOS_") and k != "BIZOS_API_KEY"}
    env.update(
        BIZOS_DATABASE_URL=database_url,
        BIZOS_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
        **extra,
    )
    return env


def over_stdio(database_url: str, key: str) -> Client:
    return Client(
        StdioServerParameters(
            command=sys.executable,
            args=["-m", "bizos.cli", "mcp"],
            env=child_env(database_url, BIZOS_API_KEY=key),
        )
    )


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def names(mcp: Client) -> set[str]:
    return {tool.name for tool in (await mcp.list_tools()).tools}


# --- streamable HTTP ----------------------------------------------------------------


async def test_an_agent_lists_only_the_tools_its_key_allows(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    key = await create_key(client, tenant, ["commerce:read"])

    async with over_http(app, key["key"]) as mcp:
        listed = (await mcp.list_tools()).tools

    by_name = {t.name: t for t in listed}
    assert "commerce.revenue" in by_name
    assert all(name.startswith("commerce.") for name in by_name)
    revenue = by_name["commerce.revenue"]
    assert revenue.input_schema["type"] == "object"
    assert {"from", "to", "group_by"} <= set(revenue.input_schema["properties"])
    assert revenue.annotations is not None and revenue.annotations.read_only_hint


async def test_an_agent_asks_for_revenue_and_gets_the_figure_with_its_working(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    order_id = await sell(db, tenant.tenant_id, "SO-1", "120.00")
    key = await create_key(client, tenant, ["commerce:read"])

    async with over_http(app, key["key"]) as mcp:
        result = await mcp.call_tool("commerce.revenue", JAN)

    assert not result.is_error, text_of(result)
    figure = result.structured_content
    assert figure is not None
    assert figure["value"]["totals"] == {"EUR": "120.00"}
    assert figure["filters"]["from"] == "2026-01-01"
    assert figure["records"] == [order_id] and figure["records_total"] == 1
    assert figure["query"]
    assert "120" in text_of(result)


async def test_a_tool_with_words_answers_in_them_with_its_figures(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for tool in SPOKEN:
        app.state.tools.register(tool)
    key = await create_key(client, tenant, ["commerce:read"])
    march = {"from": "2026-03-01", "to": "2026-03-31"}

    async with over_http(app, key["key"]) as mcp:
        spoken = await mcp.call_tool("test.takings", march)
        unsaid = await mcp.call_tool("test.stammer", march)

    assert text_of(spoken) == "The takings were $24,580.00."
    assert spoken.structured_content is not None
    assert spoken.structured_content["value"] == "24580.00"
    assert spoken.structured_content["said"] == {
        "text": "The takings were $24,580.00.",
        "figures": [
            {
                "label": "Takings",
                "value": "24580.00",
                "currency": "USD",
                "unit": None,
                "period": {"from": "2026-03-01", "to": "2026-03-31"},
            }
        ],
        "sources": [{"type": "document", "id": "d-1", "title": "Till rolls", "excerpt": ""}],
    }
    # Words that fail leave the figure standing, told as its JSON.
    assert not unsaid.is_error
    assert unsaid.structured_content is not None and "said" not in unsaid.structured_content
    assert '"value": "24580.00"' in text_of(unsaid)


async def test_an_old_style_client_gets_the_same_answers(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    """Clients of the 2025 protocol open with the initialize handshake."""
    await sell(db, tenant.tenant_id, "SO-1", "80.00")
    key = await create_key(client, tenant, ["commerce:read"])

    async with over_http(app, key["key"], mode="legacy") as mcp:
        assert "commerce.revenue" in await names(mcp)
        result = await mcp.call_tool("commerce.revenue", JAN)

    assert result.structured_content is not None
    assert result.structured_content["value"]["totals"] == {"EUR": "80.00"}


async def test_a_key_of_one_tenant_never_sees_another_tenants_figures(
    app: Any,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    db: Database,
) -> None:
    mine = await sell(db, tenant.tenant_id, "SO-1", "120.00")
    theirs = await sell(db, other_tenant.tenant_id, "SO-1", "999.00")
    key = await create_key(client, tenant, ["commerce:read"])
    their_key = await create_key(client, other_tenant, ["commerce:read"])

    async with over_http(app, key["key"]) as mcp:
        seen = (await mcp.call_tool("commerce.revenue", JAN)).structured_content
    async with over_http(app, their_key["key"]) as mcp:
        seen_by_them = (await mcp.call_tool("commerce.revenue", JAN)).structured_content

    assert seen is not None and seen_by_them is not None
    assert seen["value"]["totals"] == {"EUR": "120.00"} and seen["records"] == [mine]
    assert seen_by_them["value"]["totals"] == {"EUR": "999.00"}
    assert seen_by_them["records"] == [theirs]


async def test_bad_parameters_are_a_tool_error_that_says_which(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    key = await create_key(client, tenant, ["commerce:read"])

    async with over_http(app, key["key"]) as mcp:
        bad_date = await mcp.call_tool("commerce.revenue", {"from": "last tuesday"})
        bad_choice = await mcp.call_tool("commerce.revenue", {"group_by": "planet"})
        unknown = await mcp.call_tool("commerce.weather", {})
        still_fine = await mcp.call_tool("commerce.revenue", JAN)

    assert bad_date.is_error and "422" in text_of(bad_date)
    assert "params.from" in text_of(bad_date)
    assert bad_choice.is_error and "params.group_by" in text_of(bad_choice)
    assert unknown.is_error and "no tool named 'commerce.weather'" in text_of(unknown)
    assert not still_fine.is_error


async def test_a_tool_outside_the_keys_scopes_is_refused(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    key = await create_key(client, tenant, ["commerce:read"])

    async with over_http(app, key["key"]) as mcp:
        assert "billing.receivables" not in await names(mcp)
        refused = await mcp.call_tool("billing.receivables", {})

    assert refused.is_error
    assert "403" in text_of(refused) and "missing scope: billing:read" in text_of(refused)


async def test_an_action_is_proposed_and_waits_for_a_person_to_confirm(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin, with_action: Tool
) -> None:
    key = await create_key(client, tenant, ["crm:read", "crm:write"])

    async with over_http(app, key["key"]) as mcp:
        listed = {t.name: t for t in (await mcp.list_tools()).tools}
        result = await mcp.call_tool("test.follow_up", {"title": "Call Ada back"})
        bad = await mcp.call_tool("test.follow_up", {"title": ""})

    action = listed["test.follow_up"]
    assert action.annotations is not None and action.annotations.read_only_hint is False
    assert "confirms it in bizos" in (action.description or "")
    assert not result.is_error, text_of(result)
    proposal = result.structured_content
    assert proposal is not None
    assert proposal["status"] == "proposed" and proposal["needs_confirmation"] is True
    assert proposal["tool"] == "test.follow_up"
    assert proposal["summary"] == "Create the task 'Call Ada back'"
    assert proposal["before"] is None and proposal["after"] == {"title": "Call Ada back"}
    assert proposal["id"] in text_of(result) and "confirm" in text_of(result)
    assert bad.is_error and "params.title" in text_of(bad)
    # Nothing to confirm it with over MCP, and nothing has run: that is for a person.
    assert not any("confirm" in name for name in listed)
    assert DONE == []
    waiting = await client.get(f"/api/v1/copilot/actions/{proposal['id']}", headers=tenant.headers)
    assert waiting.json()["status"] == "proposed"

    confirmed = await client.post(
        f"/api/v1/copilot/actions/{proposal['id']}/confirm", headers=tenant.headers
    )

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "executed"
    assert DONE == ["Call Ada back"]


async def test_an_agent_proposes_a_real_task_and_no_task_exists_until_confirmed(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    key = await create_key(client, tenant, ["crm:read", "crm:write"])

    async with over_http(app, key["key"]) as mcp:
        assert "work.create_task" in await names(mcp)
        result = await mcp.call_tool(
            "work.create_task", {"title": "Ring the supplier", "due_on": "2026-12-24"}
        )

    assert not result.is_error, text_of(result)
    proposal = result.structured_content
    assert proposal is not None and proposal["status"] == "proposed"
    assert proposal["before"] is None and proposal["after"]["title"] == "Ring the supplier"
    assert "Ring the supplier" in proposal["summary"]
    tasks = await client.get("/api/v1/tasks", headers=tenant.headers)
    assert tasks.json()["items"] == []

    confirmed = await client.post(
        f"/api/v1/copilot/actions/{proposal['id']}/confirm", headers=tenant.headers
    )

    assert confirmed.json()["status"] == "executed", confirmed.text
    tasks = await client.get("/api/v1/tasks", headers=tenant.headers)
    assert [t["title"] for t in tasks.json()["items"]] == ["Ring the supplier"]


async def test_an_action_outside_the_keys_scopes_is_not_even_proposed(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin, with_action: Tool
) -> None:
    key = await create_key(client, tenant, ["crm:read"])

    async with over_http(app, key["key"]) as mcp:
        assert "test.follow_up" not in await names(mcp)
        refused = await mcp.call_tool("test.follow_up", {"title": "Call Ada back"})

    assert refused.is_error and "missing scope: crm:write" in text_of(refused)


async def test_the_door_is_shut_without_a_valid_api_key(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}

    nobody = await client.post("/mcp", json=hello, headers=accept)
    forged = await client.post(
        "/mcp", json=hello, headers={**accept, "Authorization": "Bearer bos_not-a-key"}
    )
    a_login = await client.post("/mcp", json=hello, headers={**accept, **tenant.headers})

    assert "missing bearer token" in assert_problem(nobody, 401)["detail"]
    assert "invalid API key" in assert_problem(forged, 401)["detail"]
    assert "API key" in assert_problem(a_login, 401)["detail"]
    assert nobody.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_key_stops_working_at_once(
    app: Any, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    key = await create_key(client, tenant, ["commerce:read"])
    async with over_http(app, key["key"]) as mcp:
        assert "commerce.revenue" in await names(mcp)

    revoked = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant.headers)
    assert revoked.status_code == 204

    r = await client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert_problem(r, 401)


async def test_mcp_draws_on_the_keys_rate_limit_like_any_request(
    settings: Settings, db: Database
) -> None:
    limited = settings.model_copy(update={"rate_limit_per_minute": 2})
    app = create_app(limited, database=db, workers=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        tenant = await signup(client)
        key = await create_key(client, tenant, ["commerce:read"])
        ask = {
            "json": {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            "headers": {
                "Authorization": f"Bearer {key['key']}",
                "Accept": "application/json, text/event-stream",
            },
        }
        answered = [await client.post("/mcp", **ask) for _ in range(2)]
        refused = await client.post("/mcp", **ask)

    assert [r.status_code for r in answered] == [200, 200]
    assert "commerce.revenue" in answered[0].text
    assert answered[0].headers["ratelimit-limit"] == "2"
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1


# --- stdio: ``bizos mcp`` -------------------------------------------------------------

stdio = pytest.mark.skipif(IS_PG, reason="the child process is exercised on SQLite")


@stdio
async def test_bizos_mcp_over_stdio_lists_and_answers_for_its_key(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    db: Database,
    database_url: str,
) -> None:
    mine = await sell(db, tenant.tenant_id, "SO-1", "120.00")
    await sell(db, other_tenant.tenant_id, "SO-1", "999.00")
    key = await create_key(client, tenant, ["commerce:read", "crm:read", "crm:write"])

    async with over_stdio(database_url, key["key"]) as mcp:
        listed = await names(mcp)
        result = await mcp.call_tool("commerce.revenue", JAN)
        bad = await mcp.call_tool("commerce.revenue", {"from": "soon"})
        proposed = await mcp.call_tool("work.create_task", {"title": "Ring the supplier"})

    assert {"commerce.revenue", "work.create_task"} <= listed
    assert not any(name.startswith(("billing.", "support.", "kb.")) for name in listed)
    assert result.structured_content is not None
    assert result.structured_content["value"]["totals"] == {"EUR": "120.00"}
    assert result.structured_content["records"] == [mine]
    assert bad.is_error and "params.from" in text_of(bad)
    assert proposed.structured_content is not None, text_of(proposed)
    assert proposed.structured_content["status"] == "proposed"
    assert "confirm" in text_of(proposed)
    tasks = await client.get("/api/v1/tasks", headers=tenant.headers)
    assert tasks.json()["items"] == []  # proposed, not done


@stdio
def test_bizos_mcp_refuses_a_bad_key_before_serving(database_url: str) -> None:
    for env in ({"BIZOS_API_KEY": "bos_not-a-key"}, {}):
        done = subprocess.run(
            [sys.executable, "-m", "bizos.cli", "mcp"],
            env=child_env(database_url, **env),
            input="",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0
        assert done.stdout == ""  # the protocol's channel stays clean
        assert "API key" in done.stderr or "BIZOS_API_KEY" in done.stderr
