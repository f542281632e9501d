"""Answers from the knowledge base (``kb.answer``), as the copilot and a new user meet
them over the demo's documents: each question answered with the sentences that answer
it, quoted and naming their document; what nothing answers is declined, never guessed.
The labelled set (``tests/fixtures/kb_questions.json``) holds the floors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bizos.core.context import Context
from bizos.core.db import Database
from bizos.core.errors import Forbidden, Unprocessable
from bizos.core.tools import SourceRef, ToolRegistry
from bizos.demo.knowledge import DOCUMENTS, contract_pdf
from bizos.modules.knowledge.documents import answers, service
from bizos.modules.knowledge.tools import TOOLS
from tests.conftest import TenantLogin
from tests.kb_answers import evaluate, load_cases

READER = frozenset({"kb:read"})


def ctx_for(tenant: TenantLogin, scopes: frozenset[str] = READER) -> Context:
    return Context(tenant_id=tenant.tenant_id, actor_type="user", scopes=scopes)


async def index_demo_documents(db: Database, tenant: TenantLogin) -> dict[str, str]:
    """The demo tenant's knowledge base, indexed for ``tenant``: title -> document id."""
    ids = {}
    async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
        for title, content, content_type, tags in DOCUMENTS:
            document = await service.create_document(
                s,
                ctx_for(tenant),
                title=title,
                content=content,
                content_type=content_type,
                tags=tags,
            )
            ids[title] = document.id
        contract = await service.create_document(
            s,
            ctx_for(tenant),
            title="Supply agreement — Finca La Esperanza",
            content=contract_pdf(dt.date.today()),
            content_type="application/pdf",
            filename="supply.pdf",
            tags=["contract"],
        )
        ids[contract.title] = contract.id
    return ids


@pytest.fixture
async def demo_kb(db: Database, tenant: TenantLogin) -> dict[str, str]:
    return await index_demo_documents(db, tenant)


async def ask(db: Database, tenant: TenantLogin, question: str) -> answers.KbAnswerRead:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        return await answers.answer(s, ctx_for(tenant), question)


async def call(
    db: Database, tenant: TenantLogin, params: dict[str, Any], scopes: frozenset[str] = READER
) -> Any:
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        return await ToolRegistry(TOOLS).call(s, ctx_for(tenant, scopes), "kb.answer", params)


async def test_the_labelled_questions_are_answered_from_the_right_documents(
    db: Database, tenant: TenantLogin, demo_kb: dict[str, str]
) -> None:
    cases = load_cases()
    assert len([c for c in cases if c.document is not None]) >= 60
    assert len([c for c in cases if c.document is None]) >= 5

    scores = await evaluate(lambda q: ask(db, tenant, q), cases)

    print("\n".join([*scores.lines(), *scores.misses]))
    assert scores.declined == scores.unanswerable, scores.misses
    assert scores.answered >= 0.95 * scores.answerable, scores.misses
    assert scores.correct >= 0.9 * scores.answerable, scores.misses
    assert scores.citations_right >= 0.85 * scores.citations, scores.misses
