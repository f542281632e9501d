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

import datetime as dt
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, replace
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.auth import SCOPES
from bizos.core.context import Context
from bizos.core.db import get_database, utcnow
from bizos.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from bizos.core.ids import new_id
from bizos.core.pagination import ListOrder, PageParams, read_page
from bizos.core.ports import ports
from bizos.core.reads import one_or_404
from bizos.core.tools import Proposal, Tool, ToolRegistry
from bizos.modules.copilot import lexicon, words
from bizos.modules.copilot.answer import compose
from bizos.modules.copilot.cache import normalised, query_cache, query_key
from bizos.modules.copilot.models import Action, Conversation, Turn
from bizos.modules.copilot.parsing import Parsed, understand
from bizos.modules.copilot.planning import plan
from bizos.modules.copilot.runner import (
    Emit,
    Runner,
    figure_read,
    plan_read,
    plan_step_event,
    proposing_scope,
    replay_steps,
)
from bizos.modules.copilot.schemas import (
    ActionRead,
    AskRequest,
    AskResponse,
    ConversationRead,
    ConversationSummary,
    SourceRead,
    TurnRead,
)
from bizos.modules.copilot.steps import Outcome, Plan
from bizos.modules.copilot.vocabulary import Vocabulary
from bizos.modules.identity import service as identity

log = structlog.get_logger("bizos.copilot")
KNOWN_SCOPES = frozenset(SCOPES)

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
    needed = proposing_scope(tool, KNOWN_SCOPES)
    if needed not in ctx.scopes:
        raise Forbidden(f"missing scope: {needed}")
    validated = registry.validated(tool_name, params)
    assert tool.propose is not None
    proposal = await tool.propose(session, ctx, validated)
    return await store_proposal(
        session, ctx, tool_name, validated, proposal, conversation_id=conversation_id
    )


async def store_proposal(
    session: AsyncSession,
    ctx: Context,
    tool_name: str,
    params: BaseModel,
    proposal: Proposal,
    *,
    conversation_id: str | None,
) -> ActionRead:
    """Keep what an action tool proposed, to run on confirm (status ``proposed``)."""
    row = Action(
        conversation_id=conversation_id,
        proposed_by=ctx.actor_id,
        tool=tool_name,
        params=jsonable(params),
        summary=proposal.summary,
        before=jsonable(proposal.before),
        after=jsonable(proposal.after),
        status="proposed",
    )
    session.add(row)
    await session.flush()
    log.info("copilot.action.proposed", action_id=row.id, tool=tool_name)
    return action_read(row)


async def _own_action(session: AsyncSession, ctx: Context, query: sa.Select[Any]) -> Action:
    """The action ``query`` finds, if the caller proposed it: a proposal belongs to the
    person whose conversation it is in (the user, or the owner of the API key that
    proposed it over MCP). Anyone else, a colleague included, gets a 404, as for another
    user's conversation."""
    row: Action = await one_or_404(session, query, "action")
    proposer = await identity.person_behind(session, row.proposed_by or "")
    if proposer != await identity.person_behind(session, _owner(ctx)):
        raise NotFound("no such action")
    return row


async def _action_for_update(session: AsyncSession, ctx: Context, action_id: str) -> Action:
    query = (
        sa.select(Action)
        .where(Action.id == action_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return await _own_action(session, ctx, query)


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
    row = await _action_for_update(session, ctx, action_id)
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
    """Withdraw one's own proposal. Cancelling a cancelled action returns it; an executed
    one is a 409."""
    row = await _action_for_update(session, ctx, action_id)
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
    row = await _own_action(session, ctx, sa.select(Action).where(Action.id == action_id))
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
    parsed: dict[str, Any],
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
            parsed=jsonable(parsed),
            answer=jsonable(answer),
        )
    )
    await session.flush()


# --- ask -----------------------------------------------------------------------------

# Tools whose answer is the caller's own ("my tasks"): cached per user.
PERSONAL_TOOLS = frozenset({"work.my_tasks", "work.overdue_tasks"})
PERSONAL_ARGS = frozenset({"owner_id", "assignee_id", "mine", "user_id"})


@dataclass(frozen=True, slots=True)
class Question:
    """A question checked and ready to answer: what it continues from, the tenant's
    names and its event-log position (read before any answer is streamed, so a foreign
    conversation is a 404, not a broken stream)."""

    ctx: Context
    text: str
    conversation_id: str | None
    previous: Parsed | None
    vocab: Vocabulary
    sequence: int
    today: dt.datetime


def parsed_of(stored: dict[str, Any]) -> Parsed | None:
    """A turn's stored understanding, as :func:`understand` gave it (None if unreadable)."""
    try:
        return Parsed(
            question=str(stored["question"]),
            intent=stored["intent"],
            topic=str(stored["topic"]),
            entities=dict(stored.get("entities") or {}),
            followup=bool(stored.get("followup", False)),
        )
    except (KeyError, TypeError, ValueError):
        return None


async def prepare_question(ctx: Context, body: AskRequest) -> Question:
    """Check the question (404 for a conversation not the caller's) and read what
    answering it needs, in one read-only unit of work."""
    _owner(ctx)
    async with get_database().unit_of_work(tenant_id=ctx.require_tenant(), readonly=True) as s:
        s.info["ctx"] = ctx
        previous = None
        if body.conversation_id is not None:
            conversation = await own_conversation(s, ctx, body.conversation_id)
            turns = await recent_turns(s, conversation.id, limit=1)
            previous = parsed_of(turns[-1].parsed) if turns else None
        sequence = await lexicon.newest_sequence(s)
        vocab = await lexicon.vocabulary(s, ctx, sequence=sequence)
    return Question(
        ctx=ctx,
        text=body.question.strip(),
        conversation_id=body.conversation_id,
        previous=previous,
        vocab=vocab,
        sequence=sequence,
        today=dt.datetime.now(dt.UTC),
    )


def cache_key(question: Question, parsed: Parsed, the_plan: Plan) -> str | None:
    """Where this answer may be cached, or None when it must not be (actions, chat,
    out-of-scope: cheap or never the same twice)."""
    if parsed.intent not in ("metrics", "search") or not the_plan.steps:
        return None
    personal = any(
        step.tool in PERSONAL_TOOLS
        or (isinstance(step.args, dict) and PERSONAL_ARGS & set(step.args))
        for step in the_plan.steps
    )
    ctx = question.ctx
    return query_key(
        ctx.require_tenant(),
        question=normalised(question.text),
        intent=parsed.intent,
        topic=parsed.topic,
        entities=parsed.entities,
        day=question.today.date().isoformat(),
        sequence=question.sequence,
        scopes=sorted(ctx.scopes),
        user=ctx.actor_id if personal else None,
    )


def understood(question: Question) -> tuple[Parsed, Plan]:
    """What the question asks and the plan that answers it. A question the parser
    cannot take apart is answered as one it did not understand, never as a 500."""
    try:
        parsed = understand(
            question.text, question.vocab, today=question.today, previous=question.previous
        )
        return parsed, plan(parsed)
    except Exception:
        log.exception("copilot.understand.failed")
        return Parsed(question=question.text, intent="out_of_scope", topic="unknown"), Plan()


async def understood_by_model(
    question: Question, parsed: Parsed, the_plan: Plan
) -> tuple[Parsed, Plan, list[str]]:
    """A question the parser took for out of scope, tried once more as the tenant's
    external model rephrases it (the parser judges the rewrite; a rewrite it cannot
    place leaves the answer out of scope). Also the AI call ids it took."""
    rewrite, call_id = await words.rephrased(question.ctx, question.text)
    calls = [call_id] if call_id else []
    if rewrite is None:
        return parsed, the_plan, calls
    again, again_plan = understood(replace(question, text=rewrite))
    if again.intent == "out_of_scope":
        return parsed, the_plan, calls
    return again, again_plan, calls


async def answer_question(
    question: Question,
    *,
    tools: ToolRegistry | None = None,
    emit: Emit | None = None,
    redis_url: str | None = None,
) -> AskResponse:
    """Understand, plan, run, compose and keep the turn; stream events through ``emit``."""
    registry = registry_of(tools)
    parsed, the_plan = understood(question)
    rephrase_calls: list[str] = []
    if parsed.intent == "out_of_scope":
        parsed, the_plan, rephrase_calls = await understood_by_model(question, parsed, the_plan)
    if emit is not None:
        await emit("plan", {"steps": [plan_step_event(step) for step in the_plan.steps]})
    key = cache_key(question, parsed, the_plan)
    cache = query_cache(redis_url)
    body = await cache.get(key) if key else None
    proposals: list[Outcome] = []
    if body is not None:
        body["cached"] = True
        if emit is not None:
            await replay_steps(body, emit)
    else:
        body, proposals = await fresh_answer(question, parsed, the_plan, registry, emit)
        if key is not None and not any(s["status"] in ("failed", "timeout") for s in body["plan"]):
            await cache.put(key, body)
    if rephrase_calls:
        provenance = dict(body["provenance"])
        provenance["ai_call_ids"] = [*rephrase_calls, *provenance.get("ai_call_ids", [])]
        provenance["understood_as"] = parsed.question if parsed.question != question.text else None
        body = {**body, "provenance": provenance}
    return await keep_turn(question, parsed, body, proposals)


async def fresh_answer(
    question: Question,
    parsed: Parsed,
    the_plan: Plan,
    registry: ToolRegistry,
    emit: Emit | None,
) -> tuple[dict[str, Any], list[Outcome]]:
    """Run the plan and say its answer: the response body (without the conversation's
    ids and the stored actions) and the outcomes that proposed an action."""
    ctx = question.ctx
    database = get_database()

    def open_session() -> AbstractAsyncContextManager[AsyncSession]:
        return database.unit_of_work(tenant_id=ctx.require_tenant(), readonly=True)

    runner = Runner(ctx, registry, open_session, known_scopes=KNOWN_SCOPES, emit=emit)
    outcomes = await runner.run(the_plan)
    composed = compose(parsed, outcomes)
    text, provenance = await words.written(ctx, parsed, composed, outcomes)
    body = {
        "answer": text,
        "intent": parsed.intent,
        "entities": jsonable(parsed.entities),
        "figures": [jsonable(figure_read(f, o)) for f, o in composed.figures],
        "sources": [jsonable(SourceRead(**asdict(s))) for s in composed.sources],
        "plan": [jsonable(s) for s in plan_read(the_plan, outcomes)],
        "provenance": jsonable(provenance),
        "cached": False,
    }
    proposals = [o for o in outcomes.values() if o.proposal is not None and o.params is not None]
    return body, proposals


async def keep_turn(
    question: Question, parsed: Parsed, body: dict[str, Any], proposals: list[Outcome]
) -> AskResponse:
    """Store the turn (and a new conversation, and the proposals) in one transaction."""
    ctx = question.ctx
    turn_id = new_id()
    async with get_database().unit_of_work(tenant_id=ctx.require_tenant()) as session:
        session.info["ctx"] = ctx
        conversation = await open_conversation(
            session, ctx, question.conversation_id, question.text
        )
        actions = [
            await store_proposal(
                session,
                ctx,
                o.step.tool,
                o.params,
                o.proposal,
                conversation_id=conversation.id,
            )
            for o in proposals
            if o.params is not None and o.proposal is not None
        ]
        response = AskResponse.model_validate(
            {
                **body,
                "conversation_id": conversation.id,
                "turn_id": turn_id,
                "actions": [a.model_dump() for a in actions],
            }
        )
        await record_turn(
            session,
            conversation,
            question=question.text,
            intent=parsed.intent,
            entities=parsed.entities,
            parsed=parsed.to_dict(),
            answer=response.model_dump(mode="json", by_alias=True),
            turn_id=turn_id,
        )
    return response


async def ask(
    ctx: Context,
    body: AskRequest,
    *,
    tools: ToolRegistry | None = None,
    redis_url: str | None = None,
) -> AskResponse:
    """The whole answer to one question (the JSON form of ``POST /copilot/ask``)."""
    question = await prepare_question(ctx, body)
    return await answer_question(question, tools=tools, redis_url=redis_url)
