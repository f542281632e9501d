"""The tenant's vocabulary, loaded from the modules' services and kept per tenant.

What the parser recognises by name (products and SKUs, contacts, companies, users, deal
stages, expense categories, currencies) is read once per tenant and reused until the
tenant's event log moves: a new product, contact or order appends an event, and the
next question loads the names afresh.
"""

from __future__ import annotations

from collections import OrderedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.context import Context
from bizos.core.events import Event
from bizos.core.pagination import PageParams
from bizos.modules.commerce import service as commerce
from bizos.modules.copilot.vocabulary import Named, Vocabulary
from bizos.modules.crm import service as crm
from bizos.modules.finance import service as finance
from bizos.modules.identity import service as identity

MAX_TENANTS = 256
DEFAULT_CURRENCY = "USD"

_loaded: OrderedDict[str, tuple[int, Vocabulary]] = OrderedDict()


async def newest_sequence(session: AsyncSession) -> int:
    """The tenant's newest event-log sequence (0 before any event)."""
    return int(await session.scalar(sa.select(sa.func.max(Event.sequence))) or 0)


async def vocabulary(session: AsyncSession, ctx: Context, *, sequence: int) -> Vocabulary:
    """The tenant's vocabulary as of event ``sequence`` (loaded again when it moved)."""
    tenant = ctx.require_tenant()
    kept = _loaded.get(tenant)
    if kept is not None and kept[0] == sequence:
        _loaded.move_to_end(tenant)
        return kept[1]
    vocab = await load_vocabulary(session, ctx)
    _loaded[tenant] = (sequence, vocab)
    while len(_loaded) > MAX_TENANTS:
        _loaded.popitem(last=False)
    return vocab


def forget_vocabularies() -> None:
    _loaded.clear()


async def load_vocabulary(session: AsyncSession, ctx: Context) -> Vocabulary:
    products = [
        Named(id=i, name=name, aliases=(sku,))
        for i, name, sku in await commerce.product_names(session, ctx)
    ]
    contacts = [
        Named(id=i, name=name, aliases=(email,) if email else ())
        for i, name, email in await crm.contact_names(session, ctx)
    ]
    companies = [
        Named(id=i, name=name, aliases=(domain,) if domain else ())
        for i, name, domain in await crm.company_names(session, ctx)
    ]
    users = await identity.list_users(session, ctx, page=PageParams(limit=200), is_active=True)
    currencies = await commerce.currencies_in_use(session, ctx) or [DEFAULT_CURRENCY]
    return Vocabulary(
        products=products,
        contacts=contacts,
        companies=companies,
        users=[Named(id=u.id, name=u.name, aliases=(u.email,)) for u in users.items],
        stages=crm.deal_stages(),
        currencies=currencies,
        default_currency=currencies[0],
        timezone="UTC",
        categories=await finance.expense_categories(session, ctx),
    )
