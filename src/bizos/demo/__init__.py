"""The demo tenant: Northwind Coffee Roasters, a small coffee roaster with a team and a
year of history, seeded by ``bizos demo`` (and ``make run``).

The demo is on the assembly floor: it may use every module's service and schemas. Each
business area has its seeder here (``crm/``, ``commerce/``, ``billing``, ``finance``,
``knowledge``, ``support``); :mod:`bizos.demo.story` holds what they share. Seeding is
idempotent: if the ``demo`` tenant exists nothing is written.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database, init_database
from bizos.core.errors import NotFound
from bizos.demo.activity import seed_activity
from bizos.demo.commerce import seed_commerce_history
from bizos.demo.crm import seed_crm_history
from bizos.demo.crm.customers import seed_customers
from bizos.demo.finance import seed_finance_history
from bizos.demo.knowledge import seed_knowledge_base
from bizos.demo.story import subscribers
from bizos.demo.support import seed_support_history
from bizos.modules.identity import service as identity

DEMO_SLUG = "demo"
DEMO_COMPANY = "Northwind Coffee Roasters"

TEAM = [
    ("Maya Okafor", "maya@northwind.example", "admin"),
    ("Luis Romero", "luis@northwind.example", "member"),
    ("Hana Sato", "hana@northwind.example", "member"),
    ("Pat Keller", "pat@northwind.example", "viewer"),
]

Seeder = Callable[[AsyncSession, Context, random.Random], Awaitable[None]]
SEEDERS: tuple[Seeder, ...] = (
    seed_activity,
    seed_crm_history,  # after the activity: lead scores count that engagement
    seed_commerce_history,  # after the CRM: it sells to the CRM's customers (and bills)
    seed_customers,  # after billing: a first paid invoice makes a customer
    seed_finance_history,
    seed_knowledge_base,
    seed_support_history,  # after the CRM: its customers write in
)


async def demo_tenant_id(session: AsyncSession) -> str | None:
    """The demo tenant's id, None when there is none (in a system unit of work)."""
    try:
        return (await identity.get_tenant_by_slug(session, slug=DEMO_SLUG)).id
    except NotFound:
        return None


async def demo_exists(settings: Settings) -> bool:
    database = init_database(settings.resolved_database_url(), app_role=settings.db_app_role)
    try:
        async with database.unit_of_work(system=True, readonly=True) as session:
            return await demo_tenant_id(session) is not None
    except sa.exc.DBAPIError:
        return False  # not migrated yet: nothing to remind anyone of
    finally:
        await database.dispose()


async def seed_demo(settings: Settings, db: Database | None = None) -> bool:
    """Create the demo tenant if absent. Returns True if it was created now."""
    owns = db is None
    database = db or init_database(settings.resolved_database_url(), app_role=settings.db_app_role)
    try:
        async with database.unit_of_work(system=True) as session:
            if await demo_tenant_id(session) is not None:
                return False
            tctx = await _tenant_and_team(session, settings)
        rng = random.Random(42)
        async with database.unit_of_work(tenant_id=tctx.require_tenant()) as session:
            for seeder in SEEDERS:
                await seeder(session, tctx, rng)
        await _skip_handled_history(database)
        return True
    finally:
        if owns:
            await database.dispose()


async def _tenant_and_team(session: AsyncSession, settings: Settings) -> Context:
    """The demo tenant with its owner (the demo login) and team; returns its context."""
    ctx = Context(actor_type="system", actor_id="demo")
    tenant = await identity.create_tenant(session, ctx, name=DEMO_COMPANY, slug=DEMO_SLUG)
    tctx = ctx.with_tenant(tenant.id)
    for name, email, role in [("Olivia Brandt", settings.demo_email, "owner"), *TEAM]:
        await identity.create_user(
            session,
            tctx,
            tenant_id=tenant.id,
            email=email,
            name=name,
            role=role,
            password=settings.demo_password,
        )
    return tctx


async def _skip_handled_history(database: Database) -> None:
    """The history is recorded as handled: the workers start at the events left for
    them (the open tickets' drafts, the documents to read) instead of reading a year of
    log first, so the demo's drafts appear seconds after ``bizos serve`` starts."""
    await subscribers(database).skip_handled()
