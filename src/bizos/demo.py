"""The demo tenant: a small coffee roaster with a team and some history.

Seeding is idempotent: if the ``demo`` tenant exists nothing is written. Later modules
(CRM, commerce, support) add their own seeders to ``SEEDERS``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database, init_database, utcnow
from bizos.core.dispatcher import Dispatcher
from bizos.core.events import NewEvent, append_events
from bizos.modules.commerce.demo import seed_commerce_history
from bizos.modules.crm.demo import seed_crm_history
from bizos.modules.crm.demo.customers import seed_customers
from bizos.modules.finance.demo import seed_finance_history
from bizos.modules.identity import service as identity
from bizos.modules.identity.models import Tenant
from bizos.modules.knowledge.demo import seed_knowledge_base
from bizos.modules.support.demo import seed_support_history
from bizos.registry import register_subscribers

DEMO_SLUG = "demo"
DEMO_COMPANY = "Northwind Coffee Roasters"

TEAM = [
    ("Maya Okafor", "maya@northwind.example", "admin"),
    ("Luis Romero", "luis@northwind.example", "member"),
    ("Hana Sato", "hana@northwind.example", "member"),
    ("Pat Keller", "pat@northwind.example", "viewer"),
]

ACTIVITY = ["email.opened", "page.viewed", "email.clicked", "call.answered", "form.submitted"]
PAGES = ["/pricing", "/wholesale", "/blog/brew-guide", "/subscriptions", "/contact"]

Seeder = Callable[[AsyncSession, Context, random.Random], Awaitable[None]]
SEEDERS: list[Seeder] = []


async def _seed_activity(session: AsyncSession, ctx: Context, rng: random.Random) -> None:
    """Three months of engagement events from prospects, as /api/v1/track would record."""
    now = utcnow()
    prospects = [f"buyer{i}@cafe{i % 37}.example" for i in range(60)]
    events = []
    for _ in range(600):
        kind = rng.choice(ACTIVITY)
        email = rng.choice(prospects)
        props = {"page": rng.choice(PAGES)} if kind == "page.viewed" else {}
        events.append(
            NewEvent(
                type=f"activity.{kind}",
                aggregate_type="contact",
                aggregate_id=email,
                data={"email": email, "properties": props},
                occurred_at=now - dt.timedelta(minutes=rng.randint(1, 90 * 24 * 60)),
            )
        )
    events.sort(key=lambda e: e.occurred_at or now)
    await append_events(session, ctx, events)


SEEDERS.append(_seed_activity)
SEEDERS.append(seed_crm_history)  # after the activity: lead scores count that engagement
SEEDERS.append(seed_commerce_history)  # after the CRM: it sells to the CRM's customers
SEEDERS.append(seed_customers)  # after billing: a first paid invoice makes a customer
SEEDERS.append(seed_finance_history)
SEEDERS.append(seed_knowledge_base)
SEEDERS.append(seed_support_history)  # after the CRM: its customers write in


async def demo_exists(settings: Settings) -> bool:
    database = init_database(settings.resolved_database_url(), app_role=settings.db_app_role)
    try:
        async with database.unit_of_work(system=True, readonly=True) as session:
            found = await session.scalar(sa.select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
        return found is not None
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
            if await session.scalar(sa.select(Tenant.id).where(Tenant.slug == DEMO_SLUG)):
                return False
            ctx = Context(actor_type="system", actor_id="demo")
            tenant = await identity.create_tenant(session, ctx, name=DEMO_COMPANY, slug=DEMO_SLUG)
            tctx = ctx.with_tenant(tenant.id)
            await identity.create_user(
                session,
                tctx,
                tenant_id=tenant.id,
                email=settings.demo_email,
                name="Olivia Brandt",
                role="owner",
                password=settings.demo_password,
            )
            for name, email, role in TEAM:
                await identity.create_user(
                    session,
                    tctx,
                    tenant_id=tenant.id,
                    email=email,
                    name=name,
                    role=role,
                    password=settings.demo_password,
                )
        rng = random.Random(42)
        async with database.unit_of_work(tenant_id=tenant.id) as session:
            for seeder in SEEDERS:
                await seeder(session, tctx, rng)
        await _skip_handled_history(database)
        return True
    finally:
        if owns:
            await database.dispose()


async def _skip_handled_history(database: Database) -> None:
    """The history is recorded as handled: the workers start at the events left for
    them (the open tickets' drafts, the documents to read) instead of reading a year of
    log first, so the demo's drafts appear seconds after ``bizos serve`` starts."""
    registry = Dispatcher(database)
    register_subscribers(registry)
    await registry.skip_handled()
