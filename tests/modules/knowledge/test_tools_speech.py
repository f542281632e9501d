"""The knowledge base's tools in words: search names the passages' documents (their text,
numbers and all, goes in the sources' excerpts, where no figure is needed), contracts due
name their dates; every number written is a figure, and nothing found is said plainly."""

from __future__ import annotations

from typing import Any

from bizos.core.db import Database
from bizos.core.phrases import between_text
from bizos.core.tools import Said, ToolRegistry, ToolResult
from bizos.modules.knowledge.tools import TOOLS
from tests.conftest import TenantLogin
from tests.modules.knowledge.test_tools import (
    RETURNS,
    SHIPPING,
    TODAY,
    add_contract,
    add_document,
    ctx_for,
    days,
)
from tests.modules.said import assert_backed, figure

REGISTRY = ToolRegistry(TOOLS)


async def call(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any]
) -> tuple[ToolResult, Said]:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        result = await REGISTRY.call(s, ctx_for(tenant), name, params)
    tool = REGISTRY.get(name)
    assert tool.speak is not None
    return result, tool.speak(REGISTRY.validated(name, params), result)


async def test_search_says_which_documents_answer_and_cites_their_passages(
    db: Database, tenant: TenantLogin
) -> None:
    returns = await add_document(db, tenant, "Returns and refunds", RETURNS)
    await add_document(db, tenant, "Shipping", SHIPPING)

    result, said = await call(db, tenant, "kb.search", {"query": "how long do refunds take"})

    passages = result.value.passages
    assert_backed(said)
    assert figure(said, "passages found") == len(passages)
    assert said.text.startswith(f"I found {len(passages)} passage")
    assert "Returns and refunds" in said.text
    first = said.sources[0]
    assert (first.type, first.id) == ("document", returns)
    assert "5 business" in first.excerpt  # the passage's numbers stay in the excerpt
    assert "5 business" not in said.text


async def test_search_with_nothing_to_find_says_so(db: Database, tenant: TenantLogin) -> None:
    _, said = await call(db, tenant, "kb.search", {"query": "refunds"})
    assert said.text == "I found nothing in the knowledge base about that."
    assert said.figures == [] and said.sources == []


async def test_contracts_due_name_their_dates(db: Database, tenant: TenantLogin) -> None:
    coffee = await add_contract(
        db, tenant, "Coffee supply 2026", notice_date=days(40), renewal_date=days(130)
    )
    lease = await add_contract(db, tenant, "Lease", renewal_date=days(10))

    result, said = await call(db, tenant, "kb.contracts_due", {})

    assert result.records == [lease, coffee]
    assert_backed(said)  # 2026 is part of a contract's title
    assert said.text == (
        f"2 contracts have a notice or renewal date {between_text(TODAY, days(365))}: "
        f"Lease (renewal {days(10)}); Coffee supply 2026 (notice {days(40)}, renewal "
        f"{days(130)})."
    )
    assert [s.id for s in said.sources] == [lease, coffee]

    _, said = await call(
        db, tenant, "kb.contracts_due", {"from": days(1).isoformat(), "to": days(5).isoformat()}
    )
    assert (
        said.text == f"No contract has a notice or renewal date {between_text(days(1), days(5))}."
    )
    assert_backed(said)
