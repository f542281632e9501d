"""The copilot's use cases: ask, conversations, and proposed actions.

The only writer of the copilot's tables. A conversation is its user's: another user's or
another tenant's answers 404 like a missing one. An action tool never runs while
answering; it is *proposed* (a row with the before/after its ``propose`` described) and
runs once, on :func:`confirm_action`, with the confirming caller's scopes, in the
transaction that marks it executed. The row is read ``FOR UPDATE`` (PostgreSQL) and
writers are serialised (SQLite), so a burst of confirms runs the tool once and every
later confirm returns the first result.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import SCOPES
from bizos.core.context import Context
from bizos.core.db import utcnow
from bizos.core.errors import Conflict, Forbidden, Unprocessable
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.core.ports import ports
from bizos.core.reads import one_or_404
from bizos.core.tools import Tool, ToolRegistry
from bizos.modules.copilot.models import Action, Conversation, Turn
from bizos.modules.copilot.schemas import (
    ActionRead,
    ConversationRead,
    ConversationSummary,
    TurnRead,
)

log = structlog.get_logger("bizos.copilot")

CONVERSATION_ORDER = ListOrder(
    "copilot.conversations",
    Conversation.id,
    [Conversation.updated_at, Conversation.created_at],
    default="-updated_at",
)


def registry_of(tools: ToolRegistry | None) -> ToolRegistry:
    """``tools`` (a request's ``app.state.tools``) or every manifest's, as installed."""
    if tools is not None:
        return tools
    if ports.tools is None:
        raise RuntimeError("the tools are not installed; call registry.install_ports()")
    return ports.tools


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it (decimals as strings, dates in ISO form)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return to_jsonable_python(value)


# --- actions -------------------------------------------------------------------------


def action_read(row: Action) -> ActionRead:
    return ActionRead(
        id=row.id,
        tool=row.tool,
        summary=row.summary,
        before=row.before,
        after=row.after or {},
        status=row.status,
        params=row.params or {},
        result=row.result,
        conversation_id=row.conversation_id,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


def proposing_scope(tool: Tool) -> str:
    """What a caller needs to see a proposal of ``tool``: the read scope matching its
    write scope (a proposal reads the record it would change), else the scope itself."""
    read = tool.scope.replace(":write", ":read")
    return read if read in SCOPES else tool.scope


def action_tool(registry: ToolRegistry, name: str) -> Tool:
    tool = registry.get(name)
    if tool.kind != "action" or tool.propose is None:
        raise Unprocessable(f"{name} is not an action")
    return tool


async def propose_action(
    session: AsyncSession,
    ctx: Context,
    tool_name: str,
    params: dict[str, Any],
    *,
    conversation_id: str | None = None,
    tools: ToolRegistry | None = None,
) -> ActionRead:
    """Describe what action ``tool_name`` would do with ``params`` and store it as a
    proposal; nothing changes until :func:`confirm_action`. 404 for an unknown tool, 422
    for a read tool or bad params, 403 when the caller may not even read what it touches."""
    registry = registry_of(tools)
    tool = action_tool(registry, tool_name)
    needed = proposing_scope(tool)
    if needed not in ctx.scopes:
        raise Forbidden(f"missing scope: {needed}")
    validated = registry.validated(tool_name, params)
    assert tool.propose is not None
    proposal = await tool.propose(session, ctx, validated)
    row = Action(
        conversation_id=conversation_id,
        proposed_by=ctx.actor_id,
        tool=tool_name,
        params=jsonable(validated),
        summary=proposal.summary,
        before=jsonable(proposal.before),
        after=jsonable(proposal.after),
        status="proposed",
    )
    session.add(row)
    await session.flush()
    log.info("copilot.action.proposed", action_id=row.id, tool=tool_name)
    return action_read(row)


async def _action_for_update(session: AsyncSession, action_id: str) -> Action:
    query = (
        sa.select(Action)
        .where(Action.id == action_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return await one_or_404(session, query, "action")


async def confirm_action(
    session: AsyncSession,
    ctx: Context,
    action_id: str,
    *,
    tools: ToolRegistry | None = None,
) -> ActionRead:
    """Run the proposed action once, with ``ctx``'s scopes (403 without the tool's), in
    the caller's transaction, and mark it executed with its result. A repeat (or a
    confirm that waited on a concurrent one) returns the first result; a cancelled
    action is a 409."""
    registry = registry_of(tools)
    row = await _action_for_update(session, action_id)
    tool = action_tool(registry, row.tool)
    if tool.scope not in ctx.scopes:
        raise Forbidden(f"missing scope: {tool.scope}")
    if row.status == "executed":
        return action_read(row)
    if row.status == "cancelled":
        raise Conflict("the action was cancelled")
    params = registry.validated(row.tool, row.params)
    result = await tool.run(session, ctx, params)
    row.status = "executed"
    row.result = jsonable(result.to_dict())
    row.decided_by = ctx.actor_id
    row.decided_at = utcnow()
    row.version += 1
    await session.flush()
    log.info("copilot.action.executed", action_id=row.id, tool=row.tool)
    return action_read(row)


async def cancel_action(
    session: AsyncSession,
    ctx: Context,
    action_id: str,
    *,
    tools: ToolRegistry | None = None,
) -> ActionRead:
    """Withdraw a proposal (its proposer, or anyone who could confirm it). Cancelling a
    cancelled action returns it; an executed one is a 409."""
    registry = registry_of(tools)
    row = await _action_for_update(session, action_id)
    tool = action_tool(registry, row.tool)
    if row.proposed_by != ctx.actor_id and tool.scope not in ctx.scopes:
        raise Forbidden(f"missing scope: {tool.scope}")
    if row.status == "cancelled":
        return action_read(row)
    if row.status == "executed":
        raise Conflict("the action was already executed")
    row.status = "cancelled"
    row.decided_by = ctx.actor_id
    row.decided_at = utcnow()
    row.version += 1
    await session.flush()
    log.info("copilot.action.cancelled", action_id=row.id, tool=row.tool)
    return action_read(row)


async def get_action(session: AsyncSession, ctx: Context, action_id: str) -> ActionRead:
    row = await one_or_404(session, sa.select(Action).where(Action.id == action_id), "action")
    return action_read(row)


# --- conversations -------------------------------------------------------------------


def _owner(ctx: Context) -> str:
    if ctx.actor_id is None:
        raise Forbidden("the copilot answers a signed-in user or an API key")
    return ctx.actor_id


async def own_conversation(
    session: AsyncSession, ctx: Context, conversation_id: str
) -> Conversation:
    """The caller's conversation; 404 for another user's, another tenant's or none."""
    query = sa.select(Conversation).where(
        Conversation.id == conversation_id, Conversation.user_id == _owner(ctx)
    )
    return await one_or_404(session, query, "conversation")


async def list_conversations(
    session: AsyncSession, ctx: Context, *, page: PageParams
) -> tuple[list[ConversationSummary], str | None]:
    query = sa.select(Conversation).where(Conversation.user_id == _owner(ctx))
    return await read_page(
        session,
        CONVERSATION_ORDER,
        query,
        page,
        lambda row: ConversationSummary.model_validate(row, from_attributes=True),
    )


async def recent_turns(session: AsyncSession, conversation_id: str, limit: int = 8) -> list[Turn]:
    """The conversation's last ``limit`` turns, oldest first."""
    query = (
        sa.select(Turn)
        .where(Turn.conversation_id == conversation_id)
        .order_by(Turn.seq.desc())
        .limit(limit)
    )
    return list(reversed(list(await session.scalars(query))))


async def get_conversation(
    session: AsyncSession, ctx: Context, conversation_id: str
) -> ConversationRead:
    row = await own_conversation(session, ctx, conversation_id)
    turns = await session.scalars(
        sa.select(Turn).where(Turn.conversation_id == row.id).order_by(Turn.seq)
    )
    return ConversationRead(
        **ConversationSummary.model_validate(row, from_attributes=True).model_dump(),
        turns=[TurnRead.model_validate(t, from_attributes=True) for t in turns],
    )


async def open_conversation(
    session: AsyncSession, ctx: Context, conversation_id: str | None, question: str
) -> Conversation:
    """The conversation a question continues, or a new one titled by the question."""
    if conversation_id is not None:
        return await own_conversation(session, ctx, conversation_id)
    row = Conversation(user_id=_owner(ctx), title=question.strip()[:200], turn_count=0)
    session.add(row)
    await session.flush()
    return row


async def record_turn(
    session: AsyncSession,
    conversation: Conversation,
    *,
    question: str,
    intent: str,
    entities: dict[str, Any],
    answer: dict[str, Any],
    turn_id: str,
) -> None:
    conversation.turn_count += 1
    conversation.updated_at = utcnow()
    session.add(
        Turn(
            id=turn_id,
            conversation_id=conversation.id,
            seq=conversation.turn_count,
            question=question,
            intent=intent,
            entities=jsonable(entities),
            answer=jsonable(answer),
        )
    )
    await session.flush()
