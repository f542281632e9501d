"""The tenant's CRM settings row: created on first use, locked when changed."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.crm.models import CrmSettings


async def load_settings(
    session: AsyncSession, ctx: Context, *, for_update: bool = False
) -> CrmSettings:
    """The tenant's settings; with ``for_update`` the row is locked (PostgreSQL) until
    commit, so read-modify-write of a section (or the round-robin position) is safe."""
    tenant_id = ctx.require_tenant()
    query = sa.select(CrmSettings).where(CrmSettings.tenant_id == tenant_id)
    if for_update:
        # Refresh a copy already in the session: a value read before the lock may be stale.
        query = query.with_for_update().execution_options(populate_existing=True)
    row = await session.scalar(query)
    if row is not None:
        return row
    try:
        async with session.begin_nested():
            row = CrmSettings(
                tenant_id=tenant_id, assignment={}, scoring={}, pipeline={}, lead_flow={}
            )
            session.add(row)
    except IntegrityError:  # created concurrently: use that one
        row = await session.scalar(query)
        assert row is not None
    return row
