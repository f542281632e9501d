"""Copilot API: ask (JSON, or streamed as server-sent events), the caller's
conversations, and confirming or cancelling a proposed action.

Asking needs ``copilot:use`` (every role holds it); each tool the answer uses still
needs its own scope, and confirming an action needs the action tool's scope.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from bizos.api.deps import Ctx, DbSession
from bizos.core.auth import CopilotUse
from bizos.core.pagination import Page, PageParams
from bizos.core.tools import ToolRegistry
from bizos.modules.copilot import service
from bizos.modules.copilot.schemas import ActionRead, ConversationRead, ConversationSummary

router = APIRouter(prefix="/api/v1/copilot", tags=["copilot"])

ConversationPages = Annotated[PageParams, Depends(service.CONVERSATION_ORDER.dependency)]


def app_tools(request: Request) -> ToolRegistry | None:
    tools = getattr(request.app.state, "tools", None)
    return tools if isinstance(tools, ToolRegistry) else None


Tools = Annotated[ToolRegistry | None, Depends(app_tools)]


@router.get("/conversations", response_model=Page[ConversationSummary])
async def list_conversations(
    _: CopilotUse, session: DbSession, ctx: Ctx, page: ConversationPages
) -> Page[ConversationSummary]:
    """The caller's own conversations, the most recently continued first."""
    return Page[ConversationSummary].of(await service.list_conversations(session, ctx, page=page))


@router.get("/conversations/{conversation_id}", response_model=ConversationRead)
async def get_conversation(
    conversation_id: str, _: CopilotUse, session: DbSession, ctx: Ctx
) -> ConversationRead:
    """One of the caller's conversations with its turns (another user's is a 404)."""
    return await service.get_conversation(session, ctx, conversation_id)


@router.get("/actions/{action_id}", response_model=ActionRead)
async def get_action(action_id: str, _: CopilotUse, session: DbSession, ctx: Ctx) -> ActionRead:
    return await service.get_action(session, ctx, action_id)


@router.post("/actions/{action_id}/confirm", response_model=ActionRead)
async def confirm_action(
    action_id: str, _: CopilotUse, session: DbSession, ctx: Ctx, tools: Tools
) -> ActionRead:
    """Run the proposed action once, with the caller's scopes; a repeat returns the
    first result."""
    return await service.confirm_action(session, ctx, action_id, tools=tools)


@router.post("/actions/{action_id}/cancel", response_model=ActionRead)
async def cancel_action(
    action_id: str, _: CopilotUse, session: DbSession, ctx: Ctx, tools: Tools
) -> ActionRead:
    """Withdraw a proposal; it will not run."""
    return await service.cancel_action(session, ctx, action_id, tools=tools)
