"""POST /api/v1/kb/summarize as a client sees it: a JSON summary with sources and
provenance, the same work streamed as Server-Sent Events, and the bad paths (another
tenant's document, a malformed body, a missing scope, a spent AI budget, a failure
halfway through a stream)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bizos.ai import gateway
from bizos.ai.models import AiCall
from bizos.core.db import Database
from bizos.core.events import Event
from bizos.modules.knowledge.summaries import service as summaries
from bizos.modules.knowledge.summaries.models import KbSummary
from tests.conftest import TenantLogin

URL = "/api/v1/kb/summarize"
SSE = {"Accept": "text/event-stream"}

REFUND_POLICY = """# Refund policy

## Who can ask for a refund
Customers who bought directly from our web shop can ask for a refund within 30 days of
delivery. Orders placed through marketplaces are refunded by the marketplace.

## How refunds are paid
Refunds are paid to the original payment method within 5 business days of the return
arriving at our warehouse in Leeds. Shipping costs are refunded only for faulty goods.

## Exceptions
Personalised items and opened food products cannot be returned unless they are faulty.
Gift cards are never refundable.
"""

TOPICS = [
    ("Warehouse", "pallets", "racking inspections happen every quarter"),
    ("Deliveries", "couriers", "parcels leave the dock at four in the afternoon"),
    ("Returns", "refunds", "returned goods are checked within two days"),
    ("Suppliers", "contracts", "supplier invoices are approved by the finance lead"),
    ("Safety", "helmets", "forklift drivers renew their licence every three years"),
    ("Stock", "counts", "a full stock count takes place every January"),
    ("Packaging", "cartons", "recycled cartons are used for every outgoing order"),
    ("Customers", "complaints", "complaints are answered within one working day"),
]


def long_handbook() -> str:
    """An operations handbook long enough to need several map calls."""
    sections = []
    for name, thing, fact in TOPICS:
        body = " ".join(
            f"The {name.lower()} team keeps its {thing} in order and records every change "
            f"in the log number {i} so that auditors can follow what happened and why."
            for i in range(1, 40)
        )
        sections.append(f"## {name}\n\n{body} Remember that {fact}.\n")
    return "# Operations handbook\n\n" + "\n".join(sections)


async def upload(
    client: httpx.AsyncClient, tenant: TenantLogin, content: str, title: str = "Refund policy"
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/kb/documents",
        json={"title": title, "content": content, "content_type": "text/markdown"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


@dataclass
class SseEvent:
    event: str
    data: Any


def parse_sse(raw: str) -> list[SseEvent]:
    """Events per the SSE format: blocks split by a blank line, ``event:`` and ``data:``
    fields (several data lines join with newlines), comment lines ignored."""
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append(SseEvent(name, json.loads("\n".join(data))))
    return events


async def stream(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, Any]
) -> tuple[httpx.Response, list[SseEvent]]:
    async with client.stream("POST", URL, json=body, headers={**tenant.headers, **SSE}) as r:
        raw = (await r.aread()).decode()
    return r, parse_sse(raw) if r.headers["content-type"].startswith("text/event-stream") else []


async def ai_calls(db: Database, tenant_id: str) -> list[AiCall]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        return list(await s.scalars(sa.select(AiCall).where(AiCall.feature == "kb.summarize")))


async def stored_summaries(db: Database, tenant_id: str) -> list[KbSummary]:
    async with db.unit_of_work(tenant_id=tenant_id, readonly=True) as s:
        return list(await s.scalars(sa.select(KbSummary)))


# --- JSON ---------------------------------------------------------------------------------


async def test_a_short_document_is_summarized_with_sources_and_provenance(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    doc = await upload(client, tenant, REFUND_POLICY)

    r = await client.post(URL, json={"document_id": doc["id"]}, headers=tenant.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"].strip()
    assert body["summary"] != REFUND_POLICY
    provenance = body["provenance"]
    assert (provenance["provider"], provenance["model"]) == ("local", "bizos-local-1")
    assert provenance["template"] == "kb.summarize.map" and provenance["calls"] == 1
    assert provenance["prompt_tokens"] > 0 and provenance["completion_tokens"] > 0
    assert body["sources"] and all(s["document_id"] == doc["id"] for s in body["sources"])
    [call] = await ai_calls(db, tenant.tenant_id)
    assert provenance["call_ids"] == [call.id]
    [row] = await stored_summaries(db, tenant.tenant_id)
    assert (row.id, row.document_id, row.summary) == (body["id"], doc["id"], body["summary"])
    async with db.unit_of_work(tenant_id=tenant.tenant_id, readonly=True) as s:
        [event] = await s.scalars(sa.select(Event).where(Event.type == "kb.summary.created"))
    assert event.aggregate_id == body["id"]
    assert event.data["document_id"] == doc["id"] and event.data["call_ids"] == [call.id]


async def test_a_query_focuses_the_summary_and_its_sources(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    doc = await upload(client, tenant, long_handbook(), title="Operations handbook")

    r = await client.post(
        URL,
        json={"document_id": doc["id"], "query": "When does the full stock count take place?"},
        headers=tenant.headers,
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert "stock count takes place every January" in body["summary"]
    assert any("every January" in s["text"] for s in body["sources"])
    assert body["query"] == "When does the full stock count take place?"


async def test_a_long_document_is_mapped_in_parts_and_reduced_with_summed_usage(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    doc = await upload(client, tenant, long_handbook(), title="Operations handbook")

    r = await client.post(URL, json={"document_id": doc["id"]}, headers=tenant.headers)

    assert r.status_code == 200, r.text
    provenance = r.json()["provenance"]
    calls = await ai_calls(db, tenant.tenant_id)
    maps = [c for c in calls if c.template == "kb.summarize.map"]
    reduces = [c for c in calls if c.template == "kb.summarize.reduce"]
    assert len(maps) >= 2 and len(reduces) >= 1
    assert provenance["calls"] == len(calls)
    assert set(provenance["call_ids"]) == {c.id for c in calls}
    assert provenance["template"] == "kb.summarize.reduce"
    assert provenance["prompt_tokens"] == sum(c.prompt_tokens for c in calls)
    assert provenance["completion_tokens"] == sum(c.completion_tokens for c in calls)


# --- SSE ----------------------------------------------------------------------------------


async def test_streaming_sends_rising_progress_then_the_complete_body(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    doc = await upload(client, tenant, long_handbook(), title="Operations handbook")

    r, events = await stream(client, tenant, {"document_id": doc["id"]})

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    names = [e.event for e in events]
    assert names[-1] == "complete" and set(names[:-1]) == {"progress"}
    percents = [e.data["percent"] for e in events[:-1]]
    assert percents[0] == 0 and percents[-1] == 100
    assert percents == sorted(set(percents)), "progress only ever rises"
    assert len(percents) >= 4  # start, each map call, the reduce, done
    complete = events[-1].data
    assert set(complete) >= {"summary", "sources", "provenance"}
    [row] = await stored_summaries(db, tenant.tenant_id)
    assert complete["id"] == row.id and complete["summary"] == row.summary


async def test_a_failure_midway_ends_the_stream_with_an_error_event(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc = await upload(client, tenant, long_handbook(), title="Operations handbook")
    real = gateway.generate
    seen: list[str] = []

    async def fails_on_the_second_call(*args: Any, **kwargs: Any) -> gateway.AiResult:
        seen.append(kwargs["template"])
        if len(seen) == 2:
            raise gateway.AiUnavailable("no AI provider could answer; try again later")
        return await real(*args, **kwargs)

    monkeypatch.setattr(summaries.gateway, "generate", fails_on_the_second_call)

    r, events = await stream(client, tenant, {"document_id": doc["id"]})

    assert r.status_code == 200
    assert [e.event for e in events][:2] == ["progress", "progress"]
    assert events[-1].event == "error"
    problem = events[-1].data
    assert problem["status"] == 503 and problem["title"] == "AI unavailable"
    assert problem["instance"] == URL
    assert "complete" not in [e.event for e in events]
    assert await stored_summaries(db, tenant.tenant_id) == []


async def test_no_transaction_is_held_while_a_model_runs(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the model is answering, another writer can commit (SQLite has one writer)."""
    doc = await upload(client, tenant, REFUND_POLICY)
    real = gateway.generate
    wrote: list[str] = []

    async def writes_meanwhile(*args: Any, **kwargs: Any) -> gateway.AiResult:
        async with asyncio.timeout(20):
            async with db.unit_of_work(tenant_id=tenant.tenant_id) as s:
                await s.execute(sa.text("UPDATE kb_documents SET updated_at = updated_at"))
        wrote.append("ok")
        return await real(*args, **kwargs)

    monkeypatch.setattr(summaries.gateway, "generate", writes_meanwhile)

    r = await client.post(URL, json={"document_id": doc["id"]}, headers=tenant.headers)

    assert r.status_code == 200, r.text
    assert wrote == ["ok"]


# --- bad paths ----------------------------------------------------------------------------


async def test_another_tenants_document_is_not_found(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin, db: Database
) -> None:
    doc = await upload(client, tenant, REFUND_POLICY)

    r = await client.post(URL, json={"document_id": doc["id"]}, headers=other_tenant.headers)
    streamed, events = await stream(client, other_tenant, {"document_id": doc["id"]})

    for response in (r, streamed):
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    assert events == []
    assert await ai_calls(db, other_tenant.tenant_id) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"document_id": ""},
        {"document_id": "x" * 37},
        {"document_id": 42},
        {"document_id": "abc", "query": "q" * 1001},
        {"document_id": "abc", "colour": "blue"},
    ],
)
async def test_a_malformed_body_is_a_422_problem(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, Any]
) -> None:
    r = await client.post(URL, json=body, headers=tenant.headers)

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"]


async def test_summarizing_needs_the_kb_read_scope(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    doc = await upload(client, tenant, REFUND_POLICY)
    r = await client.post(
        "/api/v1/api-keys", json={"name": "crm", "scopes": ["crm:read"]}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    key = {"Authorization": f"Bearer {r.json()['key']}"}

    denied = await client.post(URL, json={"document_id": doc["id"]}, headers=key)
    anonymous = await client.post(URL, json={"document_id": doc["id"]})

    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    assert anonymous.status_code == 401


async def test_a_spent_budget_is_a_429_before_any_stream_starts(
    client: httpx.AsyncClient, tenant: TenantLogin, db: Database
) -> None:
    doc = await upload(client, tenant, REFUND_POLICY)
    r = await client.put(
        "/api/v1/ai/settings", json={"monthly_token_budget": 0}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text

    streamed, events = await stream(client, tenant, {"document_id": doc["id"]})
    plain = await client.post(URL, json={"document_id": doc["id"]}, headers=tenant.headers)

    for response in (streamed, plain):
        assert response.status_code == 429
        assert response.headers["content-type"].startswith("application/problem+json")
        assert int(response.headers["retry-after"]) > 0
    assert events == []
    assert await ai_calls(db, tenant.tenant_id) == []
    assert await stored_summaries(db, tenant.tenant_id) == []
