"""Every CRM, task, support and knowledge read tool asked of the demo workspace as its
owner: each answers, says its answer with every number a figure, and the pipeline and a
lookup by a mistyped name agree with the database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bizos.core.auth import ROLE_SCOPES
from bizos.core.config import Settings
from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.money import cents
from bizos.core.tools import ToolRegistry
from bizos.demo import DEMO_SLUG
from bizos.modules.crm.tools import READ_TOOLS as CRM
from bizos.modules.identity.models import Tenant, User
from bizos.modules.knowledge.tools import TOOLS as KB
from bizos.modules.support.tools import TOOLS as SUPPORT
from bizos.modules.work.tools import READ_TOOLS as WORK
from tests.modules.said import assert_backed

REGISTRY = ToolRegistry([*CRM, *WORK, *SUPPORT, *KB])
QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    ("crm.pipeline", {}),
    ("crm.pipeline", {"owner_id": "me"}),
    ("crm.forecast", {}),
    ("crm.leads", {}),
    ("crm.leads", {"group_by": "week"}),
    ("crm.hot_leads", {}),
    ("crm.next_best_actions", {}),
    ("work.my_tasks", {}),
    ("work.overdue_tasks", {}),
    ("support.ticket_counts", {}),
    ("support.sla_breaches", {}),
    ("support.first_response", {"from": "2025-01-01"}),
    ("kb.search", {"query": "refund policy"}),
    ("kb.contracts_due", {}),
]


async def _owner(db: Database, settings: Settings) -> Context:
    async with db.unit_of_work(system=True, readonly=True) as s:
        tenant_id = await s.scalar(sa.select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
        user_id = await s.scalar(
            sa.select(User.id).where(User.tenant_id == tenant_id, User.email == settings.demo_email)
        )
    assert tenant_id and user_id
    return Context(
        tenant_id=tenant_id, actor_id=user_id, actor_type="user", scopes=ROLE_SCOPES["owner"]
    )


async def _ask(db: Database, ctx: Context, name: str, params: dict[str, Any]) -> Any:
    async with db.unit_of_work(tenant_id=ctx.tenant_id, readonly=True) as s:
        result = await REGISTRY.call(s, ctx, name, params)
    tool = REGISTRY.get(name)
    assert tool.speak is not None
    said = tool.speak(REGISTRY.validated(name, params), result)
    assert_backed(said)
    return result, said


@pytest.mark.demo
@pytest.mark.parametrize(("name", "params"), QUESTIONS)
async def test_every_read_tool_answers_the_demo_in_backed_words(
    db: Database, settings: Settings, name: str, params: dict[str, Any]
) -> None:
    await _ask(db, await _owner(db, settings), name, params)


@pytest.mark.demo
async def test_the_demo_pipeline_and_a_mistyped_lookup_agree_with_the_database(
    db: Database, settings: Settings
) -> None:
    ctx = await _owner(db, settings)
    async with db.unit_of_work(tenant_id=ctx.tenant_id, readonly=True) as s:
        totals = (
            await s.execute(
                sa.text(
                    "SELECT currency, count(*), sum(amount) FROM crm_deals WHERE tenant_id = :t "
                    "AND stage IN ('lead', 'qualified', 'proposal', 'negotiation') "
                    "GROUP BY currency"
                ),
                {"t": ctx.tenant_id},
            )
        ).all()
        [(contact_id, name)] = (
            await s.execute(
                sa.text(
                    "SELECT id, name FROM crm_contacts WHERE tenant_id = :t AND name LIKE '% %' "
                    "AND merged_into_id IS NULL ORDER BY id LIMIT 1"
                ),
                {"t": ctx.tenant_id},
            )
        ).all()
    pipeline, said = await _ask(db, ctx, "crm.pipeline", {})
    assert {(c.currency, c.count, c.amount) for c in pipeline.value.by_currency} == {
        (cur, n, cents(total)) for cur, n, total in totals
    }
    assert pipeline.value.count > 0 and "open deals worth" in said.text

    first, last = name.split(" ", 1)
    typo = f"{first} {last[0]}{last[2:] if len(last) > 5 else last[1:]}".lower()
    found, said = await _ask(db, ctx, "crm.contact_lookup", {"query": typo})
    assert contact_id in found.records, (typo, [m.name for m in found.value.matches])
    assert isinstance(found.value.matches[0].score, float)
    assert Decimal(0) <= Decimal(str(found.value.matches[0].score)) <= 1
