"""SLA subscribers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.dispatcher import Dispatcher, EventRecord
from bizos.modules.support.sla import service


async def create_default_policy(session: AsyncSession, ctx: Context, event: EventRecord) -> None:
    """A new tenant gets its default SLA policy at once, so the policy list is never
    empty (``default_policy`` is idempotent: a replay changes nothing)."""
    await service.default_policy(session, ctx)


def register(dispatcher: Dispatcher) -> None:
    dispatcher.subscribe(
        "support.sla.default_policy", "identity.tenant.created", create_default_policy
    )
