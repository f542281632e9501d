"""The demo's knowledge base as a new user meets it: policies, FAQs, an HTML brew guide
and a supply contract PDF, all indexed and answering questions through the API; once
the workers run, the contract's terms are extracted and a task waits 90 days before its
renewal-notice date."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.app import create_app
from bizos.core.config import Settings
from bizos.core.db import Database
from bizos.core.dispatcher_models import ProcessedEvent
from bizos.core.events import Event
from bizos.demo import DEMO_SLUG, seed_demo
from bizos.demo.knowledge import DOCUMENTS, contract_terms
from bizos.modules.identity.models import Tenant
from bizos.modules.knowledge.documents.models import KbChunk, KbDocument
from bizos.modules.work.models import Task

Json = dict[str, Any]
CONTRACT_TITLE = "Supply agreement — Finca La Esperanza"


@asynccontextmanager
async def demo_server(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The demo's server as ``make run`` starts it: API, dispatcher and workflows."""
    running = settings.model_copy(
        update={"workflows_enabled": True, "executor_id": f"test-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(running, database=db, workers=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def demo_login(client: httpx.AsyncClient, settings: Settings) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": settings.demo_email, "password": settings.demo_password, "tenant": "demo"},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def demo_tenant(db: Database) -> str:
    async with db.unit_of_work(system=True, readonly=True) as s:
        tenant_id = await s.scalar(sa.select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
    assert tenant_id is not None
    return str(tenant_id)


async def until(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Json:
    """GET ``url`` until it answers 200 (a worker is making what it shows)."""
    async with asyncio.timeout(90):
        while True:
            r = await client.get(url, headers=headers)
            if r.status_code == 200 and r.json().get("status", "extracted") == "extracted":
                body: Json = r.json()
                return body
            assert r.status_code in (200, 404), r.text
            await asyncio.sleep(0.1)


async def search(client: httpx.AsyncClient, headers: dict[str, str], q: str) -> list[Json]:
    r = await client.get("/api/v1/kb/search", params={"q": q, "limit": 3}, headers=headers)
    assert r.status_code == 200, r.text
    items: list[Json] = r.json()["items"]
    return items


@pytest.mark.demo
async def test_the_demo_knowledge_base_answers_questions_and_its_contract_gets_a_task(
    settings: Settings, db: Database
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    assert not await seed_demo(settings, db)  # seeded once per session: a no-op now
    tenant_id = await demo_tenant(db)
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        documents = {d.title: d for d in await s.scalars(sa.select(KbDocument))}
        chunks = list(await s.scalars(sa.select(KbChunk)))
        created = list(await s.scalars(sa.select(Event).where(Event.type == "kb.document.created")))
        handled = set(
            await s.scalars(
                sa.select(ProcessedEvent.event_id).where(
                    ProcessedEvent.event_id.in_([e.id for e in created])
                )
            )
        )

    # Every document is there, indexed: chunks with embeddings, counted on the document.
    assert set(documents) == {title for title, *_ in DOCUMENTS} | {CONTRACT_TITLE}
    for document in documents.values():
        mine = [c for c in chunks if c.document_id == document.id]
        assert document.chunk_count == len(mine) > 0, document.title
        assert all(c.embedding and c.embedding_model for c in mine)
    # The HTML guide is read as a page, not as markup or menus.
    guide = documents["Brew guide"]
    assert "60 g of coffee per litre" in guide.text
    assert "<p>" not in guide.text and "Cart" not in guide.text
    # The contract is a real PDF whose text extracts, with the dates it was made with.
    contract = documents[CONTRACT_TITLE]
    terms = contract_terms(today)
    assert contract.content_type == "application/pdf" and contract.original is not None
    assert contract.original.startswith(b"%PDF-")
    assert contract.tags == ["contract", "supplier"] and (contract.page_count or 0) >= 1
    for words in (
        "GREEN COFFEE SUPPLY AGREEMENT",
        "Finca La Esperanza Export S.A.",
        "USD 7.40 per kg",
        f"{terms['end'].day} {terms['end']:%B %Y}",
        "at least ninety (90) days before",
    ):
        assert words in " ".join(contract.text.split()), words  # lines wrap in a PDF
    # Nothing has looked at the documents yet: extraction is the workers' job.
    assert len(created) == len(documents) and handled == set()

    async with demo_server(settings, db) as client:
        headers = await demo_login(client, settings)
        # Questions in a customer's words find the policy that answers them.
        [first, *_] = await search(client, headers, "how long do refunds take")
        assert first["title"] == "Returns and refunds"
        assert "5 business days" in first["text"]
        [first, *_] = await search(client, headers, "do you ship to Switzerland")
        assert first["title"] == "Shipping and delivery"
        [first, *_] = await search(client, headers, "my espresso tastes sour")
        assert first["title"] == "Brew guide"

        # The workers extract the contract's terms and leave a task.
        extracted = await until(client, f"/api/v1/kb/documents/{contract.id}/contract", headers)
        names = {p["name"] for p in extracted["parties"]}
        assert any("Finca La Esperanza" in n for n in names), names
        assert any("Northwind Coffee Roasters" in n for n in names), names
        assert extracted["start_date"] == terms["start"].isoformat()
        assert extracted["end_date"] == terms["end"].isoformat()
        assert extracted["notice_date"] == terms["notice"].isoformat()
        assert extracted["auto_renews"] is True
        assert {"USD"} == {a["currency"] for a in extracted["amounts"]}
        assert "88800" in {a["amount"].split(".")[0] for a in extracted["amounts"]}
        due = terms["notice"] - dt.timedelta(days=90)
        assert extracted["task_due_date"] == due.isoformat()

    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        task = await s.get(Task, extracted["task_id"])
    assert task is not None and task.status == "open"
    assert task.related_id == contract.id
    assert task.due_at is not None and task.due_at.date() == due
