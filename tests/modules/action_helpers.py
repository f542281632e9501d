"""Calling the copilot's action tools as the copilot does: ``propose`` in the request's
transaction (which must write nothing), then, once confirmed, ``run`` through
``ToolRegistry.call`` with the caller's scopes, in a transaction whose writes are audited
as a request's are."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from bizos.core.audit import AuditEntry
from bizos.core.context import Context
from bizos.core.db import Base, Database
from bizos.core.events import Event
from bizos.core.tools import Proposal, Said, Tool, ToolRegistry, ToolResult, unfigured_numbers
from tests.conftest import TenantLogin

MEMBER = frozenset({"crm:read", "crm:write", "billing:read", "billing:write", "support:write"})
VIEWER = frozenset({"crm:read", "billing:read", "support:read"})


def member_ctx(tenant: TenantLogin, scopes: frozenset[str] = MEMBER) -> Context:
    return Context(
        tenant_id=tenant.tenant_id, actor_id=tenant.user_id, actor_type="user", scopes=scopes
    )


async def row_counts(db: Database) -> dict[str, int]:
    """How many rows every table holds (events and the audit log included)."""
    async with db.unit_of_work(system=True, readonly=True) as session:
        return {
            table.name: int(
                await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            )
            for table in Base.metadata.sorted_tables
        }


async def propose(
    db: Database, tools: Iterable[Tool], ctx: Context, name: str, params: dict[str, Any]
) -> Proposal:
    """The tool's proposal, asked in a writable, audited transaction as the copilot's
    request would; nothing may be added, changed or deleted in it."""
    registry = ToolRegistry(tools)
    tool = registry.get(name)
    assert tool.kind == "action" and tool.propose is not None
    validated = registry.validated(name, params)
    async with db.unit_of_work(tenant_id=ctx.require_tenant()) as session:
        session.info["ctx"] = ctx
        proposal = await tool.propose(session, ctx, validated)
        assert not (session.new or session.dirty or session.deleted)
    return proposal


def said_by_figures(proposal: Proposal) -> bool:
    """Whether the proposal's summary keeps the answers' rule: every number it writes is
    one of its figures, part of a date, or part of a name in a figure's label."""
    return unfigured_numbers(Said(proposal.summary, proposal.figures)) == []


async def run(
    db: Database, tools: Iterable[Tool], ctx: Context, name: str, params: dict[str, Any]
) -> ToolResult:
    """The confirmed action, run once through the registry (scope, validation) in one
    audited transaction."""
    async with db.unit_of_work(tenant_id=ctx.require_tenant()) as session:
        session.info["ctx"] = ctx
        return await ToolRegistry(tools).call(session, ctx, name, params)


async def events_about(db: Database, aggregate_id: str) -> list[Event]:
    async with db.unit_of_work(system=True, readonly=True) as session:
        rows = await session.scalars(
            sa.select(Event).where(Event.aggregate_id == aggregate_id).order_by(Event.position)
        )
        return list(rows)


async def audit_of(db: Database, resource_id: str) -> list[AuditEntry]:
    async with db.unit_of_work(system=True, readonly=True) as session:
        rows = await session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.resource_id == resource_id)
            .order_by(AuditEntry.created_at)
        )
        return list(rows)
