"""Finding deals for the copilot's lookups: the deals of some contacts or companies, and
the deals whose name, company or contact best match what someone typed. Split from
``service.py`` along its reads; it only reads."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.modules.crm.deals.schemas import OPEN_STAGES, DealMatch, DealRead
from bizos.modules.crm.deals.service import deal_read
from bizos.modules.crm.models import Company, Contact, Deal
from bizos.modules.crm.search import rank_by_name


async def deals_of(
    session: AsyncSession,
    ctx: Context,
    *,
    contact_ids: Sequence[str] = (),
    company_ids: Sequence[str] = (),
    open_only: bool = True,
) -> list[DealRead]:
    """The deals of any of these contacts or companies (open ones only by default),
    largest first."""
    if not contact_ids and not company_ids:
        return []
    query = sa.select(Deal).where(
        Deal.tenant_id == ctx.require_tenant(),
        sa.or_(Deal.contact_id.in_(list(contact_ids)), Deal.company_id.in_(list(company_ids))),
    )
    if open_only:
        query = query.where(Deal.stage.in_(OPEN_STAGES))
    rows = await session.scalars(query.order_by(Deal.amount.desc(), Deal.id))
    return [deal_read(r) for r in rows]


# How many deals a lookup reads to rank by name (the most recently changed, open first).
LOOKUP_SCAN = 5000


async def find_deals(
    session: AsyncSession, ctx: Context, query: str, *, limit: int
) -> list[DealMatch]:
    """The deals whose name, company or contact best match ``query`` (forgiving case,
    accents and small typos; a deal id matches itself), best first, open deals first
    among equals."""
    tenant_id = ctx.require_tenant()
    rows = (
        await session.execute(
            sa.select(Deal.id, Deal.name, Company.name, Contact.name)
            .outerjoin(
                Company, sa.and_(Company.tenant_id == tenant_id, Company.id == Deal.company_id)
            )
            .outerjoin(
                Contact, sa.and_(Contact.tenant_id == tenant_id, Contact.id == Deal.contact_id)
            )
            .where(Deal.tenant_id == tenant_id)
            .order_by(Deal.stage.in_(OPEN_STAGES).desc(), Deal.updated_at.desc(), Deal.id)
            .limit(LOOKUP_SCAN)
        )
    ).all()
    names = {r[0]: (r[2], r[3]) for r in rows}
    exact = [(r[0], 1.0) for r in rows if r[0] == query.strip()]
    ranked = exact or rank_by_name(query, ((r[0], (r[1], r[2], r[3])) for r in rows), limit=limit)
    found = {
        d.id: d
        for d in await session.scalars(
            sa.select(Deal).where(Deal.tenant_id == tenant_id, Deal.id.in_([i for i, _ in ranked]))
        )
    }
    return [
        DealMatch(
            deal=deal_read(found[i]),
            score=score,
            company_name=names[i][0],
            contact_name=names[i][1],
        )
        for i, score in ranked
    ]
