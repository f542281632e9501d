"""The copilot's tools for outside agents, over MCP (the Model Context Protocol).

One server, two doors: ``bizos mcp`` speaks it over stdio, and the app serves it as
streamable HTTP at ``/mcp``. Both take an API key and resolve it exactly as the HTTP API
does (a revoked, expired or disabled key, or one whose user was deactivated, is
refused); the key names the tenant, and its scopes decide which tools are listed and
may be called.

* A **read** tool runs through :meth:`ToolRegistry.call` in a session of the key's
  tenant. The answer is the :class:`ToolResult` (value, query, filters, records,
  records_total) as structured content, and the tool's words (``speak``) as text.
* An **action** tool never runs here. It is proposed through the copilot's service,
  like a proposal in a conversation, and the answer says so: the change waits for a
  person to confirm it in bizos. Confirmation is not offered over MCP.
* A problem (bad parameters, a missing scope, an unknown tool) is a tool error whose text
  says what was wrong; nothing a caller sends makes the server fail.

The HTTP door is stateless (every POST carries its key and is answered on its own), so
it works behind several API processes and under the gateway middleware (request ids,
rate limits per key, body limits) like any other route.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Any

import mcp_types as types
import structlog
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from bizos.api.asgi import send_problem
from bizos.core.auth import Principal, authenticate, authenticate_token
from bizos.core.context import Context, use_context
from bizos.core.db import get_database
from bizos.core.errors import Forbidden, ProblemError, Unauthenticated
from bizos.core.tools import Said, Tool, ToolRegistry, ToolResult
from bizos.modules.copilot import service as copilot
from bizos.modules.copilot.schemas import ActionRead, PeriodRead

log = structlog.get_logger("bizos.copilot.mcp")

SERVER_NAME = "bizos"
INSTRUCTIONS = (
    "Figures and records of one bizos workspace, computed by its database. Read tools "
    "answer with the figure, the query behind it, the filters and the record ids. "
    "Action tools only propose a change: a person confirms it in bizos."
)
ACTION_NOTE = " Proposes the change only: nothing changes until a person confirms it in bizos."
# Where the HTTP door leaves the caller's context for the handlers (the ASGI scope's state).
SCOPE_CONTEXT = "bizos.mcp.context"


Caller = Callable[[ServerRequestContext[Any, Any]], Awaitable[Context]]
"""Who is asking: the context of the key behind one MCP request (401 if it is not valid)."""


def caller_context(principal: Principal, **edge: Any) -> Context:
    """The service context of an API key's principal, as the HTTP API builds it."""
    return Context(
        tenant_id=principal.tenant_id,
        actor_id=principal.actor_id,
        actor_type=principal.actor_type,
        scopes=principal.scopes,
        session_id=principal.session_id,
        **edge,
    )


def require_api_key(principal: Principal) -> Principal:
    """MCP is for agents: it takes an API key, never a person's access token."""
    if principal.actor_type != "api_key":
        raise Unauthenticated("MCP takes an API key (bos_…), not a login token")
    return principal


# --- the server ---------------------------------------------------------------------


def build_server(registry: ToolRegistry, caller: Caller) -> Server[Any]:
    """An MCP server offering ``registry``'s tools to whoever ``caller`` names."""
    tools = McpTools(registry, caller)
    return Server(
        SERVER_NAME,
        version="0.1.0",
        title="bizos",
        instructions=INSTRUCTIONS,
        on_list_tools=tools.list_tools,
        on_call_tool=tools.call_tool,
    )


class McpTools:
    """The two requests the server answers: list the tools, call one."""

    def __init__(self, registry: ToolRegistry, caller: Caller) -> None:
        self.registry = registry
        self.caller = caller

    async def list_tools(
        self, request: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        try:
            ctx = await self.caller(request)
        except ProblemError as exc:
            raise MCPError(types.INVALID_REQUEST, exc.detail) from None
        return types.ListToolsResult(
            tools=[describe(tool) for tool in self.registry.available(ctx.scopes)]
        )

    async def call_tool(
        self, request: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            ctx = await self.caller(request)
            tool = self.registry.get(params.name)
            if tool.scope not in ctx.scopes:
                raise Forbidden(f"missing scope: {tool.scope}")
            validated = self.registry.validated(tool.name, params.arguments)
            if tool.kind == "action":
                return await self._propose(ctx, tool, dict(params.arguments or {}))
            return await self._read(ctx, tool, validated)
        except ProblemError as exc:
            return problem_result(exc)
        except Exception:
            # A fault of ours, not the caller's: logged with the tool's name, answered as a
            # tool error so the agent (and the server) carry on.
            log.exception("mcp.tool_failed", tool=params.name)
            return error_result(
                f"{params.name} failed unexpectedly; the error is logged on the server"
            )

    async def _read(self, ctx: Context, tool: Tool, params: BaseModel) -> types.CallToolResult:
        async with get_database().unit_of_work(
            tenant_id=ctx.require_tenant(), readonly=True
        ) as session:
            session.info["ctx"] = ctx
            with use_context(ctx):
                result = await self.registry.call(session, ctx, tool.name, params)
        log.info(
            "mcp.tool_called",
            tool=tool.name,
            tenant_id=ctx.tenant_id,
            api_key_id=ctx.actor_id,
            records_total=result.records_total,
        )
        return read_result(tool, params, result)

    async def _propose(
        self, ctx: Context, tool: Tool, arguments: dict[str, Any]
    ) -> types.CallToolResult:
        async with get_database().unit_of_work(tenant_id=ctx.require_tenant()) as session:
            session.info["ctx"] = ctx
            with use_context(ctx):
                action = await copilot.propose_action(
                    session, ctx, tool.name, arguments, tools=self.registry
                )
        log.info(
            "mcp.action_proposed",
            tool=tool.name,
            tenant_id=ctx.tenant_id,
            api_key_id=ctx.actor_id,
            action_id=action.id,
        )
        return proposal_result(action)


def describe(tool: Tool) -> types.Tool:
    """A registry tool as MCP lists it: its parameters' JSON schema, and hints saying
    whether it reads or proposes a change."""
    is_read = tool.kind == "read"
    return types.Tool(
        name=tool.name,
        description=tool.description + ("" if is_read else ACTION_NOTE),
        input_schema=tool.parameters_schema(),
        annotations=types.ToolAnnotations(
            read_only_hint=is_read,
            destructive_hint=False,
            open_world_hint=False,
        ),
    )


# --- answers ------------------------------------------------------------------------


def read_result(tool: Tool, params: BaseModel, result: ToolResult) -> types.CallToolResult:
    """The result as structured content; its words (or, without ``speak``, its JSON) as
    text, for clients that read only text."""
    structured: dict[str, Any] = to_jsonable_python(result.to_dict(), by_alias=True)
    said = _said(tool, params, result)
    if said is not None:
        structured["said"] = said_read(said)
        text = said.text
    else:
        text = json.dumps(structured, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=structured
    )


def said_read(said: Said) -> dict[str, Any]:
    """The words with the figures they state (exact values, money as decimal text) and
    the sources they rest on, shaped as the copilot's answers shape them."""
    figures = [
        {
            "label": f.label,
            "value": f.value,
            "currency": f.currency,
            "unit": f.unit,
            "period": PeriodRead(from_=f.period[0], to=f.period[1]) if f.period else None,
        }
        for f in said.figures
    ]
    sources = [asdict(source) for source in said.sources]
    shaped: dict[str, Any] = to_jsonable_python(
        {"text": said.text, "figures": figures, "sources": sources}, by_alias=True
    )
    return shaped


def _said(tool: Tool, params: BaseModel, result: ToolResult) -> Said | None:
    if tool.speak is None:
        return None
    try:
        return tool.speak(params, result)
    except Exception:
        # The figures stand without their words: answer with the result alone.
        log.exception("mcp.speak_failed", tool=tool.name)
        return None


def proposal_result(action: ActionRead) -> types.CallToolResult:
    """A proposal, plainly not done: it waits for a person's confirmation in bizos."""
    structured: dict[str, Any] = {
        "id": action.id,
        "tool": action.tool,
        "summary": action.summary,
        "before": to_jsonable_python(action.before),
        "after": to_jsonable_python(action.after),
        "status": action.status,
        "needs_confirmation": True,
    }
    text = (
        f"Proposed, not done: {action.summary}. Nothing has changed yet: a person must "
        f"confirm this in bizos (action {action.id})."
    )
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=structured
    )


def problem_result(exc: ProblemError) -> types.CallToolResult:
    """A refused call as a tool error: the status, what was wrong, and each bad field."""
    lines = [f"{exc.status} {exc.title}: {exc.detail}"]
    for err in exc.errors or []:
        lines.append(f"{'.'.join(str(p) for p in err.get('loc', []))}: {err.get('msg', '')}")
    problem = {"status": exc.status, "title": exc.title, "detail": exc.detail}
    if exc.errors:
        problem["errors"] = to_jsonable_python(exc.errors)
    return types.CallToolResult(
        content=[types.TextContent(text="\n".join(lines))],
        structured_content={"error": problem},
        is_error=True,
    )


def error_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


# --- stdio: ``bizos mcp`` -----------------------------------------------------------


def key_caller(api_key: str) -> Caller:
    """Every request of a stdio session checks the one key again (through the principal
    cache, as the HTTP API does), so a key revoked mid-session stops working."""

    async def caller(_: ServerRequestContext[Any, Any]) -> Context:
        principal = require_api_key(await authenticate_token(api_key))
        return caller_context(principal, user_agent="bizos mcp (stdio)")

    return caller


async def serve_stdio(registry: ToolRegistry, api_key: str) -> None:
    """Serve MCP on stdin/stdout for ``api_key`` until the client closes the pipe. The
    key is checked before anything is served (401 raised as :class:`Unauthenticated`)."""
    require_api_key(await authenticate_token(api_key))
    server = build_server(registry, key_caller(api_key))
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


# --- streamable HTTP: ``/mcp`` ------------------------------------------------------


async def request_caller(request: ServerRequestContext[Any, Any]) -> Context:
    """The context the HTTP door authenticated for this request."""
    http: Request | None = request.request if isinstance(request.request, Request) else None
    ctx = http.scope.get("state", {}).get(SCOPE_CONTEXT) if http is not None else None
    if not isinstance(ctx, Context):
        raise Unauthenticated("missing API key")
    return ctx


class McpHttp:
    """The ASGI app at ``/mcp``: a bearer API key on every request (401 problem+json
    without one, or with a bad one), then the SDK's stateless streamable HTTP transport.

    The transport's task group runs in a task of its own, started by :meth:`running`
    from the app's lifespan, so it opens and closes in one task however the lifespan is
    driven.
    """

    def __init__(self, registry: ToolRegistry) -> None:
        self.server = build_server(registry, request_caller)
        self._manager: StreamableHTTPSessionManager | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        manager = StreamableHTTPSessionManager(app=self.server, stateless=True, json_response=True)
        started, stop = asyncio.Event(), asyncio.Event()

        async def serve() -> None:
            async with manager.run():
                self._manager = manager
                started.set()
                await stop.wait()

        task = asyncio.create_task(serve(), name="bizos-mcp-http")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # raises why it could not start
            raise RuntimeError("the MCP transport stopped as it started")
        try:
            yield
        finally:
            self._manager = None
            stop.set()
            await task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            principal = require_api_key(await authenticate(request))
        except ProblemError as exc:
            await send_problem(
                send,
                exc.status,
                exc.title,
                exc.detail,
                instance=scope["path"],
                headers=[("WWW-Authenticate", 'Bearer realm="bizos"')],
            )
            return
        if self._manager is None:
            await send_problem(
                send, 503, "Service unavailable", "MCP is not running", instance=scope["path"]
            )
            return
        state = scope.setdefault("state", {})
        state[SCOPE_CONTEXT] = caller_context(
            principal,
            request_id=state.get("request_id"),
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            **({"correlation_id": state["correlation_id"]} if "correlation_id" in state else {}),
        )
        await self._manager.handle_request(scope, receive, send)
