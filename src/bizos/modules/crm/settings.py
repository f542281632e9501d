"""The tenant's CRM settings row: created on first use, locked when changed; and the
sections of it that a PUT merges into."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.crm.models import CrmSettings
from bizos.modules.crm.records import record_event


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


async def settings_section(session: AsyncSession, ctx: Context, name: str) -> dict[str, Any]:
    """The settings section ``name`` (``lead_flow``, ``web_form``) as stored."""
    return dict(getattr(await load_settings(session, ctx), name) or {})


async def merge_section(
    session: AsyncSession, ctx: Context, name: str, given: dict[str, Any]
) -> dict[str, Any]:
    """The section ``name`` with ``given`` merged in (a value None removes its key), under
    the row lock. When it changed: a new version and ``crm.<name>.updated`` naming the
    fields given."""
    row = await load_settings(session, ctx, for_update=True)
    section = dict(getattr(row, name) or {})
    updated = {k: v for k, v in {**section, **given}.items() if v is not None}
    if updated != section:
        setattr(row, name, updated)
        row.version += 1
        await session.flush()
        data = {"changed": sorted(given)}
        await record_event(session, ctx, f"crm.{name}.updated", row, "crm_settings", data)
    return updated
