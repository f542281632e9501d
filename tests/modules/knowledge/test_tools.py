"""The knowledge base's copilot tools, called as the copilot calls them (through the
registry, with JSON parameters): passages name their documents, contracts due are the
ones with a notice or renewal date in the range, and every answer says how it was
found. Another tenant's documents never show; a caller without ``kb:read`` gets 403."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import Forbidden, Unprocessable
from bizos.core.tools import ToolRegistry
from bizos.modules.knowledge.contracts.models import KbContract
from bizos.modules.knowledge.documents import service
from bizos.modules.knowledge.tools import DEFAULT_HORIZON_DAYS, TOOLS
from tests.conftest import TenantLogin

READER = frozenset({"kb:read"})
TODAY = dt.datetime.now(dt.UTC).date()

RETURNS = """# Returns and refunds

Unopened bags can be returned within 30 days. Refunds reach your card within 5 business
days of our approving them.
"""
SHIPPING = """# Shipping

We roast on Monday, Wednesday and Friday and ship the same afternoon.
"""


def ctx_for(tenant: TenantLogin, scopes: frozenset[str] = READER) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_type="user", scopes=scopes)


async def add_document(
    db: Database, tenant: TenantLogin, title: str, content: str, tags: tuple[str, ...] = ()
) -> str:
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        document = await service.create_document(
            s,
            ctx_for(tenant),
            title=title,
            content=content,
            content_type="text/markdown",
            tags=tags,
        )
        return document.id


async def add_contract(
    db: Database, tenant: TenantLogin, title: str, *, status: str = "extracted", **dates: Any
) -> str:
    """A contract document with terms as extraction would store them."""
    document_id = await add_document(db, tenant, title, f"# {title}\n\nTerms.", ("contract",))
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        s.add(
            KbContract(
                tenant_id=tenant.tenant_id,
                document_id=document_id,
                status=status,
                parties=[{"name": "Acme Ltd", "role": "Buyer"}, {"name": f"{title} Co"}],
                amounts=[],
                evidence={},
                provenance={},
                auto_renews=True,
                **dates,
            )
        )
    return document_id


async def call(db: Database, tenant: TenantLogin, name: str, params: dict[str, Any]) -> Any:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        return await ToolRegistry(TOOLS).call(s, ctx_for(tenant), name, params)


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


async def test_search_answers_with_passages_that_name_their_documents(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    returns = await add_document(db, tenant, "Returns and refunds", RETURNS)
    shipping = await add_document(db, tenant, "Shipping", SHIPPING)
    await add_document(db, other_tenant, "Their refunds", "# Refunds\n\nRefunds take a year.")

    result = await call(db, tenant, "kb.search", {"query": "how long do refunds take"})

    first = result.value.passages[0]
    assert (first.document_id, first.title) == (returns, "Returns and refunds")
    assert "5 business" in first.text and first.chunk_id
    assert result.records[0] == returns and set(result.records) <= {returns, shipping}
    assert result.filters == {"query": "how long do refunds take", "limit": 5, "document_id": None}
    assert "full-text" in result.query and "vector" in result.query
    assert result.to_dict()["records_total"] == len(result.records)


async def test_search_can_stay_within_one_document(db: Database, tenant: TenantLogin) -> None:
    await add_document(db, tenant, "Returns and refunds", RETURNS)
    shipping = await add_document(db, tenant, "Shipping", SHIPPING)

    result = await call(
        db, tenant, "kb.search", {"query": "refunds and shipping", "document_id": shipping}
    )

    assert {p.document_id for p in result.value.passages} == {shipping}
    assert result.records == [shipping]


async def test_search_finds_nothing_in_an_empty_knowledge_base(
    db: Database, tenant: TenantLogin
) -> None:
    result = await call(db, tenant, "kb.search", {"query": "refunds", "limit": 3})
    assert result.value.passages == [] and result.records == []


async def test_contracts_due_are_those_with_notice_or_renewal_dates_in_the_range(
    db: Database, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    coffee = await add_contract(
        db, tenant, "Coffee supply", notice_date=days(40), renewal_date=days(130)
    )
    lease = await add_contract(db, tenant, "Lease", renewal_date=days(10))
    cleaning = await add_contract(db, tenant, "Cleaning", end_date=days(20))  # end only
    await add_contract(db, tenant, "Unreadable", status="failed", notice_date=days(5))
    await add_contract(db, tenant, "Later", notice_date=days(DEFAULT_HORIZON_DAYS + 30))
    await add_contract(db, other_tenant, "Theirs", notice_date=days(3))

    result = await call(db, tenant, "kb.contracts_due", {})

    assert result.records == [lease, coffee]  # earliest date in range first
    assert result.value.count == 2 == result.records_total
    lease_row, coffee_row = result.value.contracts
    assert [(d.kind, d.date) for d in lease_row.due] == [("renewal", days(10))]
    assert [(d.kind, d.date) for d in coffee_row.due] == [
        ("notice", days(40)),
        ("renewal", days(130)),
    ]
    assert coffee_row.title == "Coffee supply" and "Acme Ltd" in coffee_row.parties
    assert result.filters["from"] == TODAY.isoformat()
    assert result.filters["to"] == days(DEFAULT_HORIZON_DAYS).isoformat()
    assert result.filters["kinds"] == ["notice", "renewal"]

    # A narrower range, and other dates when asked for.
    narrow = await call(
        db, tenant, "kb.contracts_due", {"from": days(30).isoformat(), "to": days(60).isoformat()}
    )
    assert narrow.records == [coffee]
    assert [d.kind for d in narrow.value.contracts[0].due] == ["notice"]
    ends = await call(db, tenant, "kb.contracts_due", {"kinds": ["end"]})
    assert ends.records == [cleaning]


@pytest.mark.parametrize(
    ("name", "params", "loc"),
    [
        ("kb.search", {"query": "   "}, ["params"]),
        ("kb.search", {"query": "refunds", "limit": 0}, ["params", "limit"]),
        ("kb.search", {}, ["params", "query"]),
        ("kb.contracts_due", {"from": "2026-05-01", "to": "2026-04-01"}, ["params"]),
        ("kb.contracts_due", {"kinds": ["birthday"]}, ["params", "kinds", "0"]),
        ("kb.contracts_due", {"kinds": []}, ["params", "kinds"]),
        ("kb.contracts_due", {"from": "2020-01-01", "to": "2026-01-01"}, ["params"]),
        ("kb.contracts_due", {"surprise": 1}, ["params", "surprise"]),
    ],
)
async def test_bad_parameters_are_422_with_their_paths(
    db: Database, tenant: TenantLogin, name: str, params: dict[str, Any], loc: list[str]
) -> None:
    with pytest.raises(Unprocessable) as bad:
        await call(db, tenant, name, params)
    assert bad.value.errors and bad.value.errors[0]["loc"] == loc


async def test_the_tools_need_kb_read(db: Database, tenant: TenantLogin) -> None:
    tools = ToolRegistry(TOOLS)
    assert [t.name for t in tools.available({"kb:read"})] == [
        "kb.answer",
        "kb.contracts_due",
        "kb.search",
    ]
    assert tools.available({"support:read", "kb:write"}) == []
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        for name in tools.names():
            with pytest.raises(Forbidden):
                await tools.call(s, ctx_for(tenant, frozenset({"kb:write"})), name, {"query": "x"})
