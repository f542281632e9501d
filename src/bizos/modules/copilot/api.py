"""Copilot API: ask (JSON, or streamed as server-sent events), the caller's
conversations, and confirming or cancelling a proposed action.

Asking needs ``copilot:read`` (every role holds it); each tool the answer uses still
needs its own scope, and confirming an action needs the action tool's scope.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import CopilotRead
from bizos.core.errors import ProblemError
from bizos.core.pagination import Page, PageParams
from bizos.core.tools import ToolRegistry
from bizos.modules.copilot import service
from bizos.modules.copilot.schemas import (
    ActionRead,
    AskRequest,
    AskResponse,
    ConversationRead,
    ConversationSummary,
)

log = structlog.get_logger("bizos.copilot.api")

router = APIRouter(prefix="/api/v1/copilot", tags=["copilot"])

ConversationPages = Annotated[PageParams, Depends(service.CONVERSATION_ORDER.dependency)]


def app_tools(request: Request) -> ToolRegistry | None:
    tools = getattr(request.app.state, "tools", None)
    return tools if isinstance(tools, ToolRegistry) else None


Tools = Annotated[ToolRegistry | None, Depends(app_tools)]

EVENT_STREAM = "text/event-stream"
_STREAM_DOC = (
    "With `Accept: text/event-stream`: server-sent events `plan` (the steps), `tool_call` and "
    "`tool_result` (each step as it runs), `delta` (pieces of the answer's text) and "
    "`complete` (the whole body, as the JSON answer); `error` (a problem+json body) if the "
    "answer fails after the stream began."
)


def redis_url(request: Request) -> str | None:
    settings = getattr(request.app.state, "settings", None)
    url = getattr(settings, "redis_url", None)
    return url if isinstance(url, str) and url else None


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={
        200: {"content": {EVENT_STREAM: {"schema": {"type": "string"}}}, "description": _STREAM_DOC}
    },
)
async def ask(
    body: AskRequest, request: Request, _: CopilotRead, ctx: Ctx, tools: Tools
) -> AskResponse | StreamingResponse:
    """Answer a question from the business's data, showing the working: figures with
    their query and records, sources, the plan's steps, and proposed actions (which run
    only on confirm). Each tool needs its own scope; a step the caller may not run says
    so. ``conversation_id`` continues a conversation of the caller's (another's: 404)."""
    question = await service.prepare_question(ctx, body)
    if EVENT_STREAM in request.headers.get("accept", ""):
        return StreamingResponse(
            answer_events(question, tools, redis_url(request)),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await service.answer_question(question, tools=tools, redis_url=redis_url(request))


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def pieces(text: str, words: int = 4) -> list[str]:
    """The answer in pieces of a few words (the ``delta`` events), spaces kept."""
    tokens = re.findall(r"\S+\s*", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)] or [text]


async def answer_events(
    question: service.Question, tools: ToolRegistry | None, redis: str | None
) -> AsyncIterator[str]:
    """The answer as server-sent events, in the order the work happens."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def emit(event: str, data: dict[str, Any]) -> None:
        await queue.put(sse(event, data))

    async def work() -> None:
        try:
            answer = await service.answer_question(
                question, tools=tools, emit=emit, redis_url=redis
            )
            for piece in pieces(answer.answer):
                await emit("delta", {"text": piece})
            await emit("complete", answer.model_dump(mode="json", by_alias=True))
        except ProblemError as exc:
            await emit("error", exc.to_problem())
        except Exception:  # the stream has begun: say it failed rather than hang up
            log.exception("copilot.ask.stream_failed")
            await emit("error", {"type": "about:blank", "title": "Internal error", "status": 500})
        finally:
            await queue.put(None)

    task = asyncio.create_task(work())
    try:
        while (item := await queue.get()) is not None:
            yield item
    finally:
        if not task.done():
            task.cancel()


@router.get("/conversations", response_model=Page[ConversationSummary])
async def list_conversations(
    _: CopilotRead, session: DbSession, ctx: Ctx, page: ConversationPages
) -> Page[ConversationSummary]:
    """The caller's own conversations, the most recently continued first."""
    return Page[ConversationSummary].of(await service.list_conversations(session, ctx, page=page))


@router.get("/conversations/{conversation_id}", response_model=ConversationRead)
async def get_conversation(
    conversation_id: str, _: CopilotRead, session: DbSession, ctx: Ctx
) -> ConversationRead:
    """One of the caller's conversations with its turns (another user's is a 404)."""
    return await service.get_conversation(session, ctx, conversation_id)


@router.get("/actions/{action_id}", response_model=ActionRead)
async def get_action(action_id: str, _: CopilotRead, session: DbSession, ctx: Ctx) -> ActionRead:
    return await service.get_action(session, ctx, action_id)


@router.post("/actions/{action_id}/confirm", response_model=ActionRead)
async def confirm_action(
    action_id: str, _: CopilotRead, session: DbSession, ctx: Ctx, tools: Tools
) -> ActionRead:
    """Run the proposed action once, with the caller's scopes; a repeat returns the
    first result."""
    return await service.confirm_action(session, ctx, action_id, tools=tools)


@router.post("/actions/{action_id}/cancel", response_model=ActionRead)
async def cancel_action(
    action_id: str, _: CopilotRead, session: DbSession, ctx: Ctx, tools: Tools
) -> ActionRead:
    """Withdraw a proposal; it will not run."""
    return await service.cancel_action(session, ctx, action_id, tools=tools)
