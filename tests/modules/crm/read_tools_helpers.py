"""Factories for the CRM's copilot tools: companies, contacts, deals and leads written
straight to the tables (so times, scores and stages are exactly as a test states them),
and a caller that runs a tool through the registry as the copilot does."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bizos.core.context import Context
from bizos.core.db import Database, utcnow
from bizos.core.ids import new_id
from bizos.core.tools import Said, ToolRegistry, ToolResult
from bizos.modules.crm.models import Company, Contact, Deal, Lead
from bizos.modules.crm.tools import TOOLS
from tests.conftest import TenantLogin

READER = frozenset({"crm:read"})
NOW = utcnow()
REGISTRY = ToolRegistry(TOOLS)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def ctx_for(
    tenant: TenantLogin, scopes: frozenset[str] = READER, *, user_id: str | None = None
) -> Context:
    """The tenant's owner (or ``user_id``) signed in, holding ``scopes``."""
    return Context(
        tenant_id=tenant.tenant_id,
        actor_id=user_id or tenant.user_id,
        actor_type="user",
        scopes=scopes,
    )


async def call(
    db: Database,
    tenant: TenantLogin,
    name: str,
    params: dict[str, Any] | None = None,
    *,
    ctx: Context | None = None,
) -> tuple[ToolResult, Said]:
    """Run tool ``name`` in a read-only transaction and say its result."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        result = await REGISTRY.call(s, ctx or ctx_for(tenant), name, params or {})
    tool = REGISTRY.get(name)
    assert tool.speak is not None
    return result, tool.speak(REGISTRY.validated(name, params), result)


async def sql(db: Database, tenant: TenantLogin, text: str, **params: Any) -> list[Any]:
    """Rows of a plain SQL query: how a test works out a figure on its own."""
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        return list((await s.execute(sa.text(text), {"t": tenant.tenant_id, **params})).all())


async def add_company(
    db: Database, tenant: TenantLogin, name: str, domain: str | None = None
) -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        row = Company(id=new_id(), tenant_id=tenant.tenant_id, name=name, domain=domain)
        s.add(row)
        return row.id


async def add_contact(
    db: Database,
    tenant: TenantLogin,
    name: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    company_id: str | None = None,
    company_name: str | None = None,
    lifecycle_stage: str = "lead",
    **fields: Any,
) -> str:
    email = email or f"{uuid.uuid4().hex[:8]}@example.com"
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        row = Contact(
            id=new_id(),
            tenant_id=tenant.tenant_id,
            name=name,
            email=email,
            email_normalized=email.lower(),
            phone=phone,
            phone_normalized=phone,
            company_id=company_id,
            company_name=company_name,
            lifecycle_stage=lifecycle_stage,
            tags=[],
            properties={},
            **fields,
        )
        s.add(row)
        return row.id


async def add_deal(
    db: Database,
    tenant: TenantLogin,
    name: str,
    amount: str,
    *,
    stage: str = "proposal",
    currency: str = "USD",
    **fields: Any,
) -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        row = Deal(
            id=new_id(),
            tenant_id=tenant.tenant_id,
            name=name,
            amount=Decimal(amount),
            currency=currency,
            stage=stage,
            stage_entered_at=fields.pop("stage_entered_at", NOW),
            properties={},
            **fields,
        )
        s.add(row)
        return row.id


async def add_lead(
    db: Database,
    tenant: TenantLogin,
    *,
    name: str | None = None,
    source: str = "web_form",
    status: str = "new",
    score: int | None = None,
    created_at: dt.datetime | None = None,
    company: str | None = None,
    contact_id: str | None = None,
) -> str:
    """A lead (and its contact, unless given), created at ``created_at``."""
    contact_id = contact_id or await add_contact(db, tenant, name or "Lead")
    created = created_at or NOW
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        row = Lead(
            id=new_id(),
            tenant_id=tenant.tenant_id,
            contact_id=contact_id,
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            name=name,
            company=company,
            source=source,
            status=status,
            score=score,
            score_factors=[{"feature": "fit", "label": "Fits the ideal customer", "impact": 12}],
            properties={},
            created_at=created,
            updated_at=created,
        )
        s.add(row)
        return row.id
