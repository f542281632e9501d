"""CRM reads for other modules that need the tenant's names (the copilot's vocabulary):
plain values, never rows. The use cases themselves live in the sub-packages' services."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.crm.deals.schemas import STAGES
from bizos.modules.crm.models import Company, Contact

# Enough names for a small business; beyond it, lookups go through the lookup tools.
MAX_NAMES = 5000


async def contact_names(
    session: AsyncSession, ctx: Context, *, limit: int = MAX_NAMES
) -> list[tuple[str, str, str | None]]:
    """``(id, name, email)`` of the tenant's live, named contacts, most recent first."""
    rows = await session.execute(
        sa.select(Contact.id, Contact.name, Contact.email)
        .where(Contact.merged_into_id.is_(None), Contact.name.is_not(None))
        .order_by(Contact.created_at.desc())
        .limit(limit)
    )
    return [(i, n, e) for i, n, e in rows if n]


async def company_names(
    session: AsyncSession, ctx: Context, *, limit: int = MAX_NAMES
) -> list[tuple[str, str, str | None]]:
    """``(id, name, domain)`` of the tenant's live companies, most recent first."""
    rows = await session.execute(
        sa.select(Company.id, Company.name, Company.domain)
        .where(Company.merged_into_id.is_(None))
        .order_by(Company.created_at.desc())
        .limit(limit)
    )
    return [(i, n, d) for i, n, d in rows]


def deal_stages() -> list[str]:
    """The pipeline's stages, in order (open ones, then won and lost)."""
    return list(STAGES)
